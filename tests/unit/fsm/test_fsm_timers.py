"""RFC 3768 §6.1 and RFC 5798 §6.1: Skew_Time and Master_Down_Interval, in float seconds.

The expected values are the worked table of failover-timing.md §2, at the
precision printed there; the exact fractions are checked separately.
"""

from __future__ import annotations

import pytest
from fsm_helpers import machine, start

from vipd.fsm import master_down_interval, skew_time

# (version, interval s, priority, Skew_Time ms, Master_Down_Interval s) from failover-timing.md §2.
FAILOVER_TIMING_TABLE = [
    (2, 1.0, 254, 7.8, 3.008),
    (3, 1.0, 254, 7.8, 3.008),
    (2, 1.0, 200, 218.8, 3.219),
    (3, 1.0, 200, 218.8, 3.219),
    (2, 1.0, 100, 609.4, 3.609),
    (3, 1.0, 100, 609.4, 3.609),
    (2, 1.0, 1, 996.1, 3.996),
    (3, 1.0, 1, 996.1, 3.996),
    (3, 0.50, 100, 304.7, 1.805),
    (3, 0.20, 100, 121.9, 0.7219),
    (3, 0.10, 200, 21.9, 0.3219),
    (3, 0.10, 100, 60.9, 0.3609),
    (3, 0.05, 100, 30.5, 0.1805),
    (3, 0.03, 100, 18.3, 0.1083),
    (3, 0.01, 254, 0.08, 0.0301),
    (3, 0.01, 100, 6.1, 0.0361),
]


@pytest.mark.parametrize(
    ("version", "interval", "priority", "skew_ms", "mdi_s"),
    FAILOVER_TIMING_TABLE,
    ids=[f"v{v}-{i:g}s-prio{p}" for v, i, p, _, _ in FAILOVER_TIMING_TABLE],
)
def test_rfc5798_6_1_skew_time_and_master_down_interval_match_the_worked_table(
    version: int, interval: float, priority: int, skew_ms: float, mdi_s: float
) -> None:
    """Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (v3), (256 - Priority) / 256 (v2);
    Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time."""
    skew = skew_time(version, priority, interval)
    assert skew * 1000 == pytest.approx(skew_ms, abs=0.05 + 1e-9), "Skew_Time as printed in failover-timing.md §2"
    assert master_down_interval(version, priority, interval) == pytest.approx(mdi_s, abs=0.0005 + 1e-9)


def test_rfc5798_6_1_v3_10cs_priority_100_gives_skew_60_9ms_and_mdi_360_9ms_exactly() -> None:
    """156 * 0.1 / 256 s = 60.9375 ms; 3 * 100 ms + 60.9375 ms = 360.9375 ms: exact in binary floating point."""
    assert skew_time(3, 100, 0.1) == pytest.approx(0.0609375, abs=1e-15)
    assert master_down_interval(3, 100, 0.1) == pytest.approx(0.3609375, abs=1e-15)


@pytest.mark.parametrize("interval", [1.0, 2.0, 5.0, 10.0, 255.0])
def test_rfc3768_6_1_v2_skew_time_is_256_minus_priority_over_256_whatever_the_interval(interval: float) -> None:
    """RFC 3768 §6.1: "Skew_Time ... Calculated as: ( (256 - Priority) / 256 )" seconds; the interval plays no part."""
    assert skew_time(2, 100, interval) == 156 / 256
    assert master_down_interval(2, 100, interval) == 3 * interval + 156 / 256


@pytest.mark.parametrize("interval", [0.01, 0.1, 1.0, 10.0, 40.95])
def test_rfc5798_6_1_v3_skew_time_scales_with_master_adver_interval(interval: float) -> None:
    """RFC 5798 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256."""
    assert skew_time(3, 100, interval) == pytest.approx(156 * interval / 256)


def test_design_skew_time_is_float_and_keeps_priorities_apart_at_one_centisecond() -> None:
    """DESIGN.md "Time and names": in integer centiseconds Skew_Time is 0 at 1 cs (FRR); in float it is not."""
    mdis = [master_down_interval(3, p, 0.01) for p in (254, 200, 150, 100, 1)]
    assert all(skew_time(3, p, 0.01) > 0 for p in (254, 200, 150, 100, 1))
    assert mdis == sorted(mdis), "a higher priority always times out first"
    assert len(set(mdis)) == len(mdis)


def test_machine_reports_skew_time_and_master_down_interval_for_its_priority_and_master_adver_interval() -> None:
    m = machine(version=3, priority=200, interval=0.1)
    start(m, 0.0)
    assert m.master_adver_interval == 0.1
    assert m.skew_time == skew_time(3, 200, 0.1)
    assert m.master_down_interval == master_down_interval(3, 200, 0.1)


def test_peek_returns_the_takeover_effects_and_leaves_the_machine_unchanged() -> None:
    """``peek`` (used to pre-encode the takeover advert) is ``handle`` on a copy: same effects, no state change."""
    from dataclasses import fields

    from vipd.fsm import SendAdvert, State, TimerExpired

    m = machine(priority=100, interval=0.1)
    start(m)
    deadline = m.next_deadline()
    assert deadline is not None
    before = {f.name: getattr(m, f.name) for f in fields(m) if f.name != "_timers"}
    timers_before = repr(m._timers)
    peeked = m.peek(TimerExpired(), deadline)
    assert {f.name: getattr(m, f.name) for f in fields(m) if f.name != "_timers"} == before
    assert repr(m._timers) == timers_before and m.next_deadline() == deadline
    assert m.state is State.BACKUP
    assert peeked == m.handle(TimerExpired(), deadline)
    assert isinstance(peeked[0], SendAdvert) and peeked[0].advert.priority == 100
    assert m.state is State.MASTER
