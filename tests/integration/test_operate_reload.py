"""Hitless reload of a CHANGED instance, in the lab: priority and VIP-list changes on the master.

keepalived keeps each instance's state across a reload; vipd changes the instance
in place (``Daemon.apply_config`` -> ``InstanceDriver.reconfigure``). VRRPv3 with
0.1 s adverts; waits have deadlines from the protocol timers (vipdlab.lab.timing) plus
a stated margin; the kernel's address events are watched with ``ip monitor``.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import pytest
import vipdlab.lab.daemons
from vipdlab import Instance, Lab, WaitTimeout, control, render, timing, wait_until

from vipd.control.server import request

pytestmark = pytest.mark.netns

AI = 0.1  # advert_int, seconds
VIP, OLD, NEW = "192.0.2.100", "192.0.2.101", "192.0.2.102"
MARGIN = 1.0  # seconds of slack for process start-up and scheduling on a loaded CI host
SENTINEL = "198.51.100.77"


def status(tmp: Path, node: str) -> dict[str, dict[str, object]]:
    return control.instances(tmp / f"{node}.ctl")


class AddressEvents:
    """``ip -o monitor address`` in a namespace, synchronised by adding a sentinel address first."""

    def __init__(self, lab: Lab, ns: str) -> None:
        self.lab, self.ns = lab, ns
        self.out = Path(lab.workdir) / f"ipmon-{ns}.log"
        self._f = self.out.open("w")
        self.proc = subprocess.Popen(["ip", "-n", ns, "-o", "monitor", "address"], stdout=self._f)
        # The monitor subscribes some time after it starts: repeat a sentinel change until it is seen.
        for _attempt in range(10):
            subprocess.run(["ip", "-n", ns, "addr", "replace", f"{SENTINEL}/32", "dev", "lo"], check=True)
            subprocess.run(["ip", "-n", ns, "addr", "del", f"{SENTINEL}/32", "dev", "lo"], check=True)
            try:
                wait_until(lambda: SENTINEL in self.out.read_text(), 0.5)
                return
            except WaitTimeout:
                continue
        raise AssertionError("ip monitor never reported the sentinel address")

    def stop(self) -> list[str]:
        self.proc.terminate()
        self.proc.wait(5)
        self._f.close()
        return self.out.read_text().splitlines()


def test_priority_and_vip_changes_on_the_master_are_hitless(lab: Lab, ctl_sockets: Path) -> None:
    extra = ("skip_check_adv_addr",)  # the backup keeps hearing the master while the lists differ
    r1 = Instance(priority=150, advert_int=AI, vips=(f"{VIP}/24", f"{OLD}/24"), extra=extra)
    r2 = r1.with_(priority=100)
    lab.start_vipd(lab.r1, render(r1))
    lab.start_vipd(lab.r2, render(r2))
    startup = 10.0  # seconds for the interpreter to start and the daemon to open its sockets
    for node in ("r1", "r2"):
        wait_until(lambda n=node: (ctl_sockets / f"{n}.ctl").exists() and bool(status(ctl_sockets, n)), startup)
    bound = timing.master_down_interval(3, 150, AI) + MARGIN
    wait_until(
        lambda: lab.holders(VIP) == [lab.r1] and lab.holders(OLD) == [lab.r1], bound, message=lambda: lab.logs(20)
    )
    before = status(ctl_sockets, "r1")["VI_1"]["last_transition"]
    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    t0 = time.monotonic()
    mon = AddressEvents(lab, lab.r1.ns)
    try:
        assert lab.sniffer is not None
        wait_until(lambda: any(a.priority == 150 for a in lab.sniffer.adverts(since=t0)), 2 * AI + MARGIN)
        # 1. priority 150 -> 140: the next adverts say 140, no transition
        conf.write_text(render(r1.with_(priority=140)))
        r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
        assert r["ok"] and r["diff"]["changed"] == ["VI_1"] and r["diff"]["restarted"] == [], r
        assert lab.sniffer is not None
        wait_until(
            lambda: any(a.priority == 140 for a in lab.sniffer.adverts(since=t0) if a.src == lab.r1.ip4),
            2 * AI + MARGIN,
        )
        # 2. VIP list (VIP, OLD) -> (VIP, NEW): NEW added, OLD removed, VIP untouched
        conf.write_text(render(r1.with_(priority=140, vips=(f"{VIP}/24", f"{NEW}/24"))))
        r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
        assert r["ok"] and r["diff"]["restarted"] == [], r
        wait_until(lambda: lab.holds(lab.r1, NEW) and not lab.holds(lab.r1, OLD), 2 * AI + MARGIN)
        t1 = time.monotonic()
        # let a few more intervals pass on the wire after the last change
        wait_until(lambda: len(lab.sniffer.adverts(since=t1)) >= 5, 5 * AI + MARGIN)
    finally:
        events = mon.stop()
    t_end = time.monotonic()

    assert lab.holders(VIP) == [lab.r1]
    after = status(ctl_sockets, "r1")["VI_1"]["last_transition"]
    assert isinstance(after, dict) and isinstance(before, dict)
    assert after["at"] == pytest.approx(before["at"], abs=0.01), "the reload caused a transition"
    assert after["new"] == "MASTER"
    deleted = [e for e in events if e.startswith("Deleted") and f" {VIP}/" in e]
    assert not deleted, f"the untouched VIP disappeared: {deleted}"
    assert any(e.startswith("Deleted") and f" {OLD}/" in e for e in events), events
    ads = [a for a in lab.sniffer.adverts(since=t0, until=t_end) if a.vrid == 51]
    ts = [a.t for a in ads if a.src == lab.r1.ip4]
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert ts and max(gaps) < 2 * AI, f"max advert gap {max(gaps) * 1000:.1f} ms"
    assert not [a for a in ads if a.src == lab.r2.ip4], "r2 advertised during the reloads"
    assert {a.priority for a in ads if a.src == lab.r1.ip4} == {150, 140}
    assert any(NEW in a.addrs and OLD not in a.addrs for a in ads), "the new list is advertised"
    print(f"max advert gap across the reloads {max(gaps) * 1000:.1f} ms")


def _get_metrics(ns: str, port: int) -> bytes:
    import socket

    from pyroute2 import netns

    netns.pushns(ns)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    finally:
        netns.popns()
    with s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_metrics_listener_from_global_defs_and_the_flag_wins(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """``global_defs { vipd_metrics_listen HOST:PORT }`` serves /metrics; ``--metrics-listen`` overrides it."""
    orig = vipdlab.lab.daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        flag = ["--metrics-listen", "127.0.0.1:9652"] if config.name.startswith("r2") else []
        return [*orig(config, pid_file), *flag]

    monkeypatch.setattr(vipdlab.lab.daemons, "vipd_argv", argv)
    head = "global_defs {\n    vipd_metrics_listen 127.0.0.1:9651\n}\n"
    lab.start_vipd(lab.r1, head + render(Instance(priority=150, advert_int=AI)))
    lab.start_vipd(lab.r2, head + render(Instance(priority=100, advert_int=AI)))

    def serves(ns: str, port: int) -> bool:
        try:
            return b"keepalived_vrrp_state" in _get_metrics(ns, port)
        except OSError:
            return False

    startup = 10.0  # seconds for the interpreter to start and the daemon to open its sockets
    wait_until(lambda: serves(lab.r1.ns, 9651), startup, message=lambda: lab.logs(10))
    wait_until(lambda: serves(lab.r2.ns, 9652), startup, message=lambda: lab.logs(10))
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    assert not serves(lab.r2.ns, 9651), "the flag replaces the keyword, it does not add a listener"
