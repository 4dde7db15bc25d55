"""BFD master-down (vipd ``vipd_bfd_master_down``, draft-ietf-rtgwg-vrrp-bfd-p2p) between the two routers.

r1 (priority 200) and r2 (100) run a BFD session to each other (``bfd_instance``,
50 ms x 3); r2 names it in ``vipd_bfd_master_down``.

- A crashed master (SIGKILL) with 1 s adverts: r2 holds the VIP within the BFD
  detection time (150 ms) + MARGIN, far inside Master_Down_Interval (3 s + Skew_Time).
- Adverts win: with 0.1 s adverts (shorter than the detection time), cutting only
  BFD (nftables, UDP 3784) takes r2's session Down, yet an advert from r1 arrived
  after BFD's last packet every time, so r2 never takes over (held for 2 s).
- With 1 s adverts the same cut makes r2 master once, for about one round trip: r1
  answers its lower-priority advert and r2 yields; no second takeover.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from vipdlab import Instance, Lab, WaitTimeout, hold, render, wait_until
from vipdlab.bfdinterop import cut
from vipdlab.lab.scenario import converge

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"
TX_MS = 50
MULT = 3
DETECT = TX_MS * MULT / 1000
MARGIN = 0.25  # takeover path (advert, netlink, GARP) and two processes' scheduling on a loaded machine


def bfd(peer_ip: str, src: str) -> str:
    return (
        f"bfd_instance peer {{\n    neighbor_ip {peer_ip}\n    source_ip {src}\n"
        f"    min_tx {TX_MS}\n    min_rx {TX_MS}\n    multiplier {MULT}\n}}\n"
    )


def start_pair(lab: Lab, ai: float) -> tuple[Any, Any]:
    inst = Instance(advert_int=ai, version=3, vips=(f"{VIP}/24",))
    r1 = lab.start_vipd(lab.r1, bfd(lab.r2.ip4, lab.r1.ip4) + render(inst.with_(priority=200)))
    r2 = lab.start_vipd(
        lab.r2, bfd(lab.r1.ip4, lab.r2.ip4) + render(inst.with_(priority=100, extra=("vipd_bfd_master_down peer",)))
    )
    converge(lab, lab.r1, [lab.r2], VIP, interval=ai, timeout=15.0)
    wait_until(lambda: "-> UP (diag" in r2.log_text(), 5.0, message="r2's BFD session Up")
    return r1, r2


def test_bfd_master_down_replaces_a_crashed_master_within_the_detection_time(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("vipd_bfd_master_down is vipd's")
    ai = 1.0
    r1, r2 = start_pair(lab, ai)
    time.sleep(0.3)  # a few BFD packets at the fast rate after the poll sequence
    t = r1.crash()
    # a killed master keeps its VIP (DESIGN "Protocol points"): watch r2 add it
    wait_until(lambda: lab.holds(lab.r2, VIP), DETECT + MARGIN, message="r2 takes over by BFD")
    took = time.monotonic() - t
    assert took < 3 * ai, f"took {took:.3f} s"
    assert "bfd_master_down" in r2.log_text()


def test_adverts_win_a_bfd_only_outage_never_moves_the_vip(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("vipd_bfd_master_down is vipd's")
    ai = 0.1  # shorter than the detection time: an advert always lands after BFD's last packet
    _r1, r2 = start_pair(lab, ai)
    cut(lab, lab.r1)
    wait_until(lambda: "bfd peer: UP -> DOWN" in r2.log_text(), DETECT + MARGIN, message="r2's session Down")
    hold(lambda: lab.holders(VIP) == [lab.r1], 2.0, message="r1 keeps the VIP")
    assert "bfd_master_down" not in r2.log_text().split("UP -> DOWN", 1)[1]


def test_slow_adverts_a_bfd_only_outage_costs_one_round_trip_of_two_masters(lab: Lab, routers: Any) -> None:
    """With 1 s adverts (slower than BFD's 150 ms), cutting only BFD takes r2 to master once (its BFD
    says the master is gone and no advert contradicts it yet); r1, higher, answers r2's advert at once
    and r2 yields (RFC 5798 §6.4.3): two masters for about one round trip, then r1 alone, and no
    second takeover while BFD stays down (only an Up -> Down edge triggers master-down). If an advert
    lands inside BFD's silent window (about one cut in ten), adverts win and r2 never moves."""
    if routers.kind != "vipd":
        pytest.skip("vipd_bfd_master_down is vipd's")
    _r1, r2 = start_pair(lab, 1.0)
    time.sleep(0.3)
    cut(lab, lab.r1)
    wait_until(lambda: "bfd peer: UP -> DOWN" in r2.log_text(), DETECT + MARGIN, message="r2's session Down")
    try:
        wait_until(lambda: "higher_priority_advert" in r2.log_text(), MARGIN, message="r2 yields to r1")
    except WaitTimeout:
        # An advert landed inside BFD's silent window (~10 % of cuts at 1 s adverts): adverts won.
        assert "Entering MASTER STATE" not in r2.log_text()
        hold(lambda: lab.holders(VIP) == [lab.r1], 2.0, message="r1 alone holds the VIP")
        return
    stamps = [
        line.split()[1]
        for line in r2.log_text().splitlines()
        if "Entering MASTER STATE (bfd_master_down" in line or "Entering BACKUP STATE (higher_priority_advert" in line
    ]
    assert len(stamps) == 2, stamps

    def secs(hms: str) -> float:
        h, m, s = hms.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    window = secs(stamps[1]) - secs(stamps[0])
    assert window < 0.05, f"r2 was master for {window * 1000:.0f} ms"
    hold(lambda: lab.holders(VIP) == [lab.r1], 2.0, message="r1 alone holds the VIP")
    assert r2.log_text().count("Entering MASTER STATE") == 1
