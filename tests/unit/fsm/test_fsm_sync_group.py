"""Sync-group members in the FSM (keepalived ``vrrp_sync_group``): ``Params.sync_group``, ``WantMaster``,
``SyncGoMaster``, ``SyncGoBackup``.

Each row names the keepalived function it mirrors (``vrrp.c``, ``vrrp_sync.c``). The
group decision itself (who is told what) is ``vipd.runtime.syncgroup``'s and is
tested in tests/unit/runtime/test_syncgroup.py; here only one member's machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fsm_helpers import HIGHER, LOWER, TICK, fire, machine, rx, start

from vipd.fsm import (
    AddAddresses,
    Effect,
    FaultChanged,
    Notify,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    State,
    SyncGoBackup,
    SyncGoMaster,
    TimerExpired,
    VrrpMachine,
    WantMaster,
    master_down_interval,
    skew_time,
)


def held(m: VrrpMachine) -> float:
    """Start a sync-group member and let its Master_Down_Timer fire once: it is held wanting master."""
    start(m, 0.0)
    now, effects = fire(m)
    assert effects == [WantMaster("master_down_timer")]
    return now


def group_master(m: VrrpMachine) -> float:
    """A held member that the group then moves to master; return the time."""
    now = held(m)
    m.handle(SyncGoMaster("master_down_timer"), now)
    assert m.state is State.MASTER
    return now


# ---------------------------------------------------------------- Master_Down_Timer -> WantMaster


def test_vrrp_state_goto_master_a_member_whose_timer_fires_stays_backup_and_wants_master() -> None:
    """keepalived vrrp_state_goto_master: ``if (vrrp->sync && !vrrp_sync_can_goto_master(vrrp)) {
    vrrp->wantstate = VRRP_STATE_MAST; return; }``: no advert, no address, no notify."""
    m = machine(priority=100, sync_group=True)
    now = held(m)
    assert m.state is State.BACKUP
    assert m.wants_master
    assert now == pytest.approx(master_down_interval(3, 100, 1.0))


def test_vrrp_sync_can_goto_master_re_arms_the_master_down_timer_to_a_full_interval() -> None:
    """keepalived vrrp_sync_can_goto_master: ``vrrp->ms_down_timer = 3 * vrrp->master_adver_int +
    VRRP_TIMER_SKEW(vrrp); vrrp_init_instance_sands(vrrp)``: the member asks again one MDI later."""
    m = machine(priority=100, sync_group=True)
    now = held(m)
    assert m.next_deadline() == pytest.approx(now + master_down_interval(3, 100, 1.0))
    _, effects = fire(m)
    assert effects == [WantMaster("master_down_timer")]
    assert m.state is State.BACKUP


def test_without_sync_group_the_timer_still_takes_the_router_to_master() -> None:
    """RFC 5798 §6.4.2 unchanged for an instance outside any group (Params.sync_group defaults to False)."""
    m = machine(priority=100)
    start(m, 0.0)
    _, effects = fire(m)
    assert m.state is State.MASTER
    assert not any(isinstance(e, WantMaster) for e in effects)
    assert not m.wants_master


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda m, now: None, "master_down_timer"),
        (lambda m, now: rx(m, now, 0), "priority_zero_received"),
        (lambda m, now: rx(m, now, 50, src=LOWER), "preempt"),
    ],
    ids=["silence", "priority_0", "lower_priority_discarded"],
)
def test_want_master_carries_why_the_timer_ran_out(setup: Callable[[VrrpMachine, float], object], reason: str) -> None:
    """RFC 5798 §6.4.2 reasons (keepalived next_master_reason): silence, a priority-0 advert
    (timer set to Skew_Time), a lower priority discarded with Preempt_Mode."""
    m = machine(priority=100, sync_group=True)
    start(m, 0.0)
    setup(m, 0.5)
    _, effects = fire(m)
    assert effects == [WantMaster(reason)]


def test_priority_zero_sets_a_held_member_timer_to_skew_time_and_it_still_wants() -> None:
    """keepalived vrrp_state_backup: a priority-0 advert only sets ``ms_down_timer = VRRP_TIMER_SKEW``;
    wantstate is untouched there."""
    m = machine(priority=100, sync_group=True)
    now = held(m) + 0.1
    assert rx(m, now, 0) == []
    assert m.wants_master
    assert m.next_deadline() == pytest.approx(now + skew_time(3, 100, 1.0))


# ---------------------------------------------------------------- an accepted advert clears the wish


@pytest.mark.parametrize(
    ("priority", "preempt", "clears"),
    [
        (200, True, True),  # higher: accepted
        (100, True, True),  # equal: accepted (>= local)
        (50, False, True),  # lower but nopreempt: accepted
        (50, True, False),  # lower with preempt: discarded, the wish stays
    ],
)
def test_vrrp_state_backup_an_accepted_advert_clears_wants_master_and_re_arms(
    priority: int, preempt: bool, clears: bool
) -> None:
    """keepalived vrrp_state_backup: in the accept branch "We might have been held in backup by a sync group
    ... Now we have received a backup, we want to be in BACKUP state": ``wantstate = VRRP_STATE_BACK``;
    the ignore branch (lower priority, preempt) leaves wantstate alone."""
    m = machine(priority=100, preempt_mode=preempt, sync_group=True)
    now = held(m) + 0.2
    src = HIGHER if priority >= 100 else LOWER
    assert rx(m, now, priority, src=src) == []
    assert m.wants_master is (not clears)
    assert m.state is State.BACKUP
    if clears:
        assert m.next_deadline() == pytest.approx(now + master_down_interval(3, 100, 1.0))


# ---------------------------------------------------------------- SyncGoMaster


def test_vrrp_sync_master_takes_a_backup_member_to_master_with_the_rfc_takeover_effects() -> None:
    """keepalived vrrp_sync_master -> vrrp_state_goto_master(isync) -> vrrp_state_master_tx: advert first,
    then addresses, announcements, notify (RFC 5798 §6.4.2 order)."""
    m = machine(priority=100, sync_group=True)
    now = held(m)
    effects = m.handle(SyncGoMaster("sync_group", "vrrp_sync_group G: VI_2 became master"), now)
    assert [type(e) for e in effects] == [SendAdvert, AddAddresses, SendGratuitousArp, Notify]
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "sync_group", "vrrp_sync_group G: VI_2 became master")
    assert m.state is State.MASTER
    assert not m.wants_master
    assert m.next_deadline() == pytest.approx(now + 1.0)


def test_vrrp_sync_master_also_moves_a_member_that_did_not_want_master() -> None:
    """keepalived vrrp_sync_master: every member with ``isync->state != VRRP_STATE_MAST`` goes, wanting or not."""
    m = machine(priority=100, sync_group=True)
    start(m, 0.0)
    effects = m.handle(SyncGoMaster(), 0.5)
    assert m.state is State.MASTER
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "sync_group")


@pytest.mark.parametrize(
    ("prepare", "state"),
    [
        (lambda m: None, State.INITIALIZE),
        (lambda m: (start(m, 0.0), m.handle(FaultChanged(True, "eth1 down"), 0.1)), State.FAULT),
        (lambda m: group_master(m), State.MASTER),
    ],
    ids=["initialize", "fault", "master"],
)
def test_sync_go_master_is_ignored_outside_backup(prepare: Callable[[VrrpMachine], object], state: State) -> None:
    """keepalived vrrp_sync_master skips masters; FAULT/INIT members are the tracker's business
    (a group with a member in FAULT is in FAULT: vrrp_sync_fault)."""
    m = machine(priority=100, sync_group=True)
    prepare(m)
    assert m.state is state
    assert m.handle(SyncGoMaster(), 10.0) == []
    assert m.state is state


# ---------------------------------------------------------------- SyncGoBackup


def test_vrrp_sync_backup_steps_a_master_down_without_priority_zero() -> None:
    """keepalived vrrp_sync_backup: ``isync->wantstate = VRRP_STATE_BACK; vrrp_state_leave_master(isync, false)``:
    advF false and wantstate BACK, so no priority-0 advert (that is sent only when leaving for FAULT);
    the VIPs go, notify BACKUP, Master_Down_Timer = 3 * Master_Adver_Interval + Skew_Time."""
    m = machine(priority=100, sync_group=True)
    now = group_master(m) + 2.5
    effects = m.handle(SyncGoBackup("sync_group", "VI_1 left master"), now)
    assert effects == [RemoveAddresses(), Notify(State.MASTER, State.BACKUP, "sync_group", "VI_1 left master")]
    assert not any(isinstance(e, SendAdvert) for e in effects)
    assert m.state is State.BACKUP
    assert m.next_deadline() == pytest.approx(now + master_down_interval(3, 100, 1.0))


@pytest.mark.parametrize("state", [State.INITIALIZE, State.BACKUP, State.FAULT])
def test_sync_go_backup_is_ignored_unless_master(state: State) -> None:
    """keepalived vrrp_sync_backup: ``if (isync == vrrp || isync->state == VRRP_STATE_BACK) continue``;
    FAULT members leave FAULT through their trackers in vipd."""
    m = machine(priority=100, sync_group=True)
    if state is not State.INITIALIZE:
        start(m, 0.0)
    if state is State.FAULT:
        m.handle(FaultChanged(True, "x"), 0.1)
    assert m.handle(SyncGoBackup(), 1.0) == []
    assert m.state is state


# ---------------------------------------------------------------- every other path leaves the wish cleared


@pytest.mark.parametrize(
    "event",
    [FaultChanged(True, "eth1 down")],
)
def test_leaving_backup_for_fault_clears_wants_master(event: FaultChanged) -> None:
    """keepalived vrrp_sync_fault sets ``isync->wantstate = VRRP_STATE_FAULT``: the wish does not survive FAULT."""
    m = machine(priority=100, sync_group=True)
    now = held(m)
    m.handle(event, now + TICK)
    assert m.state is State.FAULT
    assert not m.wants_master
    m.handle(FaultChanged(False), now + 1.0)
    assert m.state is State.BACKUP
    assert not m.wants_master


def test_a_held_member_that_becomes_the_owner_goes_master_at_once() -> None:
    """RFC 5798 §6.4.1 by analogy (as outside groups): priority 255 does not wait for the group."""
    from vipd.fsm import PriorityChanged

    m = machine(priority=100, sync_group=True)
    now = held(m)
    effects: list[Effect] = m.handle(PriorityChanged(255), now + TICK)
    assert m.state is State.MASTER
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "became_owner")


def test_a_master_member_steps_down_on_a_higher_priority_like_any_master() -> None:
    """RFC 5798 §6.4.3 unchanged for members (keepalived vrrp_state_master_rx); the group follows
    through the coordinator (VRRP_TSM MASTER->BACKUP: vrrp_sync_backup)."""
    m = machine(priority=100, sync_group=True)
    now = group_master(m)
    effects = rx(m, now + 0.5, 200)
    assert m.state is State.BACKUP
    assert effects[-1] == Notify(State.MASTER, State.BACKUP, "higher_priority_advert")


def test_a_master_member_keeps_advertising_on_its_timer() -> None:
    """keepalived vrrp_state_master_tx: a synced master is an ordinary master."""
    m = machine(priority=100, sync_group=True)
    now = group_master(m)
    t, effects = fire(m)
    assert t == pytest.approx(now + 1.0)
    assert effects == [SendAdvert(m.advert())]
    assert m.handle(TimerExpired(), t) == []
