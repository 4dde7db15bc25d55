"""``file``: keepalived's ``track_file`` — the integer in a file, times the weight.

Options: ``file`` (path, required). The file is read every ``spec.interval``
seconds (keepalived uses inotify; a read of a few bytes costs microseconds).
The value is parsed like keepalived's ``strtol(buf, NULL, 0)``: leading
blanks, an optional sign, decimal, ``0x`` hex or leading-``0`` octal digits;
anything unreadable (missing file, no digits) is 0. The result is always OK and
carries ``value``; :func:`vipd.health.rules.file_status` applies the weight.
"""

from __future__ import annotations

import re
import time

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import text

_STRTOL = re.compile(rb"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def strtol(data: bytes) -> int:
    """C ``strtol(data, NULL, 0)`` as keepalived uses it: the leading integer, 0 if none."""
    m = _STRTOL.match(data)
    if not m:
        return 0
    sign, digits = m.group(1), m.group(2).decode()
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 8) if digits.startswith("0") else int(digits)
    return -value if sign == b"-" else value


class FileCheck:
    """Reads the file once per ``run()``.

    Raises (constructor):
        ValueError: no ``file`` option.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        self.path = text(spec, "file")

    async def run(self) -> CheckResult:
        """Read the file; ``value`` is its integer (0 if missing or unreadable)."""
        t0 = time.monotonic()
        try:
            with open(self.path, "rb") as f:
                data = f.read(127)
        except OSError as e:
            return CheckResult(True, f"{self.path}: {e.strerror}; value 0", time.monotonic() - t0, value=0)
        value = strtol(data)
        return CheckResult(True, f"{self.path}: {value}", time.monotonic() - t0, value=value)
