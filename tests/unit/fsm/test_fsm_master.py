"""RFC 5798 §6.4.3 (RFC 9568 §6.4.3, RFC 3768 §6.4.3): the Master state.

RFC 9568 calls it Active; vipd says master. Time is moved by hand.
"""

from __future__ import annotations

import itertools
import math
from ipaddress import IPv4Address

import pytest
from fsm_helpers import HIGHER, LOWER, TICK, fire, machine, rx, start, to_master

from vipd.fsm import (
    LowerPriorityHeard,
    Notify,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    Shutdown,
    State,
    TimerExpired,
)
from vipd.wire.advert import IPAddress

# ---------------------------------------------------------------- Adver_Timer


def test_rfc5798_6_4_3_adver_timer_fires_sends_advert_and_resets_adver_timer() -> None:
    """ "If the Adver_Timer fires, then: Send an ADVERTISEMENT; Reset the Adver_Timer to Advertisement_Interval"."""
    m = machine(priority=255, interval=1.0, garp_master_delay=0)
    now = 0.0
    start(m, now)

    assert m.handle(TimerExpired(), 1.0 - TICK) == [], "not a tick before"
    now = 1.0
    assert m.handle(TimerExpired(), now) == [SendAdvert(m.advert())]
    assert m.next_deadline() == 2.0


def test_rfc5798_6_4_3_adver_timer_is_rearmed_from_the_deadline_so_lateness_does_not_drift() -> None:
    """The runtime wakes a little late every time; the adverts stay on the 1 s grid (no cumulative drift)."""
    m = machine(priority=255, interval=1.0, garp_master_delay=0)
    start(m, 0.0)
    sent_at = []
    for k in range(1, 101):
        late = 0.003 if k % 2 else 0.0007
        now = float(k) + late
        effects = m.handle(TimerExpired(), now)
        assert effects == [SendAdvert(m.advert())]
        sent_at.append(now)
        assert m.next_deadline() == pytest.approx(k + 1.0, abs=1e-9), "next deadline = previous deadline + interval"
    assert max(t - k for k, t in enumerate(sent_at, 1)) <= 0.003 + 1e-9, "lateness never accumulates"


def test_rfc5798_6_4_3_align_moves_masters_onto_one_phase_by_at_most_align_per_advert() -> None:
    """RFC 5798 §6.4.3 fixes the Adver_Timer's interval, not its phase: with ``TimerExpired.align`` two
    masters that started at different times reach the same deadlines (bit for bit, so one wake-up of
    the runtime serves both), every gap staying within ``align`` of the interval."""
    ai, align = 0.1, 0.002
    ms = [machine(priority=255, interval=ai, garp_master_delay=0) for _ in range(2)]
    start(ms[0], 3.0137)
    start(ms[1], 3.0581)
    deadlines: list[list[float]] = [[], []]
    for m, seen in zip(ms, deadlines, strict=True):
        for _ in range(40):
            d = m.next_deadline()
            assert d is not None
            assert m.handle(TimerExpired(align), d) == [SendAdvert(m.advert())]
            seen.append(d)
        gaps = [b - a for a, b in itertools.pairwise(seen)]
        assert all(abs(g - ai) <= align + 1e-9 for g in gaps)
    assert all(abs(math.remainder(seen[-1], ai)) < 1e-9 for seen in deadlines)
    # the first one, one advert further on, is due at the very same float as the second
    assert ms[0].next_deadline() == deadlines[1][-1], "the same multiple of the interval, the same float"
    # once aligned, exactly one interval apart, however late the wake-up
    d = ms[0].next_deadline()
    assert d is not None
    ms[0].handle(TimerExpired(align), d + 0.001)
    nxt = ms[0].next_deadline()
    assert nxt is not None and abs(nxt - (d + ai)) < 1e-12


def test_rfc5798_6_4_3_without_align_a_master_keeps_its_own_phase() -> None:
    m = machine(priority=255, interval=0.1, garp_master_delay=0)
    start(m, 3.0137)
    d0 = m.next_deadline()
    assert d0 is not None
    for _k in range(1, 30):
        d = m.next_deadline()
        assert d is not None
        m.handle(TimerExpired(), d)
    assert m.next_deadline() == pytest.approx(d0 + 29 * 0.1, abs=1e-9)


def test_rfc5798_6_4_3_adver_timer_more_than_an_interval_late_resumes_one_interval_from_now() -> None:
    """After a stall (e.g. a suspended VM) send once, then one interval later: no burst of catch-up adverts."""
    m = machine(priority=255, interval=1.0, garp_master_delay=0)
    start(m, 0.0)
    now = 5.5
    assert m.handle(TimerExpired(), now) == [SendAdvert(m.advert())]
    assert m.next_deadline() == now + 1.0


def test_rfc5798_6_4_3_v3_master_sends_at_its_configured_interval() -> None:
    m = machine(version=3, priority=255, interval=0.1, garp_master_delay=0)
    now = 0.0
    start(m, now)
    times = []
    for _ in range(10):
        now, effects = fire(m)
        assert effects == [SendAdvert(m.advert())]
        times.append(now)
    assert times == pytest.approx([0.1 * k for k in range(1, 11)])


# ---------------------------------------------------------------- ADVERTISEMENT received


def test_rfc5798_6_4_3_master_priority_zero_sends_advert_and_resets_adver_timer() -> None:
    """ "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT;
    Reset the Adver_Timer to Advertisement_Interval"."""
    m = machine(priority=100, interval=1.0, garp_master_delay=0)
    now = to_master(m)
    now += 0.4

    effects = rx(m, now, 0, src=LOWER)

    assert effects == [SendAdvert(m.advert())]
    assert m.state is State.MASTER
    assert m.next_deadline() == now + 1.0


YIELDS = [
    # (advert priority, sender, reason)
    (101, LOWER, "higher_priority_advert"),
    (255, LOWER, "higher_priority_advert"),
    (100, HIGHER, "equal_priority_higher_address"),
]


@pytest.mark.parametrize(("priority", "src", "reason"), YIELDS, ids=["101-lower-addr", "owner", "100-higher-addr"])
def test_rfc5798_6_4_3_master_steps_down_on_higher_priority_or_equal_priority_with_higher_address(
    priority: int, src: IPAddress, reason: str
) -> None:
    """ "If the Priority in the ADVERTISEMENT is greater than the local Priority, or ... equal to the local Priority
    and the primary IPvX Address of the sender is greater than the local primary IPvX Address, then:
    Cancel Adver_Timer; ... Set Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state"."""
    m = machine(priority=100, interval=1.0)
    now = to_master(m)
    adver_due = m.next_deadline()
    now += 0.3

    effects = rx(m, now, priority, src=src)

    # keepalived higher_prio_send_advert: one last advert with our priority, so the winner
    # hears a lower priority and announces again (DESIGN.md, split-brain heal).
    assert effects == [SendAdvert(m.advert(100)), RemoveAddresses(), Notify(State.MASTER, State.BACKUP, reason)]
    assert m.state is State.BACKUP
    assert m.master_address == src
    assert m.next_deadline() == now + 3.609375, "Master_Down_Timer = Master_Down_Interval"
    assert adver_due is not None
    assert m.handle(TimerExpired(), adver_due) == [], "the Adver_Timer was cancelled"


def test_rfc5798_6_4_3_v3_master_stepping_down_learns_the_new_master_interval() -> None:
    """ "Set Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT; Recompute the Skew_Time;
    Recompute the Master_Down_Interval"."""
    m = machine(version=3, priority=100, interval=1.0)
    now = to_master(m)

    rx(m, now, 200, max_adver_int=0.1)

    assert m.master_adver_interval == 0.1
    assert m.next_deadline() == pytest.approx(now + 0.3609375, abs=1e-12)


STAYS = [
    # (advert priority, sender, why)
    (99, HIGHER, "lower priority, even from a higher address"),
    (1, HIGHER, "lowest priority"),
    (100, LOWER, "equal priority, lower address"),
]


@pytest.mark.parametrize(("priority", "src", "why"), STAYS, ids=["99", "1", "100-lower-addr"])
def test_rfc9568_6_4_3_master_discards_lower_and_sends_an_advertisement_immediately(
    priority: int, src: IPAddress, why: str
) -> None:
    """RFC 9568: "else // new Active Router logic: Discard the ADVERTISEMENT; Send an ADVERTISEMENT immediately to
    assert the {Active} state to the sending VRRP Router and to update any learning bridges"."""
    m = machine(priority=100, interval=1.0)
    now = to_master(m)
    now += 0.25

    effects = rx(m, now, priority, src=src)

    assert effects == [
        SendAdvert(m.advert()),
        SendGratuitousArp(5, "lower_priority_seen"),
        LowerPriorityHeard(src, priority),
    ], why
    assert m.state is State.MASTER
    assert m.next_deadline() == now + 1.0, "the answer counts as this interval's advert"


def test_design_lower_priority_gratuitous_arp_answer_is_rate_limited_to_one_burst_per_second() -> None:
    """DESIGN.md: a master that wins a conflict announces again at once, but a chatty peer cannot make it flood."""
    m = machine(version=3, priority=200, interval=0.1, garp_master_delay=0)
    now = to_master(m)

    now += 0.01
    first = rx(m, now, 100, src=LOWER)
    assert SendGratuitousArp(5, "lower_priority_seen") in first
    t_first = now

    answers = []
    while now < t_first + 1.0 - 0.05:
        now += 0.05
        effects = rx(m, now, 100, src=LOWER)
        assert effects[0] == SendAdvert(m.advert()), "every lower advert is still answered with an advert"
        answers.append(effects)
    assert all(len(e) == 1 for e in answers), "no second GARP burst within the second"

    now = t_first + 1.0
    assert SendGratuitousArp(5, "lower_priority_seen") in rx(m, now, 100, src=LOWER)


def test_design_lower_priority_garp_window_is_one_interval_when_the_interval_exceeds_a_second() -> None:
    m = machine(version=3, priority=200, interval=3.0, garp_master_delay=0)
    now = to_master(m)
    assert len(rx(m, now, 100, src=LOWER)) == 3  # advert, GARP burst, LowerPriorityHeard
    assert len(rx(m, now + 2.0, 100, src=LOWER)) == 1
    assert len(rx(m, now + 3.0, 100, src=LOWER)) == 3


def test_rfc5798_6_4_3_primary_addresses_compare_as_unsigned_integers_in_network_order() -> None:
    """128.0.0.1 > 127.255.255.255 unsigned; a signed first-octet compare would say the opposite."""
    m = machine(priority=100, primary_address=IPv4Address("127.255.255.255"))
    now = to_master(m)
    rx(m, now, 100, src=IPv4Address("128.0.0.1"))
    assert m.state is State.BACKUP

    m = machine(priority=100, primary_address=IPv4Address("128.0.0.1"))
    now = to_master(m)
    rx(m, now, 100, src=IPv4Address("127.255.255.255"))
    assert m.state is State.MASTER


# ---------------------------------------------------------------- shutdown


def test_rfc5798_6_4_3_shutdown_cancels_adver_timer_sends_priority_zero_then_removes_addresses() -> None:
    """ "If a Shutdown event is received, then: Cancel the Adver_Timer; Send an ADVERTISEMENT with Priority = 0;
    Transition to the {Initialize} state"."""
    m = machine(priority=100, interval=1.0)
    now = to_master(m)
    now += 0.5

    effects = m.handle(Shutdown(), now)

    assert effects == [
        SendAdvert(m.advert(priority=0)),
        RemoveAddresses(),
        Notify(State.MASTER, State.INITIALIZE, "shutdown"),
    ]
    sent = effects[0]
    assert isinstance(sent, SendAdvert)
    assert sent.advert.priority == 0
    assert sent.advert.addresses == m.params.addresses
    assert m.state is State.INITIALIZE
    assert m.next_deadline() is None, "the Adver_Timer and the GARP timers are cancelled"


def test_rfc5798_6_4_3_owner_shutdown_also_sends_priority_zero() -> None:
    m = machine(priority=255)
    start(m, 0.0)
    effects = m.handle(Shutdown(), 0.5)
    assert effects[0] == SendAdvert(m.advert(priority=0))


def test_shutdown_twice_does_nothing_the_second_time() -> None:
    m = machine(priority=255)
    start(m, 0.0)
    m.handle(Shutdown(), 0.5)
    assert m.handle(Shutdown(), 0.6) == []
