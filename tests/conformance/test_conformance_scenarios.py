"""Multi-router scenarios on a simulated wire: pure machines, simulated time, no sockets, no sleeps.

Bounds come from the protocol formulas (failover-timing.md §2, §6, §7), never
from measured numbers: with one-way delay ``d``, a crash is detected in
``(2*AI + Skew_Time + d, 3*AI + Skew_Time + d]`` and a graceful handover takes
``Skew_Time + d``.
"""

from __future__ import annotations

import itertools

import pytest
from vrrp_sim import Sim, Wire, router_params

from vipd.fsm import SendGratuitousArp, State, master_down_interval, skew_time

EPS = 1e-9
D = 0.001  # one-way delay, seconds


def two_routers(*, interval: float = 1.0, version: int = 3, delay: float = D, loss: float = 0.0, seed: int = 0) -> Sim:
    """A (192.0.2.1, priority 200) and B (192.0.2.2, priority 100) on one wire."""
    sim = Sim(Wire(delay=delay, loss=loss, seed=seed))
    sim.add("A", router_params("192.0.2.1", 200, interval=interval, version=version))
    sim.add("B", router_params("192.0.2.2", 100, interval=interval, version=version))
    return sim


def master_since(sim: Sim, name: str, after: float = 0.0) -> float:
    """Time of the first transition of ``name`` into MASTER at or after ``after``."""
    for tr in sim.routers[name].transitions:
        if tr.t >= after and tr.new is State.MASTER:
            return tr.t
    raise AssertionError(f"{name} never became master after {after}: {sim.routers[name].transitions}")


# ---------------------------------------------------------------- election


@pytest.mark.parametrize("b_starts_first_by", [0.0, 2.0, 10.0])
def test_two_routers_elect_the_higher_priority_within_master_down_interval(b_starts_first_by: float) -> None:
    """RFC 5798 §6.4.1/§6.4.2: everyone starts in Backup; the higher priority times out first, or preempts
    a lower master after a full Master_Down_Interval (failover-timing.md §4: preemption is not instant)."""
    sim = two_routers()
    sim.start("B", 0.0)
    t_a = b_starts_first_by
    sim.start("A", t_a)
    sim.run(30.0)

    mdi_a = master_down_interval(3, 200, 1.0)
    became = master_since(sim, "A")
    assert became <= t_a + mdi_a + EPS, "A is master within its Master_Down_Interval"
    assert sim.masters_at(t_a + mdi_a + D + EPS) == ["A"]
    assert sim.masters_at(30.0) == ["A"]
    for a, b, _ in sim.multi_master_windows():
        assert b - a <= D + EPS, "the lower master steps down as soon as A's first advert arrives"
    if b_starts_first_by >= master_down_interval(3, 100, 1.0):
        assert sim.routers["A"].transitions[-1].reason == "preempt"


def test_two_routers_started_together_never_have_two_masters() -> None:
    sim = two_routers()
    sim.start_all(0.0)
    sim.run(60.0)
    assert master_since(sim, "A") == master_down_interval(3, 200, 1.0)
    assert [tr.new for tr in sim.routers["B"].transitions] == [State.BACKUP]
    assert sim.multi_master_windows() == []


# ---------------------------------------------------------------- crash


@pytest.mark.parametrize("interval", [1.0, 0.1])
@pytest.mark.parametrize("phase", [0.001, 0.25, 0.5, 0.75, 0.999])
def test_master_crash_backup_takes_over_within_2ai_plus_skew_and_3ai_plus_skew(interval: float, phase: float) -> None:
    """failover-timing.md §6: detect = MDI - (t_crash - t_last) + d, in (2*AI + Skew + d, 3*AI + Skew + d]."""
    sim = two_routers(interval=interval)
    sim.start_all(0.0)
    sim.run(20 * interval)
    t_last = sim.routers["A"].sent[-1][0]
    t_crash = t_last + phase * interval
    sim.crash("A", t_crash)
    sim.run(t_crash + 10 * interval)

    detect = master_since(sim, "B", after=t_crash) - t_crash
    skew_b = skew_time(3, 100, interval)
    assert 2 * interval + skew_b + D < detect <= 3 * interval + skew_b + D + EPS
    assert detect == pytest.approx(3 * interval + skew_b + D - phase * interval, abs=1e-9)
    assert sim.routers["B"].transitions[-1].reason == "master_down_timer"


def test_master_crash_is_a_crash_not_a_shutdown_so_no_priority_zero_is_sent() -> None:
    sim = two_routers()
    sim.start_all(0.0)
    sim.crash("A", 10.5)
    sim.run(20.0)
    assert all(adv.priority == 200 for _, adv in sim.routers["A"].sent)


# ---------------------------------------------------------------- graceful shutdown


@pytest.mark.parametrize("interval", [1.0, 0.1, 0.01])
def test_graceful_shutdown_hands_over_within_skew_time_plus_delay(interval: float) -> None:
    """RFC 5798 §6.4.3 Shutdown sends priority 0; §6.4.2 a backup then waits Skew_Time, not Master_Down_Interval."""
    sim = two_routers(interval=interval)
    sim.start_all(0.0)
    t_stop = 20 * interval + 0.37 * interval
    sim.shutdown("A", t_stop)
    sim.run(t_stop + 10 * interval)

    took = master_since(sim, "B") - t_stop
    skew_b = skew_time(3, 100, interval)
    assert took <= skew_b + D + EPS
    assert took == pytest.approx(skew_b + D, abs=1e-9)
    assert sim.routers["B"].transitions[-1].reason == "priority_zero_received"
    assert sim.routers["A"].sent[-1][1].priority == 0
    assert sim.multi_master_windows() == [], "A leaves before B arrives: a gap of Skew_Time + d, never an overlap"


# ---------------------------------------------------------------- three routers


@pytest.mark.parametrize("interval", [1.0, 0.1])
@pytest.mark.parametrize("phase", [0.1, 0.5, 0.9])
def test_three_routers_the_150_takes_over_after_the_200_dies_never_the_100(interval: float, phase: float) -> None:
    """The skew head start of 150 over 100 is (150 - 100) / 256 * AI (19.5 ms at 0.1 s) > one-way delay."""
    sim = Sim(Wire(delay=D))
    sim.add("A", router_params("192.0.2.1", 200, interval=interval))
    sim.add("B", router_params("192.0.2.2", 150, interval=interval))
    sim.add("C", router_params("192.0.2.3", 100, interval=interval))
    sim.start_all(0.0)
    sim.run(20 * interval)
    t_crash = sim.routers["A"].sent[-1][0] + phase * interval
    sim.crash("A", t_crash)
    sim.run(t_crash + 40 * interval)

    assert sim.masters_at(sim.now) == ["B"]
    assert all(tr.new is not State.MASTER for tr in sim.routers["C"].transitions), "C never becomes master"
    assert sim.multi_master_windows() == []


def test_three_routers_a_delay_longer_than_the_skew_head_start_gives_a_brief_second_master() -> None:
    """The documented limit of the skew (failover-timing.md §2): at 0.1 s the 150 leads the 100 by 19.5 ms; with
    30 ms one-way delay the 100 also times out, then steps down when the 150's advert arrives."""
    interval, delay = 0.1, 0.030
    sim = Sim(Wire(delay=delay))
    sim.add("A", router_params("192.0.2.1", 200, interval=interval))
    sim.add("B", router_params("192.0.2.2", 150, interval=interval))
    sim.add("C", router_params("192.0.2.3", 100, interval=interval))
    sim.start_all(0.0)
    sim.run(2.0)
    sim.crash("A", sim.routers["A"].sent[-1][0] + 0.05)
    sim.run(5.0)

    head_start = skew_time(3, 100, interval) - skew_time(3, 150, interval)
    assert head_start == pytest.approx(0.01953125)
    windows = sim.multi_master_windows(start=2.0)
    assert len(windows) == 1
    a, b, n = windows[0]
    assert n == 2
    assert b - a == pytest.approx(delay - head_start, abs=1e-9), "C is master until B's takeover advert arrives"
    assert sim.masters_at(sim.now) == ["B"]


# ---------------------------------------------------------------- equal priorities


def test_equal_priorities_contending_the_higher_primary_address_wins() -> None:
    """RFC 5798 §6.4.3: equal priority and the sender's primary address greater than ours: step down."""
    sim = Sim(Wire(delay=D))
    sim.add("low", router_params("192.0.2.1", 100))
    sim.add("high", router_params("192.0.2.2", 100))
    sim.start_all(0.0)
    sim.run(30.0)

    assert sim.masters_at(30.0) == ["high"]
    assert sim.routers["low"].transitions[-1].reason == "equal_priority_higher_address"
    windows = sim.multi_master_windows()
    assert len(windows) == 1
    assert windows[0][1] - windows[0][0] == pytest.approx(D), "both time out together; one delay later, one is left"


def test_equal_priorities_an_established_master_is_not_preempted_by_a_higher_address() -> None:
    """RFC 5798 §6.4.2: a backup accepts an advert whose priority is "greater than or equal to" its own, whatever
    the address; the tie-break only applies between two masters."""
    sim = Sim(Wire(delay=D))
    sim.add("low", router_params("192.0.2.1", 100))
    sim.add("high", router_params("192.0.2.2", 100))
    sim.start("low", 0.0)
    sim.start("high", 10.0)
    sim.run(60.0)
    assert sim.masters_at(60.0) == ["low"]
    assert sim.multi_master_windows() == []


# ---------------------------------------------------------------- partition and heal


@pytest.mark.parametrize("interval", [1.0, 0.1])
def test_partition_then_heal_never_two_masters_for_longer_than_one_interval_after_the_wire_heals(
    interval: float,
) -> None:
    """DESIGN.md: "never two masters for longer than one interval after the wire heals"; the winner announces
    again at once (GARP) so clients that followed the loser come back."""
    sim = two_routers(interval=interval)
    sim.start_all(0.0)
    t_cut, t_heal = 10 * interval, 30 * interval
    sim.cut(["A"], ["B"], t_cut)
    sim.heal(t_heal)
    sim.run(60 * interval)

    before = sim.multi_master_windows(0.0, t_heal)
    assert before, "a partition longer than Master_Down_Interval gives two masters: each side needs one"
    after = sim.multi_master_windows(t_heal, sim.now)
    assert after, "the partition's two masters are still there at the instant the wire heals"
    for a, b, _ in after:
        assert b - a <= interval + 2 * D + EPS
    assert sim.masters_at(sim.now) == ["A"]
    assert sim.routers["B"].transitions[-1].reason == "higher_priority_advert"


def _partitioned_pair_healed_just_before(first: str) -> tuple[Sim, float]:
    """Cut A from B long enough for two masters, then heal just before ``first``'s next advert."""
    sim = two_routers()
    sim.start_all(0.0)
    sim.cut(["A"], ["B"], 10.0)
    sim.run(30.0)
    due = {name: r.machine.next_deadline() for name, r in sim.routers.items()}
    assert sim.masters_at(30.0) == ["A", "B"]
    t_first = due[first]
    assert t_first is not None
    t_heal = t_first - 1e-6
    assert all(t is not None and not t_heal <= t < t_first for n, t in due.items() if n != first)
    sim.heal(t_heal)
    sim.run(40.0)
    assert sim.masters_at(40.0) == ["A"]
    return sim, t_heal


def _garps_after(sim: Sim, name: str, t: float) -> list[SendGratuitousArp]:
    return [
        e for c in sim.calls if c.router == name and c.t >= t for e in c.effects if isinstance(e, SendGratuitousArp)
    ]


def test_partition_heal_loser_heard_first_the_winner_answers_and_announces_again() -> None:
    """RFC 9568 §6.4.3: the master answers a lower advert at once; DESIGN.md: and re-announces (GARP)."""
    sim, t_heal = _partitioned_pair_healed_just_before("B")
    assert _garps_after(sim, "A", t_heal) == [SendGratuitousArp(5, "lower_priority_seen")]


def test_design_partition_heal_winner_heard_first_the_winner_still_announces_again() -> None:
    """The yielding master sends one last advert (keepalived higher_prio_send_advert): the winner re-announces."""
    sim, t_heal = _partitioned_pair_healed_just_before("A")
    assert _garps_after(sim, "A", t_heal) == [SendGratuitousArp(5, "lower_priority_seen")]


# ---------------------------------------------------------------- loss


def test_five_percent_loss_at_100ms_adverts_over_60_seconds_causes_no_transition() -> None:
    """A backup declares the master down only after three adverts in a row are lost: 600 adverts * 0.05**3
    = 0.075 expected spurious takeovers in this minute. With this seed there is none."""
    sim = two_routers(interval=0.1, loss=0.05, seed=1)
    sim.start_all(0.0)
    sim.run(61.0)

    lost = len(sim.routers["A"].sent) - sim.routers["B"].received
    assert 20 < lost < 60, f"the wire really lost about 5% of ~600 adverts (lost {lost})"
    assert [tr.new for tr in sim.routers["B"].transitions] == [State.BACKUP]
    assert [tr.new for tr in sim.routers["A"].transitions] == [State.BACKUP, State.MASTER]


@pytest.mark.parametrize(("lost_in_a_row", "takeover"), [(2, False), (3, True)])
def test_losing_two_adverts_in_a_row_is_survived_and_three_is_a_takeover(lost_in_a_row: int, takeover: bool) -> None:
    """The boundary behind the 5% figure: at 0.1 s, Master_Down_Interval is 360.9 ms = 3 adverts + Skew_Time."""
    sim = two_routers(interval=0.1)
    sim.start_all(0.0)
    sim.run(10.0)
    first = len(sim.routers["A"].sent)
    doomed = set(range(first, first + lost_in_a_row))
    sent = sim.routers["A"].sent
    sim.wire.drop = lambda t, src, dst, adv: src == "A" and len(sent) - 1 in doomed
    sim.run(20.0)

    b_masters = [tr for tr in sim.routers["B"].transitions if tr.new is State.MASTER]
    assert bool(b_masters) is takeover
    if takeover:
        assert sim.masters_at(20.0) == ["A"], "A answers B's advert at once; B steps back down"


# ---------------------------------------------------------------- v2 interval mismatch


def test_v2_interval_mismatch_gives_two_masters_and_both_count_discard_interval() -> None:
    """RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as the locally configured
    for this virtual router ... the receiver MUST discard the packet". Each router is deaf to the other, so both
    are master for as long as they run. The RFC's MUST, not a vipd bug; the Discard("interval") counter is what
    tells the operator (keepalived does not count it)."""
    sim = Sim(Wire(delay=D))
    sim.add("A", router_params("192.0.2.1", 200, version=2, interval=1.0))
    sim.add("B", router_params("192.0.2.2", 100, version=2, interval=2.0))
    sim.start_all(0.0)
    sim.run(60.0)

    assert sorted(sim.masters_at(60.0)) == ["A", "B"]
    t_both = max(master_since(sim, "A"), master_since(sim, "B"))
    assert sim.multi_master_windows() == [(t_both, 60.0, 2)]
    for me, peer in (("A", "B"), ("B", "A")):
        r = sim.routers[me]
        assert r.discards["interval"] == r.received > 0, f"{me} discarded every advert from {peer}"
        assert set(r.discards) == {"interval"}


def test_v3_interval_mismatch_is_tolerated_the_backup_learns_the_master_interval() -> None:
    """RFC 5798 §6.4.2: v3 learns Master_Adver_Interval, so a mismatch gives one master, not two."""
    sim = Sim(Wire(delay=D))
    sim.add("A", router_params("192.0.2.1", 200, interval=1.0))
    sim.add("B", router_params("192.0.2.2", 100, interval=0.1))
    sim.start_all(0.0)
    sim.run(60.0)
    assert sim.masters_at(60.0) == ["A"]
    assert sim.routers["B"].machine.master_adver_interval == 1.0
    assert sim.routers["B"].discards == {}


# ---------------------------------------------------------------- preemption and tracked priority


def test_preempt_higher_priority_joiner_takes_over_after_its_master_down_interval() -> None:
    """failover-timing.md §4: a backup discards a lower master's adverts and takes over when its timer runs out."""
    sim = two_routers()
    sim.start("B", 0.0)
    sim.start("A", 10.0)
    sim.run(30.0)
    assert master_since(sim, "A") == 10.0 + master_down_interval(3, 200, 1.0)
    assert sim.routers["A"].transitions[-1].reason == "preempt"
    assert sim.masters_at(30.0) == ["A"]


def test_nopreempt_higher_priority_joiner_stays_backup() -> None:
    sim = Sim(Wire(delay=D))
    sim.add("A", router_params("192.0.2.1", 200, preempt_mode=False))
    sim.add("B", router_params("192.0.2.2", 100))
    sim.start("B", 0.0)
    sim.start("A", 10.0)
    sim.run(120.0)
    assert sim.masters_at(120.0) == ["B"]


def test_tracked_priority_drop_hands_mastership_to_the_backup_after_its_master_down_interval() -> None:
    """keepalived track_script weight: the master's adverts carry the lower priority; the backup preempts."""
    sim = two_routers()
    sim.start_all(0.0)
    sim.set_priority("A", 50, 10.25)
    sim.run(30.0)
    assert sim.masters_at(30.0) == ["B"]
    assert sim.routers["B"].transitions[-1].reason == "preempt"
    first_low = min(t for t, adv in sim.routers["A"].sent if adv.priority == 50)
    took = master_since(sim, "B") - first_low
    assert took <= master_down_interval(3, 100, 1.0) + D + EPS
    assert sim.multi_master_windows() and all(b - a <= D + EPS for a, b, _ in sim.multi_master_windows())


def test_fault_on_the_master_hands_over_like_a_shutdown() -> None:
    sim = two_routers()
    sim.start_all(0.0)
    sim.set_fault("A", True, 10.4)
    sim.set_fault("A", False, 20.0)
    sim.run(40.0)
    assert master_since(sim, "B") == pytest.approx(10.4 + D + skew_time(3, 100, 1.0))
    assert sim.masters_at(40.0) == ["A"], "A comes back as backup and preempts B one Master_Down_Interval later"
    assert master_since(sim, "A", after=20.0) == pytest.approx(20.0 + master_down_interval(3, 200, 1.0))


def test_every_master_advert_interval_is_on_the_grid() -> None:
    """The simulated Adver_Timer fires exactly on time, so gaps are exactly AI (drift-free re-arming)."""
    sim = two_routers(interval=0.1)
    sim.start_all(0.0)
    sim.run(10.0)
    times = [t for t, adv in sim.routers["A"].sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and all(g == pytest.approx(0.1, abs=1e-9) for g in gaps)
