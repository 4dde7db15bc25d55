"""keepalived's tracking rules (vrrp_track.c), one table per rule; time does not exist here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vipd.health.rules import (
    FILE_FAULT,
    Debounce,
    Health,
    TrackerState,
    Weight,
    contribution,
    effective_priority,
    evaluate,
    file_status,
    is_fault,
    restrict,
)

OK, FAILED, UNKNOWN = Health.OK, Health.FAILED, Health.UNKNOWN


# --------------------------------------------------------------------------- debounce
def run(d: Debounce, results: str) -> list[Health]:
    """Feed 'p' (pass) / 'f' (fail) results; return the state after each."""
    out = []
    for c in results:
        d = d.step(c == "p")
        out.append(d.health)
    return out


@pytest.mark.parametrize(
    ("rise", "fall", "init_fail", "results", "expected"),
    [
        # rise/fall 1: every result decides at once (keepalived's default).
        (1, 1, False, "pffp", [OK, FAILED, FAILED, OK]),
        # fall 3: an OK check needs three consecutive failures.
        (1, 3, False, "pffpfff", [OK, OK, OK, OK, OK, OK, FAILED]),
        # rise 2: a FAILED check needs two consecutive passes.
        (2, 1, False, "fpfpp", [FAILED, FAILED, FAILED, FAILED, OK]),
        # UNKNOWN at start: the first result decides, whatever rise and fall are (keepalived).
        (3, 3, False, "p", [OK]),
        (3, 3, False, "f", [FAILED]),
        (2, 2, False, "fpp", [FAILED, FAILED, OK]),
        # init_fail: starts FAILED and needs rise passes.
        (3, 1, True, "ppp", [FAILED, FAILED, OK]),
        (3, 1, True, "ppfppp", [FAILED, FAILED, FAILED, FAILED, FAILED, OK]),
    ],
)
def test_debounce_rise_fall(rise: int, fall: int, init_fail: bool, results: str, expected: list[Health]) -> None:
    assert run(Debounce.initial(rise, fall, init_fail=init_fail), results) == expected


def test_debounce_rejects_zero_rise() -> None:
    with pytest.raises(ValueError, match="rise and fall"):
        Debounce(0, 1)


# --------------------------------------------------------------------------- boolean trackers
@pytest.mark.parametrize(
    ("health", "weight", "reverse", "points", "fault"),
    [
        # positive weight: added while OK
        (OK, 10, False, 10, False),
        (FAILED, 10, False, 0, False),
        # negative weight: subtracted while failing
        (OK, -10, False, 0, False),
        (FAILED, -10, False, -10, False),
        # reverse flips the sign: positive weight subtracts while OK, negative adds while failing
        (OK, 10, True, -10, False),
        (FAILED, 10, True, 0, False),
        (OK, -10, True, 0, False),
        (FAILED, -10, True, 10, False),
        # weight 0: FAULT while failing; reversed, FAULT while OK
        (OK, 0, False, 0, False),
        (FAILED, 0, False, 0, True),
        (OK, 0, True, 0, True),
        (FAILED, 0, True, 0, False),
        # no result yet: neither points nor fault
        (UNKNOWN, 10, False, 0, False),
        (UNKNOWN, -10, False, 0, False),
        (UNKNOWN, 0, False, 0, False),
    ],
)
def test_weight_rules(health: Health, weight: int, reverse: bool, points: int, fault: bool) -> None:
    w = Weight(weight, reverse)
    assert contribution(health, w) == points
    assert is_fault(health, w) == fault


# --------------------------------------------------------------------------- track_file
@pytest.mark.parametrize(
    ("value", "weight", "reverse", "status"),
    [
        (0, 1, False, 0),
        (5, 1, False, 5),
        (-20, 1, False, -20),
        (5, -3, False, -15),
        (5, 3, True, -15),
        (300, 1, False, 253),  # value clamped to 254, status to 253
        (-300, 1, False, FILE_FAULT),  # -254 or less: FAULT
        (-254, 1, False, FILE_FAULT),
        (-253, 1, False, -253),
        (100, -3, False, FILE_FAULT),
        (0, 0, False, 0),  # weight 0: zero is fine...
        (7, 0, False, FILE_FAULT),  # ...anything else is FAULT
        (-1, 0, False, FILE_FAULT),
    ],
)
def test_file_status(value: int, weight: int, reverse: bool, status: int) -> None:
    assert file_status(value, Weight(weight, reverse)) == status


# --------------------------------------------------------------------------- effective priority
@pytest.mark.parametrize(
    ("base", "total", "priority"),
    [
        (100, 0, 100),
        (100, 50, 150),
        (100, -50, 50),
        (100, 200, 254),  # never reaches 255: trackers cannot make an owner
        (100, -150, 1),  # never 0: that means "master leaving"
        (254, 1, 254),
        (1, -1, 1),
        (255, -100, 255),  # an owner is never changed
        (255, 100, 255),
    ],
)
def test_effective_priority_clamp(base: int, total: int, priority: int) -> None:
    assert effective_priority(base, total) == priority


def test_effective_priority_rejects_bad_base() -> None:
    with pytest.raises(ValueError, match=r"1\.\.255"):
        effective_priority(0, 0)


def test_evaluate_three_negative_trackers_step_by_step() -> None:
    """The integration test's scenario: base 200, trackers -30, -50, -70, failing one by one."""
    names = ("a", "b", "c")
    weights = (-30, -50, -70)

    def ev(states: tuple[Health, ...]) -> int:
        return evaluate(
            200, [TrackerState(n, Weight(w), h) for n, w, h in zip(names, weights, states, strict=True)]
        ).priority

    assert ev((OK, OK, OK)) == 200
    assert ev((FAILED, OK, OK)) == 170
    assert ev((FAILED, FAILED, OK)) == 120
    assert ev((FAILED, FAILED, FAILED)) == 50
    assert ev((OK, FAILED, FAILED)) == 80


def test_evaluate_faults_and_files() -> None:
    e = evaluate(
        100,
        [
            TrackerState("script up", Weight(20), OK),
            TrackerState("interface eth1", Weight(0), FAILED),
            TrackerState("file prio", Weight(2), value=-5),
            TrackerState("file gate", Weight(0), value=1),
        ],
    )
    assert e.priority == 110
    assert e.faults == ("interface eth1", "file gate")
    assert e.fault


def test_evaluate_owner_ignores_weights_but_faults() -> None:
    e = evaluate(255, [TrackerState("a", Weight(-100), FAILED), TrackerState("b", Weight(0), FAILED)])
    assert (e.priority, e.faults, e.total) == (255, ("b",), 0)


# --------------------------------------------------------------------------- sync groups / owner
@pytest.mark.parametrize(
    ("kind", "weight", "owner", "result"),
    [
        ("script", 0, False, Weight(0)),
        ("script", -20, False, None),  # weighted scripts are ignored in a sync group
        ("interface", 10, False, Weight(0)),  # weighted interfaces become FAULT trackers
        ("interface", 10, True, None),  # ...but are ignored for an owner
        ("file", 1, False, Weight(0)),  # the default file weight 1 becomes 0
        ("file", 5, False, None),
        ("process", 5, False, None),
        ("tcp", -5, True, None),
    ],
)
def test_restrict(kind: str, weight: int, owner: bool, result: Weight | None) -> None:
    assert restrict(kind, Weight(weight), owner=owner) == result


def test_rules_module_is_pure() -> None:
    src = Path(__file__).resolve().parents[3] / "vipd" / "health" / "rules.py"
    tree = ast.parse(src.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    bad = {m for m in imported if m.split(".")[0] in {"asyncio", "socket", "subprocess", "pyroute2", "os", "time"}}
    assert not bad, f"vipd.health.rules must stay pure, imports {bad}"
