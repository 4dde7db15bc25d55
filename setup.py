"""Package layout only (everything else is in pyproject.toml).

The built-in checks live in the top-level ``checks/`` directory of the repository
but are installed as ``vipd_checks``: site-packages gets no generic ``checks`` name.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vipd", "vipd.*"]), "vipd_checks"],
    package_dir={"vipd_checks": "checks"},
)
