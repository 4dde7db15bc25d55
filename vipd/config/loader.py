"""Load a keepalived.conf: lexer -> tree -> raw dict -> pydantic models -> rules.

The public entry points are :func:`load_config`, :func:`load_config_string` and
:func:`dump_config`. Every problem is collected (not just the first) and mapped
back to the FILE:LINE it was written at.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError

from vipd.config import rules
from vipd.config.diagnostics import ConfigError, Diagnostic, DiagnosticSink, Loc, Path
from vipd.config.grammar import Ctx, Raw, read_block
from vipd.config.keywords import TOP, TOPLEVEL_ONLY
from vipd.config.lexer import Files, Lexer, Line
from vipd.config.model import (
    Authentication,
    BfdInstance,
    Config,
    GarpGroup,
    GlobalDefs,
    Route,
    Script,
    SyncGroup,
    TrackFile,
    TrackInterface,
    TrackProcess,
    TrackRef,
    UpDownDelay,
    VirtualAddress,
    VrrpCheck,
    VrrpInstance,
    VrrpScript,
)
from vipd.config.tree import build_tree
from vipd.config.values import dump_json


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What :func:`load_config` returns when the configuration is accepted.

    Attributes:
        config: the validated, normalised configuration (defaults filled in).
        warnings: diagnostics of severity ``"warning"``, in file/line order
            (keywords vipd ignores, implied priorities, truncated passwords...).
        locs: where each value was written, by path (``("vrrp_scripts", "chk",
            "script")`` -> ``Loc(file, line, keyword)``), for checks outside this
            layer (script security) to report ``FILE:LINE``.
    """

    config: Config
    warnings: list[Diagnostic]
    locs: dict[Path, Loc] = field(default_factory=dict)


def load_config(
    path: str | os.PathLike[str], *, config_id: str | None = None, strict: bool = False, files: Files | None = None
) -> LoadResult:
    """Read and validate the keepalived configuration file at ``path``.

    Args:
        path: the main configuration file; ``include`` patterns in it are relative
            to the including file's directory.
        config_id: keepalived's config id (``-i``) for ``@ID`` / ``@^ID`` lines;
            ``None`` means keepalived's default, the short host name.
        strict: refuse what vipd recognises but will not act on (LVS blocks,
            ignored keywords) instead of warning about it.
        files: what the lexer reads the system through (:class:`~vipd.config.lexer.Files`;
            None: the live system).

    Returns:
        :class:`LoadResult` with the model and the warnings.

    Raises:
        ConfigError: listing every error (and the warnings) of the file, each as
            ``FILE:LINE: keyword: reason``. Nothing else is raised, whatever the
            file contains.
    """
    source = os.fspath(path)
    sink = DiagnosticSink(strict=strict)
    lines = Lexer(sink, config_id, files).read_file(source)
    return _load(lines, sink, source)


def load_config_string(
    text: str, *, filename: str = "<string>", config_id: str | None = None, strict: bool = False
) -> LoadResult:
    """Like :func:`load_config` for configuration text; diagnostics name ``filename``.

    ``include`` patterns are relative to ``filename``'s directory (the current
    directory for ``"<string>"``).
    """
    sink = DiagnosticSink(strict=strict)
    lines = Lexer(sink, config_id).read_text(text, filename)
    return _load(lines, sink, filename)


def dump_config(config: Config) -> str:
    """The normalised configuration as indented JSON (every default filled in).

    Durations are seconds (floats); addresses are strings. ``priority_implied``
    marks a priority of 255 that came from ``state MASTER`` without ``priority``.
    """
    return dump_json(config)


# -- internals --------------------------------------------------------------------------


def _load(lines: Sequence[Line], sink: DiagnosticSink, source: str) -> LoadResult:
    try:
        tree = build_tree(lines, sink, TOPLEVEL_ONLY)
        ctx = Ctx(sink)
        raw: Raw = {}
        read_block(tree, TOP, raw, (), ctx, "<top>")
        config = _validate(raw, ctx, source)
        defined = {key: set(raw.get(key, {})) for key in (*_NAMED_SECTIONS, "vrrp_instances")}
        rules.check(config, ctx.locs, sink, defined)
    except RecursionError:  # pragma: no cover - absurdly deep nesting
        sink.error(source, 0, "config", "blocks nested too deeply")
        raise ConfigError(sink.sorted()) from None
    diags = sink.sorted()
    if sink.has_errors:
        raise ConfigError(diags)
    return LoadResult(config, [d for d in diags if d.severity == "warning"], dict(ctx.locs))


DEFAULT_INTERFACE = "eth0"
"""keepalived's ``default_interface`` when not set (``DFLT_INT``)."""

_GARP_FIELDS = ("garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat")
_FROM_GLOBAL = (
    ("skip_check_adv_addr", "vrrp_skip_check_adv_addr"),
    ("check_unicast_src", "vrrp_check_unicast_src"),
    ("higher_prio_send_advert", "vrrp_higher_prio_send_advert"),
    ("down_timer_adverts", "vrrp_down_timer_adverts"),
    ("v3_checksum_as_v2", "v3_checksum_as_v2"),
)
_NAMED_SECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "vrrp_scripts": (VrrpScript, "vrrp_script"),
    "vrrp_checks": (VrrpCheck, "vrrp_check"),
    "vrrp_sync_groups": (SyncGroup, "vrrp_sync_group"),
    "track_files": (TrackFile, "track_file"),
    "vrrp_track_processes": (TrackProcess, "vrrp_track_process"),
    "bfd_instances": (BfdInstance, "bfd_instance"),
}
_LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "static_ipaddress": VirtualAddress,
    "static_routes": Route,
    "static_rules": Route,
    "interface_up_down_delays": UpDownDelay,
    "garp_groups": GarpGroup,
}


def _validate(raw: Raw, ctx: Ctx, source: str) -> Config:
    """Validate section by section so one bad instance does not hide the others' errors.

    Returns a :class:`Config` of the parts that validated (rules run on it); the
    caller raises if any error was reported.
    """
    g_raw: Raw = raw.get("global_defs", {})
    try:
        g = GlobalDefs.model_validate(g_raw)
    except ValidationError as err:
        _translate(err, ("global_defs",), g_raw, ctx, "global_defs", source)
        g = GlobalDefs()
    instances: dict[str, VrrpInstance] = {}
    for name, i_raw in raw.get("vrrp_instances", {}).items():
        data = _fill_instance(i_raw, g)
        try:
            instances[name] = VrrpInstance.model_validate(data)
        except ValidationError as err:
            _translate(err, ("vrrp_instances", name), data, ctx, f"vrrp_instance {name}", source)
    sections: dict[str, Any] = {}
    for key, (model, what) in _NAMED_SECTIONS.items():
        good: dict[str, Any] = {}
        for name, item in raw.get(key, {}).items():
            data = dict(item)
            if model is SyncGroup and not data.get("group"):
                loc = ctx.locs[(key, name)]
                ctx.sink.error(
                    loc.file,
                    loc.line,
                    loc.keyword,
                    f"{name} has no members: list the instances in 'group {{ ... }}' (keepalived drops the group)",
                )
                continue
            try:
                obj = model.model_validate(data)
            except ValidationError as err:
                _translate(err, (key, name), data, ctx, f"{what} {name}", source)
                continue
            if isinstance(obj, (VrrpScript, VrrpCheck)) and obj.timeout is None:
                # timeout defaults to the interval after validation: a bad interval copied into
                # timeout before it was reported a second time, at the block's line.
                obj = obj.model_copy(update={"timeout": obj.interval})
            good[name] = obj
        sections[key] = good
    for key, item_model in _LIST_SECTIONS.items():
        items = []
        for i, item in enumerate(raw.get(key, [])):
            if key == "static_ipaddress" and isinstance(item, dict) and "dev" not in item:
                # keepalived get_default_if(): a static address without dev goes on default_interface
                item = {**item, "dev": g.default_interface or DEFAULT_INTERFACE}
            try:
                items.append(item_model.model_validate(item))
            except ValidationError as err:
                _translate(err, (key, i), item, ctx, key, source)
        sections[key] = items
    return Config(global_defs=g, vrrp_instances=instances, source=source, **sections)


def _fill_instance(i_raw: Raw, g: GlobalDefs) -> Raw:
    """Apply keepalived's instance defaults that depend on other values."""
    data = dict(i_raw)
    if "garp_extra_if" not in data and g.vrrp_garp_extra_if is not None:
        data["garp_extra_if"] = g.vrrp_garp_extra_if
        data["garp_extra_if_all"] = g.vrrp_garp_extra_if_all
    if "priority" not in data and data.get("state") == "MASTER":
        data["priority"] = 255
        data["priority_implied"] = True
    if "version" not in data:
        vips = data.get("virtual_ipaddress", [])
        v6 = any(isinstance(v, dict) and isinstance(v.get("address"), IPv6Address) for v in vips)
        data["version"] = 3 if v6 else g.vrrp_version
    for key in _GARP_FIELDS:
        data.setdefault(key, getattr(g, "vrrp_" + key))
    if g.vrrp_garp_lower_prio_delay is not None:
        data.setdefault("garp_lower_prio_delay", g.vrrp_garp_lower_prio_delay)
    if g.vrrp_garp_lower_prio_repeat is not None:
        data.setdefault("garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat)
    data.setdefault("strict_mode", g.vrrp_strict)
    if g.vrrp_lower_prio_no_advert is not None:
        data.setdefault("lower_prio_no_advert", g.vrrp_lower_prio_no_advert)
    for key, gkey in _FROM_GLOBAL:
        data.setdefault(key, getattr(g, gkey))
    return data


def _normalize(loc: tuple[int | str, ...], data: Any) -> Path:
    """Keep the parts of a pydantic ``loc`` that index into the raw data (drops union tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            out.append(part)
            cur = cur[part]
    return tuple(out)


def _translate(err: ValidationError, prefix: Path, data: Raw, ctx: Ctx, block: str, source: str) -> None:
    """Turn pydantic errors into diagnostics at the line each bad value was written."""
    reported: set[tuple[int, str]] = set()
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        path = prefix + _normalize(loc, data)
        key = path
        while key and key not in ctx.locs:
            key = key[:-1]
        where = ctx.locs.get(key, Loc(source, 0, block))
        field = next((p for p in reversed(loc) if isinstance(p, str) and not p[:1].isupper()), "")
        if e["type"] == "missing":
            inside = where.keyword if len(key) > len(prefix) else block
            keyword, message = field, f"required in {inside} but not given"
        else:
            keyword, message = where.keyword, _message(e, field)
        # A union reports once per member; keep one message per line and keyword.
        if (where.line, keyword) in reported and e["type"] != "missing":
            continue
        reported.add((where.line, keyword))
        ctx.sink.error(where.file, where.line, keyword, message)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _message(e: Any, field: str) -> str:
    kind: str = e["type"]
    value = e.get("input")
    if kind.startswith("kv_"):
        return str(e["msg"])
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limits = _RANGES.get(field)
        return f"{_show(value)} is out of range" + (f" (allowed: {limits})" if limits else f": {e['msg']}")
    if kind == "literal_error":
        return f"{_show(value)} is not valid: expected {e['ctx']['expected']}"
    if kind == "string_too_long":
        return f"{_show(value)} is too long (at most {e['ctx']['max_length']} characters)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind.startswith("ip_"):
        return f"{_show(value)} is not a valid IP address"
    return f"{e['msg']} (got {_show(value)})"


def _field_ranges(*models: type[BaseModel]) -> dict[str, str]:
    out: dict[str, str] = {}
    for model in models:
        for name, info in model.model_fields.items():
            lo = hi = ""
            for meta in info.metadata:
                if isinstance(meta, annotated_types.Ge):
                    lo = f"{meta.ge:g}"
                elif isinstance(meta, annotated_types.Gt):
                    lo = f">{meta.gt:g}"
                elif isinstance(meta, annotated_types.Le):
                    hi = f"{meta.le:g}"
                elif isinstance(meta, annotated_types.Lt):
                    hi = f"<{meta.lt:g}"
            if lo.startswith(">") and hi:
                out[name] = f"more than {lo[1:]} and at most {hi}"
            elif lo and hi:
                out[name] = f"{lo}..{hi}"
            elif lo:
                out[name] = f"at least {lo}" if not lo.startswith(">") else f"more than {lo[1:]}"
            elif hi:
                out[name] = f"at most {hi}"
    return out


_RANGES = _field_ranges(
    GlobalDefs,
    VrrpInstance,
    VirtualAddress,
    Authentication,
    Script,
    TrackInterface,
    TrackRef,
    VrrpScript,
    TrackFile,
    TrackProcess,
    SyncGroup,
)
