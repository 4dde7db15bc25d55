"""A `tcp` vrrp_check moves the VIP with the service: the master's listener stops, the backup takes over.

Both routers run the same service (a TCP listener on 127.0.0.1:8080 in their
namespace) and track it with a weight-0 check (interval 0.1 s, fall 3, rise 2):
while it fails the router is in FAULT. Timing bounds:

* service stops on the master -> the backup's first GARP within
  fall*interval (the failures it takes; connection refused is immediate) +
  Skew_Time(backup) (the faulting master sends priority 0) + MARGIN;
* service returns -> the old master (higher priority, preempting) leaves FAULT
  after rise*interval, waits Master_Down_Interval as a backup that discards the
  lower-priority adverts, and takes over: within rise*interval +
  Master_Down_Interval(own priority) + MARGIN.

MARGIN = 0.1 s as in test_lab_failover.py (vipd's measured overhead is a few ms).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.lab.scenario import STARTUP_ALLOWANCE, converge, takeover_garp
from vipdlab.lab.services import tcp_listener

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
INTERVAL, FALL, RISE = 0.1, 3, 2
MARGIN = 0.100
CHECK = f"""
vrrp_check svc {{
    type tcp
    connect_port 8080
    interval {INTERVAL}
    timeout 0.1
    fall {FALL}
    rise {RISE}
}}
"""
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",), extra=("track_script {\n        svc\n    }",))


def test_tcp_service_stop_moves_vip_and_return_preempts_back(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("vrrp_check is vipd's")
    svc1 = tcp_listener(lab, lab.r1, 8080)
    tcp_listener(lab, lab.r2, 8080)
    lab.start_vipd(lab.r1, CHECK + render(BASE.with_(priority=150)))
    lab.start_vipd(lab.r2, CHECK + render(BASE.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)

    t_stop = time.monotonic()
    svc1.crash()
    bound = FALL * INTERVAL + timing.skew_time(3, 100, AI)
    _, garp = takeover_garp(lab, lab.r2, VIP, t_stop, bound + MARGIN + 1.0)
    took = garp.t - t_stop
    print(f"service stop -> backup GARP: {took * 1000:.1f} ms (bound {bound * 1000:.1f} ms)")
    assert took <= bound + MARGIN, (
        f"backup took over {took * 1000:.1f} ms after the service stopped (bound {bound * 1000:.1f} ms + margin)"
    )
    # The faulting master said priority 0 and stays silent.
    zero = lab.sniffer.adverts(src=lab.r1.ip4, priority=0, since=t_stop)
    assert zero, "the master entering FAULT must send priority 0"
    wait_until(lambda: lab.holders(VIP) == [lab.r2], 1.0, message=lambda: f"holders {lab.holders(VIP)}")
    assert not [a for a in lab.sniffer.adverts(src=lab.r1.ip4, since=zero[-1].t + 0.001) if a.priority > 0]

    tcp_listener(lab, lab.r1, 8080)
    t_back = time.monotonic()  # the listener accepts from (a little before) here
    bound_back = RISE * INTERVAL + timing.master_down_interval(3, 150, AI)
    _, garp = takeover_garp(lab, lab.r1, VIP, t_back, STARTUP_ALLOWANCE)
    took = garp.t - t_back
    print(f"service back -> preempt GARP: {took * 1000:.1f} ms (bound {bound_back * 1000:.1f} ms)")
    # the listener start (a Python process) is part of the measured time: allow it
    assert took <= bound_back + MARGIN + 1.0, (
        f"preempted back after {took * 1000:.1f} ms (bound {bound_back * 1000:.1f} ms)"
    )
    wait_until(lambda: lab.holders(VIP) == [lab.r1], 1.0, message=lambda: f"holders {lab.holders(VIP)}")
