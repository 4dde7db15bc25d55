"""Suite-wide settings: vipd's start-up plan memo goes to a directory of this run, not /var/cache/vipd."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_memo_dir: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Every daemon a test starts inherits CACHE_DIRECTORY (vipd.control.planmemo), removed at the end."""
    global _memo_dir
    if "CACHE_DIRECTORY" not in os.environ:
        _memo_dir = tempfile.mkdtemp(prefix="vipd-test-memo-")  # mode 0700, as the memo requires
        os.environ["CACHE_DIRECTORY"] = _memo_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    if _memo_dir is not None:
        shutil.rmtree(_memo_dir, ignore_errors=True)
        os.environ.pop("CACHE_DIRECTORY", None)
