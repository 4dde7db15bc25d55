"""Cross-field rules on a validated configuration, each reported at its FILE:LINE.

These are the checks keepalived does in ``vrrp_complete_instance()`` (often
silently "fixing" the config) plus the ones vipd adds because users got two
masters without them. Every rule has a test in ``tests/unit/config``.

Size: over 400 lines: one function per keepalived cross-field rule, each with its FILE:LINE report; split by
topic would scatter the rule list.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from vipd.config.diagnostics import DiagnosticSink, Loc, Path, locate
from vipd.config.model import Config, VrrpInstance

V3_ADVERT_MIN = 0.01
V3_ADVERT_MAX = 40.95
V2_ADVERT_MAX = 255


class _Where:
    """Finds the FILE:LINE of a value path, falling back to its enclosing block."""

    def __init__(self, locs: dict[Path, Loc], source: str) -> None:
        self.locs = locs
        self.source = source

    def __call__(self, *path: str | int) -> Loc:
        return locate(self.locs, self.source, *path)

    def has(self, *path: str | int) -> bool:
        return tuple(path) in self.locs


def check(
    config: Config, locs: dict[Path, Loc], sink: DiagnosticSink, defined: dict[str, set[str]] | None = None
) -> None:
    """Run every cross-field rule on ``config``; report into ``sink``.

    ``defined`` names every object written in the file per section (including
    ones that failed validation), so that a reference to a broken object is not
    also reported as undefined.
    """
    where = _Where(locs, config.source)
    defined = defined or {}
    for inst in config.vrrp_instances.values():
        _check_instance(inst, where, sink)
        _check_strict(inst, where, sink)
        _check_misc(inst, where, sink)
    _check_vrids(config, where, sink)
    _check_vips_across(config, where, sink)
    _check_refs(config, where, sink, defined)
    _check_scripts(config, where, sink)
    _check_globals(config, where, sink)
    _check_up_down(config, where, sink)
    _check_garp_groups(config, where, sink)


def _report(sink: DiagnosticSink, loc: Loc, message: str, keyword: str | None = None) -> None:
    sink.error(loc.file, loc.line, keyword or loc.keyword, message)


def _check_instance(inst: VrrpInstance, where: _Where, sink: DiagnosticSink) -> None:
    base = ("vrrp_instances", inst.name)
    iloc = where(*base)

    # All VIPs of one instance are of one family (an advert carries one family).
    families = {v.family for v in inst.virtual_ipaddress}
    if len(families) > 1:
        first = inst.virtual_ipaddress[0]
        for i, vip in enumerate(inst.virtual_ipaddress):
            if vip.family != first.family:
                _report(
                    sink,
                    where(*base, "virtual_ipaddress", i),
                    f"{vip.address} is IPv{vip.family} but the first VIP ({first.address}) is "
                    f"IPv{first.family}: one instance carries one family (use "
                    "virtual_ipaddress_excluded or a second instance)",
                )
                break
    family = inst.family

    # Duplicate VIPs in one instance (keepalived drops the second with an error).
    seen: dict[object, int] = {}
    for i, vip in enumerate(inst.virtual_ipaddress):
        if vip.address in seen:
            first_loc = where(*base, "virtual_ipaddress", seen[vip.address])
            _report(
                sink,
                where(*base, "virtual_ipaddress", i),
                f"{vip.address} is listed twice (first at line {first_loc.line}); keepalived ignores the duplicate",
            )
        else:
            seen[vip.address] = i

    # Version vs family.
    if family == 6 and inst.version == 2:
        _report(
            sink,
            where(*base, "version"),
            "VRRP version 2 cannot carry IPv6 addresses: use version 3 (RFC 5798)",
        )

    # advert_int by version.
    adv_loc = where(*base, "advert_int")
    if inst.version == 2:
        if inst.advert_int != int(inst.advert_int):
            _report(
                sink,
                adv_loc,
                f"VRRPv2 adverts are in whole seconds, got {inst.advert_int:g} (keepalived would round it; "
                "use version 3 for sub-second adverts)",
            )
        elif not 1 <= inst.advert_int <= V2_ADVERT_MAX:
            _report(sink, adv_loc, f"VRRPv2 advert_int must be 1..{V2_ADVERT_MAX} seconds, got {inst.advert_int:g}")
    else:
        if not V3_ADVERT_MIN <= inst.advert_int <= V3_ADVERT_MAX:
            _report(
                sink,
                adv_loc,
                f"VRRPv3 advert_int must be {V3_ADVERT_MIN}..{V3_ADVERT_MAX} seconds, got {inst.advert_int:g}",
            )
        else:
            centis = Decimal(repr(inst.advert_int)) * 100
            if centis != centis.to_integral_value():
                _report(
                    sink,
                    adv_loc,
                    f"VRRPv3 advert_int is sent in centiseconds: {inst.advert_int:g} is not a multiple of 0.01 s",
                )

    # No VIPs: keepalived refuses for v3 (and IPv6); for v2 it only complains. no_virtual_ipaddress
    # (keepalived 2.2.7) says it is meant: no warning, and v3 allowed (not in strict mode).
    no_vips_ok = inst.no_virtual_ipaddress and not inst.strict_mode
    if not inst.virtual_ipaddress and no_vips_ok and inst.version == 3:
        loc = where(*base, "no_virtual_ipaddress")
        sink.warning(
            loc.file,
            loc.line,
            loc.keyword,
            "VRRPv3 adverts without an address break RFC 5798 §5.2.6 (Count IPvX Addr is at least 1): vipd and "
            "keepalived accept them, other VRRP implementations may drop them",
        )
    if not inst.virtual_ipaddress and not no_vips_ok:
        loc = where(*base, "virtual_ipaddress") if where.has(*base, "virtual_ipaddress") else iloc
        if inst.version == 3:
            sink.error(
                loc.file, loc.line, "virtual_ipaddress", f"vrrp_instance {inst.name}: no VIP given; VRRPv3 needs one"
            )
        else:
            sink.warning(
                loc.file,
                loc.line,
                "virtual_ipaddress",
                f"vrrp_instance {inst.name} has no VIP: it will elect a master but move no address",
            )

    # nopreempt only works from BACKUP.
    if inst.nopreempt and inst.state == "MASTER":
        _report(
            sink,
            where(*base, "nopreempt"),
            "nopreempt cannot work with 'state MASTER' (a MASTER preempts on start): use 'state BACKUP' on every node",
        )

    # Implied priority: say so.
    if inst.priority_implied:
        loc = where(*base, "state")
        sink.warning(
            loc.file,
            loc.line,
            "priority",
            f"vrrp_instance {inst.name}: no priority given, so 'state MASTER' makes it the address owner "
            "with priority 255 (keepalived does the same); write 'priority' to choose",
        )

    # Authentication.
    auth = inst.authentication
    if auth is not None:
        aloc = where(*base, "authentication")
        if inst.version == 3:
            _report(sink, aloc, "VRRPv3 has no authentication (RFC 5798 removed it; keepalived ignores it)")
        elif auth.auth_type == "AH" and family == 6:
            _report(sink, aloc, "AH authentication is IPv4 only")
        elif auth.auth_type == "AH" and inst.state == "MASTER" and inst.priority != 255:
            _report(
                sink,
                where(*base, "state"),
                "initial state MASTER is incompatible with AH authentication (a non-owner must learn the "
                "AH sequence number first; keepalived clears it to BACKUP)",
            )

    # Unicast addresses: one family.
    if inst.unicast_src_ip is not None and inst.unicast_src_ip.version != family:
        _report(
            sink,
            where(*base, "unicast_src_ip"),
            f"{inst.unicast_src_ip} is IPv{inst.unicast_src_ip.version} but the instance is IPv{family}",
        )
    src = inst.unicast_src_ip
    if family == 6 and not inst.unicast_peer and src is not None and src.version == 6 and not src.is_link_local:
        # RFC 5798 §5.1.2.1 says link-local. keepalived 2.2.7 sends from the address given and accepts
        # such adverts, and so does vipd (docs/interop.md); RFC-strict routers may drop them.
        loc = where(*base, "unicast_src_ip")
        sink.warning(
            loc.file,
            loc.line,
            loc.keyword,
            f"{src}: IPv6 multicast adverts should come from a link-local address (RFC 5798 §5.1.2.1); "
            "vipd and keepalived send from this one and accept it, but other VRRP routers may drop them",
        )
    seen_peers: dict[object, int] = {}
    for i, peer in enumerate(inst.unicast_peer):
        ploc = where(*base, "unicast_peer", i)
        if peer.version != family:
            _report(sink, ploc, f"peer {peer} is IPv{peer.version} but the instance is IPv{family}")
        if peer in seen_peers:
            _report(sink, ploc, f"peer {peer} is listed twice")
        seen_peers[peer] = i
        if inst.unicast_src_ip is not None and peer == inst.unicast_src_ip:
            _report(sink, ploc, f"peer {peer} is this node's own unicast_src_ip")


def _check_vrids(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    """One VRID per interface and family (per unicast source for unicast instances)."""
    seen: dict[tuple[object, ...], VrrpInstance] = {}
    for inst in config.vrrp_instances.values():
        mode: tuple[object, ...] = ("unicast", inst.unicast_src_ip) if inst.unicast_peer else ("multicast",)
        key = (inst.interface, inst.family, inst.virtual_router_id, *mode)
        other = seen.get(key)
        if other is None:
            seen[key] = inst
            continue
        first = where("vrrp_instances", other.name, "virtual_router_id")
        _report(
            sink,
            where("vrrp_instances", inst.name, "virtual_router_id"),
            f"VRID {inst.virtual_router_id} is already used on {inst.interface} (IPv{inst.family}) by "
            f"vrrp_instance {other.name} at {first.file}:{first.line}",
        )


def _check_vips_across(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    """The same VIP in two instances: the two would fight over it."""
    owner: dict[object, tuple[str, int]] = {}
    for inst in config.vrrp_instances.values():
        for i, vip in enumerate(inst.virtual_ipaddress):
            prev = owner.get(vip.address)
            if prev is not None and prev[0] != inst.name:
                loc = where("vrrp_instances", inst.name, "virtual_ipaddress", i)
                first = where("vrrp_instances", prev[0], "virtual_ipaddress", prev[1])
                sink.warning(
                    loc.file,
                    loc.line,
                    loc.keyword,
                    f"{vip.address} is also a VIP of vrrp_instance {prev[0]} ({first.file}:{first.line}); "
                    "the two instances will add and remove it independently",
                )
            elif prev is None:
                owner[vip.address] = (inst.name, i)


def _close(name: str, options: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _master_down_mismatch(inst: Any, neighbor: Any) -> str:
    """Why BFD master-down could never fire for ``inst`` with a session to ``neighbor`` ("" if it can).

    The backup acts only on a session to the master it follows, known by its adverts' source
    address (vipd.fsm MasterDownDetected): an IPv4 primary address, an IPv6 link-local one.
    """
    if inst.family == 6:
        return (
            "not supported for IPv6 instances yet: the master is known by the link-local source of its "
            "adverts, and a bfd_instance cannot have a link-local neighbor_ip"
        )
    if neighbor.version != 4:
        return f"the bfd_instance's neighbor_ip {neighbor} is IPv6: the master's adverts come from an IPv4 address"
    if inst.unicast_peer and neighbor not in inst.unicast_peer:
        return f"the bfd_instance's neighbor_ip {neighbor} is not one of this instance's unicast_peer addresses"
    return ""


def _check_refs(config: Config, where: _Where, sink: DiagnosticSink, defined: dict[str, set[str]]) -> None:
    """Trackers refer to defined objects; sync groups to existing instances."""
    kinds = (
        ("track_script", "vrrp_scripts", "vrrp_script"),
        ("track_file", "track_files", "track_file"),
        ("track_process", "vrrp_track_processes", "vrrp_track_process"),
        ("track_bfd", "bfd_instances", "bfd_instance"),
    )
    owners: list[tuple[tuple[str, str], Any]] = [
        *((("vrrp_instances", n), i) for n, i in config.vrrp_instances.items()),
        *((("vrrp_sync_groups", n), g) for n, g in config.vrrp_sync_groups.items()),
    ]
    checks = defined.get("vrrp_checks", set())
    for name in sorted(checks & defined.get("vrrp_scripts", set())):
        _report(
            sink,
            where("vrrp_checks", name),
            f"{name!r} is both a vrrp_script and a vrrp_check: track_script could not tell them apart",
        )
    for base, obj in owners:
        for attr, section, what in kinds:
            names = defined.get(section, set())
            if attr == "track_script":
                names = names | checks  # track_script names a vrrp_script or a vrrp_check (vipd)
            for i, ref in enumerate(getattr(obj, attr)):
                if ref.name not in names:
                    _report(
                        sink,
                        where(*base, attr, i),
                        f"{what if attr != 'track_script' else 'vrrp_script/vrrp_check'} {ref.name!r} is not defined"
                        f"{_close(ref.name, names)}",
                    )
    bfds = defined.get("bfd_instances", set())
    for name, vi in config.vrrp_instances.items():
        if vi.vipd_bfd_master_down is not None and vi.vipd_bfd_master_down not in bfds:
            _report(
                sink,
                where("vrrp_instances", name, "vipd_bfd_master_down"),
                f"bfd_instance {vi.vipd_bfd_master_down!r} is not defined{_close(vi.vipd_bfd_master_down, bfds)}",
            )
        elif vi.vipd_bfd_master_down is not None and vi.vipd_bfd_master_down in config.bfd_instances:
            why = _master_down_mismatch(vi, config.bfd_instances[vi.vipd_bfd_master_down].neighbor_ip)
            if why:
                _report(sink, where("vrrp_instances", name, "vipd_bfd_master_down"), why)
    seen: dict[tuple[str, str, bool], str] = {}
    for name, b in config.bfd_instances.items():
        # keepalived bfd_end_handler: one session per (neighbor, source, multihop).
        key = (str(b.neighbor_ip), str(b.source_ip or ""), b.multihop)
        if key in seen:
            _report(
                sink,
                where("bfd_instances", name, "neighbor_ip"),
                f"bfd_instance {name} has the same neighbor/source address as {seen[key]}",
            )
        seen.setdefault(key, name)
    member_of: dict[str, str] = {}
    for gname, group in config.vrrp_sync_groups.items():
        for i, member in enumerate(group.group):
            loc = where("vrrp_sync_groups", gname, "group", i)
            if member not in config.vrrp_instances and member not in defined.get("vrrp_instances", set()):
                _report(sink, loc, f"no vrrp_instance {member!r}{_close(member, set(config.vrrp_instances))}")
            elif member in member_of:
                _report(sink, loc, f"{member} is already in vrrp_sync_group {member_of[member]}")
            else:
                member_of[member] = gname
    for gname, group in config.vrrp_sync_groups.items():
        if group.sync_group_tracking_weight:
            continue
        for member in group.group:
            inst = config.vrrp_instances.get(member)
            if inst is None or member_of.get(member) != gname:
                continue
            weighted = [t for t in (*inst.track_interface,) if t.weight] + [
                t for t in (*inst.track_script, *inst.track_file, *inst.track_process) if t.weight
            ]
            if weighted:
                loc = where("vrrp_instances", member)
                sink.warning(
                    loc.file,
                    loc.line,
                    "vrrp_sync_group",
                    f"{member} is in vrrp_sync_group {gname}: keepalived ignores its trackers' weights unless "
                    "the group sets sync_group_tracking_weight",
                )


def _check_scripts(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    """keepalived flags scripts without enable_script_security as a SECURITY VIOLATION."""
    if config.global_defs.enable_script_security:
        return
    first: Loc | None = None
    for name in config.vrrp_scripts:
        first = first or where("vrrp_scripts", name, "script")
    hooks = ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify")
    for section, objs in (("vrrp_instances", config.vrrp_instances), ("vrrp_sync_groups", config.vrrp_sync_groups)):
        for name, obj in objs.items():
            for hook in hooks:
                if getattr(obj, hook, None) is not None:
                    first = first or where(section, name, hook)
    if first is not None:
        sink.warning(
            first.file,
            first.line,
            first.keyword,
            "scripts are configured but global_defs has no enable_script_security: keepalived reports this "
            "as a SECURITY VIOLATION (exit 6); set it and script_user",
        )


def _check_globals(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    g = config.global_defs
    for key in ("vrrp_garp_interval", "vrrp_gna_interval"):
        if where.has("global_defs", key) and getattr(g, key) == 0:
            loc = where("global_defs", key)
            sink.warning(
                loc.file,
                loc.line,
                key,
                "0 is keepalived's default, but keepalived rejects an explicit 0 (range 0.000001..4294.967295); "
                "remove the line",
            )


def _check_garp_groups(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    """An interface belongs to one ``garp_group`` at most."""
    seen: dict[str, int] = {}
    for i, grp in enumerate(config.garp_groups):
        for ifname in grp.members:
            if ifname in seen:
                first = where("garp_groups", seen[ifname])
                _report(sink, where("garp_groups", i), f"{ifname} is already in the garp_group at line {first.line}")
            seen.setdefault(ifname, i)


def _check_up_down(config: Config, where: _Where, sink: DiagnosticSink) -> None:
    """``interface_up_down_delays``: one line per link; the down delay shorter than a backup's wait.

    keepalived (``check_debounce_timers``) cuts a down delay above ``(down_timer_adverts - 1) *
    advert_int - advert_int / 256`` to that bound, since a backup would otherwise take over before
    this master went FAULT; vipd refuses it with the bound.
    """
    seen: dict[str, int] = {}
    for i, d in enumerate(config.interface_up_down_delays):
        loc = where("interface_up_down_delays", i)
        if d.interface in seen:
            first = where("interface_up_down_delays", seen[d.interface])
            _report(sink, loc, f"{d.interface} is given twice (first at line {first.line})")
            continue
        seen[d.interface] = i
        for inst in config.vrrp_instances.values():
            if inst.interface != d.interface or inst.down_timer_adverts == 1:
                continue
            bound = (inst.down_timer_adverts - 1) * inst.advert_int - inst.advert_int / 256
            if d.down_delay > bound:
                _report(
                    sink,
                    loc,
                    f"{d.interface}: down delay {d.down_delay:g}s is not below {bound:g}s, (down_timer_adverts - 1) "
                    f"* advert_int of vrrp_instance {inst.name}: a backup would take over before this master "
                    "leaves (keepalived cuts it to that)",
                )
                break


def _check_strict(inst: VrrpInstance, where: _Where, sink: DiagnosticSink) -> None:
    """keepalived's vrrp_strict / strict_mode rules (keepalived 'fixes' these; vipd refuses)."""
    base = ("vrrp_instances", inst.name)
    if not inst.strict_mode:
        if inst.family == 6 and not inst.unicast_peer and inst.virtual_ipaddress:
            first = inst.virtual_ipaddress[0]
            if not first.address.is_link_local:
                loc = where(*base, "virtual_ipaddress", 0)
                sink.warning(
                    loc.file,
                    loc.line,
                    loc.keyword,
                    f"the first IPv6 VIP should be link-local (RFC 5798 §5.2.9), got {first.address}",
                )
        return
    why = " (strict mode: vrrp_strict / strict_mode)"
    if (inst.state == "MASTER") != (inst.priority == 255) and inst.state is not None:
        _report(
            sink,
            where(*base, "state"),
            f"state {inst.state} must match being the address owner (priority 255), priority is {inst.priority}{why}",
        )
    if inst.authentication is not None:
        _report(sink, where(*base, "authentication"), "authentication is not allowed" + why)
    if inst.unicast_peer:
        _report(sink, where(*base, "unicast_peer"), "unicast peers are not allowed" + why)
    if not inst.virtual_ipaddress and inst.version == 2:
        loc = where(*base)
        sink.error(loc.file, loc.line, "virtual_ipaddress", f"vrrp_instance {inst.name}: no VIP given{why}")
    if inst.family == 6 and inst.virtual_ipaddress and not inst.virtual_ipaddress[0].address.is_link_local:
        _report(sink, where(*base, "virtual_ipaddress", 0), "the first IPv6 VIP must be link-local" + why)
    if inst.preempt_delay and where.has(*base, "preempt_delay"):
        _report(sink, where(*base, "preempt_delay"), "preempt_delay is not allowed" + why)


def _check_misc(inst: VrrpInstance, where: _Where, sink: DiagnosticSink) -> None:
    base = ("vrrp_instances", inst.name)

    def warn(keyword: str, message: str) -> None:
        loc = where(*base, keyword)
        sink.warning(loc.file, loc.line, loc.keyword, message)

    if inst.no_virtual_ipaddress and inst.strict_mode:
        warn("no_virtual_ipaddress", "has no effect in strict mode (keepalived clears it): a VIP is required")
    if inst.owner_ignore_adverts and inst.priority != 255:
        warn("owner_ignore_adverts", f"has no effect: priority is {inst.priority}, not 255 (keepalived ignores it too)")
    if inst.owner_ignore_adverts is False and inst.strict_mode and inst.priority == 255:
        _report(
            sink,
            where(*base, "owner_ignore_adverts"),
            "strict mode makes an address owner (priority 255) ignore adverts; keepalived sets it back on, "
            "vipd refuses the contradiction: remove the line or leave strict mode",
        )
    if inst.promote_secondaries and inst.use_vmac:
        warn("promote_secondaries", "ignored with use_vmac: the VIPs live on the VMAC, not on the interface")
    if inst.track_src_ip and inst.unicast_src_ip is None:
        warn("track_src_ip", "has no effect without unicast_src_ip/mcast_src_ip (keepalived ignores it too)")
    addr_vmac = (
        inst.use_vmac_addr
        or any(v.use_vmac for v in inst.virtual_ipaddress)
        or (inst.use_vmac and (inst.vmac_xmit_base or bool(inst.unicast_peer)))
    )
    if inst.garp_extra_if and not inst.garp_extra_if_all and not addr_vmac and where.has(*base, "garp_extra_if"):
        warn(
            "garp_extra_if",
            "without 'all' it sends only on VMACs that adverts do not leave by (use_vmac_addr, vmac_xmit_base), "
            "and there is none: nothing is sent "
            "(keepalived turns it off likewise); write 'garp_extra_if all DELAY'",
        )
    if inst.nopreempt and inst.preempt_delay and where.has(*base, "preempt_delay"):
        loc = where(*base, "preempt_delay")
        sink.warning(loc.file, loc.line, "preempt_delay", "has no effect with nopreempt")
    if inst.accept is False and inst.priority == 255:
        loc = where(*base, "accept")
        sink.warning(loc.file, loc.line, loc.keyword, "an address owner (priority 255) always accepts")
