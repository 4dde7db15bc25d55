"""vrrp_sync_group: two instances on two LANs fail over together.

r1 and r2 each run VI_1 on eth0 (192.0.2.100) and VI_2 on eth1
(198.51.100.100, the lab's second bridge from vipdlab.twolinks), grouped in
sync group G. Pulling r1's eth1 cable puts VI_2 in FAULT (its interface), and
the group takes VI_1 to FAULT too:

* VI_1 on r1 sends priority 0 on the healthy eth0, so r2's VI_1 takes over
  within Skew_Time(r2) + MARGIN;
* VI_2's adverts stop with the dead link, so r2's VI_2 takes over within
  Master_Down_Interval(r2) + MARGIN;
* r1 holds neither VIP. Cable back: both return to r1 (higher priority, preempt).
"""

from __future__ import annotations

from typing import Any

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.scenario import converge, takeover_garp
from vipdlab.twolinks import add_second_link, link_down, link_up

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
    skew, mdi = timing.skew_time(100, AI), timing.master_down_interval(100, AI)
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
    assert garp.t - zero[0].t <= skew + MARGIN
    assert lab.holders(VIP1) == [lab.r2]

    link_up(lab, second["r1"])
    back = timing.master_down_interval(150, AI) + MARGIN + 1.0
    wait_until(lambda: lab.holders(VIP1) == [lab.r1], back, message=lambda: f"holders of {VIP1}: {lab.holders(VIP1)}")
    wait_until(lambda: lab.holders(VIP2) == [lab.r1], back, message=lambda: f"holders of {VIP2}: {lab.holders(VIP2)}")
