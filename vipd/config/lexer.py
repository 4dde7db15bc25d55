"""keepalived.conf lexer: files -> logical lines of tokens, each token with FILE:LINE.

What this layer does, in the order keepalived does it for each physical line:

1. ``#`` and ``!`` start a comment anywhere outside quotes (``${_HASH}`` and
   ``${_BANG}`` give the literal characters).
2. A line ending in ``\\`` continues on the next line.
3. ``@ID rest`` keeps ``rest`` only when ``ID`` equals the config id;
   ``@^ID rest`` keeps it only when it does not (keepalived ``-i``; the default
   config id is the short host name, as in keepalived).
4. ``$NAME=value`` defines a parameter; ``$NAME`` and ``${NAME}`` are replaced by
   its value at use time (recursively); an undefined ``${X}`` is left as written.
   A definition continued with ``\\`` is multi-line: using it inserts several lines.
5. ``include PATTERN`` reads the files matching a glob (with ``{a,b}`` braces),
   relative to the including file's directory, in sorted order; includes nest at
   most :data:`MAX_INCLUDE_DEPTH` deep and a cycle is an error.
6. The rest is split into words: whitespace separates, ``"..."`` and ``'...'``
   group (the quotes are removed), ``{`` and ``}`` are tokens of their own even
   when glued to a word (``global_defs{``).

Lines are reported with the physical line they start on. This module is pure:
it reads files, never touches the network or the kernel.

Size: over 400 lines because includes, conditionals, parameters and the read budget are one pass over the text.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vipd.config.diagnostics import DiagnosticSink
from vipd.config.files import MAX_FILE_BYTES, Files, default_config_id

__all__ = ["MAX_FILE_BYTES", "Files", "Lexer", "Line", "Token", "default_config_id"]

MAX_INCLUDE_DEPTH = 8
"""Deepest include nesting accepted (the main file is depth 0)."""

MAX_SUBSTITUTION_DEPTH = 16
"""Deepest parameter-substitution recursion before a definition is called circular."""

MAX_BAD_LINES = 20
"""After this many unreadable (binary, non-UTF-8) lines the rest of a file is skipped."""

MAX_SUBSTITUTIONS = 10_000
"""Most ``$NAME`` replacements made for one line (``$X=$X$X`` would otherwise grow exponentially)."""

MAX_EXPANDED_CHARS = 65_536
"""Longest text one line may expand to through ``$NAME`` parameters."""

MAX_FILES_READ = 512
"""Files one configuration may read in all, counting every include of every file (a fan-out of
``include d/*.conf`` in each of N files reads N^depth files: refused, at the include that passes it)."""

MAX_TOTAL_BYTES = 4 * 1024 * 1024
"""Bytes one configuration may read in all, and characters its lines may expand to in all."""

MAX_BRACE_EXPANSIONS = 1000
"""Most names one ``include`` pattern's ``{a,b}`` braces may expand to (``{a,b}`` x 30 is 2**30)."""

MAX_BRACE_GROUPS = 64
"""Most ``{`` in one ``include`` pattern (each group of braces is one level of recursion)."""


class _SubstitutionLimit(Exception):
    """A line's parameter substitution went past a limit; the message says which."""


_INCLUDE_KEYWORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})
_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)", re.DOTALL)
_REFERENCE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_CONDITIONAL = re.compile(r"@(\^?)(\S*)(.*)", re.DOTALL)
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a configuration line.

    Attributes:
        text: the word, with quotes removed.
        file: the file it was read from.
        line: 1-based physical line it starts on.
        quoted: True when any part of it was quoted (a quoted ``"{"`` is a word,
            not a block brace).
    """

    text: str
    file: str
    line: int
    quoted: bool = False

    @property
    def is_open(self) -> bool:
        """True for an unquoted ``{``."""
        return not self.quoted and self.text == "{"

    @property
    def is_close(self) -> bool:
        """True for an unquoted ``}``."""
        return not self.quoted and self.text == "}"


@dataclass(frozen=True, slots=True)
class Line:
    """A logical line: its tokens, and where it starts."""

    file: str
    line: int
    tokens: tuple[Token, ...]


def strip_comment(text: str) -> str:
    """Cut ``text`` at the first ``#`` or ``!`` that is outside quotes."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "#!":
            return text[:i]
    return text


def expand_braces(pattern: str, limit: int = MAX_BRACE_EXPANSIONS) -> list[str]:
    """Expand shell braces: ``a{b,c}d`` -> ``["abd", "acd"]`` (nested braces allowed).

    Raises:
        ValueError: the pattern expands to more than ``limit`` names, or has more
            than :data:`MAX_BRACE_GROUPS` braces.
    """
    if pattern.count("{") > MAX_BRACE_GROUPS:
        raise ValueError(f"pattern has more than {MAX_BRACE_GROUPS} '{{' braces")
    out: list[str] = []
    _expand_braces(pattern, out, limit)
    return out


def _expand_braces(pattern: str, out: list[str], limit: int) -> None:
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                parts: list[str] = []
                level = 0
                cur = ""
                for c in inner:
                    if c == "," and level == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    cur += c
                parts.append(cur)
                if len(parts) == 1:
                    continue
                head, tail = pattern[:start], pattern[i + 1 :]
                for part in parts:
                    _expand_braces(head + part + tail, out, limit)
                return
    if len(out) >= limit:
        raise ValueError(f"pattern expands to more than {limit} names")
    out.append(pattern)


class Lexer:
    """Reads a configuration (and its includes) into logical :class:`Line` objects.

    Problems are reported to ``sink``; the lexer always returns what it could read.
    Everything it reads from the system goes through ``files`` (:class:`Files`).
    """

    def __init__(self, sink: DiagnosticSink, config_id: str | None = None, files: Files | None = None) -> None:
        self.sink = sink
        self.files = files if files is not None else Files()
        self.config_id = default_config_id() if config_id is None else config_id
        self.params: dict[str, str] = {}
        self._stack: list[str] = []  # real paths of the files being read (cycle check)
        self._out: list[Line] = []
        self._substitutions = 0
        self._files_read = 0
        self._total = 0  # bytes read plus characters produced by parameter expansion
        self._over_budget = False

    # -- entry points -------------------------------------------------------------

    def read_file(self, path: str) -> list[Line]:
        """Read the main configuration file ``path``; returns every logical line."""
        self._include_file(path, None, 0, "config")
        return self._out

    def read_text(self, text: str, filename: str = "<string>") -> list[Line]:
        """Read configuration text as if it were the file ``filename``."""
        self.sink.note_file(filename)
        self._read_lines(text.encode("utf-8", "surrogateescape"), filename)
        return self._out

    # -- files ----------------------------------------------------------------------

    def _include_file(self, path: str, where: Token | None, depth: int, keyword: str) -> None:
        file = where.file if where else path
        line = where.line if where else 0
        real = self.files.realpath(path)
        if real in self._stack:
            chain = " -> ".join([*self._stack[self._stack.index(real) :], real])
            self.sink.error(file, line, keyword, f"include cycle: {chain}")
            return
        if self._over_budget:
            return
        self._files_read += 1
        if self._files_read > MAX_FILES_READ:
            self._over_budget = True
            self.sink.error(
                file,
                line,
                keyword,
                f"the configuration reads more than {MAX_FILES_READ} files in all (include fan-out?)",
            )
            return
        try:
            data = self.files.read(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.sink.error(file, line, keyword, f"cannot read {path!r}: {reason}")
            return
        if not self._charge(len(data), file, line, keyword):
            return
        self.sink.note_file(path)
        self._stack.append(real)
        try:
            self._read_lines(data, path, depth)
        finally:
            self._stack.pop()

    def _read_lines(self, data: bytes, file: str, depth: int = 0) -> None:
        bad = 0
        pending: list[str] = []  # physical lines of a logical line continued with '\'
        start = 0
        physical = data.split(b"\n")
        if physical and physical[-1] == b"":
            physical.pop()
        for lineno, raw in enumerate(physical, start=1):
            if self._over_budget:
                return
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            problem = ""
            text = ""
            if b"\x00" in raw:
                problem = "line contains a NUL byte (is this a binary file?)"
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    problem = "line is not valid UTF-8 text"
            if problem:
                bad += 1
                self.sink.error(file, lineno, "config", problem)
                if bad >= MAX_BAD_LINES:
                    self.sink.error(file, lineno, "config", "too many unreadable lines; rest of file skipped")
                    return
                continue
            text = strip_comment(text)
            stripped = text.rstrip()
            if stripped.endswith("\\"):
                if not pending:
                    start = lineno
                pending.append(stripped[:-1])
                continue
            if pending:
                pending.append(text)
                first = pending[0].strip()
                joiner = "\n" if first.startswith("$") else " "
                text = joiner.join(pending)
                pending = []
                self._logical(text, file, start, depth)
            else:
                self._logical(text, file, lineno, depth)
        if pending:
            self._logical(" ".join(pending), file, start, depth)

    # -- one logical line -----------------------------------------------------------

    def _logical(self, text: str, file: str, lineno: int, depth: int) -> None:
        s = text.strip()
        if not s:
            return
        if s.startswith("@"):
            m = _CONDITIONAL.fullmatch(s)
            assert m is not None  # the pattern matches any string starting with '@'
            negate, ident, rest = m.group(1) == "^", m.group(2), m.group(3)
            if not ident:
                self.sink.error(file, lineno, "@", "conditional line needs an id right after '@' (e.g. '@node1')")
                return
            if (ident == self.config_id) == negate:
                return
            s = rest.strip()
            if not s:
                return
        m = _DEFINITION.fullmatch(s)
        if m:
            self.params[m.group(1)] = "\n".join(part.strip() for part in m.group(2).split("\n")).strip()
            return
        if "$" in s:
            s = self._substitute(s, file, lineno, 0)
        for piece in s.split("\n"):
            piece = piece.strip()
            if not piece:
                continue
            first = piece.split(None, 1)
            if first[0] in _INCLUDE_KEYWORDS:
                self._include(first[0], first[1] if len(first) > 1 else "", file, lineno, depth)
                continue
            tokens = self._tokenize(piece, file, lineno)
            if tokens:
                self._out.append(Line(file, lineno, tuple(tokens)))

    def _charge(self, n: int, file: str, line: int, keyword: str) -> bool:
        """Count ``n`` bytes/characters against :data:`MAX_TOTAL_BYTES`; False (reported once) past it."""
        if self._over_budget:
            return False
        self._total += n
        if self._total > MAX_TOTAL_BYTES:
            self._over_budget = True
            self.sink.error(
                file,
                line,
                keyword,
                f"the configuration reads or expands to more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all "
                "(include fan-out or parameter expansion?)",
            )
            return False
        return True

    def _substitute(self, s: str, file: str, lineno: int, depth: int) -> str:
        if depth == 0:
            self._substitutions = 0
            try:
                out = self._substitute_inner(s, file, depth)
            except _SubstitutionLimit as exc:
                self.sink.error(file, lineno, "$", str(exc))
                return ""
            return out if self._charge(len(out), file, lineno, "$") else ""
        return self._substitute_inner(s, file, depth)

    def _substitute_inner(self, s: str, file: str, depth: int) -> str:
        if depth > MAX_SUBSTITUTION_DEPTH:
            raise _SubstitutionLimit(f"parameter substitution nested deeper than {MAX_SUBSTITUTION_DEPTH} (circular?)")

        def repl(m: re.Match[str]) -> str:
            body = m.group(1) if m.group(1) is not None else m.group(2)
            name, _, arg = body.strip().partition(" ")
            if name == "_PWD":
                return os.path.dirname(self.files.abspath(file))
            if name == "_INSTANCE":
                return self.config_id
            if name == "_HASH":
                return "#"
            if name == "_BANG":
                return "!"
            if name == "_ENV" and arg.strip():
                return self.files.env(arg.strip())
            if name in self.params and not arg:
                self._substitutions += 1
                if self._substitutions > MAX_SUBSTITUTIONS:
                    raise _SubstitutionLimit(
                        f"more than {MAX_SUBSTITUTIONS} parameter substitutions on one line (circular?)"
                    )
                return self._substitute_inner(self.params[name], file, depth + 1)
            return m.group(0)

        out = _REFERENCE.sub(repl, s)
        if len(out) > MAX_EXPANDED_CHARS:
            raise _SubstitutionLimit(f"parameters expand this line to more than {MAX_EXPANDED_CHARS} characters")
        return out

    def _include(self, keyword: str, arg: str, file: str, lineno: int, depth: int) -> None:
        where = Token(keyword, file, lineno)
        words = self._tokenize(arg, file, lineno, braces=False)
        if len(words) != 1:
            self.sink.error(file, lineno, keyword, f"takes exactly one file pattern, got {len(words)} words")
            return
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self.sink.error(file, lineno, keyword, f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels")
            return
        pattern = words[0].text
        if not os.path.isabs(pattern):
            base = os.path.dirname(file) if file != "<string>" else ""
            pattern = os.path.join(base, pattern)
        matches: list[str] = []
        wild = False
        try:
            patterns = expand_braces(pattern)
        except ValueError as exc:
            self.sink.error(file, lineno, keyword, f"{words[0].text!r}: {exc}")
            return
        for expanded in patterns:
            if any(c in expanded for c in _GLOB_CHARS):
                wild = True
                matches.extend(self.files.glob(expanded))
            else:
                matches.append(expanded)
        if not matches:
            if wild:
                self.sink.warning(file, lineno, keyword, f"{words[0].text!r} matches no file")
            return
        for path in matches:
            self._include_file(path, where, depth + 1, keyword)

    def _tokenize(self, text: str, file: str, lineno: int, *, braces: bool = True) -> list[Token]:
        if '"' not in text and "'" not in text and "${" not in text:
            # Most lines: words and braces only, split at once (the scan below gives the same tokens).
            if braces:
                text = text.replace("{", " { ").replace("}", " } ")
            return [Token(w, file, lineno) for w in text.split()]
        return self._scan(text, file, lineno, braces=braces)

    def _scan(self, text: str, file: str, lineno: int, *, braces: bool = True) -> list[Token]:
        """Tokenize character by character: quotes, ``${NAME}`` kept whole, braces."""
        tokens: list[Token] = []
        cur: list[str] = []
        quoted = False
        started = False
        i = 0
        n = len(text)

        def flush() -> None:
            nonlocal cur, quoted, started
            if started:
                tokens.append(Token("".join(cur), file, lineno, quoted))
            cur, quoted, started = [], False, False

        while i < n:
            ch = text[i]
            if ch.isspace():
                flush()
            elif ch == "$" and text.startswith("${", i) and "}" in text[i:]:
                end = text.index("}", i)  # an undefined ${NAME} stays one word
                cur.append(text[i : end + 1])
                started = True
                i = end
            elif braces and ch in "{}":
                flush()
                tokens.append(Token(ch, file, lineno))
            elif ch in "\"'":
                end = text.find(ch, i + 1)
                if end < 0:
                    self.sink.error(file, lineno, "config", f"unterminated quoted string starting {text[i:][:30]!r}")
                    end = n
                cur.append(text[i + 1 : end])
                quoted = started = True
                i = end
            else:
                cur.append(ch)
                started = True
            i += 1
        flush()
        return tokens
