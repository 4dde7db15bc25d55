"""Which checks run and how each acts on each instance: the tracker part of the plan (pure).

keepalived's rules, applied once here: every ``track_*`` reference becomes a
:class:`Binding` (check key, weight, kind); a ``vrrp_script`` tracked by three
instances is one check; an instance tracks its own interface unless
``dont_track_primary``; the address owner and sync-group members without
``sync_group_tracking_weight`` have weighted trackers turned into FAULT
trackers or dropped (keepalived ``vrrp_complete_instance``). The runtime's
tracker (:mod:`vipd.runtime.tracking`) builds and runs exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from vipd.health.api import CheckSpec
from vipd.health.rules import PRIORITY_OWNER, Debounce, Weight, restrict

if TYPE_CHECKING:
    from vipd.config.model import Config, TrackRef, VrrpCheck, VrrpScript

FILE_INTERVAL = 0.5
"""Seconds between reads of a ``track_file`` where inotify cannot be used (checks/file.py); else event-driven."""
PROCESS_INTERVAL = 1.0
"""Seconds between /proc scans for ``vrrp_track_process`` without the process connector (checks/process.py)."""
PROCESS_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Binding:
    """A runner acting on one instance with one weight."""

    key: tuple[str, str]
    weight: Weight
    kind: str
    """``"interface"``, ``"file"`` or other (script, process, tcp, http, plugins): for :func:`restrict`."""


@dataclass(frozen=True, slots=True)
class TrackerPlan:
    """The checks of a configuration and their bindings (see the module docstring).

    Attributes:
        specs: ``(kind, name)`` -> (what to build, its initial debounce state).
        bindings: instance name -> its trackers, in config order.
        notes: trackers keepalived's rules dropped, one sentence each (logged at start).
        factories: check type -> ``module:attr`` of its plugin, so the daemon imports it
            without scanning entry points.
    """

    specs: dict[tuple[str, str], tuple[CheckSpec, Debounce]] = field(hash=False)
    bindings: dict[str, list[Binding]] = field(hash=False)
    notes: tuple[str, ...] = ()
    factories: dict[str, str] = field(default_factory=dict, hash=False)
    """check type -> its plugin's ``module:attr`` (resolved by the planner; :func:`vipd.health.registry.load`)."""


def _ref_weight(ref: TrackRef, weight: int, reverse: bool) -> Weight:
    """keepalived: ``NAME weight W [reverse]`` overrides the object's weight and reverse."""
    if ref.weight is None:
        return Weight(weight, reverse)
    return Weight(ref.weight, ref.reverse)


def script_spec(s: VrrpScript, script_user: str | None, script_group: str | None) -> CheckSpec:
    """The ``script`` plugin's spec for a ``vrrp_script`` block."""
    timeout = s.timeout if s.timeout is not None else s.interval
    options: dict[str, object] = {
        "argv": list(s.script.argv),
        "command": s.script.command,
        "shell": s.script.needs_shell,
    }
    if s.user:
        options["user"] = s.user
        if s.group:
            options["group"] = s.group
    return CheckSpec(s.name, "script", s.interval, timeout, options)


def check_spec(c: VrrpCheck) -> CheckSpec:
    """The plugin spec for a ``vrrp_check`` block: its typed keywords plus its ``option`` lines."""
    options: dict[str, object] = dict(c.options)
    if c.connect_ip is not None:
        options["connect_ip"] = c.connect_ip
    if c.connect_port is not None:
        options["connect_port"] = c.connect_port
    if c.bindto is not None:
        options["bindto"] = str(c.bindto)
    if c.url is not None:
        options["url"] = c.url
        options["status_code"] = " ".join(str(x) for x in c.status_code)
        options["tls_verify"] = c.tls_verify
        if c.digest is not None:
            options["digest"] = c.digest
    if c.body_match is not None:
        options["body_match"] = c.body_match
    if c.host_header is not None:
        options["host_header"] = c.host_header
    timeout = c.timeout if c.timeout is not None else c.interval
    return CheckSpec(c.name, c.type, c.interval, timeout, options)


def plan_trackers(config: Config) -> TrackerPlan:
    """Work out which checks run and how each acts on each instance (pure; no check is built).

    Returns:
        a :class:`TrackerPlan`: ``specs[key] = (CheckSpec, initial Debounce)``;
        ``bindings[instance] = [Binding...]`` with keepalived's sync-group /
        owner weight rules already applied; ``notes``: trackers ignored, and why.
    Raises:
        KeyError: a tracker names an undefined object (the config layer refuses
            such files, so only for hand-built configs).
    """
    g = config.global_defs
    specs: dict[tuple[str, str], tuple[CheckSpec, Debounce]] = {}
    group_of = {m: grp for grp in config.vrrp_sync_groups.values() for m in grp.group}

    def iface(name: str) -> tuple[str, str]:
        key = ("interface", name)
        specs.setdefault(key, (CheckSpec(name, "interface", options={"interface": name}), Debounce.initial()))
        return key

    def script_or_check(ref: TrackRef) -> tuple[tuple[str, str], Weight, str]:
        if ref.name in config.vrrp_scripts:
            s = config.vrrp_scripts[ref.name]
            key = ("script", s.name)
            specs.setdefault(
                key,
                (
                    script_spec(s, g.script_user, g.script_group),
                    Debounce.initial(s.rise, s.fall, init_fail=s.init_fail),
                ),
            )
            return key, _ref_weight(ref, s.weight, s.weight_reverse), "script"
        c = config.vrrp_checks[ref.name]
        key = (c.type, c.name)
        specs.setdefault(key, (check_spec(c), Debounce.initial(c.rise, c.fall, init_fail=c.init_fail)))
        return key, _ref_weight(ref, c.weight, c.weight_reverse), c.type

    def file_ref(ref: TrackRef) -> tuple[tuple[str, str], Weight, str]:
        f = config.track_files[ref.name]
        key = ("file", f.name)
        specs.setdefault(key, (CheckSpec(f.name, "file", FILE_INTERVAL, 1.0, {"file": f.file}), Debounce.initial()))
        return key, _ref_weight(ref, f.weight, f.reverse), "file"

    def process_ref(ref: TrackRef) -> tuple[tuple[str, str], Weight, str]:
        p = config.vrrp_track_processes[ref.name]
        key = ("process", p.name)
        options: dict[str, object] = {
            "process": p.process,
            "args": list(p.args),
            "param_match": p.param_match,
            "full_command": p.full_command,
            "quorum": p.quorum,
            "delay": p.delay,
        }
        for k in ("quorum_max", "terminate_delay", "fork_delay"):
            if getattr(p, k) is not None:
                options[k] = getattr(p, k)
        specs.setdefault(
            key, (CheckSpec(p.name, "process", PROCESS_INTERVAL, PROCESS_TIMEOUT, options), Debounce.initial())
        )
        return key, _ref_weight(ref, p.weight, p.reverse), "process"

    def bfd_ref(ref: TrackRef) -> tuple[tuple[str, str], Weight, str]:
        # keepalived track_bfd: the session's state is the tracker's (Up = OK); weight from the line,
        # else from the bfd_instance's own ``weight``.
        b = config.bfd_instances[ref.name]
        key = ("bfd", b.name)
        specs.setdefault(key, (CheckSpec(b.name, "bfd", options={"bfd_instance": b.name}), Debounce.initial()))
        return key, _ref_weight(ref, b.weight, b.reverse), "bfd"

    def trackers(obj: Any) -> list[Binding]:
        out = [Binding(iface(t.interface), Weight(t.weight, t.reverse), "interface") for t in obj.track_interface]
        out += [Binding(k, w, kind) for k, w, kind in map(script_or_check, obj.track_script)]
        out += [Binding(k, w, kind) for k, w, kind in map(file_ref, obj.track_file)]
        out += [Binding(k, w, kind) for k, w, kind in map(process_ref, obj.track_process)]
        out += [Binding(k, w, kind) for k, w, kind in map(bfd_ref, getattr(obj, "track_bfd", ()))]
        return out

    bindings: dict[str, list[Binding]] = {}
    notes: list[str] = []
    for name, inst in config.vrrp_instances.items():
        own: list[Binding] = []
        if not inst.dont_track_primary:
            own.append(Binding(iface(inst.interface), Weight(0), "interface"))  # keepalived tracks its interface
        if inst.track_src_ip and inst.unicast_src_ip is not None:
            # keepalived track_src_ip: FAULT while the configured source address is not on the host; the
            # link monitor reports addresses under the pseudo-link "address ADDR" (vipd.runtime.links).
            own.append(Binding(iface(f"address {inst.unicast_src_ip}"), Weight(0), "interface"))
        own += trackers(inst)
        group = group_of.get(name)
        owner = inst.priority == PRIORITY_OWNER
        sync_no_tracking_weight = group is not None and not group.sync_group_tracking_weight
        if owner or sync_no_tracking_weight:
            kept = []
            for b in own:
                # keepalived vrrp_complete_instance: a sync group without sgroup_tracking_weight sets
                # weighted interfaces to weight 0; otherwise (the owner) they are dropped.
                w = restrict(b.kind, b.weight, owner=not sync_no_tracking_weight)
                if w is not None:
                    kept.append(replace(b, weight=w))
                else:
                    why = "address owner" if owner else f"vrrp_sync_group {group.name if group else ''}"
                    notes.append(f"({name}) ignoring {b.kind} {b.key[1]} with weight {b.weight.weight}: {why}")
            own = kept
        if group is not None:
            shared = trackers(group)
            if any(
                config.vrrp_instances[m].priority == PRIORITY_OWNER for m in group.group if m in config.vrrp_instances
            ):
                shared = [replace(b, weight=Weight(0, b.weight.reverse)) for b in shared]
            own += shared
        bindings[name] = own
    return TrackerPlan(specs, bindings, tuple(notes))
