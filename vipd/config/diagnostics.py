"""Diagnostics for keepalived.conf: one message per problem, each tied to FILE:LINE.

A :class:`Diagnostic` is what an operator reads: ``str(d)`` is
``"FILE:LINE: keyword: message"``, the same shape as a compiler error, so editors
and CI logs can jump to it. :class:`ConfigError` carries *every* error found in a
configuration (the loader does not stop at the first one).

This module imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

Path = tuple[str | int, ...]
"""Where a value sits in the raw configuration: ``("vrrp_instances", "VI_1", "priority")``."""


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value was written: file, line and the keepalived keyword of that line."""

    file: str
    line: int
    keyword: str


def locate(locs: Mapping[Path, Loc], source: str, *path: str | int) -> Loc:
    """Where the value at ``path`` was written, else its nearest enclosing block, else the file itself."""
    key: Path = tuple(path)
    while key:
        if key in locs:
            return locs[key]
        key = key[:-1]
    return Loc(source, 0, str(path[-1]) if path else "config")


MAX_DIAGNOSTICS = 1000
"""Diagnostics kept for one configuration; past that they are counted, not stored (junk input)."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a configuration.

    Attributes:
        file: path of the file the problem is in, as it was opened (an included
            file is named by its own path).
        line: 1-based line number; 0 when the problem is about the whole file
            (for example it cannot be read).
        keyword: the keepalived keyword the problem is about (``"priority"``,
            ``"virtual_ipaddress"``, ``"}"``...).
        message: what is wrong, in the operator's terms, with the bad value quoted.
        severity: ``"error"`` (the configuration is refused) or ``"warning"``
            (the configuration loads; the operator should still read it).
    """

    file: str
    line: int
    keyword: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.keyword}: {self.message}"

    def sort_key(self) -> tuple[str, int, str, str]:
        """Key that orders diagnostics by file, then line (stable for equal lines)."""
        return (self.file, self.line, self.keyword, self.message)


class ConfigError(Exception):
    """The configuration is refused; ``diagnostics`` lists every error (and warning) found.

    ``str(err)`` is one diagnostic per line, errors first in file order. Warnings
    collected before the refusal are kept in ``diagnostics`` too (severity
    ``"warning"``) so that a ``-t`` style check can print everything at once;
    :attr:`errors` filters them out.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.errors) or "invalid configuration")

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics of severity ``"error"`` (at least one for a raised error)."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The diagnostics of severity ``"warning"``."""
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(slots=True)
class DiagnosticSink:
    """Collects diagnostics while a configuration is read (internal helper).

    ``strict`` promotes the "recognised but not supported" warnings (see
    :meth:`unsupported`) to errors.
    """

    strict: bool = False
    items: list[Diagnostic] = field(default_factory=list)
    file_order: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    _last: Diagnostic | None = None
    _errors: int = 0

    def _add(self, d: Diagnostic) -> None:
        if d == self._last:  # the same problem reported twice for one line (e.g. a substitution)
            return
        self._last = d
        if d.severity == "error":
            self._errors += 1
        if len(self.items) < MAX_DIAGNOSTICS:
            self.items.append(d)
        else:
            self.dropped += 1

    def error(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record an error at FILE:LINE."""
        self._add(Diagnostic(file, line, keyword, message, "error"))

    def warning(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record a warning at FILE:LINE."""
        self._add(Diagnostic(file, line, keyword, message, "warning"))

    def unsupported(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record something vipd recognises but will not act on: a warning, an error if strict."""
        self._add(Diagnostic(file, line, keyword, message, "error" if self.strict else "warning"))

    @property
    def has_errors(self) -> bool:
        """True once at least one error was recorded (stored or not)."""
        return self._errors > 0

    def note_file(self, file: str) -> None:
        """Remember the order files are read in, so diagnostics sort in reading order."""
        self.file_order.setdefault(file, len(self.file_order))

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics by file (in reading order), then line, then insertion order."""
        last = len(self.file_order)
        out = [
            d
            for _, d in sorted(
                enumerate(self.items),
                key=lambda p: (self.file_order.get(p[1].file, last), p[1].line, p[0]),
            )
        ]
        if self.dropped:
            first = out[0] if out else Diagnostic("config", 0, "config", "")
            out.append(
                Diagnostic(
                    first.file,
                    0,
                    "config",
                    f"{self.dropped} more diagnostics not shown "
                    f"(more than {MAX_DIAGNOSTICS}: is this a keepalived.conf?)",
                    "error" if self._errors else "warning",
                )
            )
        return out
