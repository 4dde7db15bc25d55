"""``python -m vipd``: same as the ``vipd`` console script."""

import sys

from vipd.cli import main

sys.exit(main())
