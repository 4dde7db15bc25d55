"""What vipd takes from keepalived on top of the RFC: GARP repeats, preempt_delay, FAULT, tracked priority.

None of this is in RFC 3768/5798; each test names the keepalived keyword or
behaviour (keepalived.conf(5)) it mirrors, and DESIGN.md where vipd says so.
"""

from __future__ import annotations

import pytest
from fsm_helpers import HIGHER, LOWER, TICK, fire, machine, rx, start, to_master

from vipd.fsm import (
    AddAddresses,
    Effect,
    FaultChanged,
    LowerPriorityHeard,
    Notify,
    PriorityChanged,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    Shutdown,
    State,
    TimerExpired,
    VrrpMachine,
)


def run_until(m: VrrpMachine, end: float) -> list[tuple[float, Effect]]:
    """Fire every deadline up to ``end`` exactly when due; return the (time, effect) pairs."""
    out: list[tuple[float, Effect]] = []
    while (due := m.next_deadline()) is not None and due <= end:
        out.extend((due, e) for e in m.handle(TimerExpired(), due))
    return out


def garps(log: list[tuple[float, Effect]]) -> list[tuple[float, SendGratuitousArp]]:
    return [(t, e) for t, e in log if isinstance(e, SendGratuitousArp)]


# ---------------------------------------------------------------- gratuitous ARP


def test_keepalived_garp_master_delay_sends_a_second_burst_five_seconds_after_takeover() -> None:
    """DESIGN.md: "send garp_master_repeat (5) GARPs at once, and the same again after garp_master_delay (5 s)"."""
    m = machine(priority=100, interval=1.0)
    start(m, 0.0)
    t0, takeover = fire(m)
    assert SendGratuitousArp(5, "takeover") in takeover

    log = run_until(m, t0 + 30.0)

    assert [(round(t - t0, 9), e) for t, e in garps(log)] == [(5.0, SendGratuitousArp(5, "delayed"))]
    adverts = [t for t, e in log if isinstance(e, SendAdvert)]
    assert len(adverts) == 30, "the delayed burst rides alongside the adverts, it does not replace one"


def test_keepalived_garp_master_delay_zero_means_no_second_burst() -> None:
    m = machine(garp_master_delay=0)
    t0 = to_master(m)
    assert garps(run_until(m, t0 + 30.0)) == []


def test_keepalived_garp_master_delay_is_cancelled_when_leaving_master() -> None:
    m = machine(priority=100)
    t0 = to_master(m)
    rx(m, t0 + 1.0, 200)
    assert m.state is State.BACKUP
    assert m.next_deadline() == t0 + 1.0 + 3.609375, "only the Master_Down_Timer is left"


def test_keepalived_garp_master_refresh_reannounces_periodically_with_refresh_repeat() -> None:
    m = machine(garp_master_delay=0, garp_master_refresh=10.0, garp_master_refresh_repeat=2)
    t0 = to_master(m)

    log = run_until(m, t0 + 35.0)

    got = [(round(t - t0, 6), e) for t, e in garps(log)]
    assert got == [
        (10.0, SendGratuitousArp(2, "refresh")),
        (20.0, SendGratuitousArp(2, "refresh")),
        (30.0, SendGratuitousArp(2, "refresh")),
    ]


def test_keepalived_garp_master_refresh_and_delay_together() -> None:
    m = machine(garp_master_delay=5.0, garp_master_refresh=3.0)
    t0 = to_master(m)
    got = [(round(t - t0, 6), e.reason) for t, e in garps(run_until(m, t0 + 10.0))]
    assert got == [(3.0, "refresh"), (5.0, "delayed"), (6.0, "refresh"), (9.0, "refresh")]


# ---------------------------------------------------------------- preempt_delay


def test_keepalived_preempt_delay_tolerates_a_lower_priority_master_for_that_long_then_preempts() -> None:
    """keepalived.conf(5) ``preempt_delay``: the delay starts at the first lower-priority advert; after it the
    adverts are discarded and the usual Master_Down_Interval runs out (RFC 5798 §6.4.2 "Discard")."""
    m = machine(priority=200, interval=1.0, preempt_delay=10.0)
    now = 0.0
    start(m, now)
    for k in range(12):  # the lower master's adverts at 0.5, 1.5, ..., 11.5
        now = 0.5 + k
        assert m.handle(TimerExpired(), now) == [], "no takeover while the lower master is tolerated"
        rx(m, now, 100, src=LOWER)

    # Accepted until 10.5 (exclusive); last accepted at 9.5; then 3 s + 56/256 s of silence from our point of view.
    assert m.state is State.BACKUP
    deadline = m.next_deadline()
    assert deadline == 9.5 + 3.21875
    assert m.handle(TimerExpired(), deadline - TICK) == []
    effects = m.handle(TimerExpired(), deadline)
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "preempt")


def test_keepalived_preempt_delay_stops_when_a_higher_or_equal_master_is_heard() -> None:
    """keepalived logs "stop preempt delay" and starts it again from the next lower-priority advert."""
    m = machine(priority=200, interval=1.0, preempt_delay=10.0)
    start(m, 0.0)
    rx(m, 0.5, 100, src=LOWER)  # delay starts: until 10.5
    rx(m, 5.0, 200, src=HIGHER)  # equal priority: delay stops
    rx(m, 6.0, 100, src=LOWER)  # delay starts again: until 16.0
    rx(m, 12.0, 100, src=LOWER)
    assert m.next_deadline() == 12.0 + 3.21875, "still inside the restarted delay: accepted"


def test_keepalived_preempt_delay_starts_again_after_a_restart() -> None:
    """Regression: keepalived clears preempt_time on every entry into BACKUP; so must we."""
    m = machine(priority=200, interval=1.0, preempt_delay=10.0)
    start(m, 0.0)
    rx(m, 0.5, 100, src=LOWER)
    m.handle(Shutdown(), 5.0)

    start(m, 100.0)
    rx(m, 100.5, 100, src=LOWER)

    assert m.next_deadline() == 100.5 + 3.21875, "the lower master is tolerated for a fresh preempt_delay"


def test_keepalived_preempt_delay_starts_again_after_a_fault() -> None:
    m = machine(priority=200, interval=1.0, preempt_delay=10.0)
    start(m, 0.0)
    rx(m, 0.5, 100, src=LOWER)
    m.handle(FaultChanged(True, "eth0 down"), 1.0)
    m.handle(FaultChanged(False), 50.0)

    rx(m, 50.5, 100, src=LOWER)

    assert m.next_deadline() == 50.5 + 3.21875


def test_keepalived_preempt_delay_plays_no_part_with_nopreempt() -> None:
    m = machine(priority=200, preempt_mode=False, preempt_delay=10.0)
    start(m, 0.0)
    for k in range(30):
        rx(m, 0.5 + k, 100, src=LOWER)
    assert m.next_deadline() == 29.5 + 3.21875


# ---------------------------------------------------------------- FAULT


def test_keepalived_fault_in_master_sends_priority_zero_then_removes_addresses() -> None:
    """A master entering FAULT leaves like a shutdown: priority 0 so the backup takes over after Skew_Time."""
    m = machine(priority=100)
    now = to_master(m)

    effects = m.handle(FaultChanged(True, "eth0 down"), now + 0.2)

    assert effects == [
        SendAdvert(m.advert(priority=0)),
        RemoveAddresses(),
        Notify(State.MASTER, State.FAULT, "fault", "eth0 down"),
    ]
    assert m.state is State.FAULT
    assert m.next_deadline() is None


def test_keepalived_fault_in_backup_stops_the_master_down_timer_and_says_nothing() -> None:
    m = machine()
    start(m, 0.0)
    effects = m.handle(FaultChanged(True, "track_script chk down"), 1.0)
    assert effects == [RemoveAddresses(), Notify(State.BACKUP, State.FAULT, "fault", "track_script chk down")]
    assert m.next_deadline() is None
    assert m.handle(TimerExpired(), 100.0) == [], "FAULT never becomes master by timer"


def test_keepalived_fault_ignores_adverts() -> None:
    m = machine()
    start(m, 0.0)
    m.handle(FaultChanged(True), 1.0)
    assert rx(m, 2.0, 0) == []
    assert rx(m, 2.0, 200) == []
    assert m.state is State.FAULT


def test_keepalived_leaving_fault_starts_as_from_initialize() -> None:
    """Back to Backup with Master_Adver_Interval = our Advertisement_Interval (RFC 5798 §6.4.1)."""
    m = machine(version=3, interval=1.0)
    start(m, 0.0)
    rx(m, 0.5, 200, max_adver_int=0.1)
    m.handle(FaultChanged(True), 1.0)

    effects = m.handle(FaultChanged(False), 20.0)

    assert effects == [RemoveAddresses(), Notify(State.FAULT, State.BACKUP, "fault_cleared")]
    assert m.master_adver_interval == 1.0
    assert m.next_deadline() == 20.0 + 3.609375


def test_keepalived_owner_leaving_fault_becomes_master_at_once() -> None:
    m = machine(priority=255)
    start(m, 0.0)
    m.handle(FaultChanged(True), 1.0)
    effects = m.handle(FaultChanged(False), 2.0)
    assert [type(e) for e in effects] == [SendAdvert, AddAddresses, SendGratuitousArp, Notify]
    assert m.state is State.MASTER


def test_keepalived_fault_before_startup_starts_in_fault() -> None:
    m = machine()
    assert m.handle(FaultChanged(True, "eth0 down"), 0.0) == []
    effects = start(m, 0.0)
    assert m.state is State.FAULT
    assert effects[-1] == Notify(State.INITIALIZE, State.FAULT, "fault", "fault at startup")
    assert SendAdvert not in [type(e) for e in effects]


def test_keepalived_repeated_fault_reports_are_idempotent() -> None:
    m = machine()
    start(m, 0.0)
    assert m.handle(FaultChanged(False), 0.5) == []
    m.handle(FaultChanged(True), 1.0)
    assert m.handle(FaultChanged(True, "again"), 1.5) == []


def test_keepalived_shutdown_from_fault_goes_to_initialize_without_an_advert() -> None:
    m = machine()
    start(m, 0.0)
    m.handle(FaultChanged(True), 1.0)
    assert m.handle(Shutdown(), 2.0) == [RemoveAddresses(), Notify(State.FAULT, State.INITIALIZE, "shutdown")]


# ---------------------------------------------------------------- tracked priority


def test_keepalived_priority_change_in_master_shows_in_the_next_advert() -> None:
    m = machine(priority=150, garp_master_delay=0)
    now = to_master(m)
    assert m.handle(PriorityChanged(90), now + 0.5) == []
    _, effects = fire(m)
    sent = effects[0]
    assert isinstance(sent, SendAdvert)
    assert sent.advert.priority == 90


def test_keepalived_priority_change_in_backup_changes_what_counts_as_lower() -> None:
    """RFC 5798 §6.4.2 compares with "the local Priority": the effective one, after trackers."""
    m = machine(priority=200)
    start(m, 0.0)
    deadline = m.next_deadline()
    rx(m, 0.5, 150)
    assert m.next_deadline() == deadline, "150 < 200: discarded"

    m.handle(PriorityChanged(140), 1.0)
    rx(m, 1.5, 150)

    assert m.next_deadline() == 1.5 + 3 + 116 / 256, "150 >= 140: accepted; Skew_Time from the new priority"


def test_keepalived_backup_raised_to_owner_priority_takes_over_at_once() -> None:
    m = machine(priority=100)
    start(m, 0.0)
    effects = m.handle(PriorityChanged(255), 1.0)
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "became_owner")
    assert effects[0] == SendAdvert(m.advert())


@pytest.mark.parametrize("priority", [0, 256, -1])
def test_priority_changed_outside_1_to_255_is_refused(priority: int) -> None:
    m = machine()
    with pytest.raises(ValueError, match=r"1\.\.255"):
        m.handle(PriorityChanged(priority), 0.0)


def test_unknown_event_is_a_type_error() -> None:
    m = machine()
    with pytest.raises(TypeError):
        m.handle("startup", 0.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- garp_lower_prio_* / notify_master_rx_lower_pri


def test_keepalived_garp_lower_prio_repeat_and_delay_give_two_bursts() -> None:
    """keepalived vrrp_state_master_rx: ``garp_lower_prio_repeat`` GARPs at once, the same again after
    ``garp_lower_prio_delay`` (vrrp_lower_prio_gratuitous_arp_thread); the event is reported once."""
    m = machine(priority=200, interval=1.0, garp_master_delay=0, garp_lower_prio_repeat=3, garp_lower_prio_delay=2.5)
    now = to_master(m) + 0.2
    effects = rx(m, now, 100, src=LOWER)
    assert effects[1:] == [SendGratuitousArp(3, "lower_priority_seen"), LowerPriorityHeard(LOWER, 100)]
    seen = []
    while (t := m.next_deadline()) is not None and t <= now + 2.5:
        _, out = fire(m)
        seen += [(round(t - now, 9), e) for e in out if isinstance(e, SendGratuitousArp)]
    assert seen == [(2.5, SendGratuitousArp(3, "lower_priority_delayed"))]


def test_keepalived_garp_lower_prio_repeat_zero_sends_no_garp_but_still_reports_the_event() -> None:
    """keepalived: ``if (vrrp->garp_lower_prio_rep)`` guards the GARPs only; send_event_notify runs regardless."""
    m = machine(priority=200, garp_master_delay=0, garp_lower_prio_repeat=0)
    now = to_master(m)
    effects = rx(m, now + 0.1, 100, src=LOWER)
    assert effects == [SendAdvert(m.advert()), LowerPriorityHeard(LOWER, 100)]


def test_keepalived_garp_lower_prio_second_burst_is_cancelled_by_a_step_down() -> None:
    """A router that left Master announces nothing (RFC 5798 §6.4.2 MUST NOT answer for the VIPs)."""
    m = machine(priority=200, garp_master_delay=0, garp_lower_prio_repeat=2, garp_lower_prio_delay=1.5)
    now = to_master(m)
    rx(m, now + 0.1, 100, src=LOWER)
    rx(m, now + 0.2, 250, src=HIGHER)
    assert m.state is State.BACKUP
    assert m.next_deadline() == pytest.approx(now + 0.2 + m.master_down_interval), "only the Master_Down_Timer runs"
    _, out = fire(m)
    assert not [e for e in out if isinstance(e, SendGratuitousArp) and e.reason == "lower_priority_delayed"]
