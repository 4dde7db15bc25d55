"""Structured fuzzing of the config loader: keepalived-shaped files built from the keyword tables.

The random-text fuzzers (test_config_robustness.py, test_fuzz_atheris.py) rarely get past
the lexer. Here every statement is drawn from the real keyword tables of
:mod:`vipd.config.keywords` (the Spec class says the statement's shape: value, flag,
block, named block, list block) and the argument kinds from the pydantic model field the
keyword fills (:mod:`vipd.config.model`: an int or a duration with its range, a bool, a
literal, an address, an interface name), so most files lex and parse and reach the
models and the cross-field rules. Arguments are plausible or not (in and out of range,
negative, huge, floats, addresses with and without prefix, long interface names, empty
words); statements are duplicated, moved to the wrong block, misspelt; then the text is
damaged line by line (a brace dropped or added, an include of a missing file, ``@ID``
conditionals, ``$NAME`` parameters, ``\\`` continuations, comments).

Properties:

* whatever the file, the loader returns a LoadResult or raises ConfigError, within the
  hypothesis deadline; every diagnostic names ``FILE:LINE`` with a line of the file that
  holds a statement (not a blank or comment line), and a reason;
* an error quoting the bad value is on a line where that value is written;
* a file drawn only from valid choices loads.
"""

from __future__ import annotations

import ipaddress
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import annotated_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from vipd.config import ConfigError, Diagnostic, load_config_string
from vipd.config import keywords as kw
from vipd.config import model as m
from vipd.config.grammar import (
    Deprecated,
    Flag,
    Ignored,
    InitFileValue,
    ListOf,
    Lvs,
    Named,
    ProcessValue,
    ScriptValue,
    Spec,
    Sub,
    Table,
    UserValue,
    Value,
    VmacValue,
    WeightValue,
    parse_ip,
    parse_member,
    parse_peer,
    parse_route,
    parse_rule,
    parse_track_interface,
    parse_track_ref,
    parse_vip,
)
from vipd.config.lexer import strip_comment

FILENAME = "fuzz.conf"
CONFIG_ID = "high"
DEADLINE_MS = 2000
FUZZ_EXAMPLES = 400
VALID_EXAMPLES = 150

# Each block kind: its keyword table and the model its values are validated by.
BLOCKS: dict[str, tuple[Table, type[BaseModel] | None]] = {
    "<top>": (kw.TOP, None),
    "global_defs": (kw.GLOBAL_DEFS, m.GlobalDefs),
    "vrrp_instance": (kw.VRRP_INSTANCE, m.VrrpInstance),
    "authentication": (kw.AUTHENTICATION, m.Authentication),
    "vrrp_script": (kw.VRRP_SCRIPT, m.VrrpScript),
    "vrrp_check": (kw.VRRP_CHECK, m.VrrpCheck),
    "track_file": (kw.TRACK_FILE, m.TrackFile),
    "vrrp_track_process": (kw.TRACK_PROCESS, m.TrackProcess),
    "vrrp_sync_group": (kw.SYNC_GROUP, m.SyncGroup),
    "bfd_instance": (kw.BFD_INSTANCE, m.BfdInstance),
    "garp_group": (kw.GARP_GROUP, m.GarpGroup),
}
_TABLE_NAMES = {id(table): name for name, (table, _) in BLOCKS.items()}
ALL_KEYWORDS = sorted({k for table, _ in BLOCKS.values() for k in table})

NAMES = ["VI_1", "VI_2", "chk", "chk2", "tf", "proc", "G1", "VI-3", "x" * 40]
INSTANCE_NAMES = ["VI_1", "VI_2", "VI-3"]


# -- argument kinds, from the model field a keyword fills ----------------------------------


@dataclass(frozen=True)
class Kind:
    """What a keyword's value is: ``int``/``float`` (with bounds), ``bool``, ``literal``,
    ``ip``/``ip4``/``ip6``, ``ifname``, ``listen`` or ``word``."""

    name: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[Any, ...] = ()


def _flatten(ann: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` and ``Optional`` wrappers; collect their metadata."""
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(ann)
            for item in extra:
                meta.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            ann = base
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) == 1:
                ann = args[0]
                continue
        return ann, meta


def kind_of(block: str, keyword: str, spec: Spec) -> Kind:
    """The kind of ``keyword``'s value in ``block``, read from the model field it fills."""
    if isinstance(spec, Value) and spec.convert is parse_ip:
        return Kind("ip")
    if isinstance(spec, Value) and spec.convert is kw.parse_listen_address:
        return Kind("listen")
    model = BLOCKS[block][1]
    field = getattr(spec, "field", None) or keyword
    if model is None or field not in model.model_fields:
        return Kind("word")
    info = model.model_fields[field]
    ann, meta = _flatten(info.annotation, list(info.metadata))
    lo = hi = None
    lo_open = False
    for item in meta:
        if isinstance(item, annotated_types.Ge):
            lo = item.ge
        elif isinstance(item, annotated_types.Gt):
            lo, lo_open = item.gt, True
        elif isinstance(item, annotated_types.Le):
            hi = item.le
    for item in meta:
        millis = getattr(getattr(item, "func", None), "millis_range", None)
        if millis is not None:  # BFD timers: written in ms, the words are checked in ms
            return Kind("float", millis[0], millis[1])
    if typing.get_origin(ann) is typing.Literal:
        return Kind("literal", choices=typing.get_args(ann))
    if ann is bool:
        return Kind("bool")
    if ann is int:
        return Kind("int", lo, hi)
    if ann is float:
        return Kind("float", lo, hi, lo_open)
    if ann is ipaddress.IPv4Address:
        return Kind("ip4")
    if ann is ipaddress.IPv6Address:
        return Kind("ip6")
    if set(typing.get_args(ann)) == {ipaddress.IPv4Address, ipaddress.IPv6Address}:
        return Kind("ip")
    if any(getattr(item, "func", None) is m._ifname for item in meta):
        return Kind("ifname")
    return Kind("word")


def test_kinds_are_read_from_the_models() -> None:
    """The generator's view of the tables is right for a few known keywords."""
    inst = kw.VRRP_INSTANCE
    assert kind_of("vrrp_instance", "priority", inst["priority"]) == Kind("int", 1, 255)
    assert kind_of("vrrp_instance", "advert_int", inst["advert_int"]) == Kind("float", 0, 255, True)
    assert kind_of("vrrp_instance", "unicast_ttl", inst["unicast_ttl"]) == Kind("int", 1, 255)
    assert kind_of("vrrp_instance", "interface", inst["interface"]) == Kind("ifname")
    assert kind_of("vrrp_instance", "state", inst["state"]).choices == ("MASTER", "BACKUP")
    assert kind_of("vrrp_instance", "mcast_src_ip", inst["mcast_src_ip"]) == Kind("ip")
    assert kind_of("global_defs", "vrrp_mcast_group4", kw.GLOBAL_DEFS["vrrp_mcast_group4"]) == Kind("ip4")
    assert kind_of("global_defs", "vrrp_version", kw.GLOBAL_DEFS["vrrp_version"]).choices == (2, 3)
    assert kind_of("vrrp_track_process", "quorum_max", kw.TRACK_PROCESS["quorum_max"]) == Kind("int", 0, 65535)


# -- plausible and implausible words -----------------------------------------------------------

_IFNAMES = ["eth0", "eth1", "ens3", "bond0.100", "veth-a_b"]
_V4 = ["192.0.2.1", "192.0.2.2", "10.0.0.1", "198.51.100.7", "203.0.113.254"]
_V6 = ["2001:db8::1", "fe80::1", "fe80::2", "2001:db8::ff", "ff02::12"]


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def valid_value(kind: Kind) -> st.SearchStrategy[str]:
    """A word the model accepts for ``kind`` (ranges respected)."""
    if kind.name == "int":
        lo = int(kind.lo) if kind.lo is not None else -1000
        hi = int(kind.hi) if kind.hi is not None else 1000
        return st.integers(lo, min(hi, lo + 100000)).map(str)
    if kind.name == "float":
        lo = kind.lo if kind.lo is not None else 0.0
        hi = min(kind.hi if kind.hi is not None else 1000.0, 1000.0)
        centis = st.integers(int(lo * 100) + (1 if kind.lo_open else 0), int(hi * 100))
        return centis.map(lambda c: _fmt(c / 100))
    if kind.name == "bool":
        return st.sampled_from(["on", "off", "yes", "no", "true", "false", "ON"])
    if kind.name == "literal":
        return st.sampled_from([str(c) for c in kind.choices])
    if kind.name in ("ip", "ip4"):
        return st.sampled_from(_V4 + (_V6 if kind.name == "ip" else []))
    if kind.name == "ip6":
        return st.sampled_from(_V6)
    if kind.name == "ifname":
        return st.sampled_from(_IFNAMES)
    if kind.name == "listen":
        return st.sampled_from(["9100", "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:0"])
    return st.sampled_from(["node1", "/tmp/fifo", "PASS", "abc", "x.y-z_1"])


_JUNK = [
    "",
    "-1",
    "0",
    "-0",
    "+5",
    "1.5",
    "0.001",
    "1e3",
    "0x10",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999999999999",
    "-99999999999999999999999999999",
    "1" * 400,
    "3.",
    ".5",
    "1,5",
    "abc",
    "MASTER",
    "on",
    "256",
    "255",
    "65536",
    "192.0.2.1",
    "192.0.2.1/24",
    "192.0.2.1/33",
    "192.0.2.256",
    "10.0.0./8",
    "2001:db8::1/64",
    "2001:db8::1/129",
    "fe80::1%eth0",
    "::",
    "0.0.0.0",
    "eth0",
    "a" * 16,
    "a/b",
    ".",
    "..",
    "é",
    "日本",
    "{",
    "}",
    "@x",
    "$X",
    "${NOPE}",
]


def any_value(kind: Kind) -> st.SearchStrategy[str]:
    """A word for ``kind``: valid, just out of range, or junk."""
    edge: list[str] = []
    if kind.lo is not None:
        edge += [_fmt(kind.lo), _fmt(kind.lo - 1), _fmt(kind.lo - 0.5)]
    if kind.hi is not None:
        edge += [_fmt(kind.hi), _fmt(kind.hi + 1), _fmt(kind.hi + 0.01), str(int(kind.hi) * 1000)]
    if kind.choices:
        edge += [str(c).lower() for c in kind.choices] + [str(c) + "x" for c in kind.choices]
    return st.one_of(
        valid_value(kind),
        st.sampled_from(edge or _JUNK),
        st.sampled_from(_JUNK),
        st.integers(-(2**70), 2**70).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x00"), max_size=20),
    )


def _ip_with_prefix(valid: bool) -> st.SearchStrategy[str]:
    if valid:
        v4 = st.tuples(st.sampled_from(_V4), st.sampled_from(["", "/24", "/32", "/0"]))
        return v4.map("".join)
    return st.tuples(
        st.sampled_from(_V4 + _V6 + ["192.0.2.300", "abc", "", "::ffff:1.2.3.4", "1.2.3"]),
        st.sampled_from(["", "/24", "/64", "/33", "/129", "/-1", "/x", "/", "/999999999999"]),
    ).map("".join)


# -- statements -------------------------------------------------------------------------------------


@dataclass
class Stmt:
    """One statement: its words and, for a block, its children."""

    words: list[str]
    children: list[Stmt] | None = None


Draw = Callable[[st.SearchStrategy[Any]], Any]


def _weight_suffix(draw: Draw, valid: bool) -> list[str]:
    if valid:
        return draw(st.sampled_from([[], ["weight", "10"], ["weight", "-20", "reverse"], ["weight", "0", "noreverse"]]))
    return draw(
        st.lists(
            st.one_of(
                st.sampled_from(["weight", "reverse", "noreverse", "1", "-254", "300"]),
                any_value(Kind("int", -253, 253)),
            ),
            max_size=4,
        )
    )


_VIP_OPTION_WORDS = ["dev", "eth0", "brd", "192.0.2.255", "label", "eth0:1", "scope", "global", "bogus", "nodad"]
_ROUTE_WORDS = ["via", "src", "to", "from", "gw", "or", "dev", "table", "metric", "default", "any", "10.0.0./8"]
_ROUTE_WORDS += ["192.0.2.1/33", "2001:db8::/64", "10.0.0.0/8", "eth0", "100", "fe80::1%eth0"]


def list_items(draw: Draw, spec: ListOf, valid: bool) -> list[Stmt]:
    """The lines of a list block (VIPs, peers, routes, trackers, members)."""
    n = draw(st.integers(0 if not valid else 1, 4))
    items: list[Stmt] = []
    for _ in range(n):
        if spec.item is parse_vip:
            words = [draw(_ip_with_prefix(valid))]
            if not valid:
                words += draw(
                    st.lists(
                        st.sampled_from([*_VIP_OPTION_WORDS, "a" * 20, "fe80::1"]),
                        max_size=4,
                    )
                )
        elif spec.item is parse_peer:
            words = [draw(st.sampled_from(_V4 if valid else _V4 + _V6 + ["abc", "192.0.2.1/24"]))]
            if not valid:
                words += draw(
                    st.lists(st.sampled_from(["min_ttl", "max_ttl", "0", "255", "256", "-1", "x"]), max_size=4)
                )
        elif spec.item in (parse_route, parse_rule):
            if valid:
                # One grammar (vipd.config.routes): a rule line is not a route line and vice versa.
                routes = [["10.1.0.0/16", "via", "192.0.2.254"], ["default", "via", "192.0.2.254", "dev", "eth0"]]
                rules = [["from", "192.0.2.0/24", "table", "100", "preference", "100"]]
                words = draw(st.sampled_from(routes if spec.item is parse_route else rules))
            else:
                words = draw(
                    st.lists(
                        st.sampled_from(_ROUTE_WORDS),
                        min_size=1,
                        max_size=6,
                    )
                )
        elif spec.item is parse_track_interface:
            ifname = draw(valid_value(Kind("ifname")) if valid else any_value(Kind("ifname")))
            words = [ifname or "eth0", *_weight_suffix(draw, valid)]
        elif spec.item is parse_track_ref:
            words = [draw(st.sampled_from(NAMES)), *_weight_suffix(draw, valid)]
        elif spec.item is parse_member:
            words = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
        else:  # pragma: no cover - a new item parser: give it words
            words = draw(st.lists(st.sampled_from(_JUNK), min_size=1, max_size=3))
        items.append(Stmt(words))
    return items


def statement(draw: Draw, block: str, keyword: str, depth: int) -> Stmt:
    """One statement for ``keyword`` of ``block``, mostly of the right shape."""
    table = BLOCKS[block][0]
    spec = table.get(keyword, Spec())
    if isinstance(spec, Deprecated):
        spec = spec.inner
    shape_ok = draw(st.integers(0, 9)) > 0  # 1 in 10: the wrong shape (block for a value...)
    if not shape_ok:
        words = [keyword, *draw(st.lists(st.sampled_from(_JUNK), max_size=3))]
        kids = draw(st.none() | st.just([Stmt(["x"])]) | st.just([]))
        return Stmt(words, kids)
    if isinstance(spec, (Sub, Named)) and depth < 3:
        sub = _TABLE_NAMES[id(spec.table())]
        head = [keyword] + ([draw(st.sampled_from(NAMES))] if isinstance(spec, Named) else [])
        return Stmt(head, block_body(draw, sub, depth + 1))
    if isinstance(spec, ListOf):
        return Stmt([keyword], list_items(draw, spec, valid=draw(st.booleans())))
    if isinstance(spec, Flag):
        return Stmt([keyword, *draw(st.sampled_from([[], ["on"], ["off"], ["no"], ["maybe"], ["on", "off"]]))])
    if isinstance(spec, ScriptValue):
        cmd = draw(st.sampled_from(["/bin/true", "/usr/bin/check --fast", "", "  ", "</dev/tcp/127.0.0.1/80", "'"]))
        extra = draw(st.sampled_from([[], ["root"], ["root", "root"], ["a", "b", "c"]]))
        return Stmt([keyword, _quote(cmd), *extra])
    if isinstance(spec, WeightValue):
        return Stmt([keyword, *_weight_suffix(draw, draw(st.booleans()))[1:]])
    if isinstance(spec, (UserValue, ProcessValue, InitFileValue, VmacValue)):
        return Stmt(
            [keyword, *draw(st.lists(st.sampled_from(["root", "nobody", "1", "overwrite", "a" * 16, ""]), max_size=3))]
        )
    if isinstance(spec, Value):  # Value, AuthPass, OptionValue, WordsValue
        kind = kind_of(block, keyword, spec)
        n = draw(st.sampled_from([1, 1, 1, 1, 0, 2]))
        return Stmt([keyword, *(draw(any_value(kind)) for _ in range(n))])
    if isinstance(spec, (Ignored, Lvs)):
        words = [keyword, *draw(st.lists(st.sampled_from(_JUNK[:20]), max_size=2))]
        return Stmt(words, draw(st.none() | st.just([Stmt(["a", "b"])])))
    return Stmt([keyword, *draw(st.lists(st.sampled_from(_JUNK), max_size=2))])


def block_body(draw: Draw, block: str, depth: int) -> list[Stmt]:
    """The statements of one block: its own keywords, and now and then a stranger."""
    table = BLOCKS[block][0]
    own = sorted(table)
    pick = st.one_of(
        st.sampled_from(own),
        st.sampled_from(own),
        st.sampled_from(own),
        st.sampled_from(ALL_KEYWORDS),  # a keyword of another block
        st.sampled_from(["priorty", "virtual_ipaddres", "VRRP_INSTANCE", "state:", '"priority"']),
    )
    out: list[Stmt] = []
    for name in draw(st.lists(pick, max_size=8 if depth else 6)):
        stmt = statement(draw, block, name, depth)
        out.append(stmt)
        if draw(st.integers(0, 9)) == 0:
            out.append(stmt)  # the same statement twice
    return out


def _quote(word: str) -> str:
    if word and not any(c.isspace() or c in "\"'#!{}$@\\" for c in word):
        return word
    if '"' not in word:
        return f'"{word}"'
    if "'" not in word:
        return f"'{word}'"
    return word.replace('"', "").replace("'", "") or '""'


def render(stmts: list[Stmt], depth: int = 0) -> list[str]:
    """The statements as lines of text, one statement a line, blocks indented."""
    lines: list[str] = []
    pad = "    " * depth
    for s in stmts:
        text = pad + " ".join(_quote(w) for w in s.words)
        if s.children is None:
            lines.append(text)
        else:
            lines.append(text + " {")
            lines.extend(render(s.children, depth + 1))
            lines.append(pad + "}")
    return lines


# -- line-level damage -------------------------------------------------------------------------


_DAMAGE = ["drop_close", "extra_close", "include", "include_glob", "include_braces", "cond", "param", "continue"]
_DAMAGE += ["comment", "dup", "blank", "open_next_line"]


def damage(draw: Draw, lines: list[str]) -> list[str]:
    """Apply a few line-level mutations: braces, include, conditionals, parameters, continuations."""
    lines = list(lines)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(_DAMAGE))
        i = draw(st.integers(0, len(lines))) if lines else 0
        if op == "drop_close":
            closes = [j for j, ln in enumerate(lines) if ln.strip() == "}"]
            if closes:
                del lines[draw(st.sampled_from(closes))]
        elif op == "extra_close":
            lines.insert(i, "}")
        elif op == "include":
            lines.insert(i, "include /nonexistent-vipd-fuzz/missing.conf")
        elif op == "include_glob":
            lines.insert(i, "include /nonexistent-vipd-fuzz/*.conf")
        elif op == "include_braces":  # {a,b} x N: 2**N names
            n = draw(st.sampled_from([1, 2, 3, 10, 20, 40, 5000]))  # 5000: deeper than the recursion limit
            braces = draw(st.sampled_from(["{a,b}" * n, "{,}" * n, "{a," * n + "}" * n, "{a," * n]))
            lines.insert(i, "include /nonexistent-vipd-fuzz/" + braces)
        elif op == "cond" and i < len(lines):
            tag = draw(st.sampled_from(["@high ", "@^high ", "@low ", "@^low ", "@", "@high"]))
            lines[i] = tag + lines[i].lstrip()
        elif op == "param" and i < len(lines):
            value = draw(st.sampled_from(["255", "eth0", "192.0.2.1", "$P", "${P}x", "", "{", "a b"]))
            words = lines[i].split()
            if len(words) > 1:
                words[-1] = draw(st.sampled_from(["$P", "${P}", "${Q}", "$P$P"]))
                lines[i] = " ".join(words)
            lines.insert(draw(st.integers(0, i)), f"$P={value}")
        elif op == "continue" and i < len(lines):
            words = lines[i].split()
            if len(words) > 1:
                cut = draw(st.integers(1, len(words) - 1))
                lines[i : i + 1] = [" ".join(words[:cut]) + " \\", "    " + " ".join(words[cut:])]
        elif op == "comment":
            lines.insert(i, draw(st.sampled_from(["# comment", "! bang", "   ", "#{", "! }"])))
        elif op == "dup" and i < len(lines):
            lines.insert(i, lines[i])
        elif op == "blank":
            lines.insert(i, "")
        elif op == "open_next_line" and i < len(lines) and lines[i].endswith(" {"):
            lines[i : i + 1] = [lines[i][:-2], "{"]
    return lines


@st.composite
def fuzzed_config(draw: Draw) -> str:
    """A keepalived-shaped file: top-level blocks from the keyword table, then damaged."""
    top = block_body(draw, "<top>", 0)
    # Make sure the interesting blocks come often, not just when <top> picks them.
    for name in draw(
        st.lists(st.sampled_from(["vrrp_instance", "vrrp_sync_group", "vrrp_script", "global_defs"]), max_size=3)
    ):
        top.append(statement(draw, "<top>", name, 0))
    lines = damage(draw, render(top))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


# -- checking the loader's answer ------------------------------------------------------------------


def check_diagnostic(d: Diagnostic, lines: list[str]) -> None:
    """A diagnostic names this file, a line of it holding a statement, and a reason."""
    where = f"{d} (line {d.line} of {len(lines)})"
    assert d.file == FILENAME, where
    assert 1 <= d.line <= len(lines), where
    assert strip_comment(lines[d.line - 1]).strip(), f"{where}: points at a blank or comment line"
    assert d.message.strip(), where
    assert str(d).startswith(f"{FILENAME}:{d.line}: "), where


_QUOTED_VALUE = re.compile(r"got '([ -~]*)'$|^'([ -~]*)' is (?:out of range|not valid|too long)")


def check_value_line(d: Diagnostic, lines: list[str], text: str) -> None:
    """A message quoting the bad value is on a line where that value is written."""
    m = _QUOTED_VALUE.search(d.message)
    line = lines[d.line - 1]
    if m is None or "$" in text or line.rstrip().endswith("\\") or "\\" in d.message:
        return
    value = m.group(1) if m.group(1) is not None else m.group(2)
    if " " in value:  # several words joined: their quoting is gone
        return
    assert value in line, f"{d}: the value {value!r} is not on line {d.line}: {line!r}"


def load_and_check(text: str) -> ConfigError | None:
    """Load ``text``; assert the loader's promise; return the error if it refused the file."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln.removesuffix("\r") for ln in lines]
    try:
        result = load_config_string(text, filename=FILENAME, config_id=CONFIG_ID)
    except ConfigError as err:
        assert err.errors, "ConfigError without an error"
        for d in err.diagnostics:
            check_diagnostic(d, lines)
            check_value_line(d, lines, text)
        return err
    for d in result.warnings:
        check_diagnostic(d, lines)
    return None


_FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(fuzzed_config())
def test_structured_config_loads_or_is_refused_by_line(text: str) -> None:
    load_and_check(text)


# -- valid configurations ------------------------------------------------------------------------

# Keywords whose valid values depend on others (cross-field rules) or that switch on the
# strict rules: the valid generator writes them itself or leaves them out.
_CROSS_FIELD = frozenset(
    {
        "state", "priority", "version", "advert_int", "virtual_router_id", "interface", "nopreempt",
        "preempt", "preempt_delay", "strict_mode", "vrrp_strict", "native_ipv6", "vrrp_version",
        "unicast_src_ip", "mcast_src_ip", "timeout", "interval", "quorum", "quorum_max", "type",
        "connect_port", "url", "init_file", "accept", "no_accept", "vipd_bfd_master_down", "neighbor_ip",
        "neighbour_ip", "source_ip", "ttl", "hoplimit", "max_hops",
    }
)  # fmt: skip


def simple_settings(draw: Draw, block: str) -> list[Stmt]:
    """Valid statements for the table's independent value and flag keywords of ``block``."""
    table = BLOCKS[block][0]
    out: list[Stmt] = []
    names = sorted(k for k, s in table.items() if k not in _CROSS_FIELD and type(s) in (Value, Flag))
    for name in draw(st.lists(st.sampled_from(names), max_size=6, unique=True)):
        spec = table[name]
        if isinstance(spec, Flag):
            out.append(Stmt([name]))
            continue
        kind = kind_of(block, name, spec)
        if kind.name == "word" and block == "vrrp_check":
            continue  # free text with a meaning (connect_ip, body_match...): not a "simple" setting
        out.append(Stmt([name, draw(valid_value(kind))]))
    # Flags setting the same field (preempt/nopreempt) are excluded above; pending ones warn only.
    return out


@st.composite
def valid_config(draw: Draw) -> tuple[str, dict[str, int]]:
    """A configuration drawn from valid choices only, and each instance's priority."""
    top: list[Stmt] = [Stmt(["global_defs"], simple_settings(draw, "global_defs"))]
    scripts = draw(st.lists(st.sampled_from(["chk", "chk2", "s3"]), unique=True, max_size=2))
    for name in scripts:
        body = [Stmt(["script", "/bin/true"]), *simple_settings(draw, "vrrp_script")]
        interval = draw(valid_value(Kind("float", 0, 100, True)))
        body += [Stmt(["interval", interval]), Stmt(["timeout", interval])]
        top.append(Stmt(["vrrp_script", name], body))
    if draw(st.booleans()):
        body = [Stmt(["type", "tcp"]), Stmt(["connect_port", draw(valid_value(Kind("int", 1, 65535)))])]
        top.append(Stmt(["vrrp_check", "web"], body + simple_settings(draw, "vrrp_check")))
        scripts.append("web")
    files = ["tf"] if draw(st.booleans()) else []
    for name in files:
        top.append(Stmt(["track_file", name], [Stmt(["file", "/run/vipd-fuzz"]), Stmt(["weight", "2"])]))
    procs = ["proc"] if draw(st.booleans()) else []
    for name in procs:
        top.append(
            Stmt(
                ["vrrp_track_process", name], [Stmt(["process", "sshd"]), *simple_settings(draw, "vrrp_track_process")]
            )
        )
    n = draw(st.integers(1, 3))
    vrids = draw(st.lists(st.integers(1, 255), min_size=n, max_size=n, unique=True))
    priorities: dict[str, int] = {}
    for k, vrid in enumerate(vrids):
        name = f"VI_{k + 1}"
        family = draw(st.sampled_from([4, 6]))
        version = 3 if family == 6 else draw(st.sampled_from([2, 3]))
        prio = draw(st.integers(1, 255))
        priorities[name] = prio
        state = draw(st.sampled_from(["BACKUP", "MASTER", None]))
        body = [
            Stmt(["interface", draw(valid_value(Kind("ifname")))]),
            Stmt(["virtual_router_id", str(vrid)]),
            Stmt(["priority", str(prio)]),
            Stmt(["version", str(version)]),
        ]
        if state is not None:
            body.append(Stmt(["state", state]))
        if state != "MASTER" and draw(st.booleans()):
            body.append(Stmt(["nopreempt"]))
        if version == 2:
            body.append(Stmt(["advert_int", str(draw(st.integers(1, 255)))]))
        else:
            body.append(Stmt(["advert_int", _fmt(draw(st.integers(1, 4095)) / 100)]))
        # Each instance its own VIPs (k selects a distinct /24 or /64).
        count = draw(st.integers(1, 3))
        if family == 4:
            vips = [f"10.{k}.0.{j + 1}" + draw(st.sampled_from(["", "/24", "/32"])) for j in range(count)]
        else:
            vips = [f"fe80::{k}:{j + 1}" if j == 0 else f"2001:db8:{k}::{j}/64" for j in range(count)]
        body.append(Stmt(["virtual_ipaddress"], [Stmt([v]) for v in vips]))
        if draw(st.booleans()):
            peers = [f"192.0.2.{k * 10 + j + 1}" if family == 4 else f"2001:db8:ff::{k * 10 + j + 1}" for j in range(2)]
            body.append(Stmt(["unicast_peer"], [Stmt([p]) for p in peers]))
            body.append(Stmt(["unicast_src_ip", "192.0.2.200" if family == 4 else "2001:db8:ff::200"]))
        if version == 2 and draw(st.booleans()):
            body.append(Stmt(["authentication"], [Stmt(["auth_type", "PASS"]), Stmt(["auth_pass", "secret"])]))
        for attr, names in (("track_script", scripts), ("track_file", files), ("track_process", procs)):
            if names and draw(st.booleans()):
                body.append(Stmt([attr], [Stmt([nm, *_weight_suffix(draw, True)]) for nm in names]))
        for attr in ("track_interface", "virtual_routes"):
            spec = kw.VRRP_INSTANCE[attr]
            assert isinstance(spec, ListOf)
            if draw(st.booleans()):
                body.append(Stmt([attr], list_items(draw, spec, valid=True)))
        body += simple_settings(draw, "vrrp_instance")
        top.append(Stmt(["vrrp_instance", name], draw(st.permutations(body))))
    if len(vrids) > 1 and draw(st.booleans()):
        members = [Stmt([f"VI_{k + 1}"]) for k in range(len(vrids))]
        top.append(Stmt(["vrrp_sync_group", "G1"], [Stmt(["group"], members), Stmt(["sync_group_tracking_weight"])]))
    return "\n".join(render(draw(st.permutations(top)))) + "\n", priorities


@settings(max_examples=VALID_EXAMPLES, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])
@given(valid_config())
def test_config_from_valid_choices_loads(case: tuple[str, dict[str, int]]) -> None:
    text, priorities = case
    err = load_and_check(text)
    assert err is None, f"refused a valid config:\n{err}\n---\n{text}"
    cfg = load_config_string(text, filename=FILENAME, config_id=CONFIG_ID).config
    assert {n: i.priority for n, i in cfg.vrrp_instances.items()} == priorities
