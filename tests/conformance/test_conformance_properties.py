"""Property: whatever the wire did before (loss, delay, reordering, partitions), once it heals the routers
converge on exactly one master, and two masters never outlast one interval after the heal.

Why it must hold (RFC 5798 §6.4): all routers start together, so from the first Master_Down_Interval of the
highest priority P on, some router of priority P is master, and the P-master with the highest address never
steps down. Once the wire is perfect again, every other master hears a better advert within one interval (plus
one or two delays) and steps down, and every backup keeps accepting the survivor's adverts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from vrrp_sim import Sim, Wire, router_params

from vipd.fsm import State

AFTER_HEAL_DELAY = 0.001  # seconds, one way, once the wire is perfect again


@dataclass(frozen=True)
class Segment:
    """A stretch of bad wire, with times in units of the advertisement interval."""

    duration: float
    loss: float
    delay: float
    jitter: float
    cut: frozenset[str] | None  # one side of a partition, or None


NAMES = ("A", "B", "C")


@st.composite
def segments(draw: st.DrawFn, n: int) -> Segment:
    names = NAMES[:n]
    side = draw(st.none() | st.frozensets(st.sampled_from(names), min_size=1, max_size=n - 1))
    return Segment(
        duration=draw(st.floats(0.1, 15.0)),
        loss=draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]) | st.floats(0.0, 1.0)),
        delay=draw(st.floats(0.0, 0.5)),
        jitter=draw(st.sampled_from([0.0]) | st.floats(0.0, 0.5)),
        cut=side,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[float, list[int], list[Segment], int]:
    n = draw(st.integers(2, 3))
    interval = draw(st.sampled_from([0.1, 1.0]))
    priorities = draw(st.lists(st.sampled_from([1, 100, 150, 200, 254]), min_size=n, max_size=n))
    segs = draw(st.lists(segments(n), min_size=1, max_size=6))
    seed = draw(st.integers(0, 2**32 - 1))
    return interval, priorities, segs, seed


def build(interval: float, priorities: list[int], segs: list[Segment], seed: int) -> tuple[Sim, float]:
    sim = Sim(Wire(delay=AFTER_HEAL_DELAY, seed=seed))
    names = NAMES[: len(priorities)]
    for i, (name, prio) in enumerate(zip(names, priorities, strict=True)):
        sim.add(name, router_params(f"192.0.2.{i + 1}", prio, interval=interval))
    sim.start_all(0.0)

    t = 0.0
    for seg in segs:
        sim.at(t, _apply(sim, seg, interval, names))
        t += seg.duration * interval
    # Heal no earlier than 4 intervals, so the first election (MDI < 4 * AI) is over.
    t_heal = max(t, 4 * interval)

    def heal(now: float) -> None:
        sim.wire.heal()
        sim.wire.delay = AFTER_HEAL_DELAY

    sim.at(t_heal, heal)
    return sim, t_heal


def _apply(sim: Sim, seg: Segment, interval: float, names: tuple[str, ...]) -> Callable[[float], None]:
    def apply(now: float) -> None:
        w = sim.wire
        w.heal()
        w.loss, w.delay, w.jitter = seg.loss, seg.delay * interval, seg.jitter * interval
        if seg.cut is not None:
            w.cut(seg.cut, [n for n in names if n not in seg.cut])

    return apply


@settings(max_examples=75, deadline=None, derandomize=True)
@given(scenarios())
def test_after_the_wire_heals_and_three_intervals_pass_there_is_exactly_one_master(
    scenario: tuple[float, list[int], list[Segment], int],
) -> None:
    interval, priorities, segs, seed = scenario
    sim, t_heal = build(interval, priorities, segs, seed)
    end = t_heal + 20 * interval
    sim.run(end)

    settle = t_heal + 3 * interval
    checkpoints = [settle] + [tr.t for tr in sim.transitions() if tr.t >= settle]
    for t in checkpoints:
        masters = sim.masters_at(t)
        assert len(masters) == 1, f"t={t:.6f}: masters {masters} (heal at {t_heal:.6f})"
    (survivor,) = sim.masters_at(end)
    assert sim.routers[survivor].machine.priority == max(priorities), "a top-priority router holds the VIP"

    for a, b, n in sim.multi_master_windows(t_heal, end):
        assert b - a <= interval + 2 * AFTER_HEAL_DELAY + 1e-9, (
            f"{n} masters for {b - a:.6f}s from {a:.6f}, more than one interval after the heal at {t_heal:.6f}"
        )
    for r in sim.routers.values():
        assert r.state in (State.MASTER, State.BACKUP)
