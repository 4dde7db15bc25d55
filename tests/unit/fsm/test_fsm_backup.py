"""RFC 5798 §6.4.2 (RFC 9568 §6.4.2, RFC 3768 §6.4.2): the Backup state.

Each test names the RFC sentence it checks and moves time by hand.
"""

from __future__ import annotations

import pytest
from fsm_helpers import HIGHER, LOWER, TICK, fire, machine, rx, start

from vipd.fsm import (
    AddAddresses,
    Notify,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    Shutdown,
    State,
    TimerExpired,
)

# ---------------------------------------------------------------- Master_Down_Timer fires


def test_rfc5798_6_4_2_master_down_timer_fires_exactly_at_the_deadline_and_not_a_tick_before() -> None:
    """ "If the Master_Down_Timer fires, then: Send an ADVERTISEMENT; ... broadcast a gratuitous ARP ...;
    Set the Adver_Timer to Advertisement_Interval; Transition to the {Master} state"."""
    m = machine(priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    deadline = m.next_deadline()
    assert deadline == 3.609375

    now = deadline - TICK
    assert m.handle(TimerExpired(), now) == [], "a tick early: the timer has not fired"
    assert m.state is State.BACKUP
    assert m.next_deadline() == deadline, "an early call leaves the deadline where it was"

    now = deadline
    effects = m.handle(TimerExpired(), now)

    assert effects == [
        SendAdvert(m.advert()),
        AddAddresses(),
        SendGratuitousArp(5, "takeover"),
        Notify(State.BACKUP, State.MASTER, "master_down_timer"),
    ]
    assert m.state is State.MASTER
    assert m.next_deadline() == now + 1.0, "Set the Adver_Timer to Advertisement_Interval"


def test_rfc5798_6_4_2_late_timer_call_still_fires() -> None:
    m = machine()
    start(m, 0.0)
    effects = m.handle(TimerExpired(), 3.609375 + 0.25)
    assert Notify(State.BACKUP, State.MASTER, "master_down_timer") in effects


def test_rfc5798_6_4_2_new_master_advertises_its_own_interval_and_priority() -> None:
    m = machine(version=3, priority=120, interval=0.5)
    start(m, 0.0)
    _, effects = fire(m)
    sent = effects[0]
    assert isinstance(sent, SendAdvert)
    assert (sent.advert.priority, sent.advert.max_adver_int, sent.advert.vrid) == (120, 0.5, 51)


# ---------------------------------------------------------------- ADVERTISEMENT received, priority non-zero

ACCEPTED = [
    # (advert priority, sender address, why)
    (100, HIGHER, "equal priority"),
    (100, LOWER, "equal priority, lower address: the address only matters in Master"),
    (101, LOWER, "greater priority"),
    (255, HIGHER, "the owner"),
]


@pytest.mark.parametrize(("priority", "src", "why"), ACCEPTED, ids=[c[2] for c in ACCEPTED])
def test_rfc5798_6_4_2_backup_accepts_priority_greater_or_equal_and_resets_master_down_timer(
    priority: int, src: object, why: str
) -> None:
    """ "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater than or equal to the
    local Priority, then: ... Reset the Master_Down_Timer to Master_Down_Interval"."""
    m = machine(priority=100, interval=1.0)
    now = 0.0
    start(m, now)

    now += 2.0
    effects = rx(m, now, priority, src=src)

    assert effects == [], why
    assert m.state is State.BACKUP
    assert m.next_deadline() == now + 3.609375
    assert m.master_address == src


def test_rfc5798_6_4_2_each_accepted_advert_pushes_the_timer_out_so_a_live_master_is_never_declared_down() -> None:
    m = machine(priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    for _ in range(50):
        now += 1.0
        assert m.handle(TimerExpired(), now) == [], "the timer is never due while adverts keep coming"
        rx(m, now, 200)
        assert m.next_deadline() == now + 3.609375
    assert m.state is State.BACKUP


def test_rfc5798_6_4_2_advert_arriving_exactly_at_the_deadline_resets_the_timer_if_processed_first() -> None:
    """The runtime may see the advert and the timer at the same instant; whichever it feeds first wins."""
    m = machine()
    start(m, 0.0)
    deadline = m.next_deadline()
    assert deadline is not None

    rx(m, deadline, 200)

    assert m.handle(TimerExpired(), deadline) == []
    assert m.state is State.BACKUP
    assert m.next_deadline() == deadline + 3.609375


def test_rfc5798_6_4_2_v3_backup_learns_master_adver_interval_and_recomputes_skew_time_and_mdi() -> None:
    """ "Set Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT; Recompute the Skew_Time;
    Recompute the Master_Down_Interval; Reset the Master_Down_Timer to Master_Down_Interval" (RFC 9568)."""
    m = machine(version=3, priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    assert m.master_down_interval == 3.609375

    now += 1.0
    rx(m, now, 200, max_adver_int=0.1)

    assert m.master_adver_interval == 0.1
    assert m.skew_time == pytest.approx(0.0609375, abs=1e-15), "60.9 ms (failover-timing.md §2, v3 10 cs prio 100)"
    assert m.master_down_interval == pytest.approx(0.3609375, abs=1e-15), "360.9 ms"
    deadline = m.next_deadline()
    assert deadline == pytest.approx(now + 0.3609375, abs=1e-12)

    assert m.handle(TimerExpired(), deadline - TICK) == []
    effects = m.handle(TimerExpired(), deadline)
    assert Notify(State.BACKUP, State.MASTER, "master_down_timer") in effects
    sent = effects[0]
    assert isinstance(sent, SendAdvert)
    assert sent.advert.max_adver_int == 1.0, "a new master advertises its own configured interval, not the learned one"
    assert m.next_deadline() == deadline + 1.0


def test_rfc5798_6_4_2_v3_learned_interval_follows_the_master_when_it_changes_mid_run() -> None:
    m = machine(version=3, priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    for interval in (1.0, 0.5, 0.1, 2.0):
        now += 0.05
        rx(m, now, 200, max_adver_int=interval)
        assert m.master_adver_interval == interval
        assert m.next_deadline() == pytest.approx(now + 3 * interval + 156 * interval / 256)


def test_rfc3768_6_4_2_v2_skew_time_does_not_depend_on_the_interval() -> None:
    """RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds; at 2 s adverts, MDI = 6 s + 609.4 ms."""
    m = machine(version=2, priority=100, interval=2.0)
    now = 0.0
    start(m, now)
    assert m.skew_time == 156 / 256
    assert m.next_deadline() == 6.0 + 156 / 256

    now += 2.0
    rx(m, now, 200)
    assert m.next_deadline() == now + 6.0 + 156 / 256


# ---------------------------------------------------------------- priority zero


def test_rfc5798_6_4_2_backup_priority_zero_sets_master_down_timer_to_skew_time() -> None:
    """ "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer to Skew_Time"."""
    m = machine(priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    now += 1.0
    rx(m, now, 200)

    now += 0.5
    effects = rx(m, now, 0)

    assert effects == []
    assert m.next_deadline() == now + 156 / 256, "Skew_Time, not Master_Down_Interval"
    now, effects = fire(m)
    assert Notify(State.BACKUP, State.MASTER, "priority_zero_received") in effects


def test_rfc5798_6_4_2_v3_priority_zero_uses_skew_time_of_the_learned_interval() -> None:
    m = machine(version=3, priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    now += 0.1
    rx(m, now, 200, max_adver_int=0.1)

    now += 0.1
    rx(m, now, 0, max_adver_int=0.1)

    assert m.next_deadline() == pytest.approx(now + 0.0609375, abs=1e-12), "60.9 ms at 10 cs"


def test_failover_timing_5_backup_priority_zero_keeps_master_adver_interval() -> None:
    """The RFC does not say to learn the interval from a priority-0 advert; keepalived and FRR keep the old one."""
    m = machine(version=3, priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    rx(m, now, 200, max_adver_int=0.1)

    rx(m, now + 0.05, 0, max_adver_int=2.0)

    assert m.master_adver_interval == 0.1


def test_rfc5798_6_4_2_normal_advert_after_priority_zero_restores_master_down_interval() -> None:
    m = machine()
    now = 0.0
    start(m, now)
    rx(m, now, 0)
    now += 0.1
    rx(m, now, 200)
    assert m.next_deadline() == now + 3.609375
    _, effects = fire(m)
    assert Notify(State.BACKUP, State.MASTER, "master_down_timer") in effects


# ---------------------------------------------------------------- preemption


def test_rfc5798_6_4_2_preempting_backup_discards_lower_priority_and_becomes_master_when_the_timer_runs_out() -> None:
    """ "else // preempt was true and priority was less than the local priority: Discard the ADVERTISEMENT"."""
    m = machine(priority=200, interval=1.0, preempt_mode=True)
    now = 0.0
    start(m, now)
    deadline = m.next_deadline()
    assert deadline == 3.21875

    for _ in range(3):
        now += 1.0
        assert rx(m, now, 100) == []
        assert m.next_deadline() == deadline, "a discarded advert does not touch the Master_Down_Timer"
        assert m.state is State.BACKUP

    assert m.handle(TimerExpired(), deadline - TICK) == []
    effects = m.handle(TimerExpired(), deadline)
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "preempt")
    assert m.state is State.MASTER


def test_rfc5798_6_4_2_nopreempt_backup_accepts_lower_priority_and_resets_master_down_timer() -> None:
    """ "If Preempt_Mode is False, or ...": with keepalived's nopreempt a lower-priority master is left alone."""
    m = machine(priority=200, interval=1.0, preempt_mode=False)
    now = 0.0
    start(m, now)
    for _ in range(20):
        now += 1.0
        assert rx(m, now, 100, src=LOWER) == []
        assert m.next_deadline() == now + 3.21875
    assert m.state is State.BACKUP
    assert m.master_address == LOWER


def test_rfc5798_6_4_2_nopreempt_v3_backup_learns_the_interval_of_a_lower_priority_master() -> None:
    m = machine(version=3, priority=200, interval=1.0, preempt_mode=False)
    start(m, 0.0)
    rx(m, 0.5, 100, max_adver_int=0.1)
    assert m.master_adver_interval == 0.1


def test_rfc5798_6_4_2_discarded_lower_advert_does_not_learn_the_interval() -> None:
    m = machine(version=3, priority=200, interval=1.0)
    start(m, 0.0)
    rx(m, 0.5, 100, max_adver_int=0.1)
    assert m.master_adver_interval == 1.0


# ---------------------------------------------------------------- shutdown


def test_rfc5798_6_4_2_shutdown_in_backup_cancels_master_down_timer_and_transitions_to_initialize() -> None:
    """ "If a Shutdown event is received, then: Cancel the Master_Down_Timer; Transition to the {Initialize} state"."""
    m = machine()
    now = 0.0
    start(m, now)
    now += 1.0

    effects = m.handle(Shutdown(), now)

    assert effects == [RemoveAddresses(), Notify(State.BACKUP, State.INITIALIZE, "shutdown")]
    assert not any(isinstance(e, SendAdvert) for e in effects), "only a master says priority 0"
    assert m.state is State.INITIALIZE
    assert m.next_deadline() is None
    assert m.handle(TimerExpired(), 10.0) == []


def test_rfc5798_6_4_2_shutdown_then_startup_starts_a_fresh_master_down_interval() -> None:
    m = machine(version=3, interval=1.0)
    start(m, 0.0)
    rx(m, 0.5, 200, max_adver_int=0.1)
    m.handle(Shutdown(), 1.0)

    start(m, 10.0)

    assert m.master_adver_interval == 1.0, "Initialize: Set Master_Adver_Interval to Advertisement_Interval"
    assert m.next_deadline() == 10.0 + 3.609375
