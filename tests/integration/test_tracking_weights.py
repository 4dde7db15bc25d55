"""Negative weights with three trackers of three kinds, seen in the master's adverts.

r1 (base priority 200) tracks a tcp vrrp_check (weight -30), a vrrp_script
(weight -50) and a track_file (weight -70, the file holds 1). r2 is at 100.
Breaking them one by one, r1's adverts carry 170, then 120; the third takes it
to 50, below r2: r2 (preempting) discards those adverts and takes over after
its Master_Down_Interval. Restoring everything, r1 preempts back at 200.

Each step waits for the new priority in an advert within the tracker's
detection time (interval * fall) + one advert interval + MARGIN.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.lab.scenario import converge
from vipdlab.lab.services import tcp_listener

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.100
FILE_INTERVAL = 0.5  # vipd reads a track_file every 0.5 s (vipd.runtime.tracking.FILE_INTERVAL)


def trackers(workdir: Path) -> str:
    return f"""
vrrp_check svc {{
    type tcp
    connect_port 8080
    interval 0.1
    timeout 0.1
    weight -30
}}
vrrp_script flag {{
    script "/usr/bin/test -e {workdir}/flag"
    interval 0.1
    weight -50
}}
track_file prio {{
    file {workdir}/prio
    weight -70
}}
"""


def advertised(lab: Lab, priority: int, since: float) -> bool:
    return any(a.priority == priority for a in lab.sniffer.adverts(src=lab.r1.ip4, since=since))


def test_three_negative_weights_step_by_step(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("vrrp_check is vipd's")
    wd = lab.workdir
    (wd / "flag").touch()
    (wd / "prio").write_text("0\n")
    svc = tcp_listener(lab, lab.r1, 8080)
    inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
    track = ("track_script {\n        svc\n        flag\n    }", "track_file {\n        prio\n    }")
    lab.start_vipd(lab.r1, trackers(wd) + render(inst.with_(priority=200, extra=track)))
    lab.start_vipd(lab.r2, render(inst.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    assert advertised(lab, 200, time.monotonic() - 0.5)

    t = time.monotonic()
    svc.crash()
    wait_until(lambda: advertised(lab, 170, t), 0.1 + AI + MARGIN, message="r1 advertises 200-30")
    t = time.monotonic()
    (wd / "flag").unlink()
    wait_until(lambda: advertised(lab, 120, t), 0.1 + AI + MARGIN, message="r1 advertises 200-30-50")
    assert lab.holders(VIP) == [lab.r1]
    t = time.monotonic()
    (wd / "prio").write_text("1\n")  # 1 * -70
    wait_until(lambda: advertised(lab, 50, t), FILE_INTERVAL + AI + MARGIN, message="r1 advertises 200-30-50-70")
    t50 = next(a.t for a in lab.sniffer.adverts(src=lab.r1.ip4, since=t) if a.priority == 50)
    # r2 (100, preempt) discards the 50s and takes over after its Master_Down_Interval
    wait_until(
        lambda: lab.holders(VIP) == [lab.r2],
        timing.master_down_interval(3, 100, AI) + MARGIN + 0.5,
        message=lambda: f"holders {lab.holders(VIP)}",
    )
    assert lab.sniffer.adverts(src=lab.r2.ip4, since=t50)

    t = time.monotonic()
    (wd / "flag").touch()
    (wd / "prio").write_text("0\n")
    tcp_listener(lab, lab.r1, 8080)
    bound = FILE_INTERVAL + timing.master_down_interval(3, 200, AI) + MARGIN + 1.0
    wait_until(lambda: lab.holders(VIP) == [lab.r1], bound, message=lambda: f"holders {lab.holders(VIP)}")
    wait_until(lambda: advertised(lab, 200, t), 1.0, message="r1 back at 200")
