"""The immutable per-instance view ``vipctl explain`` reads, built by the runtime on request.

:func:`instance_view` copies everything an explanation needs out of the live
objects (the machine through :func:`vipd.fsm.view.machine_view`, the trackers,
the flight recorder's last-heard table and discards, the plan's source and
destinations) into frozen dataclasses, with times turned into ages and
countdowns in seconds. Building it costs a few microseconds per instance and
never touches the kernel; :mod:`vipd.obs.explain` turns it into sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vipd.fsm.view import MachineView, machine_view
from vipd.obs.recorder import InstanceRecorder
from vipd.plan import InstancePlan
from vipd.runtime.instance import InstanceDriver


@dataclass(frozen=True, slots=True)
class Heard:
    """The last advert accepted from one source.

    Attributes:
        address: the source; priority: advertised; interval: Max Adver Int (seconds);
        age: seconds since it arrived; checksum: ``pseudo`` (RFC 5798 §5.2.8, keepalived,
        FRR) or ``plain`` (v2, ``v3_checksum_as_v2``, Cisco, Juniper).
    """

    address: str
    priority: int
    interval: float
    age: float
    checksum: str


@dataclass(frozen=True, slots=True)
class DiscardView:
    """Packets of this VRID discarded for one reason (RFC 6527 counter names).

    Attributes:
        reason: e.g. ``ip_ttl``, ``interval``, ``address_list``; count: how many;
        last_source: where the last one came from ("" if unknown); age: seconds since it, or None.
    """

    reason: str
    count: int
    last_source: str
    age: float | None


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance at one instant; every time is relative to ``now`` (seconds).

    Attributes:
        name, interface, vrid, version, family: identity.
        machine: the FSM's state and deadlines (absolute, on the loop clock).
        now: the loop clock at the view.
        trackers: dicts from ``Tracker.trackers_of`` (name, weight, health, contribution, fault...).
        faults: names of trackers holding the instance in FAULT.
        master: the last advert from the master followed (Backup), or None.
        heard: the last advert of every source heard, most recent first.
        discards: per reason, with the last source.
        source: our advert source address; source_why: how it was chosen.
        destinations: where adverts go (multicast group or ``unicast_peer``s).
        multicast: True when sent to the group.
        maintenance: held out of Master by ``vipctl maintenance on``.
    """

    name: str
    interface: str
    vrid: int
    version: int
    family: int
    machine: MachineView
    now: float
    trackers: tuple[Mapping[str, Any], ...]
    faults: tuple[str, ...]
    master: Heard | None
    heard: tuple[Heard, ...]
    discards: tuple[DiscardView, ...]
    source: str
    source_why: str
    destinations: tuple[str, ...]
    multicast: bool
    maintenance: bool = False

    def until(self, deadline: float | None) -> float | None:
        """Seconds from the view until ``deadline`` (loop clock), or None."""
        return None if deadline is None else deadline - self.now

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict: the fields, deadlines as ``*_in`` seconds from now."""
        m = self.machine
        out = {k: v for k, v in asdict(self).items() if k != "machine"}
        out["machine"] = {
            "state": m.state,
            "priority": m.priority,
            "base_priority": m.base_priority,
            "preempt": m.preempt_mode,
            "preempt_delay": m.preempt_delay,
            "preempt_wait_left": self.until(m.preempt_until),
            "advertisement_interval": m.advertisement_interval,
            "master_adver_interval": m.master_adver_interval,
            "skew_time": m.skew_time,
            "master_down_interval": m.master_down_interval,
            "master_address": None if m.master_address is None else str(m.master_address),
            "adver_timer_in": self.until(m.adver_at),
            "master_down_timer_in": self.until(m.master_down_at),
            "down_reason": m.down_reason,
            "garp_timer_in": self.until(m.garp_at),
            "fault": m.fault,
            "wants_master": m.wants_master,
            "sync_group": m.sync_group,
            "last_reason": m.last_reason,
            "maintenance": m.maintenance,
            "yielding": m.yielding,
        }
        out["trackers"] = [dict(t) for t in self.trackers]
        return out


def source_reason(plan: InstancePlan, source: str) -> str:
    """Why the advert source is ``source``: the keyword that set it, or the interface's address rule."""
    if plan.src is not None:
        keyword = "mcast_src_ip" if plan.multicast else "unicast_src_ip"
        return f"{keyword} {plan.src} is configured"
    if plan.key.family == 4:
        return f"no unicast_src_ip/mcast_src_ip: the first IPv4 address of {plan.key.interface}"
    return f"no unicast_src_ip/mcast_src_ip: the IPv6 link-local address of {plan.key.interface} (RFC 5798 §5.1.2.1)"


def _fault_reasons(driver: InstanceDriver, tracker_faults: Sequence[str]) -> tuple[str, ...]:
    """Why the instance is in FAULT: the driver's causes (``tracking``, a VIP that cannot be
    installed, a missing interface...) as ``cause: reason``, else the failing trackers' names."""
    causes: dict[str, str] = getattr(driver, "faults", {}) or {}
    if causes:
        return tuple(f"{cause}: {reason}" for cause, reason in causes.items())
    return tuple(tracker_faults)


def instance_view(
    driver: InstanceDriver,
    plan: InstancePlan,
    *,
    now: float,
    trackers: Sequence[Mapping[str, Any]] = (),
    faults: Sequence[str] = (),
    maintenance: bool = False,
) -> InstanceView:
    """Build the view of one running instance.

    Args:
        driver: its driver (machine, stats, recorder).
        plan: its plan (interface, source, destinations).
        now: the loop clock (seconds).
        trackers: ``Tracker.trackers_of(name)``; faults: the trackers holding it in FAULT.
        maintenance: ``vipctl maintenance`` holds it.
    """
    m = machine_view(driver.machine)
    rec: InstanceRecorder | None = driver.recorder
    heard: list[Heard] = []
    master: Heard | None = None
    if rec is not None:
        for src, (at, _d, _s, adv, checksum) in sorted(rec.heard.items(), key=lambda kv: -kv[1][0]):
            h = Heard(str(src), adv.priority, adv.max_adver_int, max(0.0, now - at), checksum)
            heard.append(h)
            if m.master_address is not None and src == m.master_address:
                master = h
    discards = []
    for reason, count in sorted(driver.stats.discards.items()):
        last = rec.discards.get(reason) if rec is not None else None
        discards.append(
            DiscardView(reason, count, last[1] if last else "", None if last is None else max(0.0, now - last[0]))
        )
    source = str(m.primary_address)
    return InstanceView(
        name=plan.name,
        interface=plan.key.interface,
        vrid=plan.key.vrid,
        version=plan.config.version,
        family=plan.key.family,
        machine=m,
        now=now,
        trackers=tuple(trackers),
        faults=_fault_reasons(driver, faults),
        master=master,
        heard=tuple(heard),
        discards=tuple(discards),
        source=source,
        source_why=source_reason(plan, source),
        destinations=tuple(str(d) for d in plan.dsts),
        multicast=plan.multicast,
        maintenance=maintenance or m.maintenance,
    )
