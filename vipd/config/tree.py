"""Logical lines -> a tree of keyword nodes, with brace errors reported by line.

A statement is a keyword and its arguments up to the end of the line, a ``{`` or
a ``}``. A statement followed by ``{`` (on the same line or at the start of the
next one) opens a block whose children are the statements up to the matching
``}``. One-line blocks (``track_interface { eth0 }``) are the same thing.

Recovery, so that one missing brace yields one precise error and not a cascade:
a keyword that only exists at the top level (``vrrp_instance``, ``global_defs``...)
found inside a block closes every open block, and the outermost of them is
reported as missing its ``}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vipd.config.diagnostics import DiagnosticSink
from vipd.config.lexer import Line, Token


@dataclass(slots=True)
class Node:
    """One statement: ``keyword args...`` and, for a block, its children.

    Attributes:
        keyword: the first word of the statement.
        args: the other words, in order.
        children: ``None`` for a plain statement, the block's statements otherwise.
        anonymous: True for a ``{`` with no keyword before it (its content is ignored).
    """

    keyword: Token
    args: list[Token] = field(default_factory=list)
    children: list[Node] | None = None
    anonymous: bool = False

    @property
    def file(self) -> str:
        """File the statement is in."""
        return self.keyword.file

    @property
    def line(self) -> int:
        """Line the statement starts on."""
        return self.keyword.line

    @property
    def name(self) -> str:
        """The keyword text."""
        return self.keyword.text

    @property
    def words(self) -> list[Token]:
        """Keyword and arguments as one list (list blocks use the keyword as data)."""
        return [self.keyword, *self.args]


def build_tree(lines: Iterable[Line], sink: DiagnosticSink, toplevel_only: frozenset[str]) -> list[Node]:
    """Build the statement tree; returns the top-level statements.

    ``toplevel_only`` names the keywords that may only appear at the top level;
    meeting one inside a block is reported as a missing ``}``.
    """
    root = Node(Token("<root>", "", 0), children=[])
    stack: list[Node] = [root]
    prev: Node | None = None  # last statement, if it ended at the end of its line

    def children() -> list[Node]:
        kids = stack[-1].children
        assert kids is not None
        return kids

    for ln in lines:
        cur: list[Token] = []

        def flush() -> Node | None:
            nonlocal cur
            if not cur:
                return None
            node = Node(cur[0], cur[1:])
            children().append(node)
            cur = []
            return node

        for tok in ln.tokens:
            if tok.is_open:
                node = flush()
                if node is None and prev is not None and prev.children is None and not cur:
                    node = prev
                if node is None:
                    sink.error(tok.file, tok.line, "{", "'{' with no keyword before it; block ignored")
                    node = Node(tok, anonymous=True)
                    children().append(node)
                node.children = []
                stack.append(node)
                prev = None
            elif tok.is_close:
                flush()
                if len(stack) == 1:
                    sink.error(tok.file, tok.line, "}", "unexpected '}': no block is open here")
                else:
                    stack.pop()
                prev = None
            else:
                if not cur and tok.text in toplevel_only and len(stack) > 1 and not tok.quoted:
                    outer = stack[1]
                    what = " ".join(t.text for t in outer.words)
                    sink.error(
                        outer.file,
                        outer.line,
                        outer.name,
                        f"block '{what}' is not closed before '{tok.text}' at {tok.file}:{tok.line} ('}}' missing)",
                    )
                    del stack[1:]
                cur.append(tok)
                prev = None
        prev = flush()
    for node in reversed(stack[1:]):
        what = " ".join(t.text for t in node.words)
        sink.error(node.file, node.line, node.name, f"block '{what}' is never closed ('}}' missing at end of input)")
    assert root.children is not None
    return root.children
