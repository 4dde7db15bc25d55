"""Routes for BGP in the lab: BIRD 2 announces the master's route to an upstream router (docs/bgp.md).

r1 (150) and r2 (100) run vipd with ``virtual_routes { 203.0.113.10/32 ...
table 100 proto 250 }`` and BIRD 2 (kernel protocol learning table 100, eBGP
to the upstream); the client namespace is the upstream router, also BIRD,
writing its best routes into its kernel. The upstream must route the service
address via the master: r1 first; after r1 crashes (vipd and BIRD SIGKILLed,
as when the host dies), via r2 within Master_Down_Interval plus the BGP update
time; after r1 comes back and preempts, via r1 again. vipd itself speaks no
BGP. The times are printed (pytest -s) and recorded in docs/bgp.md.

Bounds: BIRD learns a kernel route from netlink at once and sends the update
at once (no MRAI for eBGP in BIRD); a killed BIRD's session closes with the
TCP connection, so the upstream withdraws r1's route at once. ``BGP_UPDATE``
(1 s) covers both plus the upstream's kernel write; a slower path fails.
"""

from __future__ import annotations

import time

import pytest
from vipdlab import Instance, Lab, hold, timing, wait_until
from vipdlab.bird import VIPD_TABLE, bird_available, router_config, routes, start_bird, upstream_config
from vipdlab.lab.conf import render

pytestmark = [pytest.mark.netns, pytest.mark.slow]

AI = 0.1
VIP = "192.0.2.100"
SERVICE = "203.0.113.10"
STARTUP = 20.0  # seconds for vipd's interpreter to start and BIRD's sessions to come up (connect retry 1 s)
BGP_UPDATE = 1.0
"""Seconds for BIRD to learn the kernel route, send the update, and the upstream to install it."""
ROUTES = ("virtual_routes {", f"    {SERVICE}/32 dev eth0 table {VIPD_TABLE} proto 250", "}")


@pytest.fixture(autouse=True)
def _needs_bird() -> None:
    why = bird_available()
    if why:
        pytest.skip(why)


def via(lab: Lab) -> str | None:
    """The router the upstream sends the service address to (its name), or None."""
    text = routes(lab.client, SERVICE)
    for node in lab.routers:
        if f"via {node.ip4} " in text + " ":
            return node.name
    return None


def test_upstream_follows_the_master_by_bgp(lab: Lab) -> None:
    inst = Instance(priority=150, advert_int=AI, extra=ROUTES)
    start_bird(lab, lab.client, upstream_config(lab.client, lab.routers))
    birds = {r.name: start_bird(lab, r, router_config(r, lab.client)) for r in lab.routers}
    vipd = {"r1": lab.start_vipd(lab.r1, render(inst)), "r2": lab.start_vipd(lab.r2, render(inst.with_(priority=100)))}

    t0 = time.monotonic()
    wait_until(lambda: via(lab) == "r1", STARTUP, message=lambda: lab.logs(30) + routes(lab.client, SERVICE))
    print(f"\nupstream routes {SERVICE} via r1 {time.monotonic() - t0:.2f}s after start")
    assert lab.holders(VIP) == [lab.r1]

    # The master's host dies: vipd and BIRD at once.
    t_crash = vipd["r1"].crash()
    birds["r1"].crash()
    bound = timing.master_down_interval(3, 100, AI) + BGP_UPDATE
    t_installed = t_learned = None  # r2's kernel route, the upstream's kernel route via r2
    while t_learned is None:
        now = time.monotonic()
        assert now - t_crash < bound, lab.logs(30) + routes(lab.client, SERVICE)
        if t_installed is None and SERVICE in routes(lab.r2, SERVICE, table=VIPD_TABLE):
            t_installed = now
        if via(lab) == "r2":
            t_learned = time.monotonic()
    if t_installed is None:  # installed and learned within one poll (a few ms)
        t_installed = now
    print(
        f"crash of r1 -> upstream via r2: {(t_learned - t_crash) * 1e3:.0f} ms "
        f"(Master_Down_Interval {bound - BGP_UPDATE:.3f}s); r2's route -> upstream: "
        f"{(t_learned - t_installed) * 1e3:.0f} ms (polled every ~{(t_learned - now) * 1e3:.0f} ms)"
    )
    assert lab.r2 in lab.holders(VIP)  # (the killed r1 keeps its VIP until its next start)

    # r1 comes back (BIRD first, then vipd): it preempts, the route moves back, r2 withdraws its own.
    birds["r1"] = start_bird(lab, lab.r1, router_config(lab.r1, lab.client))
    t_back = time.monotonic()
    vipd_r1 = lab.start_vipd(lab.r1, render(inst))
    wait_until(lambda: via(lab) == "r1", STARTUP, message=lambda: lab.logs(30) + routes(lab.client, SERVICE))
    print(f"r1 back -> upstream via r1: {time.monotonic() - t_back:.2f}s (includes vipd's start-up)")
    text = routes(lab.client, SERVICE)
    assert lab.r2.ip4 not in text, f"only the master announces: {text}"

    # vipd alone dies on r1 (BIRD lives on): r2 takes the VIP, but the kernel keeps r1's route, so
    # BIRD on r1 keeps announcing it until vipd starts again (docs/bgp.md, "When vipd alone dies").
    t_kill = vipd_r1.crash()
    wait_until(lambda: lab.r2 in lab.holders(VIP), timing.master_down_interval(3, 100, AI) + BGP_UPDATE)
    # The known limit, observed for BGP_UPDATE: the upstream keeps r1's path (lower router id wins the tie).
    hold(lambda: via(lab) == "r1", BGP_UPDATE, message="r1's stale route is still announced")
    print(f"vipd alone killed on r1: upstream still via r1 {time.monotonic() - t_kill:.2f}s later")
    # The next start enters Backup first, which removes the routes a killed run left: BIRD withdraws.
    t_restart = time.monotonic()
    lab.start_vipd(lab.r1, render(inst.with_(priority=50)))
    wait_until(lambda: via(lab) == "r2", STARTUP, message=lambda: lab.logs(30) + routes(lab.client, SERVICE))
    print(f"vipd restarted on r1 (priority 50): upstream via r2 {time.monotonic() - t_restart:.2f}s later")


def test_anycast_a_failing_check_withdraws_the_node(lab: Lab) -> None:
    """Anycast (docs/bgp.md): each node is master of its own VRID and announces while healthy.

    A track_file with weight 0 puts r1's instance in FAULT when the file holds a
    non-zero value: the route leaves table 100 and the upstream routes via r2;
    clearing it brings r1's announcement back.
    """
    wd = lab.workdir
    (wd / "down").write_text("0\n")
    track = f"track_file down {{\n    file {wd}/down\n    weight 0\n}}\n"
    own = Instance(priority=100, advert_int=AI, extra=(*ROUTES, "track_file {", "    down", "}"))
    start_bird(lab, lab.client, upstream_config(lab.client, lab.routers))
    for r in lab.routers:
        start_bird(lab, r, router_config(r, lab.client))
    lab.start_vipd(lab.r1, track + render(own.with_(vrid=61, vips=("192.0.2.161/24",))))
    lab.start_vipd(lab.r2, render(own.with_(vrid=62, vips=("192.0.2.162/24",), extra=ROUTES)))
    both = lambda: all(SERVICE in routes(r, SERVICE, table=VIPD_TABLE) for r in lab.routers)  # noqa: E731
    wait_until(both, STARTUP, message=lambda: lab.logs(30))
    wait_until(lambda: via(lab) == "r1", STARTUP, message=lambda: routes(lab.client, SERVICE))  # lower router id

    t = time.monotonic()
    (wd / "down").write_text("1\n")  # r1 unhealthy: FAULT removes its route
    wait_until(lambda: via(lab) == "r2", BGP_UPDATE, message=lambda: lab.logs(30) + routes(lab.client, SERVICE))
    print(f"\nanycast: r1's check failed -> upstream via r2 after {(time.monotonic() - t) * 1e3:.0f} ms")
    (wd / "down").write_text("0\n")
    wait_until(lambda: via(lab) == "r1", BGP_UPDATE + 1.0, message=lambda: lab.logs(30) + routes(lab.client, SERVICE))
