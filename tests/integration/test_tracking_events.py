"""Event-driven trackers in the daemon: a killed process and a written file show in the next advert.

r1 (base 200) tracks a process (``vrrp_track_process``, weight -150) that runs
in its namespace, and a ``track_file`` (weight -150). vipd runs in a network
namespace, where the kernel's process connector does not exist: this checks
that vipd opens it in the initial namespace. Each change must show in r1's
adverts within one advert interval + MARGIN: the event reaches the instance at
once, where the old polls (process 1 s, file 0.5 s) would usually miss that
bound. The time from each change to vipd's "effective priority" log line
(millisecond wall-clock stamps) is printed (pytest -s); the advert that
carries it follows at the next advert tick.
"""

from __future__ import annotations

import datetime
import os
import signal
import time
import uuid

import pytest
from vipdlab import Instance, Lab, Process, render, wait_until
from vipdlab.lab.scenario import converge

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.100


def advert_at(lab: Lab, priority: int, since: float) -> float | None:
    """Time of r1's first advert carrying ``priority`` since ``since`` (the sniffer's clock), or None."""
    return next((a.t for a in lab.sniffer.adverts(src=lab.r1.ip4, since=since) if a.priority == priority), None)


def logged(lab: Lab, change: str, since_wall: float) -> float:
    """Milliseconds from ``since_wall`` (time.time()) to r1's first "effective priority CHANGE" line after it."""
    for line in (lab.workdir / "r1-vipd.log").read_text().splitlines():
        if f"effective priority {change} " in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if stamp >= since_wall - 0.001:
                return (stamp - since_wall) * 1e3
    return float("nan")


def test_process_and_file_events_reach_the_adverts(lab: Lab) -> None:
    wd = lab.workdir
    tag = f"{6000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    svc = Process("tracked", lab.r1.ns, ["sleep", tag], wd / "tracked.log")
    trackers = f"""
vrrp_track_process svc {{
    process sleep {tag}
    weight -150
}}
track_file prio {{
    file {wd}/prio
    weight -150
}}
"""
    track = ("track_process {\n        svc\n    }", "track_file {\n        prio\n    }")
    inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
    lab.start_vipd(lab.r1, trackers + render(inst.with_(priority=200, extra=track)))
    lab.start_vipd(lab.r2, render(inst.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    wait_until(lambda: advert_at(lab, 200, time.monotonic() - 0.5) is not None, 1.0, message=lambda: lab.logs(20))

    t, wall = time.monotonic(), time.time()
    os.kill(svc.pid, signal.SIGKILL)  # ``ip netns exec`` exec'd sleep: the pid is the tracked process
    svc.wait(5.0)
    wait_until(lambda: advert_at(lab, 50, t) is not None, AI + MARGIN, message=lambda: lab.logs(20))
    print(f"\nprocess killed -> priority 50: {logged(lab, '200 -> 50', wall):.0f} ms (log stamps in ms)")

    t = time.monotonic()
    Process("tracked", lab.r1.ns, ["sleep", tag], wd / "tracked.log")
    wait_until(lambda: advert_at(lab, 200, t) is not None, 1.0 + AI + MARGIN, message=lambda: lab.logs(20))

    t, wall = time.monotonic(), time.time()
    (wd / "prio").write_text("1\n")  # 1 * -150
    wait_until(lambda: advert_at(lab, 50, t) is not None, AI + MARGIN, message=lambda: lab.logs(20))
    print(f"file written -> priority 50: {logged(lab, '200 -> 50', wall):.0f} ms")
    (wd / "prio").unlink()
    t = time.monotonic()
    wait_until(lambda: advert_at(lab, 200, t) is not None, AI + MARGIN, message=lambda: lab.logs(20))
