"""Accept_Mode (RFC 5798 §6.4.3) in the lab: a non-owner master with ``no_accept`` drops traffic to its VIP.

r1 (priority 150, not the owner) is master alone (IPv4; then IPv6, where ND
must still be answered). A TCP listener on r1 accepts on every address. From
the client: with ``no_accept`` a connection to the VIP times out (dropped by
vipd's nftables table) while one to r1's own address is answered; with
``accept`` the VIP answers. The table is gone after SIGTERM, and after a
SIGKILL it is replaced or removed at the next start. VRRPv3, 0.1 s adverts;
deadlines from the protocol timers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from vipdlab import Instance, Lab, Node, Process, render, timing, wait_until
from vipdlab.lab.services import tcp_listener

from vipd.control.server import request

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
PORT = 8080
MARGIN = 1.0
STARTUP = 10.0  # seconds for the interpreter to start and the daemon to open its sockets
CONNECT = 1.0
"""Seconds a client connection may take before it counts as dropped (the veth answers in < 1 ms)."""

_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])).close()
    print("answered")
except TimeoutError:
    print("dropped")
except OSError as e:
    print("error", e)
"""


def connect(node: Node, host: str) -> str:
    """``answered``, ``dropped`` (no answer within CONNECT) or ``error ...`` for a TCP connect from ``node``."""
    out = subprocess.run(
        ["ip", "netns", "exec", node.ns, sys.executable, "-c", _CONNECT, host, str(PORT), str(CONNECT)],
        capture_output=True,
        text=True,
        timeout=CONNECT + 10,
    )
    return out.stdout.strip() or out.stderr.strip()


def table(node: Node) -> str:
    """``nft list table inet vipd`` in ``node`` ('' when there is none)."""
    out = subprocess.run(["ip", "netns", "exec", node.ns, "nft", "list", "table", "inet", "vipd"], capture_output=True)
    return out.stdout.decode() if out.returncode == 0 else ""


def master(lab: Lab, inst: Instance) -> None:
    """Start vipd on r1 and wait until it has started and holds the VIP (a crashed run may have left it)."""
    before = lab.logs(10_000).count("vipd started")
    d = lab.start_vipd(lab.r1, render(inst))
    bound = STARTUP + timing.master_down_interval(3, inst.priority, AI) + MARGIN
    wait_until(lambda: lab.logs(10_000).count("vipd started") > before or d.died, STARTUP, message=lambda: lab.logs(20))
    wait_until(lambda: lab.holders(VIP) == [lab.r1] or d.died, bound, message=lambda: lab.logs(20))
    lab.assert_running()


def test_no_accept_drops_traffic_to_the_vip_and_the_rules_leave_with_vipd(lab: Lab) -> None:
    tcp_listener(lab, lab.r1, PORT, host="0.0.0.0")
    strict = Instance(priority=150, advert_int=AI, extra=("no_accept",))

    master(lab, strict)
    assert "ip daddr @vips4" in table(lab.r1) and VIP in table(lab.r1)
    assert connect(lab.client, VIP) == "dropped", "no_accept: a non-owner master must not accept"
    assert connect(lab.client, lab.r1.ip4) == "answered", "only the VIP is guarded"

    lab.daemons[-1].stop()  # SIGTERM
    assert table(lab.r1) == "", "the table leaves with vipd"

    master(lab, strict)
    lab.daemons[-1].crash()  # SIGKILL: nothing runs at exit
    assert VIP in table(lab.r1), "a crash leaves the table (and the VIP) behind"

    master(lab, strict.with_(extra=("accept",)))
    assert table(lab.r1) == "", "the next start removes a crashed run's table"
    # the start-up clean-up removes the crashed run's VIP before this run adds it again
    bound = timing.master_down_interval(3, 150, AI) + MARGIN + CONNECT
    wait_until(lambda: connect(lab.client, VIP) == "answered", bound, message="accept: the master answers on the VIP")


def test_owner_always_accepts(lab: Lab) -> None:
    """RFC 5798 §6.4.3: the address owner (priority 255) accepts whatever Accept_Mode says."""
    tcp_listener(lab, lab.r1, PORT, host="0.0.0.0")
    master(lab, Instance(priority=255, state="MASTER", advert_int=AI, extra=("no_accept",)))
    assert table(lab.r1) == ""
    assert connect(lab.client, VIP) == "answered"


_LISTENER6 = """
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 8080))
s.listen(16)
print("accept" + "ing", flush=True)
while True:
    s.accept()[0].close()
"""


def test_ipv6_no_accept_drops_tcp_but_answers_neighbour_solicitations(lab: Lab) -> None:
    """RFC 5798 §6.4.3: the non-accepting master still answers ND NS for its IPv6 VIP."""
    vip6 = "2001:db8::100"
    listener = Process("listener6", lab.r1.ns, [sys.executable, "-c", _LISTENER6], lab.workdir / "listener6.log")
    wait_until(lambda: "\naccepting" in listener.log_text(), STARTUP, message=listener.log_text)
    inst = Instance(vrid=52, priority=150, advert_int=AI, vips=(f"{vip6}/64",), extra=("no_accept",))
    d = lab.start_vipd(lab.r1, render(inst))
    bound = STARTUP + timing.master_down_interval(3, 150, AI) + MARGIN
    wait_until(lambda: lab.holders(vip6) == [lab.r1] or d.died, bound, message=lambda: lab.logs(20))
    assert "ip6 daddr @vips6" in table(lab.r1) and vip6 in table(lab.r1)

    lab.del_neighbour(lab.client, vip6)
    assert connect(lab.client, vip6) == "dropped", "no_accept: TCP to the IPv6 VIP is dropped"
    n = lab.neighbour(lab.client, vip6)
    assert n is not None and n.lladdr == lab.r1.mac, f"the NS for the VIP was answered by r1: {n}"
    assert n.state.lower() not in ("failed", "incomplete"), n
    assert connect(lab.client, lab.r1.ip6) == "answered", "only the VIP is guarded"


def test_reload_switches_accept_mode_in_place(lab: Lab, ctl_sockets: Path) -> None:
    """A reload that turns no_accept on or off rewrites (or deletes) the table; the master stays master."""
    tcp_listener(lab, lab.r1, PORT, host="0.0.0.0")
    inst = Instance(priority=150, advert_int=AI, extra=("accept",))
    master(lab, inst)
    wait_until(lambda: (ctl_sockets / "r1.ctl").exists(), STARTUP)
    assert table(lab.r1) == "" and connect(lab.client, VIP) == "answered"

    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    for extra, expect_table, expect in ((("no_accept",), True, "dropped"), (("accept",), False, "answered")):
        conf.write_text(render(inst.with_(extra=extra)))
        r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
        assert r["ok"] and r["diff"]["restarted"] == [], r
        assert bool(table(lab.r1)) is expect_table
        assert connect(lab.client, VIP) == expect, extra
        assert lab.holders(VIP) == [lab.r1]
