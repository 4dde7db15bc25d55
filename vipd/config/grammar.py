"""keepalived's keyword grammar: statement tree -> raw dict + ``{path: FILE:LINE}`` table.

Each block kind has a keyword table (``dict[str, Spec]``). A :class:`Spec` knows
how to read one statement into the raw dict that the pydantic models validate:

* :class:`Value` ``keyword VALUE``; :class:`Flag` ``keyword [BOOL]``;
* :class:`Sub` ``keyword { ... }`` (a nested block), :class:`Named`
  ``keyword NAME { ... }`` (``vrrp_instance VI_1``);
* :class:`ListOf` ``keyword { ITEM ... }``: one item per line (VIPs, peers);
* :class:`Ignored`: a keepalived keyword vipd recognises but does not act on
  (a warning naming it, or an error with ``strict``); :class:`Lvs`: LVS/IPVS
  blocks, which vipd does not implement.

The raw dict holds strings for scalars (the models convert them and check
ranges) and already-parsed objects for list items. ``locs`` maps the path of
every value written (``("vrrp_instances", "VI_1", "priority")``, or
``(..., "virtual_ipaddress", 2)`` for a list item) to where it was written.

Size: over 400 lines: one item parser per keepalived value shape, each reporting at its token's FILE:LINE.
"""

from __future__ import annotations

import difflib
import ipaddress
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vipd.config import routes as _routes
from vipd.config.diagnostics import DiagnosticSink, Loc, Path
from vipd.config.lexer import Token
from vipd.config.tree import Node

Raw = dict[str, Any]


@dataclass(slots=True)
class Ctx:
    """State shared while interpreting one configuration."""

    sink: DiagnosticSink
    locs: dict[Path, Loc] = field(default_factory=dict)
    empty_lists: set[Path] = field(default_factory=set)

    def mark(self, path: Path, tok: Token | Node, keyword: str) -> None:
        """Record that the value at ``path`` was written at ``tok``."""
        self.locs[path] = Loc(tok.file, tok.line, keyword)

    def error(self, tok: Token | Node, keyword: str, message: str) -> None:
        """Report an error at ``tok``'s line."""
        self.sink.error(tok.file, tok.line, keyword, message)

    def warning(self, tok: Token | Node, keyword: str, message: str) -> None:
        """Report a warning at ``tok``'s line."""
        self.sink.warning(tok.file, tok.line, keyword, message)


@dataclass
class Spec:
    """How one keyword is read. Subclasses implement :meth:`apply`.

    Attributes:
        doc: one line for the generated reference.
        pending: the keyword is parsed and checked but the daemon does not act on
            it yet: each use gets a warning naming it (an error with ``strict``).
    """

    doc: str = ""
    pending: bool = False

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        """Read ``node`` into ``target`` (the raw dict of the enclosing block at ``path``)."""
        raise NotImplementedError


Table = dict[str, Spec]


def _no_block(node: Node, ctx: Ctx) -> bool:
    if node.children is not None:
        ctx.error(node, node.name, "takes a value, not a { } block")
        return False
    return True


def _store(target: Raw, key: str, value: Any, path: Path, node: Node, ctx: Ctx) -> None:
    where = (*path, key)
    if key in target and where in ctx.locs:
        first = ctx.locs[where]
        ctx.error(node, node.name, f"given twice in this block (first at line {first.line})")
        return
    target[key] = value
    ctx.mark(where, node, node.name)


@dataclass
class Value(Spec):
    """``keyword VALUE``: exactly one word; stored as text unless ``convert`` is given.

    ``convert`` turns the word into a Python value or raises ``ValueError`` with a
    message in the operator's terms.
    """

    field: str | None = None
    convert: Callable[[str], Any] | None = None

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        if not node.args:
            ctx.error(node, node.name, "needs a value")
            return
        if len(node.args) > 1:
            extra = " ".join(t.text for t in node.args[1:])
            ctx.error(node, node.name, f"takes one value, got extra words {extra!r}")
            return
        text = node.args[0].text
        value: Any = text
        if self.convert is not None:
            try:
                value = self.convert(text)
            except ValueError as exc:
                ctx.error(node, node.name, str(exc))
                return
        _store(target, self.field or node.name, value, path, node, ctx)


@dataclass
class Flag(Spec):
    """``keyword [BOOL]``: a bare keyword sets ``field`` to ``value``.

    With an argument (``on/off``, ``yes/no``, ``true/false``), a true argument sets
    ``value`` and a false one its opposite. The last occurrence wins (so
    ``preempt`` after ``nopreempt`` undoes it, as in keepalived).
    """

    field: str | None = None
    value: bool = True

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        key = self.field or node.name
        if len(node.args) > 1:
            ctx.error(node, node.name, "takes at most one on/off value")
            return
        result = self.value
        if node.args:
            word = node.args[0].text.lower()
            if word in ("on", "yes", "true"):
                result = self.value
            elif word in ("off", "no", "false"):
                result = not self.value
            else:
                ctx.error(node, node.name, f"expected on/off, yes/no or true/false, got {node.args[0].text!r}")
                return
        target[key] = result
        ctx.mark((*path, key), node, node.name)


@dataclass
class Sub(Spec):
    """``keyword { ... }``: a nested block read with its own keyword ``table``."""

    field: str | None = None
    table: Callable[[], Table] = dict
    what: str = ""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is None:
            ctx.error(node, node.name, "must be a block: '" + node.name + " { ... }'")
            return
        if node.args:
            ctx.error(node, node.name, f"takes no name or value before '{{', got {node.args[0].text!r}")
        key = self.field or node.name
        where = (*path, key)
        if key in target and where in ctx.locs:
            ctx.error(node, node.name, f"block given twice (first at line {ctx.locs[where].line})")
            return
        sub: Raw = {}
        target[key] = sub
        ctx.mark(where, node, node.name)
        read_block(node.children, self.table(), sub, where, ctx, self.what or node.name)


@dataclass
class Named(Spec):
    """``keyword NAME { ... }``: a named block stored as ``target[field][NAME]``."""

    field: str | None = None
    table: Callable[[], Table] = dict
    name_key: str | None = "name"

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is None:
            ctx.error(node, node.name, f"must be a block: '{node.name} NAME {{ ... }}'")
            return
        if len(node.args) != 1:
            ctx.error(node, node.name, f"needs exactly one name before '{{', got {len(node.args)} words")
            return
        name = node.args[0].text
        key = self.field or node.name
        group = target.setdefault(key, {})
        where = (*path, key, name)
        if name in group:
            ctx.error(node, node.name, f"{name!r} is already defined at line {ctx.locs[where].line}")
            return
        sub: Raw = {} if self.name_key is None else {self.name_key: name}
        group[name] = sub
        ctx.mark(where, node, node.name)
        if self.name_key is not None:
            ctx.mark((*where, self.name_key), node, node.name)
        read_block(node.children, self.table(), sub, where, ctx, f"{node.name} {name}")


ItemParser = Callable[[list[Token], Ctx, str], Any]


@dataclass
class ListOf(Spec):
    """``keyword { ITEM ... }``: each line of the block is one item.

    ``item(words, ctx, keyword)`` parses the words of one line and returns the
    item, or ``None`` after reporting an error. With ``each_word`` every word is
    an item of its own (``group { VI_1 VI_2 }``). ``nonempty`` makes an empty
    block an error.
    """

    field: str | None = None
    item: ItemParser | None = None
    each_word: bool = False
    nonempty: bool = False
    empty_hint: str = ""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is None:
            ctx.error(node, node.name, f"must be a block: '{node.name} {{ ... }}'")
            return
        key = self.field or node.name
        items: list[Any] = target.setdefault(key, [])
        ctx.mark((*path, key), node, node.name)
        if node.args:
            ctx.error(node, node.name, f"takes no value before '{{', got {node.args[0].text!r}")
        lines: list[list[Token]] = []
        for child in node.children:
            if child.children is not None:
                ctx.error(child, node.name, f"unexpected block '{child.name} {{' inside {node.name}")
                continue
            if self.each_word:
                lines.extend([w] for w in child.words)
            else:
                lines.append(child.words)
        for words in lines:
            value = self.item(words, ctx, node.name) if self.item else words[0].text
            if value is None:
                continue
            ctx.mark((*path, key, len(items)), words[0], node.name)
            items.append(value)
        if not items and not lines:
            if self.nonempty:
                ctx.error(node, node.name, "block is empty" + (f": {self.empty_hint}" if self.empty_hint else ""))
            ctx.empty_lists.add((*path, key))


@dataclass
class Ignored(Spec):
    """A keepalived keyword (or block) vipd recognises but does not act on.

    Reported as a warning naming the keyword and line (an error with ``strict``);
    its value or block is skipped.
    """

    reason: str = "vipd does not implement it"

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        ctx.sink.unsupported(node.file, node.line, node.name, f"ignored: {self.reason}")


@dataclass
class Lvs(Spec):
    """An LVS/IPVS block (``virtual_server``...): not implemented by vipd, skipped whole."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        what = " ".join(t.text for t in node.words)
        ctx.sink.unsupported(
            node.file,
            node.line,
            node.name,
            f"LVS/IPVS configuration is not supported by vipd; '{what}' ignored",
        )


# -- reading blocks -------------------------------------------------------------------

_HOMES: dict[str, list[str]] = {}
"""keyword -> the blocks it is valid in (filled by :func:`register_table`)."""


def register_table(block: str, table: Table) -> Table:
    """Record the keywords of ``table`` as valid in ``block`` (for "belongs in" hints)."""
    for kw in table:
        homes = _HOMES.setdefault(kw, [])
        if block not in homes:
            homes.append(block)
    return table


def unknown_keyword(node: Node, table: Table, block: str, ctx: Ctx) -> None:
    """Report ``node`` as an unknown keyword of ``block``, with a hint when one is close."""
    kw = node.name
    homes = [h for h in _HOMES.get(kw, []) if h != block]
    where = "at the top level" if block == "<top>" else f"in {block}"
    if homes:
        ctx.error(node, kw, f"not valid {where}; it belongs in {' or '.join(homes)}")
        return
    close = difflib.get_close_matches(kw, list(table), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if not close and "group" in table and node.children is None and not node.args:
        hint = " (sync group members go inside 'group { ... }')"
    ctx.error(node, kw, f"unknown keyword {where}{hint}")


def read_block(nodes: list[Node], table: Table, target: Raw, path: Path, ctx: Ctx, block: str) -> None:
    """Read the statements of one block into ``target`` using ``table``."""
    for node in nodes:
        if node.anonymous:
            continue
        spec = table.get(node.name)
        if spec is None or node.keyword.quoted:
            unknown_keyword(node, table, block, ctx)
            continue
        spec.apply(node, target, path, ctx)
        if spec.pending:
            ctx.sink.unsupported(node.file, node.line, node.name, "parsed and checked, but vipd does not act on it yet")


# -- value converters and item parsers --------------------------------------------------


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address, or ``ValueError`` naming the bad text."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid IPv4 or IPv6 address") from None


_VIP_VALUE_OPTIONS = {"brd": "brd", "broadcast": "brd", "dev": "dev", "scope": "scope", "label": "label"}
_VIP_IGNORED_VALUE_OPTIONS = frozenset({"peer", "preferred_lft", "track_group"})
_VIP_IGNORED_FLAGS = frozenset({"home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track"})
_VIP_VMAC = "use_vmac"


def parse_vip(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """One ``virtual_ipaddress`` line -> raw :class:`~vipd.config.model.VirtualAddress` data.

    Syntax: ``ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L]`` plus keepalived's
    rarer options, which are recognised and reported as not supported.
    """
    head = words[0]
    text = head.text
    addr_text, slash, plen_text = text.partition("/")
    try:
        addr = ipaddress.ip_address(addr_text)
    except ValueError:
        ctx.error(head, keyword, f"{text!r} is not a valid address (expected ADDR or ADDR/PREFIX)")
        return None
    raw: dict[str, Any] = {"address": addr, "line": head.line}
    if slash:
        if not plen_text.isdigit():
            ctx.error(head, keyword, f"{text!r}: prefix length {plen_text!r} is not a number")
            return None
        raw["prefixlen"] = int(plen_text)
    else:
        raw["prefixlen"] = 128 if addr.version == 6 else 32
    i = 1
    ok = True
    while i < len(words):
        opt = words[i].text
        if opt in _VIP_VALUE_OPTIONS or opt in _VIP_IGNORED_VALUE_OPTIONS:
            if i + 1 >= len(words):
                ctx.error(words[i], keyword, f"{text}: option {opt!r} needs a value")
                return None
            value = words[i + 1].text
            if opt in _VIP_VALUE_OPTIONS:
                key = _VIP_VALUE_OPTIONS[opt]
                if key == "brd":
                    try:
                        parsed: Any = ipaddress.IPv4Address(value)
                    except ValueError:
                        ctx.error(words[i], keyword, f"{text}: brd {value!r} is not an IPv4 address")
                        ok = False
                        parsed = None
                    raw[key] = parsed
                else:
                    raw[key] = value
            else:
                ctx.sink.unsupported(
                    words[i].file, words[i].line, keyword, f"{text}: option {opt!r} is not supported by vipd; ignored"
                )
            i += 2
        elif opt == _VIP_VMAC:  # keepalived: a VMAC for this VIP on its interface (see use_vmac_addr)
            raw["use_vmac"] = True
            i += 1
        elif opt in _VIP_IGNORED_FLAGS:
            ctx.sink.unsupported(
                words[i].file, words[i].line, keyword, f"{text}: option {opt!r} is not supported by vipd; ignored"
            )
            i += 1
        else:
            known = [*_VIP_VALUE_OPTIONS, *_VIP_IGNORED_VALUE_OPTIONS, *_VIP_IGNORED_FLAGS, _VIP_VMAC]
            close = difflib.get_close_matches(opt, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            ctx.error(words[i], keyword, f"{text}: unknown option {opt!r}{hint}")
            return None
    return raw if ok else None


def parse_peer(words: list[Token], ctx: Ctx, keyword: str) -> Any:
    """One ``unicast_peer`` line: ``ADDR [min_ttl N] [max_ttl N]`` (keepalived).

    Returns:
        the address, or ``{"address": ADDR, "min_ttl": N, "max_ttl": M}`` when a TTL
        bound is given (N default 0, M default 255; the model splits these into
        ``unicast_peer`` and ``unicast_peer_ttl``); None after reporting an error
        (a bound outside 0..255, or min_ttl above max_ttl).
    """
    try:
        addr = parse_ip(words[0].text)
    except ValueError as exc:
        ctx.error(words[0], keyword, str(exc))
        return None
    rest = words[1:]
    bounds = {"min_ttl": 0, "max_ttl": 255}
    given = False
    i = 0
    while i < len(rest):
        opt = rest[i].text
        if opt in ("min_ttl", "max_ttl") and i + 1 < len(rest):
            value = rest[i + 1].text
            if not value.isdigit() or not 0 <= int(value) <= 255:
                ctx.error(rest[i + 1], keyword, f"{words[0].text}: {opt} must be 0..255, got {value!r}")
                return None
            bounds[opt] = int(value)
            given = True
            i += 2
            continue
        ctx.error(rest[i], keyword, f"{words[0].text}: unexpected {opt!r} (expected ADDR [min_ttl N] [max_ttl N])")
        return None
    if bounds["min_ttl"] > bounds["max_ttl"]:
        ctx.error(
            words[0], keyword, f"{words[0].text}: min_ttl {bounds['min_ttl']} is above max_ttl {bounds['max_ttl']}"
        )
        return None
    return {"address": addr, **bounds} if given else addr


# -- scripts, trackers, routes ---------------------------------------------------------------


def split_command(command: str) -> list[str]:
    """Split a script command like keepalived: on whitespace, quotes grouping words."""
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


@dataclass
class ScriptValue(Spec):
    """``keyword CMD [USER [GROUP]]``: a command to run (``notify_*``, ``script``).

    As in keepalived, the command is one word (quote it when it has arguments);
    the words after it are the user and group to run it as.
    """

    field: str | None = None
    with_user: bool = True

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        if not node.args:
            ctx.error(node, node.name, "needs a command")
            return
        cmd, extra = node.args[0], node.args[1:]
        if extra and not self.with_user:
            ctx.error(node, node.name, f'takes one command; quote it if it has arguments: "{cmd.text} ..."')
            return
        if len(extra) > 2:
            ctx.error(
                node,
                node.name,
                f"takes CMD [USER [GROUP]], got {len(extra)} words after the command: quote the command "
                "if they are its arguments",
            )
            return
        if extra and not cmd.quoted:
            ctx.warning(
                node,
                node.name,
                f"{extra[0].text!r} is read as the user to run {cmd.text!r} as (keepalived does the same); "
                "quote the command if it is an argument",
            )
        argv = split_command(cmd.text)
        if not argv:
            ctx.error(node, node.name, "the command is empty")
            return
        value: dict[str, Any] = {"command": cmd.text, "argv": argv}
        if extra:
            value["user"] = extra[0].text
        if len(extra) > 1:
            value["group"] = extra[1].text
        _store(target, self.field or node.name, value, path, node, ctx)


@dataclass
class WeightValue(Spec):
    """``weight W [reverse]``: stores ``weight`` and the reverse flag under ``reverse_field``."""

    reverse_field: str = "reverse"

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        words = [t.text for t in node.args]
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("reverse", "noreverse")):
            ctx.error(node, node.name, "expected 'weight W [reverse]'")
            return
        _store(target, "weight", words[0], path, node, ctx)
        target[self.reverse_field] = len(words) == 2 and words[1] == "reverse"


@dataclass
class UserValue(Spec):
    """``keyword USER [GROUP]``: stores ``user_field`` and ``group_field``."""

    user_field: str = "user"
    group_field: str = "group"

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        if not 1 <= len(node.args) <= 2:
            ctx.error(node, node.name, "expected USER [GROUP]")
            return
        _store(target, self.user_field, node.args[0].text, path, node, ctx)
        if len(node.args) == 2:
            target[self.group_field] = node.args[1].text


@dataclass
class ProcessValue(Spec):
    """``process NAME [ARGS...]`` of ``vrrp_track_process``."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        if not node.args:
            ctx.error(node, node.name, "needs a process name")
            return
        _store(target, "process", node.args[0].text, path, node, ctx)
        target["args"] = [t.text for t in node.args[1:]]


@dataclass
class InitFileValue(Spec):
    """``init_file [VALUE] [overwrite]`` of ``track_file``."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        words = [t.text for t in node.args]
        overwrite = bool(words) and words[-1] == "overwrite"
        if overwrite:
            words = words[:-1]
        if len(words) > 1:
            ctx.error(node, node.name, "expected 'init_file [VALUE] [overwrite]'")
            return
        _store(target, "init_file", words[0] if words else "0", path, node, ctx)
        target["init_overwrite"] = overwrite


@dataclass
class VmacValue(Spec):
    """``use_vmac [NAME]``: a macvlan with the VRRP virtual MAC, optionally named."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if not _no_block(node, ctx):
            return
        if len(node.args) > 1:
            extra = " ".join(t.text for t in node.args[1:])
            ctx.sink.unsupported(
                node.file, node.line, node.name, f"vipd reads 'use_vmac [NAME]'; options {extra!r} ignored"
            )
        target["use_vmac"] = True
        ctx.mark((*path, "use_vmac"), node, node.name)
        if node.args:
            _store(target, "vmac_name", node.args[0].text, path, node, ctx)


@dataclass
class Deprecated(Spec):
    """A keepalived keyword kept for compatibility: read by ``inner``, with a warning."""

    inner: Spec = field(default_factory=Spec)
    message: str = ""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        ctx.warning(node, node.name, f"deprecated in keepalived: {self.message}")
        self.inner.apply(node, target, path, ctx)


def _weight_options(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """``[weight W [reverse|noreverse]]`` after a tracked name."""
    rest = words[1:]
    out: dict[str, Any] = {}
    if not rest:
        return out
    texts = [t.text for t in rest]
    if (
        texts[0] != "weight"
        or len(texts) < 2
        or len(texts) > 3
        or (len(texts) == 3 and texts[2] not in ("reverse", "noreverse"))
    ):
        ctx.error(rest[0], keyword, f"{words[0].text}: expected 'NAME [weight W [reverse]]', got {' '.join(texts)!r}")
        return None
    out["weight"] = texts[1]
    out["reverse"] = len(texts) == 3 and texts[2] == "reverse"
    return out


def parse_track_interface(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """One ``track_interface`` line: ``IF [weight W [reverse]]``."""
    opts = _weight_options(words, ctx, keyword)
    return None if opts is None else {"interface": words[0].text, **opts}


def parse_track_ref(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """One ``track_script`` / ``track_file`` / ``track_process`` line: ``NAME [weight W [reverse]]``."""
    opts = _weight_options(words, ctx, keyword)
    return None if opts is None else {"name": words[0].text, **opts}


def _parse_route_words(words: list[Token], ctx: Ctx, keyword: str, rule: bool) -> dict[str, Any] | None:
    """Check one route/rule line with the one route grammar (:mod:`vipd.config.routes`); keep its words.

    A word vipd cannot install (``mtu``, ``realm``, ``nexthop``...) is an error at
    this line, so ``vipd -t``, start-up and reload give the same verdict.
    """
    texts = [t.text for t in words]
    for i, t in enumerate(texts[:-1]):
        if t == "or" and not rule:
            ctx.warning(words[i], keyword, "'or' for routes is deprecated in keepalived; use 'nexthop'")
        elif t == "gw" and not rule:
            ctx.warning(words[i], keyword, "'gw' for routes is deprecated in keepalived; use 'via'")
    try:
        # The instance's family is only known to the planner; it changes nothing but "default".
        (_routes.parse_rule if rule else _routes.parse_route)(texts, 4)
    except ValueError as e:
        ctx.error(words[0], keyword, str(e))
        return None
    if rule and not ({"preference", "priority", "pref", "order"} & set(texts)):
        ctx.warning(
            words[0],
            keyword,
            "rule has no preference: keepalived assigns one (16384, 16383, ...) and warns; write 'preference N'",
        )
    return {"words": texts, "line": words[0].line}


def parse_route(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """One route line (``ip route`` syntax): addresses are checked, the words kept."""
    return _parse_route_words(words, ctx, keyword, rule=False)


def parse_rule(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, Any] | None:
    """One rule line (``ip rule`` syntax): addresses are checked, the words kept."""
    return _parse_route_words(words, ctx, keyword, rule=True)


def parse_member(words: list[Token], ctx: Ctx, keyword: str) -> str:
    """One sync-group member name."""
    return words[0].text
