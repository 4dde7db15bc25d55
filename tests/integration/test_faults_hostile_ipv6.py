"""Hostile input over IPv6: 10,000 (always) and 100,000 (slow) malformed and hostile IPv6 packets at a
running VRRPv3/IPv6 master (r1) and backup (r2), from an injector namespace on the same bridge.

The IPv6 twin of test_faults_hostile.py. Each router runs two VRRPv3 IPv6 instances: VI_1 (VRID 51,
multicast to ff02::12 from the link-local address, hop limit 255, 0.1 s) and VI_2 (VRID 53, unicast
between r1's and r2's global addresses, 0.1 s). The categories and what vipd must count for each are
in vipdlab/inject.py (``Builder6``): random bytes, truncated adverts, bad checksums (the plain v2-style
one among them: over IPv6 only the pseudo-header form is valid), hop limit 1 and 64, versions 1, 2, 4
and 15, address counts beyond the payload, address areas that are not a whole number of IPv6
addresses, IPv4 addresses (4-octet, and IPv4-mapped), unknown VRIDs, priority 0 for another VRID,
well-formed adverts from a global source address, a Destination Options header before bad adverts,
well-formed priority-254 unicast adverts from a host that is not a peer, and IPv6 headers the kernel
drops itself (counted in /proc/net/snmp6, never seen by vipd).

Asserted: both daemons survive; no instance changes state (same transition counters, r1 holds every
VIP and r2 none, r2 sends no advert, r1's VI_1 adverts keep their cadence); for every category and
every receiver the counters moved by exactly what was sent (per reason; random bytes by total), with
nothing lost in the receive buffer (/proc/net/raw6 drops stay 0); the kernel's own drops match
/proc/net/snmp6 and vipd counted none of them as anything; RSS grows by less than 5 MB.

Pacing: the injector sends 256 frames, then waits (deadline) until both daemons have read them.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator

import pytest
from pyroute2 import netns
from vipdlab import Instance, Lab, Node, render, timing, wait_until
from vipdlab.faults import (
    Counters,
    instance,
    raw_socket_drops,
    raw_sockets,
    ready,
    rss_kib,
    snmp6,
    status,
    vipd_with_control,
)
from vipdlab.inject import Builder6, Category, Injector
from vipdlab.scenario import STARTUP_ALLOWANCE

pytestmark = pytest.mark.netns

AI = 0.1
SEED = 7
CHUNK = 256
RSS_LIMIT_KIB = 5 * 1024
VIPS = {"VI_1": "2001:db8::100", "VI_2": "2001:db8::102"}
VRIDS = {51: "VI_1", 53: "VI_2"}


def _config(me: str, peer: str, priority: int) -> str:
    vi1 = Instance(name="VI_1", vrid=51, priority=priority, advert_int=AI, vips=(f"{VIPS['VI_1']}/64",))
    vi2 = Instance(
        name="VI_2", vrid=53, priority=priority, advert_int=AI, vips=(f"{VIPS['VI_2']}/64",),
        extra=(f"unicast_src_ip {me}", f"unicast_peer {{\n        {peer}\n    }}"),
    )  # fmt: skip
    return render([vi1, vi2])


def _linklocal(lab: Lab, node: Node) -> str:
    lls = [a.split("/")[0] for a in lab.addresses(node) if ipaddress.ip_address(a.split("/")[0]).is_link_local]
    assert len(lls) == 1, f"{node}: link-local addresses {lls}"
    return lls[0]


@pytest.fixture
def hostile_lab6(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces, veths and a bridge")
    pytest.importorskip("scapy", reason="the injector builds VRRPv3 payloads with scapy")
    workdir = tmp_path_factory.mktemp(request.node.name[:40])
    # the third "router" is the injector: it runs nothing and never holds a VIP
    with Lab(routers=["r1", "r2", "inj"], workdir=workdir, sniff=False) as lab:
        # With br_netfilter loaded the bridge would validate IPv6 headers itself (br_validate_ipv6) and
        # drop the kernel-drop category before the routers see it: let the routers' kernels drop it.
        if os.path.exists("/proc/sys/net/bridge/bridge-nf-call-ip6tables"):
            lab.sysctl(lab.sw_ns, "net/bridge/bridge-nf-call-ip6tables", 0)
        yield lab
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(lab.logs(40))
    assert not [ns for ns in netns.listnetns() if ns.startswith(lab.prefix)]


def _counters(lab: Lab, node: str) -> Counters:
    return Counters.of(status(lab, node), family=6)


def _run(lab: Lab, total: int) -> None:
    r1, r2, inj = lab.r1, lab.r2, lab.inj
    with vipd_with_control(lab):
        d1 = lab.start_vipd(r1, _config(r1.ip6, r2.ip6, 150))
        d2 = lab.start_vipd(r2, _config(r2.ip6, r1.ip6, 100))
        for node in (r1, r2):
            wait_until(lambda node=node: ready(lab, node), STARTUP_ALLOWANCE, message=f"{node} answers")
    conv = STARTUP_ALLOWANCE + timing.master_down_interval(100, AI)
    r1_ll = _linklocal(lab, r1)
    masters = {"VI_1": r1_ll, "VI_2": r1.ip6}  # multicast adverts come from the link-local address

    def settled() -> bool:
        if any(lab.holders(v) != [r1] for v in VIPS.values()):
            return False
        st = status(lab, r2)
        return all(
            instance(st, i)["state"] == "BACKUP" and instance(st, i)["master_address"] == masters[i] for i in VIPS
        )

    wait_until(settled, conv, interval=0.05, message=lambda: f"r1 master of both, r2 backup: {lab.logs(10)}")

    t_build = time.monotonic()
    builder = Builder6(
        inj,
        [r1, r2],
        VRIDS,
        seed=SEED,
        mcast_vrid=51,
        mcast_addrs=[VIPS["VI_1"]],
        unicast_vrid=53,
        unicast_addrs=[VIPS["VI_2"]],
    )
    cats = builder.all(total)
    built = time.monotonic() - t_build
    assert sum(len(c.frames) for c in cats) >= total

    nodes = {"r1": r1, "r2": r2}
    daemons = {"r1": d1, "r2": d2}
    start = {n: _counters(lab, n) for n in nodes}
    sent_before = {n: {i: instance(status(lab, n), i)["stats"]["advert_sent"] for i in VIPS} for n in nodes}
    rss0 = {n: rss_kib(daemons[n].pid) for n in nodes}
    drops0 = {n: raw_socket_drops(lab, nodes[n], family=6) for n in nodes}
    t0 = time.monotonic()
    send_time = 0.0
    report: list[str] = []
    with Injector(inj) as injector:
        for cat in cats:
            send_time += _inject(lab, injector, cat, nodes, report)
    elapsed = time.monotonic() - t0

    # ---- no state change, both alive, no buffer overflow, RSS flat
    lab.assert_running()
    assert all(lab.holders(v) == [r1] for v in VIPS.values()), {v: lab.holders(v) for v in VIPS.values()}
    end = {n: _counters(lab, n) for n in nodes}
    for n in nodes:
        assert end[n].transitions == start[n].transitions, f"{n} changed state: {end[n].transitions}"
        assert end[n].states == start[n].states
        assert raw_socket_drops(lab, nodes[n], family=6) == drops0[n], f"{n}: the receive buffer overflowed"
    st2 = status(lab, r2)
    assert all(instance(st2, i)["master_address"] == masters[i] for i in VIPS), st2["instances"]
    assert all(instance(st2, i)["stats"]["advert_sent"] == sent_before["r2"][i] for i in VIPS), "r2 advertised"
    vi1 = instance(status(lab, r1), "VI_1")["stats"]
    sent = vi1["advert_sent"] - sent_before["r1"]["VI_1"]
    assert sent >= elapsed / AI - 2, f"r1 sent {sent} VI_1 adverts in {elapsed:.1f} s"
    growth = {n: rss_kib(daemons[n].pid) - rss0[n] for n in nodes}
    print(
        f"\n{sum(len(c.frames) for c in cats)} hostile IPv6 frames: built in {built:.1f} s, sent in "
        f"{send_time:.2f} s (whole run with pacing {elapsed:.1f} s); RSS r1 {rss0['r1']} -> "
        f"{rss0['r1'] + growth['r1']} KiB, r2 {rss0['r2']} -> {rss0['r2'] + growth['r2']} KiB; "
        f"r1 VI_1 advert lateness max {vi1['advert_lateness_max'] * 1000:.1f} ms"
    )
    print("\n".join(report))
    for n in nodes:
        assert growth[n] < RSS_LIMIT_KIB, f"{n} RSS grew by {growth[n]} KiB"
        # vipd never reads its transmit sockets: the kernel must not queue unicast VRRP there
        tx = [s for s in raw_sockets(lab, nodes[n], family=6) if s.local != "::"]
        assert tx and all(s.rx_queue == 0 for s in tx), f"{n}: data queued on a transmit socket: {tx}"


def _inject(lab: Lab, injector: Injector, cat: Category, nodes: dict[str, Node], report: list[str]) -> float:
    """Send one category, paced; check every receiver counted exactly what it had to. Returns send time."""
    before = {n: _counters(lab, n) for n in nodes}
    snmp0 = {n: snmp6(lab, nodes[n]) for n in nodes}
    reaching = {n: cat.expect[n].reaching for n in nodes}
    total = len(cat.frames)
    send_time = 0.0
    for at in range(0, total, CHUNK):
        chunk = cat.frames[at : at + CHUNK]
        t = time.monotonic()
        injector.send(chunk)
        send_time += time.monotonic() - t
        done = at + len(chunk)
        for n in nodes:
            # legit adverts also raise rx_packets; they only let the wait end a little early
            want = reaching[n] * done // total
            wait_until(
                lambda n=n, want=want: _counters(lab, n).rx_packets - before[n].rx_packets >= want,
                10.0,
                interval=0.002,
                message=f"{n} reads {cat.name} up to frame {done}",
            )

    for n in nodes:
        e = cat.expect[n]
        port_total = sum(e.port.values()) + e.port_unknown
        inst_total = sum(e.inst.values()) + e.inst_unknown

        def counted(n: str = n) -> Counters:
            return _counters(lab, n).minus(before[n])

        if e.kernel:
            # The kernel drops these before any socket (ipv6_rcv, the extension header parser): wait
            # for its counters, then vipd must have counted nothing at all, under any reason.
            def moved(n: str = n) -> dict[str, int]:
                s1 = snmp6(lab, nodes[n])
                return {k: s1[k] - snmp0[n][k] for k in cat.expect[n].kernel}

            wait_until(lambda n=n, e=e: moved(n) == dict(e.kernel), 5.0, message=lambda n=n: f"{n} kernel {moved(n)}")

        def caught_up(port_total: int = port_total, inst_total: int = inst_total) -> bool:
            c = counted()
            return sum(c.rx_errors.values()) >= port_total and sum(c.discards.values()) >= inst_total

        wait_until(
            caught_up,
            10.0,
            interval=0.005,
            message=lambda n=n, e=e: f"{n} counts {cat.name}: {counted()} vs {e}",  # type: ignore[misc]
        )
        got = counted()
        if e.port_unknown == 0:
            assert got.rx_errors == dict(e.port), f"{cat.name} at {n}: rx_errors {got.rx_errors} != {dict(e.port)}"
        else:
            assert sum(got.rx_errors.values()) == port_total, f"{cat.name} at {n}: {got.rx_errors} != {port_total}"
        if e.inst_unknown == 0:
            assert got.discards == dict(e.inst), f"{cat.name} at {n}: discards {got.discards} != {dict(e.inst)}"
        else:
            assert sum(got.discards.values()) == inst_total, f"{cat.name} at {n}: {got.discards} != {inst_total}"
        if n == "r1":  # the backup is silent: only adverts the instance itself discards reach the master's
            assert sum(got.received.values()) == e.fsm_total, f"{cat.name} at {n}: {got.received} reached VI_*"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(got.rx_errors.items()))
        fsm = ", ".join(f"{i}/{k} {v}" for (i, k), v in sorted(got.discards.items()))
        kern = ", ".join(f"{k} {v}" for k, v in sorted(e.kernel.items()))
        report.append(f"  {cat.name:24s} {n}: {total:6d} sent | port: {reasons or '-'} | inst: {fsm or '-'}"
                      + (f" | kernel: {kern}" if kern else ""))  # fmt: skip
    return send_time


def test_hostile_ipv6_input_10k(hostile_lab6: Lab) -> None:
    _run(hostile_lab6, 10_000)


@pytest.mark.slow
def test_hostile_ipv6_input_100k(hostile_lab6: Lab) -> None:
    _run(hostile_lab6, 100_000)
