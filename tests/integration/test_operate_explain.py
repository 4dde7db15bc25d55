"""vipctl check, explain, events and capture against real daemons in the lab (issue 15).

VRRPv3 with 0.1 s adverts; r1 priority 150 (master), r2 priority 100 with a
vrrp_script tracker of weight -20 (passing). Every wait has a deadline derived
from the protocol timers plus MARGIN; nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import vipdlab.lab.daemons
from pyroute2 import netns
from vipdlab import Instance, Lab, render, timing, wait_until

from vipd.wire import decode_ipv4
from vipd.wire.advert import VRRP_MCAST4, Advert
from vipd.wire.codec import encode_advert

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0


def ctl(tmp: Path, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vipd.control.vipctl", "-s", str(tmp / f"{node}.ctl"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=vipdlab.lab.daemons.vipd_env(),
    )


def explain_json(tmp: Path, node: str) -> dict[str, Any]:
    r = ctl(tmp, node, "explain", "VI_1", "--json")
    assert r.returncode == 0, r.stderr
    inst: dict[str, Any] = json.loads(r.stdout)["instances"][0]
    return inst


def inject_bad_ttl(lab: Lab, vrid: int) -> None:
    """Send one otherwise valid VRRPv3 advert for ``vrid`` from the client with TTL 1."""
    netns.pushns(lab.client.ns)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    finally:
        netns.popns()
    with s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        adv = Advert(version=3, vrid=vrid, priority=50, max_adver_int=AI, addresses=(ip_address(VIP),))
        s.sendto(encode_advert(adv, src=ip_address(lab.client.ip4), dst=VRRP_MCAST4), (str(VRRP_MCAST4), 0))


def ready(tmp: Path, node: str) -> bool:
    return (tmp / f"{node}.ctl").exists() and ctl(tmp, node, "status", "--json").returncode == 0


TRACKER = """
vrrp_script chk_ok {{
    script "/usr/bin/test -e {flag}"
    interval 0.1
    weight -20
}}
"""


def test_check_explain_events_and_capture_around_a_forced_takeover(lab: Lab, ctl_sockets: Path, tmp_path: Path) -> None:
    flag = lab.workdir / "flag"
    flag.touch()
    r1 = lab.start_vipd(lab.r1, render(Instance(priority=150, advert_int=AI)))
    r2_inst = Instance(priority=100, advert_int=AI, extra=("track_script {\n        chk_ok\n    }",))
    lab.start_vipd(lab.r2, TRACKER.format(flag=flag) + render(r2_inst))
    bound = timing.master_down_interval(3, 100, AI) + MARGIN
    wait_until(lambda: ready(ctl_sockets, "r1") and ready(ctl_sockets, "r2"), 10, message=lambda: lab.logs(20))
    wait_until(lambda: lab.holders(VIP) == [lab.r1], bound, message=lambda: lab.logs(20))
    wait_until(lambda: (explain_json(ctl_sockets, "r2").get("master") or {}).get("address") == lab.r1.ip4, bound)

    # check: Nagios codes
    assert ctl(ctl_sockets, "r1", "check", "--expect", "master").returncode == 0
    r = ctl(ctl_sockets, "r2", "check", "--expect", "master")
    assert r.returncode == 2, r.stdout
    assert r.stdout.startswith("VRRP CRITICAL - VI_1 BACKUP") and r.stdout.count("\n") == 1
    assert ctl(ctl_sockets, "r2", "check", "--expect", "backup").returncode == 0
    assert ctl(ctl_sockets, "r2", "check", "nosuch").returncode == 3

    # explain names the tracker's weight and result, and the master heard
    ex = explain_json(ctl_sockets, "r2")
    assert ex["machine"]["state"] == "BACKUP"
    [t] = [t for t in ex["trackers"] if t["name"] == "script chk_ok"]
    assert {t["name"] for t in ex["trackers"]} == {"script chk_ok", "interface eth0"}  # keepalived tracks its own link
    assert (t["name"], t["weight"], t["health"], t["contribution"]) == ("script chk_ok", -20, "ok", 0)
    m = ex["master"]
    assert m["address"] == lab.r1.ip4 and m["priority"] == 150 and m["interval"] == AI and m["checksum"] == "pseudo"
    assert m["age"] < 3 * AI + MARGIN
    text = ctl(ctl_sockets, "r2", "explain").stdout
    assert f"Becomes master if {lab.r1.ip4} stays silent for" in text, text
    print(text)

    # a packet dropped for this VRID (TTL 1 from the client) is explained with its source
    inject_bad_ttl(lab, 51)
    wait_until(lambda: any(d["reason"] == "ip_ttl" for d in explain_json(ctl_sockets, "r2")["discards"]), MARGIN)
    [d] = [d for d in explain_json(ctl_sockets, "r2")["discards"] if d["reason"] == "ip_ttl"]
    assert d["count"] == 1 and d["last_source"] == lab.client.ip4
    assert f"as ip_ttl, the last from {lab.client.ip4}" in ctl(ctl_sockets, "r2", "explain").stdout

    # the master crashes: explain changes, the recorder holds the transition, its cause and the adverts before it
    r1.crash()
    wait_until(lambda: lab.holds(lab.r2, VIP), bound, message=lambda: lab.logs(20))  # a killed master keeps its VIP
    ex = explain_json(ctl_sockets, "r2")
    assert ex["machine"]["state"] == "MASTER" and ex["master"] is None
    assert "Adver_Timer: next advert in" in "\n".join(ex["sentences"])
    assert ctl(ctl_sockets, "r2", "check", "--expect", "master").returncode == 0

    def takeover() -> dict[str, Any] | None:
        r = ctl(ctl_sockets, "r2", "events", "--json")
        assert r.returncode == 0, r.stderr
        evs = [json.loads(line) for line in r.stdout.splitlines()]
        found = [e for e in evs if e["kind"] == "transition" and e["new"] == "MASTER"]
        return found[-1] if found and len(found[-1]["adverts"]) >= 11 else None

    wait_until(lambda: takeover() is not None, MARGIN)
    ev = takeover()
    assert ev is not None
    assert ev["old"] == "BACKUP" and ev["reason"] == "master_down_timer"
    before = [a for a in ev["adverts"] if a["time"] < ev["time"]]  # the takeover advert has the same time
    assert before and all(a["dir"] == "rx" and a["src"] == lab.r1.ip4 and a["priority"] == 150 for a in before)
    assert ev["time"] - before[-1]["time"] == pytest.approx(timing.master_down_interval(3, 100, AI), abs=0.05)
    assert any(a["dir"] == "tx" and a["priority"] == 100 for a in ev["adverts"])
    text = ctl(ctl_sockets, "r2", "events").stdout
    assert "transition: BACKUP -> MASTER (master_down_timer)" in text and "vip: added 192.0.2.100/24" in text
    assert ctl(ctl_sockets, "r2", "reload").returncode == 0
    reloads = [json.loads(x) for x in ctl(ctl_sockets, "r2", "events", "--json").stdout.splitlines()]
    assert [e["text"] for e in reloads if e["kind"] == "reload"] == ["reloaded: no change"]
    since = ctl(ctl_sockets, "r2", "events", "--since", "1h", "--json")
    assert since.returncode == 0 and since.stdout.count("\n") >= 3

    # capture: a pcap tshark opens, every advert in it valid
    pcap = tmp_path / "takeover.pcap"
    r = ctl(ctl_sockets, "r2", "capture", "-w", str(pcap))
    assert r.returncode == 0, r.stderr
    data = pcap.read_bytes()
    off, n = 24, 0
    while off < len(data):
        incl = int.from_bytes(data[off + 8 : off + 12], "little")
        decode_ipv4(data[off + 16 : off + 16 + incl])  # raises on any invalid advert
        off += 16 + incl
        n += 1
    assert n >= 11
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install tshark): the pcap was checked with vipd's codec only")
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(pcap),
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "vrrp.prio",
            "-e",
            "ip.checksum.status",
            "-e",
            "vrrp.checksum.status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == n
    assert {r[0] for r in rows} >= {"150", "100"}
    assert all(r[1] == "1" and r[2] == "1" for r in rows), rows  # Wireshark's checksum status: 1 = Good
    print(subprocess.run([tshark, "-r", str(pcap)], capture_output=True, text=True, timeout=60).stdout)
