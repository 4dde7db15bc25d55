"""The sync-group coordinator (``vipd.runtime.syncgroup``), table by table, against keepalived's ``vrrp_sync.c``.

Members are real ``VrrpMachine``s; ``feed`` hands an event to one and reports its
effects back to the coordinator, as the daemon's drivers do. Time is moved by hand.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address
from types import SimpleNamespace
from typing import Any

import pytest

from vipd.fsm import (
    AdvertReceived,
    Effect,
    Event,
    FaultChanged,
    Params,
    Startup,
    State,
    SyncGoBackup,
    SyncGoMaster,
    TimerExpired,
    VrrpMachine,
)
from vipd.runtime.syncgroup import SyncGroup, SyncGroups
from vipd.wire.advert import Advert

PEER = IPv4Address("192.0.2.250")


def params(vrid: int, priority: int = 100, *, sync: bool = True) -> Params:
    return Params(
        vrid=vrid,
        version=3,
        priority=priority,
        advertisement_interval=1.0,
        primary_address=IPv4Address(f"192.0.2.{vrid}"),
        addresses=(IPv4Address(f"198.51.100.{vrid}"),),
        sync_group=sync,
    )


class Harness:
    """Three members VI_1..VI_3 (VRIDs 1..3) of group G; ``now`` moves by hand."""

    def __init__(self, n: int = 3) -> None:
        self.now = 0.0
        self.m = {f"VI_{i}": VrrpMachine(params(i)) for i in range(1, n + 1)}
        self.fed: list[tuple[str, Event]] = []
        self.group = SyncGroup("G", list(self.m), self.m.get, self.feed)

    def feed(self, name: str, event: Event) -> list[Effect]:
        self.fed.append((name, event))
        effects = self.m[name].handle(event, self.now)
        self.group.observe(name, effects)
        return effects

    def start(self) -> None:
        for name in self.m:
            self.feed(name, Startup())

    def expire(self, name: str) -> list[Effect]:
        """Run ``name``'s Master_Down_Timer out."""
        due = self.m[name].next_deadline()
        assert due is not None
        self.now = max(self.now, due)
        return self.feed(name, TimerExpired())

    def advert(self, name: str, priority: int) -> list[Effect]:
        p = self.m[name].params
        adv = Advert(version=3, vrid=p.vrid, priority=priority, max_adver_int=1.0, addresses=p.addresses)
        return self.feed(name, AdvertReceived(PEER, adv))

    def states(self) -> list[State]:
        return [m.state for m in self.m.values()]

    def sync_events(self) -> list[tuple[str, Event]]:
        return [(n, e) for n, e in self.fed if isinstance(e, SyncGoMaster | SyncGoBackup)]


def test_vrrp_sync_can_goto_master_holds_every_member_until_the_last_one_wants_master() -> None:
    """keepalived vrrp_sync_can_goto_master: "Only sync to master if everyone wants to"."""
    h = Harness()
    h.start()
    h.expire("VI_1")
    h.expire("VI_2")
    assert h.states() == [State.BACKUP] * 3
    assert h.group.status()["wanting_master"] == ["VI_1", "VI_2"]
    h.expire("VI_3")
    assert h.states() == [State.MASTER] * 3
    assert h.group.state is State.MASTER
    # The trigger first, with its own reason; the held members keep theirs too.
    assert h.sync_events() == [
        ("VI_3", SyncGoMaster("master_down_timer")),
        ("VI_1", SyncGoMaster("master_down_timer", "vrrp_sync_group G: VI_3 became master")),
        ("VI_2", SyncGoMaster("master_down_timer", "vrrp_sync_group G: VI_3 became master")),
    ]


def test_an_accepted_advert_on_one_member_keeps_the_whole_group_backup() -> None:
    """keepalived vrrp_state_backup resets wantstate to BACK on an accepted advert: the group then waits."""
    h = Harness()
    h.start()
    h.expire("VI_1")
    h.now += 0.1
    h.advert("VI_1", 200)  # VI_1's master is alive after all
    h.expire("VI_2")
    h.expire("VI_3")
    assert h.states() == [State.BACKUP] * 3
    assert h.sync_events() == []


def test_vrrp_sync_backup_one_member_outbid_takes_every_master_member_down() -> None:
    """keepalived VRRP_TSM MASTER->BACKUP -> vrrp_sync_backup -> vrrp_state_leave_master(isync, false)."""
    h = Harness()
    h.start()
    for n in h.m:
        h.expire(n)
    h.now += 0.5
    h.advert("VI_2", 250)
    assert h.states() == [State.BACKUP] * 3
    assert h.group.state is State.BACKUP
    backs = [(n, type(e)) for n, e in h.sync_events() if isinstance(e, SyncGoBackup)]
    assert backs == [("VI_1", SyncGoBackup), ("VI_3", SyncGoBackup)]


def test_one_member_fault_and_recovery_records_fault_then_syncs_the_group_to_backup() -> None:
    """keepalived vrrp_sync_fault records GROUP_STATE FAULT; VRRP_TSM FAULT->BACKUP runs vrrp_sync_backup."""
    h = Harness()
    h.start()
    for n in h.m:
        h.expire(n)
    # VI_3 alone is faulted and recovers (a tracker of its own, not shared here): it comes back as
    # backup; the group's state went FAULT then BACKUP, the other members were stepped down.
    h.now += 1.0
    h.feed("VI_3", FaultChanged(True, "x"))
    assert h.group.state is State.FAULT
    h.feed("VI_3", FaultChanged(False))
    assert h.states() == [State.BACKUP] * 3, "FAULT->BACKUP is vrrp_sync_backup too"


@pytest.mark.parametrize("n", [2, 3])
def test_repeated_wishes_of_a_held_member_never_move_the_group(n: int) -> None:
    """A held member asks again every Master_Down_Interval (re-armed timer); the answer stays no."""
    h = Harness(n)
    h.start()
    for _ in range(5):
        h.expire("VI_1")
        h.now += 0.1
        for other in list(h.m)[1:]:
            h.advert(other, 200)
    assert h.states() == [State.BACKUP] * n
    assert h.sync_events() == []


# ---------------------------------------------------------------- SyncGroups (the daemon side)


class FakeDriver:
    def __init__(self, name: str, machine: VrrpMachine, log: list[Any]) -> None:
        self.name = name
        self.machine = machine
        self.sync_observer: Any = None
        self._log = log

    def feed(self, event: Any, at: float | None = None) -> None:
        self._log.append((self.name, event))
        effects = self.machine.handle(event, 0.0 if at is None else at)
        if self.sync_observer is not None and effects:
            self.sync_observer(self.name, effects)


def config(groups: dict[str, list[str]]) -> Any:
    return SimpleNamespace(
        vrrp_sync_groups={g: SimpleNamespace(name=g, group=members) for g, members in groups.items()}
    )


def test_sync_groups_attach_marks_members_and_connects_them() -> None:
    log: list[Any] = []
    drivers = {n: FakeDriver(n, VrrpMachine(params(i, sync=False)), log) for i, n in enumerate(["A", "B", "C"], 1)}
    cfg = config({"G": ["A", "B"]})
    sg = SyncGroups(lambda: cfg, drivers, lambda: 0.0)
    for d in drivers.values():
        sg.attach(d)
    assert [d.machine.params.sync_group for d in drivers.values()] == [True, True, False]
    assert drivers["A"].sync_observer is not None and drivers["C"].sync_observer is None
    assert sg.status()[0]["members"] == ["A", "B"]

    # A reload that dissolves the group turns the members back into plain instances.
    cfg2 = config({})
    sg2_cfg = [cfg2]
    sg._config = lambda: sg2_cfg[0]
    for d in drivers.values():
        sg.attach(d)
    assert [d.machine.params.sync_group for d in drivers.values()] == [False, False, False]
    assert all(d.sync_observer is None for d in drivers.values())


def test_sync_groups_attach_keeps_state_and_timers() -> None:
    log: list[Any] = []
    m = VrrpMachine(params(1, sync=False))
    m.handle(Startup(), 0.0)
    deadline = m.next_deadline()
    d = FakeDriver("A", m, log)
    sg = SyncGroups(lambda: config({"G": ["A", "B"]}), {"A": d}, lambda: 0.5)
    sg.attach(d)
    assert m.state is State.BACKUP and m.next_deadline() == deadline
    assert m.params == replace(params(1), sync_group=True)


def test_group_transitions_reach_the_group_notify_hook_once_each() -> None:
    """keepalived runs the group's notify_* with ``GROUP NAME STATE 0`` once per group transition."""
    h = Harness()
    seen: list[tuple[State, State]] = []
    h.group.on_change = lambda n: seen.append((n.old, n.new))
    h.start()
    for n in h.m:
        h.expire(n)
    h.now += 0.5
    h.advert("VI_2", 250)
    h.now += 0.5
    h.feed("VI_1", FaultChanged(True, "eth0 down"))
    assert seen == [(State.BACKUP, State.MASTER), (State.MASTER, State.BACKUP), (State.BACKUP, State.FAULT)]
