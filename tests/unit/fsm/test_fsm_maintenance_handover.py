"""vipd's operator inputs: MaintenanceChanged and Handover (vipctl maintenance / handover), pure FSM tables."""

from __future__ import annotations

import pytest
from fsm_helpers import HIGHER, LOWER, fire, machine, rx, start, to_master

from vipd.fsm import (
    AddAddresses,
    FaultChanged,
    Handover,
    MaintenanceChanged,
    Notify,
    PriorityChanged,
    RemoveAddresses,
    SendAdvert,
    State,
)
from vipd.fsm.machine import HANDOVER_WAIT_ADVERTS


def test_maintenance_on_a_master_sends_priority_zero_and_steps_down() -> None:
    m = machine(priority=150)
    now = to_master(m)
    effects = m.handle(MaintenanceChanged(True), now)
    assert isinstance(effects[0], SendAdvert) and effects[0].advert.priority == 0
    assert isinstance(effects[1], RemoveAddresses)
    assert effects[-1] == Notify(State.MASTER, State.BACKUP, "maintenance")
    assert m.state is State.BACKUP and m.maintenance and m.probing


def test_hand_over_probe_ends_when_another_router_takes_over() -> None:
    m = machine(priority=150)
    now = to_master(m)
    m.handle(MaintenanceChanged(True), now)
    rx(m, now + 0.05, 100, src=LOWER)  # the backup took over after its Skew_Time
    assert not m.probing and m.master_address == LOWER
    # and it stays out although the new master's priority is lower and preempt is on
    for _ in range(5):
        now, effects = fire(m)
        assert effects == [] and m.state is State.BACKUP
        rx(m, now, 100, src=LOWER)


def test_maintenance_refused_when_no_router_takes_over_the_addresses_come_back() -> None:
    m = machine(priority=150, interval=0.1)
    now = to_master(m)
    m.handle(MaintenanceChanged(True), now)
    due = m.next_deadline()
    assert due == pytest.approx(now + HANDOVER_WAIT_ADVERTS * 0.1)
    _, effects = fire(m)
    assert m.state is State.MASTER and not m.maintenance
    assert any(isinstance(e, AddAddresses) for e in effects)
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "handover_no_peer")


def test_forced_maintenance_stays_out_with_no_other_router() -> None:
    m = machine(priority=150, interval=0.1)
    now = to_master(m)
    m.handle(MaintenanceChanged(True, force=True), now)
    for _ in range(5):
        _, effects = fire(m)
        assert effects == [] and m.state is State.BACKUP


def test_maintenance_never_becomes_master_when_the_master_goes_silent() -> None:
    m = machine(priority=100)
    start(m)
    rx(m, 0.1, 150)
    m.handle(MaintenanceChanged(True), 0.2)
    for _ in range(3):
        _, effects = fire(m)
        assert effects == [] and m.state is State.BACKUP


def test_owner_in_maintenance_starts_as_backup_and_ignores_becoming_owner() -> None:
    m = machine(priority=255)
    m.handle(MaintenanceChanged(True), 0.0)
    start(m)
    assert m.state is State.BACKUP
    m2 = machine(priority=100)
    m2.handle(MaintenanceChanged(True), 0.0)
    start(m2)
    assert m2.handle(PriorityChanged(255), 0.1) == [] and m2.state is State.BACKUP


def test_maintenance_off_lets_the_timer_decide_and_preempts_a_lower_master() -> None:
    m = machine(priority=150)
    start(m)
    m.handle(MaintenanceChanged(True), 0.0)
    rx(m, 0.1, 100, src=LOWER)
    m.handle(MaintenanceChanged(False), 0.2)
    rx(m, 0.3, 100, src=LOWER)  # a lower master no longer resets the timer: preempt
    fire(m)
    assert m.state is State.MASTER


def test_maintenance_survives_a_fault_and_recovery() -> None:
    m = machine(priority=150)
    now = to_master(m)
    m.handle(MaintenanceChanged(True, force=True), now)
    m.handle(FaultChanged(True, "link"), now + 1)
    m.handle(FaultChanged(False), now + 2)
    assert m.state is State.BACKUP and m.maintenance
    fire(m)
    assert m.state is State.BACKUP


def test_handover_yields_once_and_does_not_preempt_the_new_master() -> None:
    m = machine(priority=150)
    now = to_master(m)
    effects = m.handle(Handover(), now)
    assert effects[0].advert.priority == 0 and effects[-1] == Notify(State.MASTER, State.BACKUP, "handover")
    rx(m, now + 0.05, 100, src=LOWER)
    assert m.yielding and not m.probing
    rx(m, now + 1.0, 100, src=LOWER)
    assert m.state is State.BACKUP  # held: no preemption of the router it handed over to


def test_after_a_handover_it_takes_over_again_when_the_new_master_goes_silent() -> None:
    m = machine(priority=150)
    now = to_master(m)
    m.handle(Handover(), now)
    rx(m, now + 0.05, 100, src=LOWER)
    _, effects = fire(m)  # Master_Down_Timer: the new master went silent
    assert m.state is State.MASTER and not m.yielding
    assert effects[-1].reason == "master_down_timer"


def test_handover_refused_when_no_router_takes_over() -> None:
    m = machine(priority=150)
    now = to_master(m)
    m.handle(Handover(), now)
    _, effects = fire(m)
    assert m.state is State.MASTER and not m.yielding
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "handover_no_peer")


def test_handover_is_ignored_unless_master() -> None:
    m = machine(priority=100)
    start(m)
    rx(m, 0.1, 150, src=HIGHER)
    assert m.handle(Handover(), 0.2) == [] and not m.yielding
