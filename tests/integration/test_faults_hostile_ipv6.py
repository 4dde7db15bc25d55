"""Hostile input over IPv6: 10,000 (always) and 100,000 (slow) malformed and hostile IPv6 packets at a
running VRRPv3/IPv6 master (r1) and backup (r2), from an injector namespace on the same bridge.

The IPv6 twin of test_faults_hostile.py. Each router runs two VRRPv3 IPv6 instances: VI_1 (VRID 51,
multicast to ff02::12 from the link-local address, hop limit 255, 0.1 s) and VI_2 (VRID 53, unicast
between r1's and r2's global addresses, 0.1 s). The categories and what vipd must count for each are
in vipdlab/inject/frames.py (``Builder6``): random bytes, truncated adverts, bad checksums (the plain v2-style
one among them: over IPv6 only the pseudo-header form is valid), hop limit 1 and 64, versions 1, 2, 4
and 15, address counts beyond the payload, address areas that are not a whole number of IPv6
addresses, IPv4 addresses (4-octet, and IPv4-mapped), unknown VRIDs, priority 0 for another VRID,
a Destination Options header before bad adverts,
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
import time

import pytest
from vipdlab import Instance, Lab, Node, render, timing, wait_until
from vipdlab.inject import Baseline, Builder6, assert_flat_and_unqueued, assert_undisturbed, inject_all
from vipdlab.lab.faults import instance, rss_kib, start_with_control, status
from vipdlab.lab.scenario import STARTUP_ALLOWANCE

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


def _run(lab: Lab, total: int) -> None:
    r1, r2, inj = lab.r1, lab.r2, lab.inj
    configs = [(r1, _config(r1.ip6, r2.ip6, 150)), (r2, _config(r2.ip6, r1.ip6, 100))]
    daemons = start_with_control(lab, configs, STARTUP_ALLOWANCE)
    conv = STARTUP_ALLOWANCE + timing.master_down_interval(3, 100, AI)
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
    base = Baseline.take(lab, nodes, daemons, VIPS, family=6)
    # the kernel's own drops are awaited before vipd's counters are checked; at the master, the
    # instances receive exactly the adverts they discard (the backup is silent)
    send_time, elapsed, report = inject_all(
        lab, inj, cats, nodes, family=6, chunk=CHUNK, kernel_first=True, received_at="r1"
    )

    # ---- no state change, both alive, no buffer overflow, RSS flat
    assert_undisturbed(lab, nodes, base, r1, VIPS.values(), family=6)
    st2 = status(lab, r2)
    assert all(instance(st2, i)["master_address"] == masters[i] for i in VIPS), st2["instances"]
    assert all(instance(st2, i)["stats"]["advert_sent"] == base.advert_sent["r2"][i] for i in VIPS), "r2 advertised"
    vi1 = instance(status(lab, r1), "VI_1")["stats"]
    sent = vi1["advert_sent"] - base.advert_sent["r1"]["VI_1"]
    assert sent >= elapsed / AI - 2, f"r1 sent {sent} VI_1 adverts in {elapsed:.1f} s"
    growth = {n: rss_kib(daemons[n].pid) - base.rss_kib[n] for n in nodes}
    print(
        f"\n{sum(len(c.frames) for c in cats)} hostile IPv6 frames: built in {built:.1f} s, sent in "
        f"{send_time:.2f} s (whole run with pacing {elapsed:.1f} s); RSS r1 {base.rss_kib['r1']} -> "
        f"{base.rss_kib['r1'] + growth['r1']} KiB, r2 {base.rss_kib['r2']} -> "
        f"{base.rss_kib['r2'] + growth['r2']} KiB; "
        f"r1 VI_1 advert lateness max {vi1['advert_lateness_max'] * 1000:.1f} ms"
    )
    print("\n".join(report))
    assert_flat_and_unqueued(lab, nodes, growth, RSS_LIMIT_KIB, family=6)


def test_hostile_ipv6_input_10k(hostile_lab6: Lab) -> None:
    _run(hostile_lab6, 10_000)


@pytest.mark.slow
def test_hostile_ipv6_input_100k(hostile_lab6: Lab) -> None:
    _run(hostile_lab6, 100_000)
