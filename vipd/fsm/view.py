"""An immutable picture of one ``VrrpMachine``: what ``vipctl explain`` and status read.

Pure like the machine: no I/O, no clock. :func:`machine_view` copies the state
and the running deadlines out of the machine, so nothing outside ``vipd.fsm``
reads its private fields, and a view taken once stays true to that instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipd.fsm.machine import VrrpMachine
from vipd.wire.advert import IPAddress


@dataclass(frozen=True, slots=True)
class MachineView:
    """The machine at one instant. Times are float seconds on the machine's clock (``now`` of its inputs).

    Attributes:
        state: ``INIT``/``BACKUP``/``MASTER``/``FAULT`` (keepalived's names).
        priority: effective priority; base_priority: configured (``params.priority``).
        preempt_mode: RFC Preempt_Mode (keepalived: not ``nopreempt``); preempt_delay: seconds.
        preempt_until: when a waiting ``preempt_delay`` ends, or None.
        advertisement_interval: ours (seconds); master_adver_interval: learnt (v3) or ours.
        skew_time, master_down_interval: RFC 5798 §6.1 values at the current priority (seconds).
        master_address: the master followed (Backup), or None.
        master_heard_at: when its last advert was accepted, or None.
        adver_at: Adver_Timer deadline (Master), or None.
        master_down_at: Master_Down_Timer deadline (Backup), or None.
        down_reason: the reason the Master_Down_Timer would give (``master_down_timer``,
            ``priority_zero_received``, ``preempt``).
        garp_at: the earliest pending GARP timer (delayed burst, refresh, lower-priority burst), or None.
        fault: a tracker holds the router in FAULT.
        wants_master: a sync-group member held in Backup until its group agrees.
        sync_group: member of a ``vrrp_sync_group``.
        last_reason: reason token of the last transition.
        primary_address: our advert source.
        maintenance: held out of Master by the operator (``vipctl maintenance``).
        yielding: a ``vipctl handover`` is under way.
    """

    state: str
    priority: int
    base_priority: int
    preempt_mode: bool
    preempt_delay: float
    preempt_until: float | None
    advertisement_interval: float
    master_adver_interval: float
    skew_time: float
    master_down_interval: float
    master_address: IPAddress | None
    master_heard_at: float | None
    adver_at: float | None
    master_down_at: float | None
    down_reason: str
    garp_at: float | None
    fault: bool
    wants_master: bool
    sync_group: bool
    last_reason: str
    primary_address: IPAddress
    maintenance: bool = False
    yielding: bool = False


def machine_view(m: VrrpMachine) -> MachineView:
    """Copy ``m``'s state and deadlines into a :class:`MachineView` (O(1), no side effect)."""
    t = m._timers
    garps = [x for x in (t.garp_delay_at, t.garp_refresh_at, t.garp_lower_prio_at) if x is not None]
    p = m.params
    return MachineView(
        state=m.state.value,
        priority=m.priority,
        base_priority=p.priority,
        preempt_mode=p.preempt_mode,
        preempt_delay=p.preempt_delay,
        preempt_until=m._preempt_until,
        advertisement_interval=p.advertisement_interval,
        master_adver_interval=m.master_adver_interval,
        skew_time=m.skew_time,
        master_down_interval=m.master_down_interval,
        master_address=m.master_address,
        master_heard_at=m._master_heard_at,
        adver_at=t.adver_at,
        master_down_at=t.master_down_at,
        down_reason=m._down_reason,
        garp_at=min(garps) if garps else None,
        fault=m.fault,
        wants_master=m.wants_master,
        sync_group=p.sync_group,
        last_reason=m.last_reason,
        primary_address=p.primary_address,
        maintenance=getattr(m, "maintenance", False),
        yielding=getattr(m, "yielding", False),
    )
