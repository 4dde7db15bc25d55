"""Operating vipd in the lab: /metrics over HTTP, vipctl status vs ip addr, VIP repair, hitless reload, notify order.

VRRPv3 with 0.1 s adverts. Every wait has a deadline derived from the protocol
timers (vipdlab.lab.timing) plus a stated margin; nothing sleeps to synchronise.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest
import vipdlab.lab.daemons
from prometheus_client.parser import text_string_to_metric_families
from pyroute2 import netns
from vipdlab import Daemon, Instance, Lab, Node, render, timing, wait_until

from vipd.control.server import request
from vipd.wire.advert import VRRP_MCAST4, Advert
from vipd.wire.codec import encode_advert

pytestmark = pytest.mark.netns

AI = 0.1  # advert_int, seconds
VIP = "192.0.2.100"
MARGIN = 1.0  # seconds of slack for process start-up and scheduling on a loaded CI host


@pytest.fixture
def ops_args(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """Per-node extra vipd flags (control socket in tmp, metrics on a port inside the node's namespace)."""
    extra: dict[str, list[str]] = {}
    orig = vipdlab.lab.daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        node = config.name.split("-")[0]
        return orig(config, pid_file) + extra.get(node, [])

    monkeypatch.setattr(vipdlab.lab.daemons, "vipd_argv", argv)
    for n in ("r1", "r2"):
        extra[n] = ["--control-socket", str(tmp_path / f"{n}.ctl"), "--metrics-listen", "127.0.0.1:9650"]
    yield extra


def ctl(tmp: Path, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vipd.control.vipctl", "-s", str(tmp / f"{node}.ctl"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=vipdlab.lab.daemons.vipd_env(),
    )


def status(tmp: Path, node: str) -> dict[str, dict[str, object]]:
    r = ctl(tmp, node, "status", "--json")
    assert r.returncode == 0, r.stderr
    return {i["name"]: i for i in json.loads(r.stdout)["instances"]}


def scrape(node: Node, port: int = 9650) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics from inside the node's namespace; parse with prometheus_client's parser."""
    netns.pushns(node.ns)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    finally:
        netns.popns()
    with s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for smp in fam.samples:
            out[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return out


def metric(m: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return m.get((name, frozenset(labels.items())))


def ctl_ready(tmp: Path, node: str) -> bool:
    return (tmp / f"{node}.ctl").exists() and ctl(tmp, node, "status", "--json").returncode == 0


def start(lab: Lab, node: Node, cfg: str, tmp: Path) -> Daemon:
    d = lab.start_vipd(node, cfg)
    wait_until(lambda: ctl_ready(tmp, node.name), 10, message=lambda: lab.logs(20))
    return d


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
        pkt = encode_advert(adv, src=ip_address(lab.client.ip4), dst=VRRP_MCAST4, pseudo_header=True)
        s.sendto(pkt, (str(VRRP_MCAST4), 0))


def test_metrics_vipctl_status_and_repair(lab: Lab, ops_args: dict[str, list[str]], tmp_path: Path) -> None:
    r1_cfg = render(Instance(priority=150, advert_int=AI))
    r2_cfg = render(Instance(priority=100, advert_int=AI))
    start(lab, lab.r1, r1_cfg, tmp_path)
    start(lab, lab.r2, r2_cfg, tmp_path)
    bound = timing.master_down_interval(3, 150, AI) + MARGIN
    wait_until(lambda: lab.holders(VIP) == [lab.r1], bound, message=lambda: lab.logs(20))
    wait_until(lambda: status(tmp_path, "r2")["VI_1"]["state"] == "BACKUP", bound)

    # vipctl status agrees with ip addr in every namespace
    for node in (lab.r1, lab.r2):
        st = status(tmp_path, node.name)["VI_1"]
        assert (st["state"] == "MASTER") == lab.holds(node, VIP), (node.name, st)
    s2 = status(tmp_path, "r2")["VI_1"]
    assert s2["master_address"] == lab.r1.ip4
    assert s2["priority"] == {"base": 100, "effective": 100, "terms": [{"source": "priority", "delta": 100}]}
    table = ctl(tmp_path, "r1", "status").stdout
    assert "VI_1" in table and "MASTER" in table

    # /metrics: exporter names move, errors by reason move after an injected bad-TTL packet
    common = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    m1 = scrape(lab.r1)
    assert metric(m1, "keepalived_vrrp_state", **common, ip_address=VIP) == 2
    sent0 = metric(m1, "keepalived_advertisements_sent_total", **common)
    assert sent0 and sent0 > 0
    m2 = scrape(lab.r2)
    assert metric(m2, "keepalived_vrrp_state", **common, ip_address=VIP) == 1
    ttl0 = metric(m2, "keepalived_ip_ttl_errors_total", **common)
    inject_bad_ttl(lab, 51)
    wait_until(lambda: metric(scrape(lab.r2), "keepalived_ip_ttl_errors_total", **common) == (ttl0 or 0) + 1, 2)
    assert metric(scrape(lab.r2), "vipd_rx_errors_total", intf="eth0", family="ipv4", reason="ip_ttl") == 1
    wait_until(lambda: (metric(scrape(lab.r1), "keepalived_advertisements_sent_total", **common) or 0) > sent0, MARGIN)

    # repair: a VIP deleted by hand on the master is back within one advert interval
    assert lab.del_address(lab.r1, f"{VIP}/24")
    t0 = time.monotonic()
    wait_until(lambda: lab.holds(lab.r1, VIP), 2.0, interval=0.001)
    took = time.monotonic() - t0
    assert took < AI, f"VIP came back after {took * 1000:.1f} ms, more than one advert interval"
    wait_until(lambda: metric(scrape(lab.r1), "vipd_vip_repairs_total", **common) == 1, 1)
    print(f"repair took {took * 1000:.1f} ms")


def test_reload_is_hitless_and_removed_series_vanish(lab: Lab, ops_args: dict[str, list[str]], tmp_path: Path) -> None:
    vi1 = Instance(priority=150, advert_int=AI)
    vi2 = Instance(name="VI_2", vrid=52, priority=150, advert_int=AI, vips=("192.0.2.101/24",))
    start(lab, lab.r1, render([vi1, vi2]), tmp_path)
    r2 = start(lab, lab.r2, render([vi1.with_(priority=100), vi2.with_(priority=100)]), tmp_path)
    del r2
    bound = timing.master_down_interval(3, 150, AI) + MARGIN
    wait_until(lambda: lab.holders(VIP) == [lab.r1] and lab.holders("192.0.2.101") == [lab.r1], bound)
    conf = next(p for p in sorted(lab.workdir.glob("r1-vipd-*.conf")))
    with_vi2, without_vi2 = render([vi1, vi2]), render([vi1])
    assert status(tmp_path, "r1")["VI_1"]["last_transition"]["new"] == "MASTER"
    before = status(tmp_path, "r1")["VI_1"]["last_transition"]

    t_start = time.monotonic()
    n = 100
    for i in range(n):
        conf.write_text(without_vi2 if i % 2 == 0 else with_vi2)
        r = request(str(tmp_path / "r1.ctl"), {"cmd": "reload"})
        assert r["ok"], r
        assert lab.holders(VIP) == [lab.r1]
    t_end = time.monotonic()
    # final state: VI_2 removed (n is even: last write was with_vi2 at i=n-1 odd) -> remove it once more
    conf.write_text(without_vi2)
    assert ctl(tmp_path, "r1", "reload").returncode == 0

    # an invalid file is refused and the running config is kept
    conf.write_text("vrrp_instance VI_1 { interface eth0 virtual_router_id 999 }\n")
    bad = ctl(tmp_path, "r1", "reload")
    assert bad.returncode == 1 and "virtual_router_id" in bad.stderr, bad.stderr
    conf.write_text(without_vi2)

    # VI_1 untouched: same last transition, no advert gap > 2 intervals on the wire, r2 never took over
    assert status(tmp_path, "r1")["VI_1"]["last_transition"]["at"] == pytest.approx(before["at"], abs=0.01)
    assert lab.sniffer is not None
    ads = [a for a in lab.sniffer.adverts(since=t_start, until=time.monotonic()) if a.vrid == 51]
    ts = [a.t for a in ads if a.priority == 150]
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert ts and max(gaps) < 2 * AI, f"max advert gap {max(gaps) * 1000:.1f} ms"
    assert not [a for a in ads if a.priority == 100], "r2 advertised as master during reloads"
    print(f"{n} reloads in {t_end - t_start:.2f} s; max VI_1 advert gap {max(gaps) * 1000:.1f} ms")

    # VI_2 left r1 (removed by reload) and its series vanished from /metrics
    m = scrape(lab.r1)
    assert not any(("iname", "VI_2") in labels for _, labels in m)
    assert metric(m, "vipd_reloads_total", result="invalid") == 1


def test_notify_runs_in_transition_order(lab: Lab, ops_args: dict[str, list[str]], tmp_path: Path) -> None:
    log = tmp_path / "notify.log"
    slow = tmp_path / "slow_backup.sh"
    slow.write_text(f"#!/bin/sh\nsleep 0.5\necho backup >> {log}\n")
    fast = tmp_path / "master.sh"
    fast.write_text(f"#!/bin/sh\necho master >> {log}\n")
    gen = tmp_path / "notify.sh"
    gen.write_text(f'#!/bin/sh\necho "notify $*" >> {log}\n')
    for p in (slow, fast, gen):
        p.chmod(0o755)
    extra = [f'notify_backup "{slow}"', f'notify_master "{fast}"', f'notify "{gen}"']
    # Readiness first (control socket up): the protocol bound below must not include Python start-up.
    r2 = start(lab, lab.r2, render(Instance(priority=100, advert_int=AI, extra=extra)), tmp_path)
    # r2 alone: BACKUP (slow script starts), then MASTER after Master_Down_Interval (~0.36 s) while
    # the slow notify_backup still runs; then r1 (150) preempts -> BACKUP again.
    wait_until(lambda: lab.holds(lab.r2, VIP), timing.master_down_interval(3, 100, AI) + MARGIN)
    start(lab, lab.r1, render(Instance(priority=150, advert_int=AI)), tmp_path)
    wait_until(lambda: lab.holders(VIP) == [lab.r1], 3 * AI + MARGIN)
    want = [
        "backup",
        "notify INSTANCE VI_1 BACKUP 100",
        "master",
        "notify INSTANCE VI_1 MASTER 100",
        "backup",
        "notify INSTANCE VI_1 BACKUP 100",
    ]
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 6, 2 * 0.5 + MARGIN)
    assert log.read_text().splitlines() == want
    r2.stop()
    wait_until(lambda: "notify INSTANCE VI_1 STOP 100" in log.read_text(), MARGIN)
