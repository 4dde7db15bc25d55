"""keepalived's track_bfd in vipd: a BFD session's state moves the priority, weight 0 gives FAULT.

r1 (base priority 200) tracks a BFD session to the client (an upstream router here), run by
vipd's own BFD runtime (``vipdlab.bfdpeer``) at 50 ms x 3. r2 is at 100.

- weight -150: while the session is Up r1 is master at 200; when the client's BFD dies, r1
  sees Down within the detection time (3 x 50 ms) and advertises 50, so r2 (preempting) takes
  over after its Master_Down_Interval; BFD back Up, r1 preempts at 200 again.
- weight 0: the session going Down puts r1 in FAULT (r2 takes over); Up again, r1 leaves FAULT.

Bounds: detection time + one advert interval + MARGIN for the priority change; the takeover
by r2 within 3 * AI + Skew_Time + MARGIN after that (RFC 5798 §6.1).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from vipdlab import Instance, Lab, hold, render, wait_until
from vipdlab.bfdpeer import is_up, ready
from vipdlab.bfdpeer import start as start_bfd
from vipdlab.lab.control import instances
from vipdlab.lab.scenario import converge

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.3
TX = 0.05
MULT = 3
DETECT = TX * MULT
TAKEOVER = 3 * AI + (256 - 100) * AI / 256  # r2's Master_Down_Interval
UP_WITHIN = 1.0 + 3 * TX + MARGIN  # one slow (1 s) packet each way at most, then round trips


def bfd_block(lab: Lab) -> str:
    return f"""
bfd_instance tor {{
    neighbor_ip {lab.client.ip4}
    source_ip {lab.r1.ip4}
    min_tx {TX * 1000:g}
    min_rx {TX * 1000:g}
    multiplier {MULT}
}}
"""


def advertised(lab: Lab, priority: int, since: float) -> bool:
    return any(a.priority == priority for a in lab.sniffer.adverts(src=lab.r1.ip4, since=since))


def peer_spec(lab: Lab) -> str:
    return f"r1={lab.r1.ip4},src={lab.client.ip4},tx={TX * 1000:g},rx={TX * 1000:g},mult={MULT}"


def test_track_bfd_weight_moves_the_vip_and_back(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("the BFD peer is vipd's runtime; keepalived's BFD is covered in tests/interop")
    peer = start_bfd(lab, lab.client, peer_spec(lab))
    inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
    track = ("track_bfd {\n        tor weight -150\n    }",)
    lab.start_vipd(lab.r1, bfd_block(lab) + render(inst.with_(priority=200, extra=track)))
    lab.start_vipd(lab.r2, render(inst.with_(priority=100)))
    wait_until(lambda: is_up(peer, "r1"), UP_WITHIN + 3.0, message="BFD session r1 <-> client Up")
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    assert advertised(lab, 200, time.monotonic() - 0.5)

    t = time.monotonic()
    peer.crash()
    wait_until(lambda: advertised(lab, 50, t), DETECT + AI + MARGIN, message="r1 advertises 200-150")
    wait_until(lambda: lab.holders(VIP) == [lab.r2], DETECT + AI + TAKEOVER + MARGIN, message="r2 takes over")

    peer = start_bfd(lab, lab.client, peer_spec(lab), tag="bfdpeer2")
    wait_until(lambda: ready(peer), 10.0, message="BFD peer restarted")
    t = time.monotonic()
    wait_until(lambda: advertised(lab, 200, t), UP_WITHIN + AI + MARGIN, message="r1 back at 200")
    wait_until(lambda: lab.holders(VIP) == [lab.r1], AI + MARGIN, message="r1 preempts back")


def test_track_bfd_weight_zero_is_fault(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("the BFD peer is vipd's runtime; keepalived's BFD is covered in tests/interop")
    peer = start_bfd(lab, lab.client, peer_spec(lab))
    inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
    track = ("track_bfd {\n        tor weight 0\n    }",)
    r1 = lab.start_vipd(lab.r1, bfd_block(lab) + render(inst.with_(priority=200, extra=track)))
    lab.start_vipd(lab.r2, render(inst.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI, timeout=UP_WITHIN + 10)
    sock = r1.run_dir / "vipd.ctl"

    t = time.monotonic()
    peer.crash()
    wait_until(lambda: instances(sock)["VI_1"]["state"] == "FAULT", DETECT + MARGIN + 0.5, message="r1 FAULT")
    wait_until(lambda: lab.holders(VIP) == [lab.r2], DETECT + TAKEOVER + MARGIN + 0.5, message="r2 takes over")
    assert time.monotonic() - t < DETECT + TAKEOVER + MARGIN + 0.5

    peer = start_bfd(lab, lab.client, peer_spec(lab), tag="bfdpeer2")
    wait_until(lambda: ready(peer), 10.0, message="BFD peer restarted")
    wait_until(lambda: lab.holders(VIP) == [lab.r1], UP_WITHIN + AI + MARGIN, message="r1 leaves FAULT, preempts")


def test_reload_changes_bfd_timers_without_leaving_up(lab: Lab, routers: Any) -> None:
    """RFC 5880 §6.8.3: new timers go through a Poll Sequence; the session stays Up, so a weight-0
    track_bfd does not blip the instance into FAULT across a reload."""
    if routers.kind != "vipd":
        pytest.skip("the BFD peer is vipd's runtime")
    from vipd.control.server import request

    start_bfd(lab, lab.client, peer_spec(lab))
    inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",), extra=("track_bfd {\n        tor weight 0\n    }",))
    r1 = lab.start_vipd(lab.r1, bfd_block(lab) + render(inst.with_(priority=200)))
    lab.start_vipd(lab.r2, render(inst.with_(priority=100, extra=())))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI, timeout=UP_WITHIN + 10)
    sock = r1.run_dir / "vipd.ctl"
    r1.config_path.write_text(
        bfd_block(lab).replace(f"min_tx {TX * 1000:g}", "min_tx 100") + render(inst.with_(priority=200))
    )
    logged = len(r1.log_text())
    r = request(str(sock), {"cmd": "reload"})
    assert r["ok"], r
    hold(lambda: lab.holders(VIP) == [lab.r1] and instances(sock)["VI_1"]["state"] == "MASTER", 1.5)
    assert "UP -> " not in r1.log_text()[logged:]
    (session,) = request(str(sock), {"cmd": "status"})["bfd"]
    assert session["state"] == "up" and session["tx_interval"] == pytest.approx(0.1)
