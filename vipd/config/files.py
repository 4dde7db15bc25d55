"""What the configuration lexer reads from the system: files, include globs, ``${_ENV}``, paths.

Apart from the lexer (:mod:`vipd.config.lexer`) so that the start-up plan memo
(:mod:`vipd.control.planmemo`) can replay these reads without importing the
tokenizer.
"""

from __future__ import annotations

import errno
import glob
import os
import stat

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest configuration file read (a 255-instance keepalived.conf is about 100 KiB)."""


def default_config_id() -> str:
    """keepalived's default config id: the host name up to its first dot."""
    return os.uname().nodename.split(".", 1)[0]


class Files:
    """Everything the lexer reads from the system: files, include globs, ``${_ENV}``, paths.

    The live one reads the host; the start-up plan memo (:mod:`vipd.control.planmemo`)
    records what was read through it, so a later start can tell whether the file
    would read the same.
    """

    def read(self, path: str) -> bytes:
        """The bytes of the regular file ``path``. Raises ``OSError`` (see :func:`_read_bytes`)."""
        return _read_bytes(path)

    def glob(self, pattern: str) -> list[str]:
        """The paths matching an ``include`` glob, sorted."""
        return sorted(glob.glob(pattern))

    def env(self, name: str) -> str:
        """``${_ENV NAME}``: the environment variable, or empty."""
        return os.environ.get(name, "")

    def realpath(self, path: str) -> str:
        """``os.path.realpath`` (the include-cycle check)."""
        return os.path.realpath(path)

    def abspath(self, path: str) -> str:
        """``os.path.abspath`` (``${_PWD}``)."""
        return os.path.abspath(path)


def _read_bytes(path: str) -> bytes:
    """The file's bytes; ``OSError`` for a non-regular file (a FIFO would block) or one too large."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a keepalived.conf?")
    return data
