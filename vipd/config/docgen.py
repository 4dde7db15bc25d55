"""Generate ``docs/configuration.md`` from the keyword tables and the pydantic model.

The reference is never written by hand: every row comes from a keyword table in
:mod:`vipd.config.keywords` (the keyword, its one-line ``doc``, whether vipd acts
on it) and from the model field it fills in :mod:`vipd.config.model` (type, range,
default, unit). What cannot be read off the code (defaults that follow another
value, where vipd is stricter than keepalived) is in the two small tables below,
:data:`DEFAULT_NOTES` and :data:`DIFFERENCES`.

Regenerate with::

    python -m vipd.config.docgen > docs/configuration.md

``tests/unit/config/test_config_docgen.py`` fails when the committed file is stale.
This module is pure: :func:`render` returns the text; only the ``__main__`` guard
writes (to standard output).

Size: over 400 lines, mostly the per-keyword notes table that the generated reference prints.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from vipd.config import keywords, model
from vipd.config.grammar import Deprecated, Flag, Ignored, ListOf, Lvs, Named, Spec, Sub, Table

REGENERATE = "python -m vipd.config.docgen > docs/configuration.md"

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "the configuration is valid (`-t`), or the daemon stopped cleanly"),
    (1, "configuration errors (each printed as `FILE:LINE: keyword: reason`) or a start-up failure"),
    (2, "bad command-line usage"),
    (3, "`-t --strict`: no error, but warnings (each printed as `FILE:LINE: warning: keyword: reason`)"),
)
"""vipd's exit status; ``vipd/cli.py`` and README.md say the same (a test checks it)."""

DEFAULT_NOTES: dict[tuple[str, str], str] = {
    ("global_defs", "router_id"): "the host name",
    ("vrrp_instance", "priority"): "100; 255 with `state MASTER` (with a warning)",
    ("vrrp_instance", "version"): "`vrrp_version` of global_defs (2); 3 when the VIPs are IPv6",
    ("vrrp_instance", "garp_master_delay"): "global `vrrp_garp_master_delay` (5)",
    ("vrrp_instance", "garp_master_repeat"): "global `vrrp_garp_master_repeat` (5)",
    ("vrrp_instance", "garp_master_refresh"): "global `vrrp_garp_master_refresh` (0 = off)",
    ("vrrp_instance", "garp_master_refresh_repeat"): "global `vrrp_garp_master_refresh_repeat` (1)",
    ("vrrp_instance", "garp_lower_prio_delay"): "global `vrrp_garp_lower_prio_delay`, else `garp_master_delay`",
    ("vrrp_instance", "garp_lower_prio_repeat"): "global `vrrp_garp_lower_prio_repeat`, else `garp_master_repeat`",
    ("vrrp_instance", "strict_mode"): "global `vrrp_strict` (off)",
    ("vrrp_instance", "accept"): "on; off in strict mode",
    ("vrrp_instance", "no_accept"): "off; on in strict mode",
    ("vrrp_instance", "lower_prio_no_advert"): "global `vrrp_lower_prio_no_advert`; else on in strict mode",
    ("vrrp_instance", "check_unicast_src"): "global `vrrp_check_unicast_src` (off)",
    ("vrrp_instance", "skip_check_adv_addr"): "global `vrrp_skip_check_adv_addr` (off)",
    ("vrrp_instance", "higher_prio_send_advert"): "global `vrrp_higher_prio_send_advert` (off)",
    ("vrrp_instance", "down_timer_adverts"): "global `vrrp_down_timer_adverts` (3)",
    ("vrrp_instance", "v3_checksum_as_v2"): "global `v3_checksum_as_v2` (off)",
    ("vrrp_instance", "unicast_src_ip"): "the interface's primary address",
    ("vrrp_instance", "mcast_src_ip"): "the interface's primary address",
    ("vrrp_instance", "unicast_ttl"): "255",
    ("vrrp_instance", "mcast_dst_ip"): "global `vrrp_mcast_group4` / `vrrp_mcast_group6`",
    ("vrrp_instance", "preempt"): "on",
    ("vrrp_script", "timeout"): "`interval`",
    ("global_defs", "vrrp_lower_prio_no_advert"): "off; on in strict mode",
    ("global_defs", "vrrp_garp_lower_prio_delay"): "`vrrp_garp_master_delay`",
    ("global_defs", "vrrp_garp_lower_prio_repeat"): "`vrrp_garp_master_repeat`",
}
"""Defaults that depend on another value, which the model cannot show as a constant."""

_STRICT = "strict mode refuses what keepalived silently changes"

DIFFERENCES: dict[tuple[str, str], str] = {
    ("vrrp_instance", "state"): (
        "anything but `MASTER`/`BACKUP` is an error; `state MASTER` without `priority` gives 255 like "
        "keepalived, but says so (warning, and `priority_implied` in `--dump-config`); with `nopreempt`: error"
    ),
    ("vrrp_instance", "priority"): "outside 1..255 is an error (keepalived logs it and uses the default)",
    ("vrrp_instance", "virtual_router_id"): (
        "required; the same VRID twice on one interface and address family is an error"
    ),
    ("vrrp_instance", "advert_int"): (
        "v2: whole seconds 1..255 (keepalived rounds a fraction); v3: 0.01..40.95 in steps of 0.01; "
        "anything else is an error"
    ),
    ("vrrp_instance", "version"): "2 with IPv6 addresses is an error (keepalived switches to 3)",
    ("vrrp_instance", "virtual_ipaddress"): (
        "a malformed, duplicate or other-family address is an error (keepalived skips it); "
        "no VIP: warning with v2, error with v3; options `no_track`, `nodad`, `peer`... are warned about"
    ),
    ("vrrp_instance", "nopreempt"): "with `state MASTER` is an error (it cannot work)",
    ("vrrp_instance", "preempt_delay"): "0..1000 s; ignored with `nopreempt` (warning)",
    ("vrrp_instance", "authentication"): (
        "with version 3 is an error (keepalived ignores it); AH with a non-owner `state MASTER` is an error"
    ),
    ("vrrp_instance", "unicast_peer"): (
        "an empty block is an error (keepalived falls back to multicast); a peer of the other family, "
        "a duplicate, or our own `unicast_src_ip` is an error; `ADDR min_ttl N max_ttl M`: adverts from "
        "that peer with a TTL/hop limit outside N..M are dropped and counted as `ip_ttl` (N above M: error)"
    ),
    ("vrrp_instance", "unicast_src_ip"): (
        "of the other address family: error; IPv6 without `unicast_peer` (multicast) and not link-local: "
        "warning (RFC 5798 §5.1.2.1 says link-local; vipd and keepalived send from it and accept it)"
    ),
    ("vrrp_instance", "check_unicast_src"): (
        "accepted and changes nothing: vipd always drops (and counts by source) unicast adverts "
        "from hosts that are not listed peers"
    ),
    ("global_defs", "vrrp_check_unicast_src"): "accepted and changes nothing: vipd always filters by peer",
    ("vrrp_instance", "track_script"): "naming no `vrrp_script` is an error with a did-you-mean (keepalived skips it)",
    ("vrrp_instance", "track_file"): "naming no `track_file` is an error (keepalived skips it)",
    ("vrrp_instance", "track_process"): "naming no `vrrp_track_process` is an error (keepalived skips it)",
    ("vrrp_instance", "track_bfd"): "naming no `bfd_instance` is an error with a did-you-mean (keepalived skips it)",
    ("bfd_instance", "max_hops"): "more than `ttl` is an error (keepalived clamps it to `ttl`)",
    ("vrrp_instance", "vipd_bfd_master_down"): (
        "an undefined `bfd_instance`, an IPv6 instance, an IPv6 neighbor, or (unicast) a neighbor "
        "that is not a `unicast_peer` is an error: the master is known by its adverts' source"
    ),
    ("bfd_instance", "neighbor_ip"): (
        "missing, of the other family than `source_ip`, or the same neighbor/source as another "
        "`bfd_instance`: error (keepalived disables the instance)"
    ),
    ("bfd_instance", "hoplimit"): "defaults to 255 for IPv6 too (RFC 5881 §5; keepalived: 64, which FRR drops)",
    ("vrrp_instance", "strict_mode"): _STRICT,
    ("vrrp_instance", "notify_master"): "an unquoted command with more words: they are read as USER GROUP (warning)",
    ("global_defs", "vrrp_strict"): _STRICT,
    ("global_defs", "vrrp_garp_interval"): "an explicit 0 is a warning (keepalived rejects it)",
    ("global_defs", "vrrp_gna_interval"): "an explicit 0 is a warning (keepalived rejects it)",
    ("authentication", "auth_pass"): "longer than 8 characters: truncated like keepalived, with a warning",
    ("authentication", "auth_type"): "anything but `PASS`/`AH` is an error",
    ("vrrp_script", "script"): "required: a `vrrp_script` without one is an error (keepalived drops the script)",
    ("vrrp_sync_group", "group"): (
        "an unknown instance, an instance in two groups, or an empty group is an error; instance names "
        "outside `group { }` are errors (keepalived: unknown keyword)"
    ),
    ("vrrp_sync_group", "sync_group_tracking_weight"): (
        "without it, weighted trackers of members get a warning (keepalived ignores their weights)"
    ),
}
"""Where vipd is stricter than keepalived, per (block, keyword); the rules live in rules.py."""

VIPD_ONLY: frozenset[tuple[str, str]] = frozenset(
    {("<top>", "vrrp_check"), ("global_defs", "vipd_metrics_listen"), ("vrrp_instance", "vipd_bfd_master_down")}
)
"""Keywords keepalived does not have; every keyword of their block is vipd's too."""

_SPEC_SYNTAX: dict[str, str] = {
    "VmacValue": "flag, or `use_vmac NAME` (names the macvlan)",
    "UserValue": "USER [GROUP]",
    "ProcessValue": "NAME [ARGS...]",
    "InitFileValue": "[VALUE] [overwrite]",
}
"""The syntax of keywords whose spec reads more than the one value of their field."""

_BLOCK_INTRO: dict[str, str] = {
    "<top>": "Blocks and keywords at the top level of the file.",
    "global_defs": "`global_defs { ... }`: settings for the whole daemon and defaults for every instance.",
    "vrrp_instance": "`vrrp_instance NAME { ... }`: one virtual router.",
    "authentication": "`authentication { ... }` inside `vrrp_instance`: VRRPv2 authentication.",
    "vrrp_script": "`vrrp_script NAME { ... }`: a periodic health-check command (`track_script NAME`).",
    "vrrp_sync_group": "`vrrp_sync_group NAME { ... }`: instances that change state together.",
    "track_file": "`track_file NAME { ... }`: an integer read from a file, times a weight.",
    "vrrp_track_process": "`vrrp_track_process NAME { ... }`: the presence of a process.",
    "bfd_instance": (
        "`bfd_instance NAME { ... }`: a BFD session (RFC 5880/5881), tracked with `track_bfd NAME`. "
        "Times in milliseconds, as in keepalived."
    ),
    "vrrp_check": (
        "`vrrp_check NAME { ... }`: a vipd check (tcp, http, or a plugin), tracked like a `vrrp_script` "
        "with `track_script NAME`. vipd only: keepalived has no such block."
    ),
}

_ITEM_SYNTAX: dict[type[BaseModel], str] = {
    model.VirtualAddress: "`ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L]` per line",
    model.Route: "`ip route` / `ip rule` words per line",
    model.TrackInterface: "`IF [weight W [reverse]]` per line",
    model.TrackRef: "`NAME [weight W [reverse]]` per line",
}


@dataclass(frozen=True)
class Row:
    """One keyword of one block, as the reference shows it."""

    keyword: str
    meaning: str
    type: str
    default: str
    unit: str
    keepalived: str
    differs: str


# -- type and default descriptions ---------------------------------------------------------------


def _strip_optional(ann: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) < len(typing.get_args(ann)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True  # noqa: UP007
    return ann, False


def _flatten(ann: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    """Unwrap ``Annotated`` layers; return the base type and every piece of metadata."""
    out = list(meta)
    while typing.get_origin(ann) is typing.Annotated:
        base, *extra = typing.get_args(ann)
        for m in extra:
            if isinstance(m, FieldInfo):
                out.extend(m.metadata)
            else:
                out.append(m)
        ann = base
    return ann, out


def _num(value: Any) -> str:
    return format(value, ".10g") if isinstance(value, float) else str(value)


def _range(meta: list[Any]) -> str:
    lo = hi = ""
    for m in meta:
        if isinstance(m, annotated_types.Ge):
            lo = _num(m.ge)
        elif isinstance(m, annotated_types.Gt):
            lo = f">{_num(m.gt)}"
        elif isinstance(m, annotated_types.Le):
            hi = _num(m.le)
        elif isinstance(m, annotated_types.MaxLen):
            hi = f"{m.max_length} chars"
    if lo.startswith(">"):
        return f" {lo[1:]} < x ≤ {hi}" if hi else f" > {lo[1:]}"
    if lo and hi:
        return f" {lo}..{hi}"
    if hi:
        return f" ≤ {hi}"
    return f" ≥ {lo}" if lo else ""


def _validator_kind(meta: list[Any]) -> str:
    for m in meta:
        func = getattr(m, "func", None)
        if func is model._seconds_from_text:
            return "seconds"
        if func is model._int_from_text:
            return "integer"
        if func is model._bool_from_text:
            return "bool"
        if func is model._ifname:
            return "ifname"
    return ""


def describe_type(ann: Any, meta: list[Any] | None = None) -> tuple[str, str]:
    """(type text, unit) of a model field annotation, in the operator's words."""
    ann, _ = _strip_optional(ann)
    ann, meta = _flatten(ann, meta or [])
    kind = _validator_kind(meta)
    rng = _range(meta)
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(ann)), ""
    if kind == "seconds":
        return f"number{rng}", "seconds"
    if kind == "integer" or ann is int:
        return f"integer{rng}", ""
    if kind == "bool" or ann is bool:
        return "on/off (bare keyword = on)", ""
    if kind == "ifname":
        return "interface name (≤ 15 chars)", ""
    if origin is list:
        (item,) = typing.get_args(ann)
        if isinstance(item, type) and item in _ITEM_SYNTAX:
            return f"block: {_ITEM_SYNTAX[item]}", ""
        text, unit = describe_type(item)
        return f"block: one {text} per line", unit
    if origin is dict:
        return "named blocks", ""
    if origin in (typing.Union, types.UnionType):
        args = set(typing.get_args(ann))
        if args == {IPv4Address, IPv6Address}:
            return "IPv4 or IPv6 address", ""
        return " or ".join(describe_type(a)[0] for a in typing.get_args(ann)), ""
    if ann is IPv4Address:
        return "IPv4 address", ""
    if ann is IPv6Address:
        return "IPv6 address", ""
    if ann is model.Script:
        return "command [USER [GROUP]]", ""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "block", ""
    if ann is str:
        return f"word{rng}" if rng else "word", ""
    if isinstance(ann, type) and issubclass(ann, Enum):
        return " \\| ".join(f"`{e.value}`" for e in ann), ""
    return getattr(ann, "__name__", str(ann)), ""


def describe_default(info: FieldInfo) -> str:
    """The field's default as written in a config file."""
    if info.default_factory is not None:
        return "none"
    value = info.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Enum):
        return str(value.value)
    return _num(value)


# -- walking the keyword tables --------------------------------------------------------------------


def _field_name(keyword: str, spec: Spec) -> str:
    for attr in ("field", "user_field"):
        name = getattr(spec, attr, None)
        if isinstance(name, str) and name:
            return name
    special = {"WeightValue": "weight", "ProcessValue": "process", "InitFileValue": "init_file"}
    return special.get(type(spec).__name__, keyword)


def _model_of(ann: Any) -> type[BaseModel] | None:
    ann, _ = _strip_optional(ann)
    ann, _ = _flatten(ann, [])
    origin = typing.get_origin(ann)
    if origin is dict:
        ann = typing.get_args(ann)[1]
    elif origin is list:
        ann = typing.get_args(ann)[0]
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _unwrap(spec: Spec) -> Spec:
    while isinstance(spec, Deprecated):
        spec = spec.inner
    return spec


def blocks() -> Iterator[tuple[str, Table, type[BaseModel] | None]]:
    """Every block kind reachable from the top level: (block name, keyword table, model), once each."""
    seen: set[int] = set()
    queue: list[tuple[str, Table, type[BaseModel] | None]] = [("<top>", keywords.TOP, model.Config)]
    while queue:
        name, table, mdl = queue.pop(0)
        if id(table) in seen:
            continue
        seen.add(id(table))
        yield name, table, mdl
        for kw, spec in table.items():
            inner = _unwrap(spec)
            if not isinstance(inner, (Sub, Named)):
                continue
            sub_model = None
            if mdl is not None:
                info = mdl.model_fields.get(_field_name(kw, inner))
                sub_model = _model_of(info.annotation) if info is not None else None
            queue.append((kw, inner.table(), sub_model))


def _status(spec: Spec) -> str:
    if isinstance(spec, Lvs):
        return "LVS/IPVS: not supported; the block is skipped with a warning (error with `--strict`)"
    if spec.pending or _unwrap(spec).pending:
        return "parsed and checked, not acted on yet: warning (error with `--strict`)"
    return ""


def rows(block: str, table: Table, mdl: type[BaseModel] | None, vipd_only: bool = False) -> list[Row]:
    """The rows of one block's reference table (ignored keywords excluded: see :func:`ignored`)."""
    out: list[Row] = []
    for kw, spec in table.items():
        if isinstance(spec, Ignored):
            continue
        inner = _unwrap(spec)
        fname = _field_name(kw, inner)
        info = mdl.model_fields.get(fname) if mdl is not None else None
        meaning = spec.doc or inner.doc
        if isinstance(spec, Deprecated) and not meaning:
            meaning = f"deprecated: {spec.message}"
        if isinstance(spec, Lvs):
            typ, unit, default = "block", "", "n/a"
            meaning = meaning or "LVS/IPVS block"
        elif info is not None:
            typ, unit = describe_type(info.annotation, list(info.metadata))
            default = describe_default(info)
            if isinstance(inner, Flag):
                typ = "flag: bare keyword, or on/off"
                if not inner.value:
                    default = "on" if default == "off" else "off" if default == "on" else default
            if isinstance(inner, (Sub, Named)):
                typ = "block" if isinstance(inner, Sub) else "named block `NAME { ... }`"
                default = "none"
            syntax = _SPEC_SYNTAX.get(type(inner).__name__)
            if syntax:
                typ = syntax
            elif type(inner).__name__ == "WeightValue":
                typ = f"W [reverse]; W: {typ}"
        else:
            typ, unit, default = "see meaning", "", ""
        default = DEFAULT_NOTES.get((block, kw), default)
        keepalived = f"`{kw}`"
        if fname != kw and not isinstance(inner, (Sub, Named, ListOf)) and info is not None:
            keepalived += f" (sets `{fname}`)"
        notes = [n for n in (DIFFERENCES.get((block, kw), ""), _status(spec)) if n]
        if isinstance(spec, Deprecated):
            notes.insert(0, f"deprecated in keepalived ({spec.message}): read, with a warning")
        if vipd_only or (block, kw) in VIPD_ONLY:
            keepalived = "none (vipd only)"
            notes.insert(0, "vipd addition")
        if isinstance(spec, keywords.Refused):
            meaning, typ, default = meaning or "not supported", "refused", "n/a"
            notes = [f"an error at its line: {spec.reason}"]
        out.append(Row(kw, meaning, typ, default, unit, keepalived, "; ".join(notes) or "same as keepalived"))
    return out


def ignored(table: Table) -> dict[str, list[str]]:
    """Keywords recognised and ignored in a block, grouped by the reason given."""
    out: dict[str, list[str]] = {}
    for kw, spec in table.items():
        if isinstance(spec, Ignored):
            out.setdefault(spec.reason, []).append(kw)
    return out


# -- rendering -----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text.replace("\n", " ")


_HEADER = f"""\
# vipd configuration reference

<!-- Generated by `{REGENERATE}` from vipd/config/keywords.py and
     vipd/config/model.py. Do not edit by hand: a unit test fails when this file is stale. -->

vipd reads keepalived's configuration format (`/etc/keepalived/keepalived.conf` by
default, `-f FILE` otherwise). This page lists every keyword vipd knows, block by
block: its type and range, its default (keepalived's), its unit, the keepalived
keyword it corresponds to, and where vipd behaves differently. See
[migrating-from-keepalived.md](migrating-from-keepalived.md) for the operator's view.

## Units and values

- Every duration is in **seconds** and may be fractional where keepalived allows it
  (`advert_int 0.1`); inside vipd every time is a float number of seconds.
- Booleans: a bare keyword means on; `on/off`, `yes/no`, `true/false` are accepted.
- Addresses are IPv4 or IPv6; one instance carries one address family.
- A keyword given twice in one block is an error (keepalived silently keeps the last),
  except the on/off flags, where the last one wins as in keepalived (`nopreempt` then
  `preempt`).

## The file format

- Comments start with `#` or `!`, also after a value; quotes (`"..."`, `'...'`) group words.
- `include PATTERN`: a glob (with `{{a,b}}` braces) relative to the including file;
  nested at most 8 deep; a cycle is an error. Only regular files of at most 4 MiB are read.
- `@ID line` is kept only when the config id is `ID`; `@^ID line` only when it is not.
  The config id is `-i/--config-id ID`, by default the host name up to its first dot.
- `$NAME=value` defines a parameter, `$NAME` / `${{NAME}}` use it; a definition continued with
  `\\` spans several lines. Substitution nests at most 16 deep.
- A line ending in `\\` continues on the next one.

## Diagnostics and exit status

Every problem is reported, all in one run, as `FILE:LINE: keyword: reason`, with
"did you mean ..." for a near-miss keyword; warnings read `FILE:LINE: warning: keyword: reason`.
A configuration with an error is refused as a whole: vipd never runs part of a file.
Keywords vipd recognises but does not act on produce a warning naming them (an error with
`--strict`), never silence.

`vipd -t -f FILE` (check), `vipd --dump-config -f FILE` (the normalised model as JSON,
every default filled in; `priority_implied: true` marks a priority of 255 that came from
`state MASTER`). Exit status:

| status | meaning |
| --- | --- |
"""


def render() -> str:
    """The whole of ``docs/configuration.md``."""
    parts = [_HEADER]
    parts.extend(f"| {code} | {text} |\n" for code, text in EXIT_CODES)
    for block, table, mdl in blocks():
        title = "Top level" if block == "<top>" else f"`{block}`"
        parts.append(f"\n## {title}\n\n{_BLOCK_INTRO.get(block, f'The `{block}` block.')}\n\n")
        body = rows(block, table, mdl, vipd_only=("<top>", block) in VIPD_ONLY)
        if body:
            parts.append(
                "| keyword | meaning | type | default | unit | keepalived | where vipd differs |\n"
                "| --- | --- | --- | --- | --- | --- | --- |\n"
            )
            for r in body:
                cells = (f"`{r.keyword}`", r.meaning, r.type, r.default, r.unit, r.keepalived, r.differs)
                parts.append("| " + " | ".join(_cell(c) for c in cells) + " |\n")
        skipped = ignored(table)
        if skipped:
            parts.append("\nRecognised and ignored, each use with a warning (an error with `--strict`):\n\n")
            for reason, names in skipped.items():
                parts.append(f"- {reason}: {', '.join(f'`{n}`' for n in names)}.\n")
    return "".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
