"""One read-only view of the live instances, shared by metrics, ``vipctl`` and the dump files.

``InstanceRow`` is built from a driver (its machine, stats and last transition)
and the instance's config. Everything here is a snapshot: building it never
touches the kernel, so it is cheap enough for every scrape and every
``vipctl status``.

The keepalived-style text files written on SIGUSR1 (``/tmp/keepalived.data``)
and SIGUSR2 (``/tmp/keepalived.stats``) follow the layout keepalived prints
(``vrrp_print_data`` / ``vrrp_print_stats``) closely enough for the parsers of
existing exporters (mehdy/keepalived-exporter's ``ParseVRRPData``/``ParseStats``).

Size: over 400 lines because it renders one snapshot four ways (status JSON, text, keepalived's data and stats
files) that must agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vipd.fsm import Notify, State, VrrpMachine
from vipd.obs.stats import InstanceStats, InterfaceStats

if TYPE_CHECKING:
    from vipd.config.model import VrrpInstance

STATE_NUMBER: dict[str, int] = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}
"""keepalived / keepalived-exporter state encoding: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT."""

# Instance-level counters (InstanceStats.discards keys) -> keepalived stats field.
DISCARD_TO_KEEPALIVED: dict[str, str] = {
    "packet_length": "packet_len_err",
    "ip_ttl": "ip_ttl_err",
    "invalid_type": "invalid_type_rcvd",
    "interval": "advert_interval_err",
    "address_list": "addr_list_err",
    "auth": "auth_failure",
    "auth_type": "invalid_authtype",
    "auth_mismatch": "authtype_mismatch",
}


class DriverView(Protocol):
    """What the status view reads from an ``InstanceDriver``."""

    name: str
    machine: VrrpMachine
    stats: InstanceStats
    last_transition: tuple[float, Notify] | None


@dataclass(frozen=True, slots=True)
class Transition:
    """The last state change of an instance.

    Attributes:
        old, new: keepalived state names (``INIT``, ``BACKUP``, ``MASTER``, ``FAULT``).
        reason: the FSM's reason token (``master_down_timer``, ``higher_priority_advert``...).
        at: wall-clock time, seconds since the epoch.
        ago: seconds before the snapshot was taken.
    """

    old: str
    new: str
    reason: str
    at: float
    ago: float


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """Snapshot of one ``vrrp_instance``.

    Attributes:
        name, interface, vrid, version, family: identity (keepalived keywords).
        state: ``INIT``/``BACKUP``/``MASTER``/``FAULT``.
        base_priority: configured ``priority``; effective_priority: what is advertised now.
        priority_terms: why the effective priority is what it is: ``[(source, delta)]``,
            first the configured base, then one term per tracker (none yet).
        advert_int, master_adver_int: seconds.
        master_address: source of the master's adverts (ours when master), or None.
        primary_address: our advert source address.
        vips: ``(address/prefix, device)`` per ``virtual_ipaddress``.
        last_transition: the last state change, or None.
        stats: the live counters (not copied).
        garp_master_delay: seconds (exported as ``keepalived_gratuitous_arp_delay_total``).
        nopreempt, preempt_delay: election settings.
        excluded_vips: ``(address/prefix, device)`` per ``virtual_ipaddress_excluded``.
        faults: why the instance is in FAULT: ``(cause, reason)``, cause ``tracking``,
            ``vip`` (a VIP could not be added while master) or ``link`` (an interface is
            gone or being re-opened); empty when not in FAULT.
        maintenance: held out of Master by ``vipctl maintenance on`` (shown as MAINTENANCE).
    """

    name: str
    interface: str
    vrid: int
    version: int
    family: int
    state: str
    base_priority: int
    effective_priority: int
    priority_terms: tuple[tuple[str, int], ...]
    advert_int: float
    master_adver_int: float
    master_address: str | None
    primary_address: str
    vips: tuple[tuple[str, str], ...]
    last_transition: Transition | None
    stats: InstanceStats
    garp_master_delay: float
    nopreempt: bool
    preempt_delay: float
    excluded_vips: tuple[tuple[str, str], ...] = ()
    faults: tuple[tuple[str, str], ...] = ()
    maintenance: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (``vipctl status --json``)."""
        lt = self.last_transition
        return {
            "name": self.name,
            "interface": self.interface,
            "vrid": self.vrid,
            "version": self.version,
            "family": self.family,
            "state": self.state,
            "priority": {
                "base": self.base_priority,
                "effective": self.effective_priority,
                "terms": [{"source": s, "delta": d} for s, d in self.priority_terms],
            },
            "advert_int": self.advert_int,
            "master_adver_int": self.master_adver_int,
            "master_address": self.master_address,
            "primary_address": self.primary_address,
            "vips": [{"address": a, "dev": d} for a, d in self.vips],
            "last_transition": None
            if lt is None
            else {"old": lt.old, "new": lt.new, "reason": lt.reason, "at": lt.at, "ago": round(lt.ago, 3)},
            "faults": [{"cause": c, "reason": r} for c, r in self.faults],
            "trackers": [],
            "nopreempt": self.nopreempt,
            "preempt_delay": self.preempt_delay,
            "maintenance": self.maintenance,
            "stats": stats_json(self.stats),
        }


@dataclass(frozen=True, slots=True)
class InterfaceRow:
    """Receive-side counters of one (interface, family) socket."""

    interface: str
    family: int
    stats: InterfaceStats


@dataclass(slots=True)
class Snapshot:
    """Everything the exporters read, taken at one instant.

    Attributes:
        instances: one row per running instance (removed instances are absent).
        interfaces: one row per receive socket.
        started_at: wall-clock start time of the daemon (seconds since the epoch).
        config_file: path of the running configuration.
        reloads: successful reloads by result (``ok``/``invalid``/``failed``).
        extra: free-form global values (loop lag, build info) for the metrics collector.
    """

    instances: list[InstanceRow]
    interfaces: list[InterfaceRow]
    started_at: float = 0.0
    config_file: str = ""
    reloads: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (``vipctl status --json`` / ``vipctl dump``)."""
        return {
            "started_at": self.started_at,
            "config_file": self.config_file,
            "reloads": dict(self.reloads),
            "instances": [r.to_json() for r in self.instances],
            "checks": list(self.extra.get("checks", [])),
            "sync_groups": list(self.extra.get("sync_groups", [])),
            "bfd": list(self.extra.get("bfd", [])),
            "interfaces": [
                {
                    "interface": i.interface,
                    "family": i.family,
                    "rx_packets": i.stats.rx_packets,
                    "rx_errors": dict(i.stats.rx_errors),
                }
                for i in self.interfaces
            ],
        }


def stats_json(s: InstanceStats) -> dict[str, Any]:
    """Return an instance's counters as a dict with keepalived's field names where they exist."""
    out: dict[str, Any] = {
        "advert_rcvd": s.adverts_received,
        "advert_sent": s.adverts_sent,
        "become_master": s.master_transitions,
        "release_master": release_master(s),
        "pri_zero_rcvd": s.priority_zero_received,
        "pri_zero_sent": s.priority_zero_sent,
        "vip_repairs": s.vip_repairs,
        "address_errors": s.address_errors,
        "advert_lateness_max": s.advert_lateness_max,
        "discards": dict(s.discards),
        "transitions": dict(s.transitions),
        "checksum_kinds": dict(s.checksum_kinds),
        "notify_runs": dict(s.notify_runs),
    }
    for field_name in DISCARD_TO_KEEPALIVED.values():
        out.setdefault(field_name, 0)
    for reason, n in s.discards.items():
        kname = DISCARD_TO_KEEPALIVED.get(reason)
        if kname is not None:
            out[kname] += n
    return out


def release_master(s: InstanceStats) -> int:
    """Return how many times the instance left MASTER (keepalived ``release_master``)."""
    return sum(n for key, n in s.transitions.items() if key.startswith("MASTER->"))


def instance_row(
    driver: DriverView,
    inst: VrrpInstance,
    *,
    now: float,
    wall: float | None = None,
) -> InstanceRow:
    """Build the snapshot of one instance.

    Args:
        driver: the running driver.
        inst: its validated config.
        now: the loop's monotonic time (seconds) at the snapshot.
        wall: wall-clock time matching ``now`` (default ``time.time()``).
    """
    wall = time.time() if wall is None else wall
    m = driver.machine
    lt: Transition | None = None
    if driver.last_transition is not None:
        at, n = driver.last_transition
        lt = Transition(n.old.value, n.new.value, n.reason, wall - (now - at), now - at)
    master = str(m.params.primary_address) if m.state is State.MASTER else m.master_address
    terms: list[tuple[str, int]] = [("priority", m.params.priority)]
    if m.priority != m.params.priority:
        terms.append(("trackers", m.priority - m.params.priority))
    return InstanceRow(
        name=driver.name,
        interface=inst.interface,
        vrid=inst.virtual_router_id,
        version=inst.version,
        family=inst.family,
        state=m.state.value,
        base_priority=m.params.priority,
        effective_priority=m.priority,
        priority_terms=tuple(terms),
        advert_int=m.params.advertisement_interval,
        master_adver_int=m.master_adver_interval,
        master_address=None if master is None else str(master),
        primary_address=str(m.params.primary_address),
        vips=tuple((f"{v.address}/{v.prefixlen}", v.dev or inst.interface) for v in inst.virtual_ipaddress),
        last_transition=lt,
        stats=driver.stats,
        garp_master_delay=inst.garp_master_delay,
        nopreempt=inst.nopreempt,
        preempt_delay=inst.preempt_delay,
        excluded_vips=tuple(
            (f"{v.address}/{v.prefixlen}", v.dev or inst.interface) for v in inst.virtual_ipaddress_excluded
        ),
        faults=tuple(getattr(driver, "faults", {}).items()),
        maintenance=m.maintenance,
    )


def render_table(rows: Sequence[InstanceRow]) -> str:
    """Return the ``vipctl status`` table: one line per instance, aligned columns."""
    return render_table_json([r.to_json() for r in rows])


def render_table_json(instances: Sequence[dict[str, Any]]) -> str:
    """Return the ``vipctl status`` table from ``InstanceRow.to_json()`` dicts (what the socket carries)."""
    head = ("INSTANCE", "STATE", "PRIO", "VRID", "IFACE", "MASTER", "VIPS", "LAST TRANSITION")
    lines: list[tuple[str, ...]] = [head]
    for r in instances:
        pr = r["priority"]
        prio = str(pr["effective"])
        if pr["effective"] != pr["base"]:
            prio += f" ({pr['base']}{pr['effective'] - pr['base']:+d})"
        lt = r.get("last_transition")
        last = "-" if not lt else f"{lt['old']}->{lt['new']} {lt['reason']} {lt['ago']:.1f}s ago"
        vips = ",".join(v["address"] for v in r["vips"]) or "-"
        master = r["master_address"] or "-"
        state = r["state"] if not r.get("maintenance") else f"{r['state']}/MAINTENANCE"
        lines.append((r["name"], state, prio, str(r["vrid"]), r["interface"], master, vips, last))
    return _table(head, lines[1:])


def _table(head: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    lines = [head, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def render_status_text(status: dict[str, Any]) -> str:
    """Return ``vipctl status``'s text from the socket's status answer (``Snapshot.to_json()``).

    The instance table, then, when there are any, a table of the checks (keepalived
    ``vrrp_script`` / ``track_*`` and vipd ``vrrp_check``: health, runs, failures,
    last result and the instances each one moves) and one of the sync groups (state,
    members, and which members want master: keepalived's ``vrrp_sync_can_goto_master``), and
    one of the BFD sessions (``bfd_instance``: state, timers in ms, packets).
    """
    parts = [render_table_json(status.get("instances", []))]
    faults = [
        (str(r["name"]), str(f["cause"]), str(f["reason"]))
        for r in status.get("instances", [])
        for f in r.get("faults") or []
    ]
    if faults:
        parts.append(_table(("INSTANCE", "FAULT", "REASON"), faults))
    checks = status.get("checks") or []
    if checks:
        rows: list[tuple[str, ...]] = []
        for c in checks:
            last = "-" if c.get("last_ok") is None else ("ok" if c["last_ok"] else "fail")
            if c.get("duration") is not None:
                last += f" {c['duration'] * 1000:.0f}ms"
            output = " ".join(str(c.get("output") or "").split())[:60] or "-"
            rows.append(
                (
                    str(c["name"]),
                    str(c["type"]),
                    str(c["health"]),
                    str(c["runs"]),
                    str(c["failures"]),
                    last,
                    ",".join(c.get("instances", [])) or "-",
                    output,
                )
            )
        head = ("CHECK", "TYPE", "HEALTH", "RUNS", "FAILURES", "LAST", "INSTANCES", "OUTPUT")
        parts.append(_table(head, rows))
    groups = status.get("sync_groups") or []
    if groups:
        group_rows = [
            (
                str(g["name"]),
                str(g["state"]),
                ",".join(g.get("members", [])) or "-",
                ",".join(g.get("wanting_master", [])) or "-",
                str(g.get("transitions", 0)),
            )
            for g in groups
        ]
        parts.append(_table(("SYNC GROUP", "STATE", "MEMBERS", "WANTING MASTER", "TRANSITIONS"), group_rows))
    sessions = status.get("bfd") or []
    if sessions:
        bfd_rows = [
            (
                str(b["name"]),
                str(b["neighbor"]),
                str(b["state"]),
                str(b["remote_state"]),
                str(b["local_diag"]),
                f"{float(b['tx_interval']) * 1000:g}ms",
                f"{float(b['detection_time']) * 1000:g}ms",
                f"{b['tx']}/{b['rx']}",
                str(sum(b.get("discards", {}).values())),
            )
            for b in sessions
        ]
        bfd_head = ("BFD", "NEIGHBOR", "STATE", "REMOTE", "DIAG", "TX INT", "DETECT", "TX/RX", "DROPPED")
        parts.append(_table(bfd_head, bfd_rows))
    return "\n\n".join(parts)


def render_data_file(rows: Iterable[InstanceRow], *, now_wall: float | None = None) -> str:
    """Return keepalived's ``/tmp/keepalived.data`` text (SIGUSR1) for these instances."""
    now_wall = time.time() if now_wall is None else now_wall
    out = [
        "------< Global definitions >------",
        f" Data written = {time.strftime('%a %b %d %H:%M:%S %Y', time.localtime(now_wall))}",
        "",
        "------< VRRP Topology >------",
    ]
    for r in rows:
        out += [
            f" VRRP Instance = {r.name}",
            f"   Using VRRPv{r.version}",
            f"   State = {r.state}",
            f"   Wantstate = {r.state}",
            f"   Listening device = {r.interface}",
            f"   Using src_ip = {r.primary_address}",
            f"   Gratuitous ARP delay = {r.garp_master_delay:g}",
            f"   Virtual Router ID = {r.vrid}",
            f"   Priority = {r.base_priority}",
            f"   Effective priority = {r.effective_priority}",
            f"   Advert interval = {r.advert_int * 1000:g} milli-sec",
            f"   Preempt = {'disabled' if r.nopreempt else 'enabled'}",
            f"   Preempt delay = {r.preempt_delay:g} secs",
        ]
        if r.last_transition is not None:
            when = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(r.last_transition.at))
            out.append(f"   Last transition = {r.last_transition.at:.6f} ({when})")
        if r.master_address:
            out.append(f"   Master router = {r.master_address}")
        out.append(f"   Virtual IP ({len(r.vips)}):")
        out += [f"     {addr} dev {dev} scope global" for addr, dev in r.vips]
    return "\n".join(out) + "\n"


def render_stats_file(rows: Iterable[InstanceRow]) -> str:
    """Return keepalived's ``/tmp/keepalived.stats`` text (SIGUSR2) for these instances."""
    out: list[str] = []
    for r in rows:
        s = stats_json(r.stats)
        out += [
            f"VRRP Instance: {r.name}",
            "  Advertisements:",
            f"    Received: {s['advert_rcvd']}",
            f"    Sent: {s['advert_sent']}",
            f"  Became master: {s['become_master']}",
            f"  Released master: {s['release_master']}",
            "  Packet Errors:",
            f"    Length: {s['packet_len_err']}",
            f"    TTL: {s['ip_ttl_err']}",
            f"    Invalid Type: {s['invalid_type_rcvd']}",
            f"    Advertisement Interval: {s['advert_interval_err']}",
            f"    Address List: {s['addr_list_err']}",
            "  Authentication Errors:",
            f"    Invalid Type: {s['invalid_authtype']}",
            f"    Type Mismatch: {s['authtype_mismatch']}",
            f"    Failure: {s['auth_failure']}",
            "  Priority Zero:",
            f"    Received: {s['pri_zero_rcvd']}",
            f"    Sent: {s['pri_zero_sent']}",
        ]
    return "\n".join(out) + "\n"
