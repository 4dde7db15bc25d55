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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vipd.config.diagnostics import Diagnostic
from vipd.config.grammar import Loc, Path
from vipd.config.model import Config, Script, VrrpInstance
from vipd.config.routes import SCOPES, RouteSpec, parse_route, parse_rule
from vipd.health.api import CheckContext
from vipd.health.registry import load
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
"""keepalived's default VMAC device name is ``vrrp.VRID``."""


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
        key: Path = tuple(path)
        while key:
            if key in self.locs:
                return self.locs[key]
            key = key[:-1]
        return Loc(self.source, 0, str(path[-1]) if path else "config")

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


def _hook(script: Script, default: tuple[str | None, str | None]) -> HookPlan:
    user, group = resolve_identity(script.user, script.group, default)
    return HookPlan(tuple(script.argv), script.command, script.needs_shell, user, group)


def _hooks(obj: object, default: tuple[str | None, str | None]) -> dict[str, HookPlan]:
    out: dict[str, HookPlan] = {}
    for name in HOOKS:
        script = getattr(obj, name, None)
        if isinstance(script, Script):
            out[name] = _hook(script, default)
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
    inst: VrrpInstance, config: Config, default: tuple[str | None, str | None], report: _Report
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
        vname = inst.vmac_name or f"{VMAC_PREFIX}.{inst.virtual_router_id}"
        vmac = VmacPlan(vname, inst.interface, inst.virtual_router_id, family, xmit_base)
    vip_dev = vmac.name if vmac is not None else inst.interface
    tx_interface = inst.interface if vmac is None or vmac.xmit_base else vmac.name
    vips = tuple(
        VipPlan(v.address, v.prefixlen, v.dev or vip_dev, v.label, v.brd, scope_number(v.scope))
        for v in [*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded]
    )
    peers: tuple[IPAddress, ...] = tuple(inst.unicast_peer)
    group = next((g.name for g in config.vrrp_sync_groups.values() if name in g.group), None)
    g = config.global_defs
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
        hooks=_hooks(inst, default),
        group=group,
        garp_interval=g.vrrp_garp_interval,
        gna_interval=g.vrrp_gna_interval,
    )


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
    local = host.local_addresses()
    for p in plans.values():
        where = ("vrrp_instances", p.name)
        vmac = p.vmac.name if p.vmac is not None else None
        for ifname in dict.fromkeys([p.key.interface, *(v.dev for v in p.vips)]):
            if ifname == vmac or host.link(ifname) is not None:
                continue
            keyword = "interface" if ifname == p.key.interface else "virtual_ipaddress"
            loc = report.loc(*where, keyword)
            if dynamic:
                report.warning(loc, f"interface {ifname!r} does not exist yet (dynamic_interfaces)", keyword)
            else:
                report.error(loc, f"interface {ifname!r} does not exist (keepalived -t: exit 5)", keyword)
        if p.src is not None and p.src not in local:
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


def _check_plugins(trackers: TrackerPlan, default: tuple[str | None, str | None], report: _Report) -> None:
    ctx = CheckContext(script_user=default[0], script_group=default[1])
    sections = {"script": "vrrp_scripts", "file": "track_files", "process": "vrrp_track_processes"}
    for (kind, name), (spec, _) in trackers.specs.items():
        if kind in ("interface", "bfd"):  # event-driven: built by the daemon with its link monitor / BFD runtime
            continue
        loc = report.loc(sections.get(kind, "vrrp_checks"), name)
        try:
            load(spec.type)(spec, ctx)
        except (LookupError, ImportError, ValueError, TypeError) as e:
            report.error(loc, str(e))


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
    instances = {name: _instance(inst, config, default, report) for name, inst in config.vrrp_instances.items()}
    _check_keys(instances, report)
    groups = {
        name: SyncGroupPlan(name, grp, tuple(grp.group), _hooks(grp, default))
        for name, grp in config.vrrp_sync_groups.items()
    }
    try:
        trackers = plan_trackers(config)
    except KeyError as e:
        report.error(report.loc("config"), f"a tracker names an undefined object: {e}")
        trackers = TrackerPlan({}, {}, ())
    _check_plugins(trackers, default, report)
    if host is not None:
        _check_host(instances, config, host, report)
        _check_scripts(config, default, host, report)
    diagnostics = sorted(report.out, key=lambda d: d.sort_key())
    if any(d.severity == "error" for d in diagnostics):
        return PlanResult(None, diagnostics)
    plan = Plan(
        config=config,
        locs=locs,
        instances=instances,
        groups=groups,
        trackers=trackers,
        script_default=default,
        host_checked=HOST_CHECKS if host is not None else (),
    )
    return PlanResult(plan, diagnostics)
