"""Diagnostics for keepalived.conf: one message per problem, each tied to FILE:LINE.

A :class:`Diagnostic` is what an operator reads: ``str(d)`` is
``"FILE:LINE: keyword: message"``, the same shape as a compiler error, so editors
and CI logs can jump to it. :class:`ConfigError` carries *every* error found in a
configuration (the loader does not stop at the first one).

This module imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


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

    def error(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record an error at FILE:LINE."""
        self.items.append(Diagnostic(file, line, keyword, message, "error"))

    def warning(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record a warning at FILE:LINE."""
        self.items.append(Diagnostic(file, line, keyword, message, "warning"))

    def unsupported(self, file: str, line: int, keyword: str, message: str) -> None:
        """Record something vipd recognises but will not act on: a warning, an error if strict."""
        self.items.append(Diagnostic(file, line, keyword, message, "error" if self.strict else "warning"))

    @property
    def has_errors(self) -> bool:
        """True once at least one error was recorded."""
        return any(d.severity == "error" for d in self.items)

    def note_file(self, file: str) -> None:
        """Remember the order files are read in, so diagnostics sort in reading order."""
        self.file_order.setdefault(file, len(self.file_order))

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics by file (in reading order), then line, then insertion order."""
        last = len(self.file_order)
        return [
            d
            for _, d in sorted(
                enumerate(self.items),
                key=lambda p: (self.file_order.get(p[1].file, last), p[1].line, p[0]),
            )
        ]
