"""Sync groups on the simulated wire: two routers, each running a ``vrrp_sync_group`` of two instances.

Router A (VI_1 192.0.2.1, VI_2 192.0.2.11, priority 200 on both) and router B
(192.0.2.2 / 192.0.2.12, priority 100) share VRID 51 (VI_1) and VRID 52 (VI_2).
Each router's two machines are coordinated by ``vipd.runtime.syncgroup.SyncGroup``,
the same code the daemon runs; the simulator only moves packets and time. A
member's link failure is what the daemon's tracker does with it: the link is cut
and both members of that router's group get ``FaultChanged`` (keepalived
``vrrp_sync_fault``; tracking shares the fault).

Bounds come from the protocol formulas: a crash is seen within
Master_Down_Interval of the last advert, a takeover after a priority-0 advert
within Skew_Time; a group moves when its *last* member's timer runs out
(keepalived ``vrrp_sync_can_goto_master``), so the group bound is the slowest
member's.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from ipaddress import IPv4Address

import pytest
from vrrp_sim import Sim, Transition, Wire, router_params

from vipd.fsm import FaultChanged, Params, PriorityChanged, Startup, State, VrrpMachine, master_down_interval
from vipd.runtime.syncgroup import SyncGroup

D = 0.001
EPS = 1e-9
AI = 1.0
MDI_A = master_down_interval(3, 200, AI)
MDI_B = master_down_interval(3, 100, AI)
VIP2 = (IPv4Address("192.0.2.200"),)
MEMBERS = {"A": ("A1", "A2"), "B": ("B1", "B2")}


def vi_2(address: str, priority: int, **kw: object) -> Params:
    """VI_2: VRID 52 with its own VIP."""
    return replace(router_params(address, priority, interval=AI, vrid=52, **kw), addresses=VIP2)


def build(priorities: dict[str, int] | None = None) -> tuple[Sim, dict[str, SyncGroup]]:
    pr = {"A1": 200, "A2": 200, "B1": 100, "B2": 100} | (priorities or {})
    sim = Sim(Wire(delay=D))
    sim.add("A1", router_params("192.0.2.1", pr["A1"], interval=AI, vrid=51, sync_group=True))
    sim.add("A2", vi_2("192.0.2.11", pr["A2"], sync_group=True))
    sim.add("B1", router_params("192.0.2.2", pr["B1"], interval=AI, vrid=51, sync_group=True))
    sim.add("B2", vi_2("192.0.2.12", pr["B2"], sync_group=True))

    def machine(name: str) -> VrrpMachine | None:
        r = sim.routers[name]
        return r.machine if r.alive else None

    def group(router: str) -> SyncGroup:
        return SyncGroup(f"G_{router}", MEMBERS[router], machine, lambda n, ev: sim.feed(n, ev, sim.now))

    groups = {router: group(router) for router in MEMBERS}
    sim.observers.append(lambda name, effects: groups[name[0]].observe(name, effects))
    sim.new_group = group  # type: ignore[attr-defined]  # a restarted daemon builds its groups afresh
    return sim, groups


def crash(sim: Sim, router: str, t: float) -> None:
    """Every process of the router dies at once (no priority 0); recorded as a drop to INIT."""

    def _crash(now: float) -> None:
        for name in MEMBERS[router]:
            r = sim.routers[name]
            if r.state is not State.INITIALIZE:
                r.transitions.append(Transition(now, name, r.state, State.INITIALIZE, "crash"))
            r.alive = False

    sim.at(t, _crash)


def restart(sim: Sim, groups: dict[str, SyncGroup], router: str, t: float) -> None:
    """The router's daemon starts again with fresh machines (same parameters) and a fresh coordinator."""

    def _restart(now: float) -> None:
        groups[router] = sim.new_group(router)  # type: ignore[attr-defined]
        for name in MEMBERS[router]:
            r = sim.routers[name]
            r.machine = VrrpMachine(r.machine.params)
            r.alive = True
        for name in MEMBERS[router]:
            sim.feed(name, Startup(), now)

    sim.at(t, _restart)


def link_failure(sim: Sim, member: str, t: float, *, until: float) -> None:
    """``member``'s interface goes down at ``t`` and up at ``until``: the tracker faults the whole group."""
    router = member[0]
    others = [n for n in sim.routers if n != member]
    sim.cut([member], others, t)
    for name in MEMBERS[router]:
        sim.set_fault(name, True, t)
    sim.heal(until)
    for name in MEMBERS[router]:
        sim.set_fault(name, False, until)


def states(sim: Sim, t: float) -> dict[str, State]:
    return {n: r.state_at(t) for n, r in sim.routers.items()}


def masters(sim: Sim, vrid: int, t: float) -> list[str]:
    return [n for n, r in sim.routers.items() if r.machine.params.vrid == vrid and r.state_at(t) is State.MASTER]


def first_master_at_or_after(sim: Sim, name: str, t: float) -> float:
    for tr in sim.routers[name].transitions:
        if tr.t >= t and tr.new is State.MASTER:
            return tr.t
    raise AssertionError(f"{name} not master after {t}: {sim.routers[name].transitions}")


def assert_groups_together(sim: Sim, t: float) -> None:
    s = states(sim, t)
    for router, (m1, m2) in MEMBERS.items():
        assert s[m1] == s[m2], f"router {router} split at t={t}: {s}"


def multi_master_windows(sim: Sim, vrid: int, end: float) -> list[tuple[float, float]]:
    points = sorted({0.0, end, *(tr.t for tr in sim.transitions())})
    return [(a, b) for a, b in itertools.pairwise(points) if len(masters(sim, vrid, a)) > 1]


# ---------------------------------------------------------------- the whole story


def test_two_sync_groups_startup_crash_preempt_back_and_link_failure_move_whole_groups_without_thrashing() -> None:
    sim, groups = build()
    sim.start_all(0.0)
    t_crash, t_back, t_fail, t_up, end = 10.0, 20.0, 35.0, 45.0, 60.0
    crash(sim, "A", t_crash)
    restart(sim, groups, "A", t_back)
    link_failure(sim, "A2", t_fail, until=t_up)
    sim.run(end)

    # Startup: both of A's timers run out together (same priority); the second one moves the group.
    up = first_master_at_or_after(sim, "A1", 0.0)
    assert up == pytest.approx(MDI_A)
    assert first_master_at_or_after(sim, "A2", 0.0) == up
    assert masters(sim, 51, t_crash - EPS) == ["A1"] and masters(sim, 52, t_crash - EPS) == ["A2"]

    # Master crash: B's members both time out Master_Down_Interval after A's last adverts.
    b_up = first_master_at_or_after(sim, "B1", t_crash)
    assert t_crash + MDI_B - AI < b_up <= t_crash + MDI_B + D + EPS
    assert first_master_at_or_after(sim, "B2", t_crash) == b_up, "the group moved at once"
    assert masters(sim, 51, t_back - EPS) == ["B1"] and masters(sim, 52, t_back - EPS) == ["B2"]

    # Preemption back: A restarts, discards B's lower adverts, and after its Master_Down_Interval the
    # whole group preempts; B's group steps down together as the first higher advert lands.
    a_back = first_master_at_or_after(sim, "A1", t_back)
    assert a_back == pytest.approx(t_back + MDI_A)
    assert first_master_at_or_after(sim, "A2", t_back) == a_back
    assert sim.routers["A1"].transitions[-1].reason != "crash"
    assert masters(sim, 51, a_back + D + EPS) == ["A1"] and masters(sim, 52, a_back + D + EPS) == ["A2"]
    back_reasons = {
        tr.router: tr.reason
        for tr in sim.transitions()
        if t_back <= tr.t < t_fail and tr.router.startswith("A") and tr.new is State.MASTER
    }
    assert sorted(back_reasons.values()) == ["preempt", "preempt"], back_reasons

    # A2's link fails: the tracker faults both of A's members; A1 says priority 0 on its link, A2 cannot
    # (its link is down), so B's group moves when B2's Master_Down_Timer runs out: the slowest member.
    b_again = first_master_at_or_after(sim, "B1", t_fail)
    assert first_master_at_or_after(sim, "B2", t_fail) == b_again
    assert t_fail < b_again <= t_fail + MDI_B + D + EPS
    assert states(sim, t_fail + EPS)["A1"] is State.FAULT and states(sim, t_fail + EPS)["A2"] is State.FAULT
    a1_fault = [tr for tr in sim.routers["A1"].transitions if tr.t == t_fail]
    assert a1_fault and a1_fault[0].new is State.FAULT
    sent_zero = [t for t, adv in sim.routers["A1"].sent if adv.priority == 0]
    assert sent_zero == [t_fail], "A1 leaves master for FAULT with priority 0 (vrrp_state_leave_master)"

    # The link returns: A leaves FAULT for BACKUP and preempts as a group again.
    a_again = first_master_at_or_after(sim, "A1", t_up)
    assert a_again == pytest.approx(t_up + MDI_A)
    assert first_master_at_or_after(sim, "A2", t_up) == a_again
    assert masters(sim, 51, end) == ["A1"] and masters(sim, 52, end) == ["A2"]

    # Never two masters on a VRID for longer than the wire delay; the groups never split at rest.
    for vrid in (51, 52):
        for a, b in multi_master_windows(sim, vrid, end):
            assert b - a <= D + EPS, (vrid, a, b)
    for t in (t_crash - EPS, t_back - EPS, a_back + 1.0, t_fail + MDI_B + 1.0, t_up - EPS, end):
        assert_groups_together(sim, t)

    # No thrashing: every transition is one the story calls for.
    into_master = {n: sum(tr.new is State.MASTER for tr in r.transitions) for n, r in sim.routers.items()}
    assert into_master == {"A1": 3, "A2": 3, "B1": 2, "B2": 2}, into_master
    counts = {n: len(r.transitions) for n, r in sim.routers.items()}
    assert all(c <= 8 for c in counts.values()), counts
    assert groups["A"].state is State.MASTER and groups["B"].state is State.BACKUP


# ---------------------------------------------------------------- preferring backup


def test_one_member_outbid_alone_does_not_move_either_group() -> None:
    """keepalived vrrp_sync_can_goto_master: "Only sync to master if everyone wants to i.e. prefer backup
    state to avoid thrashing". A's VI_1 drops below B's (a weight, with sync_group_tracking_weight) while
    A's VI_2 still outbids B's: B1 wants master, B2 does not, so B stays backup and A keeps both."""
    sim, groups = build()
    sim.start_all(0.0)
    sim.at(10.0, lambda now: sim.feed("A1", PriorityChanged(50), now))
    sim.run(120.0)

    assert masters(sim, 51, 120.0) == ["A1"] and masters(sim, 52, 120.0) == ["A2"]
    for name in ("B1", "B2"):
        assert [tr.new for tr in sim.routers[name].transitions] == [State.BACKUP], name
    for name in ("A1", "A2"):
        assert [tr.new for tr in sim.routers[name].transitions] == [State.BACKUP, State.MASTER], name
    assert sim.routers["B1"].machine.wants_master and not sim.routers["B2"].machine.wants_master
    assert groups["B"].state is State.BACKUP


def test_without_sync_groups_the_same_drop_moves_only_vi_1() -> None:
    """The control: plain instances (RFC 5798 §6.4.2 preemption) split across the routers."""
    sim = Sim(Wire(delay=D))
    sim.add("A1", router_params("192.0.2.1", 200, interval=AI, vrid=51))
    sim.add("A2", vi_2("192.0.2.11", 200))
    sim.add("B1", router_params("192.0.2.2", 100, interval=AI, vrid=51))
    sim.add("B2", vi_2("192.0.2.12", 100))
    sim.start_all(0.0)
    sim.at(10.0, lambda now: sim.feed("A1", PriorityChanged(50), now))
    sim.run(30.0)
    assert masters(sim, 51, 30.0) == ["B1"] and masters(sim, 52, 30.0) == ["A2"]


def test_b_preempts_only_when_both_of_its_members_outbid_a() -> None:
    """Both of A's members drop below B's, one after the other: B's group moves once, when its second
    member's timer runs out, and A's group follows the first higher advert (vrrp_sync_backup)."""
    sim, groups = build()
    sim.start_all(0.0)
    sim.at(10.0, lambda now: sim.feed("A1", PriorityChanged(50), now))
    sim.at(20.0, lambda now: sim.feed("A2", PriorityChanged(50), now))
    sim.run(40.0)

    b_up = first_master_at_or_after(sim, "B1", 10.0)
    assert first_master_at_or_after(sim, "B2", 10.0) == b_up
    assert 20.0 < b_up <= 20.0 + MDI_B + AI + EPS, "B2 starts wanting only after A2's drop"
    assert masters(sim, 51, 40.0) == ["B1"] and masters(sim, 52, 40.0) == ["B2"]
    for name in ("A1", "A2"):
        assert [tr.new for tr in sim.routers[name].transitions] == [State.BACKUP, State.MASTER, State.BACKUP]
    reasons = sorted(tr.reason for n in ("A1", "A2") for tr in sim.routers[n].transitions[-1:])
    assert reasons == ["higher_priority_advert", "sync_group"] or reasons == [
        "higher_priority_advert",
        "higher_priority_advert",
    ]
    no_zero = [adv for n in ("A1", "A2") for t, adv in sim.routers[n].sent if adv.priority == 0]
    assert no_zero == [], "a sync step-down sends no priority 0 (vrrp_state_leave_master(isync, false))"
    assert groups["A"].state is State.BACKUP and groups["B"].state is State.MASTER


def test_a_fault_shared_by_the_tracker_on_a_backup_group_keeps_the_master_group_still() -> None:
    """keepalived vrrp_sync_fault on the backup router: B's members go FAULT and back; A never moves."""
    sim, _ = build()
    sim.start_all(0.0)
    for name in ("B1", "B2"):
        sim.at(10.0, lambda now, n=name: sim.feed(n, FaultChanged(True, "eth1 down"), now))
        sim.at(15.0, lambda now, n=name: sim.feed(n, FaultChanged(False), now))
    sim.run(40.0)
    for name in ("A1", "A2"):
        assert [tr.new for tr in sim.routers[name].transitions] == [State.BACKUP, State.MASTER]
    for name in ("B1", "B2"):
        assert [tr.new for tr in sim.routers[name].transitions] == [State.BACKUP, State.FAULT, State.BACKUP]
