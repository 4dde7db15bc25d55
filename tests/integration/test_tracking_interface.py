"""Interface tracking from netlink link events: the master loses its link, enters FAULT, the backup takes over.

vipd tracks the instance's own interface (as keepalived does unless
``dont_track_primary``). The test pulls r1's cable (its bridge port goes down,
so r1 sees a carrier loss on eth0) while r1 is master:

* r1 enters FAULT at once (link event, no polling); it cannot send priority 0
  over a dead link, so the backup takes over when its Master_Down_Interval
  runs out after r1's last advert: its first GARP comes at most
  Master_Down_Interval(r2) + MARGIN after the cable pull.
* cable back: r1 leaves FAULT as a backup, hears r2's lower priority, and
  preempts after its own Master_Down_Interval: within that + MARGIN.
"""

from __future__ import annotations

from typing import Any

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.lab.scenario import converge, takeover_garp
from vipdlab.lab.twolinks import link_down, link_up

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.100
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))


def test_master_link_down_faults_and_backup_takes_over(lab: Lab, routers: Any) -> None:
    routers.start(lab.r1, BASE.with_(priority=150))
    routers.start(lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)

    t_down = link_down(lab, lab.r1)
    bound = timing.master_down_interval(3, 100, AI)
    _, garp = takeover_garp(lab, lab.r2, VIP, t_down, bound + MARGIN + 1.0)
    took = garp.t - t_down
    print(f"cable pulled -> backup GARP: {took * 1000:.1f} ms (bound {bound * 1000:.1f} ms)")
    assert took <= bound + MARGIN
    wait_until(lambda: not lab.holds(lab.r1, VIP), 1.0, message="r1 in FAULT removes the VIP")
    if routers.kind == "vipd":
        log = (lab.workdir / "r1-vipd.log").read_text()
        assert "Entering FAULT STATE (fault: interface eth0" in log, log[-2000:]

    t_up = link_up(lab, lab.r1)
    bound_up = timing.master_down_interval(3, 150, AI)
    _, garp = takeover_garp(lab, lab.r1, VIP, t_up, bound_up + MARGIN + 1.0)
    took = garp.t - t_up
    print(f"cable back -> r1 preempts: {took * 1000:.1f} ms (bound {bound_up * 1000:.1f} ms)")
    assert took <= bound_up + MARGIN
    wait_until(lambda: lab.holders(VIP) == [lab.r1], 1.0, message=lambda: f"holders {lab.holders(VIP)}")


def test_dont_track_primary_ignores_link_loss(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("log text is vipd's")
    lab.start_vipd(lab.r1, render(BASE.with_(priority=150, extra=("dont_track_primary",))))
    lab.start_vipd(lab.r2, render(BASE.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    link_down(lab, lab.r1)
    # r2 no longer hears r1 and becomes master; r1 is not told anything: it stays master (no FAULT).
    wait_until(lambda: lab.holds(lab.r2, VIP), timing.master_down_interval(3, 100, AI) + MARGIN + 1.0)
    assert lab.holds(lab.r1, VIP)
    assert "FAULT" not in (lab.workdir / "r1-vipd.log").read_text()
