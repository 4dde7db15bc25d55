"""keepalived's event hooks in the lab: ``notify_master_rx_lower_pri`` and ``notify_deleted``.

VRRPv3 with 0.1 s adverts; the lower-priority advert is injected from the client
with TTL 255 (a valid advert from a router that believes it is master). Waits have
deadlines from the protocol timers plus a stated margin.
"""

from __future__ import annotations

import socket
import stat
import time
from ipaddress import ip_address
from pathlib import Path

import pytest
from pyroute2 import netns
from vipdlab import Instance, Lab, render, timing, wait_until

from vipd.control.server import request
from vipd.wire.advert import VRRP_MCAST4, VRRP_TTL, Advert
from vipd.wire.codec import encode_advert

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0


def hook(tmp: Path, name: str, log: Path) -> str:
    p = tmp / name
    p.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def inject_lower(lab: Lab, vrid: int, priority: int) -> float:
    """Send one valid VRRPv3 advert for ``vrid`` from the client (TTL 255); return when (monotonic, just before)."""
    t = time.monotonic()
    netns.pushns(lab.client.ns)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    finally:
        netns.popns()
    with s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        adv = Advert(version=3, vrid=vrid, priority=priority, max_adver_int=AI, addresses=(ip_address(VIP),))
        s.sendto(
            encode_advert(adv, src=ip_address(lab.client.ip4), dst=VRRP_MCAST4, pseudo_header=True),
            (str(VRRP_MCAST4), 0),
        )
    return t


def test_master_rx_lower_pri_runs_its_hook_and_reannounces_and_deleted_runs_on_removal(
    lab: Lab, ctl_sockets: Path
) -> None:
    log = ctl_sockets / "hooks.log"
    extra = (
        f"notify_master_rx_lower_pri {hook(ctl_sockets, 'rx_lower', log)}",
        f"notify_deleted {hook(ctl_sockets, 'deleted', log)}",
        f"notify_stop {hook(ctl_sockets, 'stop', log)}",
        "garp_lower_prio_repeat 2",
        "garp_lower_prio_delay 0.5",
        "garp_master_delay 0",
    )
    vi1 = Instance(priority=150, advert_int=AI, extra=extra)
    vi2 = Instance(name="VI_2", vrid=52, priority=150, advert_int=AI, vips=("192.0.2.101/24",), extra=extra)
    lab.start_vipd(lab.r1, render([vi1, vi2]))
    wait_until(lambda: (ctl_sockets / "r1.ctl").exists(), 10.0)  # interpreter start-up
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    assert lab.sniffer is not None

    # a router claiming VRID 51 with priority 100: r1 answers, announces twice (now and 0.5 s later), runs the hook
    t0 = inject_lower(lab, 51, 100)
    wait_until(lambda: log.exists() and "rx_lower" in log.read_text(), MARGIN)
    wait_until(
        lambda: len(lab.sniffer.announcements(VIP, since=t0)) >= 4,
        0.5 + MARGIN,
        message=lambda: f"{lab.sniffer.announcements(VIP, since=t0 - 1)} {lab.logs(30)}",
    )
    garps = lab.sniffer.announcements(VIP, since=t0)
    assert garps[0].t - t0 < 0.1, "the first burst answers at once"
    assert 0.45 < garps[2].t - garps[0].t < 0.5 + 0.2, "the second burst after garp_lower_prio_delay"
    assert lab.holders(VIP) == [lab.r1]

    # VI_2 removed by reload: notify_deleted runs instead of notify_stop
    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    conf.write_text(render([vi1]))
    r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
    assert r["ok"] and r["diff"]["removed"] == ["VI_2"], r
    wait_until(lambda: "deleted" in log.read_text(), MARGIN)
    assert not lab.holds(lab.r1, "192.0.2.101")
    lines = log.read_text().splitlines()
    assert lines[0].startswith("rx_lower") and lines[-1].startswith("deleted"), lines
    assert not [ln for ln in lines if ln.startswith("stop")], lines


def test_sync_group_notify_hooks_run_with_group_arguments(lab: Lab, ctl_sockets: Path) -> None:
    """keepalived: a vrrp_sync_group's notify_master and notify get ``GROUP NAME MASTER 0``, once per group move."""
    log = ctl_sockets / "group.log"
    group = (
        "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n"
        f"    notify_master {hook(ctl_sockets, 'gmaster', log)}\n"
        f"    notify {hook(ctl_sockets, 'gnotify', log)}\n}}\n"
    )
    vi1 = Instance(priority=150, advert_int=AI)
    vi2 = Instance(name="VI_2", vrid=52, priority=150, advert_int=AI, vips=("192.0.2.101/24",))
    lab.start_vipd(lab.r1, render([vi1, vi2]) + group)
    wait_until(lambda: (ctl_sockets / "r1.ctl").exists(), 10.0)  # interpreter start-up
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    want = ["gmaster ", "gnotify GROUP G MASTER 0"]
    wait_until(lambda: log.exists() and sorted(log.read_text().splitlines()) == want, MARGIN)
