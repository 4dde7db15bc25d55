"""The planner: validated model (+ a host snapshot) -> one frozen plan per instance, or FILE:LINE errors.

``vipd -t``, start-up and reload all call :func:`plan_config`, so the three give
one verdict. Every "can vipd do this?" rule that the config layer below
(:mod:`vipd.config`: grammar, model, :mod:`vipd.config.rules`) does not already
make lives here, once, reporting ``FILE:LINE: keyword: reason``:

* VRRPv2 ``auth_type AH`` is refused (an AH advert is an IPsec packet around VRRP);
* one virtual router per (interface, VRID, family): a multicast and a unicast
  instance (or two unicast sources) on one VRID are refused, since received
  adverts are dispatched by that key and reload matches instances by it;
* ``virtual_routes``/``virtual_rules`` parsed for the instance's family by the
  one route grammar (:mod:`vipd.config.routes`);
* ``use_vmac`` with unicast sends from the base interface (warned);
* every check type is installed and accepts its options (``vipd.checks`` entry points);
* scripts: the identity each runs as (:mod:`vipd.plan.scripts`), and with a
  host: that the user exists, the command is executable by it and, run as
  root, safe (keepalived's script security);
* with a host: interfaces exist (a warning with ``dynamic_interfaces``) and
  ``unicast_src_ip``/``mcast_src_ip`` is a local address.

Pure: no I/O except through the :class:`~vipd.plan.host.Host` given; imports
nothing from ``linux``, ``runtime``, ``obs`` or ``control``.

Size: over 400 lines on purpose: every "can vipd do this?" rule above the config layer lives here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vipd.config.diagnostics import Diagnostic, Loc, Path, locate
from vipd.config.model import Config, Script, VrrpInstance
from vipd.config.routes import SCOPES, RouteSpec, parse_route, parse_rule
from vipd.config.values import freeze
from vipd.health.api import CheckContext
from vipd.health.registry import load, reference
from vipd.plan.host import HOST_CHECKS, Host
from vipd.plan.model import HookPlan, InstanceKey, InstancePlan, Plan, SyncGroupPlan, VipPlan, VmacPlan
from vipd.plan.scripts import DEFAULT_SCRIPT_USER, check_script, default_script_user, resolve_identity, resolve_user
from vipd.plan.trackers import TrackerPlan, plan_trackers
from vipd.wire.advert import VRRP_MCAST4, VRRP_MCAST6, VRRP_TTL, AuthType, IPAddress

HOOKS = (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify",
    "vipd_notify_master_before_vip",
    "vipd_notify_before_vip_removal",
)
"""keepalived's notify keywords of a ``vrrp_instance`` (a sync group has the first four and ``notify``)."""

VMAC_PREFIX = "vrrp"
"""keepalived's default VMAC device name is ``vrrp.VRID`` (``global_defs { vmac_prefix P }``: ``P.VRID``)."""


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What :func:`plan_config` returns.

    Attributes:
        plan: the plan, or None when any error was found.
        diagnostics: every error and warning, in file/line order.
    """

    plan: Plan | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that refuse the configuration."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The diagnostics that do not."""
        return [d for d in self.diagnostics if d.severity != "error"]


class _Report:
    """Collects diagnostics at the FILE:LINE of a value path (falling back to its enclosing block)."""

    def __init__(self, locs: Mapping[Path, Loc], source: str) -> None:
        self.locs = locs
        self.source = source
        self.out: list[Diagnostic] = []

    def loc(self, *path: str | int) -> Loc:
        return locate(self.locs, self.source, *path)

    def error(self, loc: Loc, message: str, keyword: str | None = None) -> None:
        self.out.append(Diagnostic(loc.file, loc.line, keyword or loc.keyword, message, "error"))

    def warning(self, loc: Loc, message: str, keyword: str | None = None) -> None:
        self.out.append(Diagnostic(loc.file, loc.line, keyword or loc.keyword, message, "warning"))


def auth_bytes(inst: VrrpInstance) -> tuple[int, bytes] | None:
    """(auth_type, 8-byte auth_data) of VRRPv2 (RFC 2338 §5.3.6; keepalived truncates to 8), None for AH."""
    auth = inst.authentication
    if auth is None or inst.version != 2:
        return AuthType.NONE, b""
    if auth.auth_type == "PASS":
        return AuthType.PASS, auth.auth_pass.encode()[:8].ljust(8, b"\0")
    return None


def scope_number(scope: str | None) -> int:
    """The rtnetlink scope of keepalived's ``scope`` word or number (default global, 0)."""
    if scope is None:
        return 0
    return int(scope) if scope.isdigit() else SCOPES.get(scope, 0)


def _hook(script: Script, default: tuple[str | None, str | None], sup: bool = False) -> HookPlan:
    user, group = resolve_identity(script.user, script.group, default)
    return HookPlan(tuple(script.argv), script.command, script.needs_shell, user, group, sup)


def _hooks(obj: object, default: tuple[str | None, str | None], sup: bool = False) -> dict[str, HookPlan]:
    out: dict[str, HookPlan] = {}
    for name in HOOKS:
        script = getattr(obj, name, None)
        if isinstance(script, Script):
            out[name] = _hook(script, default, sup)
    return out


def _routes(inst: VrrpInstance, report: _Report) -> tuple[RouteSpec, ...]:
    specs: list[RouteSpec] = []
    for keyword, lines, parse in (
        ("virtual_routes", inst.virtual_routes, parse_route),
        ("virtual_rules", inst.virtual_rules, parse_rule),
    ):
        for i, route in enumerate(lines):
            try:
                specs.append(parse(route.words, inst.family))
            except ValueError as e:
                report.error(report.loc("vrrp_instances", inst.name, keyword, i), str(e), keyword)
    return tuple(specs)


def _instance(
    inst: VrrpInstance,
    config: Config,
    default: tuple[str | None, str | None],
    report: _Report,
    used: set[str] | None = None,
) -> InstancePlan:
    name = inst.name
    family = inst.family
    where = ("vrrp_instances", name)
    auth = auth_bytes(inst)
    if auth is None:
        report.error(
            report.loc(*where, "authentication", "auth_type"),
            "auth_type AH is not implemented by vipd: a real AH advert is an IPsec AH packet (IP protocol 51) "
            "around the VRRP message, which no peer accepts as protocol 112; use PASS or no authentication",
            "auth_type",
        )
        auth = (AuthType.NONE, b"")
    vmac: VmacPlan | None = None
    if inst.use_vmac:
        xmit_base = inst.vmac_xmit_base
        if inst.unicast_peer and not xmit_base:
            report.warning(
                report.loc(*where, "use_vmac"),
                "unicast with use_vmac sends from the base interface (as with vmac_xmit_base)",
                "use_vmac",
            )
            xmit_base = True
        taken = used if used is not None else set()
        prefix = config.global_defs.vmac_prefix or VMAC_PREFIX
        vname = inst.vmac_name or unique_vmac_name(prefix, inst.virtual_router_id, family, taken)
        vmac = VmacPlan(vname, inst.interface, inst.virtual_router_id, family, xmit_base)
    vip_dev = vmac.name if vmac is not None else inst.interface
    tx_interface = inst.interface if vmac is None or vmac.xmit_base else vmac.name
    used = set() if used is None else used
    if vmac is not None:
        used.add(vmac.name)
    devs, addr_vmacs = _vip_devices(inst, vmac, config, used, report)
    vips = tuple(
        VipPlan(v.address, v.prefixlen, dev, v.label, v.brd, scope_number(v.scope))
        for v, dev in zip([*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded], devs, strict=True)
    )
    peers: tuple[IPAddress, ...] = tuple(inst.unicast_peer)
    group = next((g.name for g in config.vrrp_sync_groups.values() if name in g.group), None)
    g = config.global_defs
    extra_if = _extra_interfaces(inst, vmac, addr_vmacs, vips)
    return InstancePlan(
        name=name,
        key=InstanceKey(inst.interface, inst.virtual_router_id, family),
        config=inst,
        loc=report.loc(*where),
        auth_type=auth[0],
        auth_data=auth[1],
        src=inst.unicast_src_ip,
        multicast=not peers,
        dsts=peers or ((VRRP_MCAST4,) if family == 4 else (VRRP_MCAST6,)),
        ttl=inst.unicast_ttl if peers and inst.unicast_ttl is not None else VRRP_TTL,
        pseudo_header=not inst.v3_checksum_as_v2,
        tx_interface=tx_interface,
        vip_dev=vip_dev,
        vmac=vmac,
        vips=vips,
        excluded=len(inst.virtual_ipaddress_excluded),
        routes=_routes(inst, report),
        hooks=_hooks(inst, default, g.set_supplementary_groups),
        group=group,
        garp_interval=garp_spacing(config, inst.interface)[0],
        gna_interval=garp_spacing(config, inst.interface)[1],
        owner_ignore_adverts=owner_ignore_adverts(inst, config),
        notify_priority_changes=notify_priority_changes(inst, config, group),
        promote_secondaries=(inst.interface,) if inst.promote_secondaries and vmac is None else (),
        track_src=inst.unicast_src_ip if inst.track_src_ip else None,
        garp_extra_if=float(inst.garp_extra_if or 0) if extra_if else 0.0,
        addr_vmacs=addr_vmacs,
        extra_if=extra_if,
    )


def _extra_interfaces(
    inst: VrrpInstance, vmac: VmacPlan | None, addr_vmacs: tuple[VmacPlan, ...], vips: tuple[VipPlan, ...]
) -> tuple[str, ...]:
    """The devices ``garp_extra_if`` announces on (keepalived ``vrrp_send_vmac_update``): VIP devices
    that are VMACs vipd makes (any device with ``all``), except the instance's own device (its VMAC, or
    its interface), which the adverts keep fresh, unless adverts leave by the base (``vmac_xmit_base``)."""
    own = vmac.name if vmac is not None else inst.interface
    ours = {m.name for m in addr_vmacs} | ({vmac.name} if vmac is not None else set())
    out: list[str] = []
    for v in vips:
        if v.dev not in ours and not inst.garp_extra_if_all:
            continue
        if v.dev == own and not (vmac is not None and vmac.xmit_base):
            continue
        out.append(v.dev)
    return tuple(dict.fromkeys(out))


def _vip_devices(
    inst: VrrpInstance, vmac: VmacPlan | None, config: Config, used: set[str], report: _Report
) -> tuple[list[str], tuple[VmacPlan, ...]]:
    """The device of each VIP and eVIP, and the VMACs ``use_vmac_addr`` / a VIP's ``use_vmac`` add.

    keepalived ``vrrp_complete_instance``: a VIP on the instance's interface, of its family, goes
    on the instance's VMAC when there is one. A VIP on another interface (``dev``), or of the
    other family, gets a VMAC of its own on that interface when ``use_vmac_addr`` is set or the
    VIP says ``use_vmac``; VIPs sharing (interface, family) share it. Its name is
    ``vmac_addr_prefix`` (else ``vmac_prefix``, else ``vrrp``) ``.VRID``, numbered when taken
    (:func:`unique_vmac_name`). Otherwise a VIP goes on its ``dev`` or the instance's device.
    """
    g = config.global_defs
    prefix = g.vmac_addr_prefix or g.vmac_prefix or VMAC_PREFIX
    vrid, family = inst.virtual_router_id, inst.family
    own_dev = vmac.name if vmac is not None else inst.interface
    extra: dict[tuple[str, int], VmacPlan] = {}
    devs: list[str] = []
    vip_lists = (
        ("virtual_ipaddress", inst.virtual_ipaddress),
        ("virtual_ipaddress_excluded", inst.virtual_ipaddress_excluded),
    )
    for keyword, vip_list in vip_lists:
        for i, v in enumerate(vip_list):
            on_own_if = v.dev is None or v.dev == inst.interface
            if on_own_if and vmac is not None and v.family == family:
                if v.use_vmac:
                    report.warning(
                        report.loc("vrrp_instances", inst.name, keyword, i),
                        f"{v.address}: use_vmac here and on the instance: the VIP goes on the instance's VMAC",
                        keyword,
                    )
                devs.append(vmac.name)
                continue
            if not (v.use_vmac or (inst.use_vmac_addr and (not on_own_if or v.family != family))):
                devs.append(v.dev or own_dev)
                continue
            base = v.dev or inst.interface
            key = (base, v.family)
            if key not in extra:
                name = unique_vmac_name(prefix, vrid, v.family, used)
                used.add(name)
                extra[key] = VmacPlan(name, base, vrid, v.family, xmit_base=True)
            devs.append(extra[key].name)
    return devs, tuple(extra.values())


def unique_vmac_name(prefix: str, vrid: int, family: int, used: set[str]) -> str:
    """keepalived ``create_vmac_name``: ``PREFIX.VRID``, else ``PREFIXn.VRID`` for the first n free
    (IPv6 tries 6 first, then 1, 2...), each cut to 15 characters."""
    name = vmac_name(prefix, vrid)
    seq = [6, 1, 2, 3, 4, 5, *range(7, 100)] if family == 6 else list(range(1, 100))
    for n in seq:
        if name not in used:
            return name
        tail = f"{n}.{vrid}"
        name = prefix[: 15 - len(tail)] + tail
    return name


def garp_spacing(config: Config, ifname: str) -> tuple[float, float]:
    """Seconds between GARPs and between NAs on ``ifname``: its ``garp_group``'s, else the global
    ``vrrp_garp_interval`` / ``vrrp_gna_interval`` (keepalived: interfaces in no group inherit them)."""
    g = config.global_defs
    for grp in config.garp_groups:
        if ifname in grp.members:
            garp = g.vrrp_garp_interval if grp.garp_interval is None else grp.garp_interval
            gna = g.vrrp_gna_interval if grp.gna_interval is None else grp.gna_interval
            return garp, gna
    return g.vrrp_garp_interval, g.vrrp_gna_interval


def vmac_name(prefix: str, vrid: int) -> str:
    """keepalived ``create_vmac_name``: ``PREFIX.VRID``, the prefix cut so the name fits 15 characters."""
    tail = f".{vrid}"
    return prefix[: 15 - len(tail)] + tail


def owner_ignore_adverts(inst: VrrpInstance, config: Config) -> bool:
    """keepalived ``owner_ignore_adverts`` resolved (``vrrp_complete_instance``): only an address owner
    (configured priority 255) ignores adverts; unset, strict mode turns it on, else ``vrrp_owner_ignore_adverts``."""
    if inst.priority != 255:
        return False
    if inst.owner_ignore_adverts is not None:
        return inst.owner_ignore_adverts
    return inst.strict_mode or config.global_defs.vrrp_owner_ignore_adverts


def notify_priority_changes(inst: VrrpInstance, config: Config, group: str | None) -> bool:
    """keepalived ``notify_priority_changes`` resolved: the instance's, else its sync group's, else the global
    ``vrrp_notify_priority_changes`` (default off)."""
    if inst.notify_priority_changes is not None:
        return inst.notify_priority_changes
    sg = config.vrrp_sync_groups.get(group) if group is not None else None
    if sg is not None and sg.notify_priority_changes is not None:
        return sg.notify_priority_changes
    return config.global_defs.vrrp_notify_priority_changes


def _check_keys(plans: Mapping[str, InstancePlan], report: _Report) -> None:
    seen: dict[InstanceKey, InstancePlan] = {}
    for p in plans.values():
        other = seen.setdefault(p.key, p)
        if other is p:
            continue
        first = report.loc("vrrp_instances", other.name, "virtual_router_id")
        report.error(
            report.loc("vrrp_instances", p.name, "virtual_router_id"),
            f"{p.key} is also used by vrrp_instance {other.name} at {first.file}:{first.line}: vipd runs one "
            "virtual router per interface, VRID and family (a multicast and a unicast instance, or two unicast "
            "sources, cannot share a VRID on one interface); use another virtual_router_id",
            "virtual_router_id",
        )


def _check_host(plans: Mapping[str, InstancePlan], config: Config, host: Host, report: _Report) -> None:
    dynamic = config.global_defs.dynamic_interfaces
    for p in plans.values():
        where = ("vrrp_instances", p.name)
        made = {m.name for m in (*p.addr_vmacs, *([p.vmac] if p.vmac is not None else []))}
        for ifname in dict.fromkeys([p.key.interface, *(v.dev for v in p.vips), *(m.base for m in p.addr_vmacs)]):
            if ifname in made or host.has_link(ifname):
                continue
            keyword = "interface" if ifname == p.key.interface else "virtual_ipaddress"
            loc = report.loc(*where, keyword)
            if dynamic:
                report.warning(loc, f"interface {ifname!r} does not exist yet (dynamic_interfaces)", keyword)
            else:
                report.error(loc, f"interface {ifname!r} does not exist (keepalived -t: exit 5)", keyword)
        if p.src is not None and not host.is_local(p.src):
            report.error(
                report.loc(*where, "unicast_src_ip"),
                f"{p.src} is not an address of this host: adverts cannot be sent from it",
                "unicast_src_ip",
            )


def _check_scripts(config: Config, default: tuple[str | None, str | None], host: Host, report: _Report) -> None:
    security = config.global_defs.enable_script_security
    scripts: list[tuple[Script, tuple[str | int, ...]]] = []
    for name, s in config.vrrp_scripts.items():
        scripts.append(
            (s.script.model_copy(update={"user": s.user, "group": s.group}), ("vrrp_scripts", name, "script"))
        )
    for key in ("notify_fifo_script", "vrrp_notify_fifo_script"):
        fifo_script = getattr(config.global_defs, key)
        if isinstance(fifo_script, Script):
            scripts.append((fifo_script, ("global_defs", key)))
    for section, objs in (("vrrp_instances", config.vrrp_instances), ("vrrp_sync_groups", config.vrrp_sync_groups)):
        for name, obj in objs.items():
            for hook in HOOKS:
                script = getattr(obj, hook, None)
                if isinstance(script, Script):
                    scripts.append((script, (section, name, hook)))
    if security and default[0] is None and any(s.user is None for s, _ in scripts):
        report.error(
            report.loc("global_defs", "enable_script_security"),
            f"scripts without a user run as {DEFAULT_SCRIPT_USER}, which does not exist (keepalived refuses them "
            "too): create that user or set script_user",
        )
    for script, path in scripts:
        loc = report.loc(*path)
        user, group = resolve_identity(script.user, script.group, default)
        try:
            who = resolve_user(user, group, host)
        except LookupError as e:
            if script.user and path[0] == "vrrp_scripts":  # point at its own ``user`` line
                loc = report.loc(*path[:2], "user")
            report.error(loc, str(e))
            continue
        for severity, message in check_script(script, who, security, host):
            (report.error if severity == "error" else report.warning)(loc, message)


def _check_plugins(trackers: TrackerPlan, default: tuple[str | None, str | None], report: _Report) -> TrackerPlan:
    """Every check's plugin is installed and accepts its options; returns ``trackers`` with the plugins' references."""
    ctx = CheckContext(script_user=default[0], script_group=default[1])
    sections = {"script": "vrrp_scripts", "file": "track_files", "process": "vrrp_track_processes"}
    factories: dict[str, str] = {}
    for (kind, name), (spec, _) in trackers.specs.items():
        loc = report.loc(sections.get(kind, "vrrp_checks"), name)
        try:
            ref = factories.get(spec.type) or reference(spec.type)
            factories[spec.type] = ref
            if kind in ("interface", "bfd"):  # event-driven: built by the daemon with its link monitor / BFD runtime
                continue
            load(spec.type, ref)(spec, ctx)
        except (LookupError, ImportError, ValueError, TypeError) as e:
            report.error(loc, str(e))
    return replace(trackers, factories=factories)


def plan_config(config: Config, locs: Mapping[Path, Loc] | None = None, host: Host | None = None) -> PlanResult:
    """Plan a validated configuration (see the module docstring for the rules).

    Args:
        config: from :func:`vipd.config.load_config`.
        locs: ``LoadResult.locs``, for FILE:LINE.
        host: the host to check against, or None for the file alone (``vipd -t --no-host``).
    Returns:
        a :class:`PlanResult`: the plan when no error was found, and every diagnostic.
    """
    locs = locs or {}
    report = _Report(locs, config.source)
    default = default_script_user(config, host)
    used: set[str] = {i.vmac_name for i in config.vrrp_instances.values() if i.vmac_name}
    instances = {name: _instance(inst, config, default, report, used) for name, inst in config.vrrp_instances.items()}
    _check_keys(instances, report)
    groups = {
        name: SyncGroupPlan(
            name, grp, tuple(grp.group), _hooks(grp, default, config.global_defs.set_supplementary_groups)
        )
        for name, grp in config.vrrp_sync_groups.items()
    }
    try:
        trackers = plan_trackers(config)
    except KeyError as e:
        report.error(report.loc("config"), f"a tracker names an undefined object: {e}")
        trackers = TrackerPlan({}, {}, ())
    trackers = _check_plugins(trackers, default, report)
    if host is not None:
        _check_host(instances, config, host, report)
        _check_scripts(config, default, host, report)
    diagnostics = sorted(report.out, key=lambda d: d.sort_key())
    if any(d.severity == "error" for d in diagnostics):
        return PlanResult(None, diagnostics)
    # The runtime holds plain values, not the validator's objects (vipd.config.values).
    frozen = freeze(config)
    plan = Plan(
        config=frozen,
        instances={n: replace(p, config=frozen.vrrp_instances[n]) for n, p in instances.items()},
        groups={n: replace(g, config=frozen.vrrp_sync_groups[n]) for n, g in groups.items()},
        trackers=trackers,
        script_default=default,
        host_checked=HOST_CHECKS if host is not None else (),
        link_delays={d.interface: (d.down_delay, d.up_delay) for d in config.interface_up_down_delays},
    )
    return PlanResult(plan, diagnostics)
