"""Golden JSONL replay (holo-vrrp style): recorded inputs in, the exact recorded effects out.

Each case under ``cases/`` was recorded from a simulated run (``SCENARIOS`` below).
The test replays ``events.jsonl`` into fresh machines and compares every output
line with ``effects.jsonl``: any change in what the machine emits, in which order,
or when its next deadline falls, shows up as a one-line diff.

After a deliberate behaviour change, review the diff, then re-record with
``VIPD_REGEN_GOLDEN=1 python -m pytest tests/conformance -k replay``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from vrrp_jsonl import dump_lines, load_lines, replay, to_json
from vrrp_sim import Sim, Wire, router_params

CASES = Path(__file__).parent / "cases"


def election_and_crash() -> Sim:
    """v3 1 s: 200 and 100 start together, 200 wins; 200 crashes mid-interval; 100 takes over after 2.x s."""
    sim = Sim(Wire(delay=0.001))
    sim.add("A", router_params("192.0.2.1", 200))
    sim.add("B", router_params("192.0.2.2", 100))
    sim.start_all(0.0)
    sim.crash("A", 7.5)
    sim.run(12.0)
    return sim


def graceful_shutdown_v2() -> Sim:
    """v2 1 s with auth PASS: the master shuts down, says priority 0, the backup takes over after Skew_Time."""
    kw = {"version": 2, "auth_type": 1, "auth_data": b"secret\x00\x00", "garp_master_delay": 5.0}
    sim = Sim(Wire(delay=0.001))
    sim.add("A", router_params("192.0.2.1", 200, **kw))
    sim.add("B", router_params("192.0.2.2", 100, **kw))
    sim.start_all(0.0)
    sim.shutdown("A", 6.25)
    sim.run(14.0)
    return sim


def preempt_priority_and_partition() -> Sim:
    """v3 0.1 s: 100 starts first, 200 joins and preempts; a tracker drops 200 to 50 and 100 preempts back;
    then a partition gives two masters until the wire heals and the lower one yields."""
    sim = Sim(Wire(delay=0.002))
    sim.add("A", router_params("192.0.2.1", 200, interval=0.1))
    sim.add("B", router_params("192.0.2.2", 100, interval=0.1))
    sim.start("B", 0.0)
    sim.start("A", 0.5)
    sim.set_priority("A", 50, 1.23)
    sim.set_priority("A", 200, 1.9)
    sim.cut(["A"], ["B"], 2.5)
    sim.heal(3.27)
    sim.run(3.6)
    return sim


SCENARIOS: dict[str, Callable[[], Sim]] = {
    "election_and_crash": election_and_crash,
    "graceful_shutdown_v2": graceful_shutdown_v2,
    "preempt_priority_and_partition": preempt_priority_and_partition,
}


def record(name: str) -> None:
    sim = SCENARIOS[name]()
    case = CASES / name
    case.mkdir(parents=True, exist_ok=True)
    routers = {n: to_json(r.machine.params) for n, r in sim.routers.items()}
    (case / "routers.json").write_text(json.dumps(routers, indent=2) + "\n")
    dump_lines(case / "events.jsonl", [{"t": c.t, "router": c.router, "event": to_json(c.event)} for c in sim.calls])
    dump_lines(
        case / "effects.jsonl",
        [
            {
                "t": c.t,
                "router": c.router,
                "effects": to_json(list(c.effects)),
                "state": c.state.name,
                "next_deadline": c.next_deadline,
            }
            for c in sim.calls
        ],
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay_golden_case_reproduces_the_recorded_effects_exactly(name: str) -> None:
    if os.environ.get("VIPD_REGEN_GOLDEN"):
        record(name)
    case = CASES / name
    expected = load_lines(case / "effects.jsonl")
    got = list(replay(case))
    assert len(got) == len(expected), f"{name}: {len(got)} outputs for {len(expected)} recorded"
    for (lineno, row), want in zip(got, expected, strict=True):
        assert row == want, f"{name}/effects.jsonl line {lineno} differs (VIPD_REGEN_GOLDEN=1 re-records)"


def test_replay_cases_are_the_recorded_scenarios_and_nothing_else() -> None:
    assert sorted(p.name for p in CASES.iterdir() if p.is_dir()) == sorted(SCENARIOS)


def test_replay_recording_matches_a_fresh_simulation() -> None:
    """The simulator is deterministic, so recording again gives byte-identical events: the golden inputs are
    still what the scenarios produce with today's machine."""
    for name, scenario in SCENARIOS.items():
        sim = scenario()
        rows = [{"t": c.t, "router": c.router, "event": to_json(c.event)} for c in sim.calls]
        assert rows == load_lines(CASES / name / "events.jsonl"), name
