"""Unicast TTL in the lab: ``unicast_ttl`` on send, per-peer ``min_ttl``/``max_ttl`` on receive.

keepalived: ``unicast_ttl N`` sets the TTL of unicast adverts; ``unicast_peer { ADDR
min_ttl N max_ttl M }`` drops adverts from ADDR whose TTL is outside N..M (an
``ip_ttl`` error). r1 sends with TTL 64; r2 accepts 60..64 and stays backup (which
shows the TTL was 64: the default 255 would be dropped); after a reload to 65..255
r2 drops every advert of r1, counts ``ip_ttl`` and takes over within its
Master_Down_Interval. VRRPv3, 0.1 s adverts; deadlines from the protocol timers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vipdlab import Instance, Lab, control, hold, render, timing, wait_until

from vipd.control.server import request

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0
STARTUP = 10.0  # seconds for the interpreter to start and the daemon to open its sockets


def status(tmp: Path, node: str) -> dict[str, dict[str, object]]:
    return control.instances(tmp / f"{node}.ctl")


def unicast(src: str, peer: str, *extra: str) -> tuple[str, ...]:
    return (f"unicast_src_ip {src}", "unicast_peer {", f"    {peer}", "}", *extra)


def test_unicast_ttl_sent_and_min_max_ttl_enforced_per_peer(lab: Lab, ctl_sockets: Path) -> None:
    r1, r2 = lab.r1.ip4, lab.r2.ip4
    lab.start_vipd(lab.r1, render(Instance(priority=150, advert_int=AI, extra=unicast(r1, r2, "unicast_ttl 64"))))
    accept = Instance(priority=100, advert_int=AI, extra=unicast(r2, f"{r1} min_ttl 60 max_ttl 64"))
    lab.start_vipd(lab.r2, render(accept))
    for node in ("r1", "r2"):
        wait_until(lambda n=node: (ctl_sockets / f"{n}.ctl").exists() and bool(status(ctl_sockets, n)), STARTUP)
    mdi = timing.master_down_interval(3, 100, AI)
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    # r2 hears r1 at TTL 64 inside 60..64: it stays backup for several of its Master_Down_Intervals
    hold(lambda: lab.holders(VIP) == [lab.r1], 3 * mdi, message=lambda: lab.logs(20))
    st = status(ctl_sockets, "r2")["VI_1"]
    assert st["state"] == "BACKUP" and st["master_address"] == r1, st

    # 65..255: every advert of r1 is now outside the bounds; r2 takes over and counts ip_ttl
    conf = next(p for p in sorted(Path(lab.workdir).glob("r2-vipd-*.conf")))
    conf.write_text(render(accept.with_(extra=unicast(r2, f"{r1} min_ttl 65"))))
    r = request(str(ctl_sockets / "r2.ctl"), {"cmd": "reload"})
    assert r["ok"] and r["diff"]["restarted"] == [], r
    wait_until(lambda: lab.holds(lab.r2, VIP), mdi + MARGIN, message=lambda: lab.logs(20))
    stats = status(ctl_sockets, "r2")["VI_1"]["stats"]
    assert isinstance(stats, dict) and stats["discards"].get("ip_ttl", 0) > 0, stats
    assert "outside min_ttl 65 max_ttl 255" in lab.logs(50)
