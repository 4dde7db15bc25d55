"""vrrp_sync_group: two instances on two LANs fail over together.

r1 and r2 each run VI_1 on eth0 (192.0.2.100) and VI_2 on eth1
(198.51.100.100, the lab's second bridge from vipdlab.lab.twolinks), grouped in
sync group G. Pulling r1's eth1 cable puts VI_2 in FAULT (its interface), and
the group takes VI_1 to FAULT too:

* VI_1 on r1 sends priority 0 on the healthy eth0; r2's VI_1 runs out its
  timer after Skew_Time but is held in BACKUP until r2's VI_2 wants master too
  (keepalived ``vrrp_sync_can_goto_master``: "prefer backup state to avoid
  thrashing");
* VI_2's adverts stop with the dead link, so r2's VI_2 runs out its
  Master_Down_Interval and the whole group takes over: VI_1 within
  Master_Down_Interval(r2) + MARGIN of the cable pull, not within Skew_Time
  (keepalived 2.x measured on this lab: 352 ms at 0.1 s adverts, where
  Skew_Time is 61 ms and Master_Down_Interval 361 ms);
* r1 holds neither VIP. Cable back: both return to r1 (higher priority, preempt).

The preemption case: r1 crashes, r2 takes both; r1 comes back and preempts both
instances together (its group moves when its second member's timer runs out;
r2's group steps down together on the first higher advert, ``vrrp_sync_backup``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.lab.scenario import converge, takeover_garp
from vipdlab.lab.twolinks import add_second_link, link_down, link_up
from vipdlab.lab.wait import hold

pytestmark = pytest.mark.netns

AI = 0.1
VIP1, VIP2 = "192.0.2.100", "198.51.100.100"
MARGIN = 0.100
GROUP = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"


def config(priority: int) -> str:
    vi1 = Instance(name="VI_1", vrid=51, priority=priority, advert_int=AI, version=3, vips=(f"{VIP1}/24",))
    vi2 = vi1.with_(name="VI_2", vrid=52, interface="eth1", vips=(f"{VIP2}/24",))
    return render([vi1, vi2]) + GROUP


def test_sync_group_fails_over_together(lab: Lab, routers: Any) -> None:
    second = add_second_link(lab)
    routers.lab.start_daemon(routers.kind, lab.r1, config(150))
    routers.lab.start_daemon(routers.kind, lab.r2, config(100))
    converge(lab, lab.r1, [lab.r2], VIP1, interval=AI, vrid=51)
    wait_until(lambda: lab.holders(VIP2) == [lab.r1], 2.0, message=lambda: f"holders of {VIP2}: {lab.holders(VIP2)}")

    t_down = link_down(lab, second["r1"])
    skew, mdi = timing.skew_time(3, 100, AI), timing.master_down_interval(3, 100, AI)
    _, garp = takeover_garp(lab, lab.r2, VIP1, t_down, mdi + MARGIN + 1.0)
    took1 = garp.t - t_down
    zero = lab.sniffer.adverts(src=lab.r1.ip4, vrid=51, priority=0, since=t_down)
    assert zero, "VI_1 follows its group into FAULT and says priority 0 on eth0"
    wait_until(
        lambda: lab.holders(VIP2) == [lab.r2], mdi + MARGIN + 1.0, message=lambda: f"holders {lab.holders(VIP2)}"
    )
    print(f"eth1 cable pulled -> VI_1 GARP from r2 after {took1 * 1000:.1f} ms (skew {skew * 1000:.1f} ms)")
    assert took1 <= mdi + MARGIN, "VI_1 must not wait for anything longer than VI_2's own failover"
    assert zero[0].t - t_down <= MARGIN, "the group goes to FAULT as soon as the link event arrives"
    # VI_2's last advert left r1 at most one interval before the pull: r2's group moves no earlier.
    assert took1 >= mdi - AI - 0.010, "r2's VI_1 is held until VI_2 wants master too (vrrp_sync_can_goto_master)"
    assert lab.holders(VIP1) == [lab.r2]

    link_up(lab, second["r1"])
    back = timing.master_down_interval(3, 150, AI) + MARGIN + 1.0
    wait_until(lambda: lab.holders(VIP1) == [lab.r1], back, message=lambda: f"holders of {VIP1}: {lab.holders(VIP1)}")
    wait_until(lambda: lab.holders(VIP2) == [lab.r1], back, message=lambda: f"holders of {VIP2}: {lab.holders(VIP2)}")


def _holders_over_time(lab: Lab, until: Any, timeout: float) -> list[tuple[float, list[str], list[str]]]:
    """Sample who holds VIP1 and VIP2 until ``until(samples)`` is true; fails at ``timeout``."""
    samples: list[tuple[float, list[str], list[str]]] = []

    def sample() -> bool:
        h1 = [n.name for n in lab.holders(VIP1)]
        h2 = [n.name for n in lab.holders(VIP2)]
        samples.append((time.monotonic(), h1, h2))
        return bool(until(samples))

    wait_until(sample, timeout, interval=0.002, message=lambda: f"last samples: {samples[-3:]}")
    return samples


def test_sync_group_preempts_back_together(lab: Lab, routers: Any) -> None:
    """r1 (150) crashes, r2 (100) takes both VIPs together; r1 returns and BOTH move back to it together."""
    second = add_second_link(lab)
    d1 = routers.lab.start_daemon(routers.kind, lab.r1, config(150))
    routers.lab.start_daemon(routers.kind, lab.r2, config(100))
    converge(lab, lab.r1, [lab.r2], VIP1, interval=AI, vrid=51)
    wait_until(lambda: lab.holders(VIP2) == [lab.r1], 2.0, message=lambda: f"holders of {VIP2}: {lab.holders(VIP2)}")

    t_crash = d1.crash()
    # A killed master keeps its VIPs in the kernel (DESIGN "Lab facts"): clear them, so that only
    # the returning daemon can put them back on r1.
    lab.del_address(lab.r1, f"{VIP1}/24")
    lab.del_address(second["r1"], f"{VIP2}/24")
    mdi2 = timing.master_down_interval(3, 100, AI)
    wait_until(
        lambda: lab.r2 in lab.holders(VIP1) and lab.r2 in lab.holders(VIP2),
        mdi2 + MARGIN + 1.0,
        message=lambda: f"holders {lab.holders(VIP1)} {lab.holders(VIP2)}",
    )
    took = time.monotonic() - t_crash
    assert took <= mdi2 + MARGIN + 0.5, f"r2 took both VIPs {took * 1000:.0f} ms after the crash"

    t_back = time.monotonic()
    routers.lab.start_daemon(routers.kind, lab.r1, config(150))
    mdi1 = timing.master_down_interval(3, 150, AI)
    samples = _holders_over_time(
        lab,
        lambda s: s[-1][1] == ["r1"] and s[-1][2] == ["r1"],
        mdi1 + MARGIN + 5.0,  # start-up of the daemon, then its Master_Down_Interval
    )
    first_r1 = next(t for t, h1, h2 in samples if "r1" in h1 or "r1" in h2)
    both_r1 = samples[-1][0]
    split = both_r1 - first_r1
    print(f"r1 back: first VIP on r1 {first_r1 - t_back:.3f}s after restart, both {split * 1000:.1f} ms later")
    assert split <= MARGIN, f"the two instances moved back {split * 1000:.0f} ms apart: {samples[-5:]}"
    two_masters = [(t, h1, h2) for t, h1, h2 in samples if len(h1) > 1 or len(h2) > 1]
    if two_masters:
        assert two_masters[-1][0] - two_masters[0][0] <= MARGIN, two_masters
    # ...and they stay there: r2 stepped down on both, no flapping back.
    hold(
        lambda: lab.holders(VIP1) == [lab.r1] and lab.holders(VIP2) == [lab.r1],
        3 * mdi1,
        message=lambda: f"holders {lab.holders(VIP1)} {lab.holders(VIP2)}",
    )
