"""virtual_routes / virtual_rules in the lab: installed while master, removed on step-down.

keepalived installs an instance's ``virtual_routes``/``virtual_rules`` when it
becomes master and removes them when it leaves (vipd: ``vipd.linux.routes.RouteSet``,
a companion of the VIPs). r1 (150) is master, r2 (100) backup; a hitless reload
lowers r1 to 50, r2 preempts within its Master_Down_Interval, and the route and
rule move with the VIP. VRRPv3, 0.1 s adverts; deadlines from the protocol timers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from vipdlab import Instance, Lab, Node, render, timing, wait_until

from vipd.control.server import request

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0
STARTUP = 10.0  # seconds for the interpreter to start and the daemon to open its sockets
ROUTE = "198.51.100.0/24"
EXTRA = (
    "virtual_routes {",
    f"    {ROUTE} via 192.0.2.254 dev eth0",
    "}",
    "virtual_rules {",
    f"    from {VIP} table 100",
    "}",
)


def ip(node: Node, *args: str) -> str:
    return subprocess.run(["ip", "-n", node.ns, *args], capture_output=True, text=True, check=True).stdout


def has_route(node: Node) -> bool:
    return ROUTE in ip(node, "route", "show", ROUTE)


def has_rule(node: Node) -> bool:
    return f"from {VIP} lookup 100" in ip(node, "rule", "show")


def test_routes_and_rules_follow_the_master(lab: Lab, ctl_sockets: Path) -> None:
    r1 = Instance(priority=150, advert_int=AI, extra=EXTRA)
    lab.start_vipd(lab.r1, render(r1))
    lab.start_vipd(lab.r2, render(r1.with_(priority=100)))
    for n in ("r1", "r2"):
        wait_until(lambda n=n: (ctl_sockets / f"{n}.ctl").exists(), STARTUP, message=lambda: lab.logs(20))
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    wait_until(lambda: has_route(lab.r1) and has_rule(lab.r1), MARGIN, message=lambda: lab.logs(20))
    assert not has_route(lab.r2) and not has_rule(lab.r2), "a backup installs none"

    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    conf.write_text(render(r1.with_(priority=50)))
    r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
    assert r["ok"] and r["diff"]["restarted"] == [], r
    bound = timing.master_down_interval(3, 100, AI) + MARGIN
    wait_until(lambda: lab.holders(VIP) == [lab.r2], bound, message=lambda: lab.logs(20))
    wait_until(lambda: has_route(lab.r2) and has_rule(lab.r2), MARGIN, message=lambda: lab.logs(20))
    wait_until(lambda: not has_route(lab.r1) and not has_rule(lab.r1), MARGIN, message=lambda: lab.logs(20))

    # a reload that changes the routes of the master swaps them in place (no transition)
    route2 = "198.51.101.0/24"
    conf2 = next(p for p in sorted(Path(lab.workdir).glob("r2-vipd-*.conf")))
    extra2 = tuple(line.replace(ROUTE, route2) for line in EXTRA)
    conf2.write_text(render(r1.with_(priority=100, extra=extra2)))
    r = request(str(ctl_sockets / "r2.ctl"), {"cmd": "reload"})
    assert r["ok"] and r["diff"]["changed"] == ["VI_1"] and r["diff"]["restarted"] == [], r
    wait_until(lambda: route2 in ip(lab.r2, "route", "show", route2) and not has_route(lab.r2), MARGIN)
    assert has_rule(lab.r2), "the unchanged rule is back in place"
    assert lab.holders(VIP) == [lab.r2]
