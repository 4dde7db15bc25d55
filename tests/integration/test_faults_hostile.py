"""Hostile input: 10,000 (always) and 100,000 (slow) malformed and hostile packets at a running
master (r1) and backup (r2), from an injector namespace on the same bridge.

Each router runs three instances: VI_1 (VRRPv3, VRID 51, multicast, 0.1 s),
VI_2 (VRRPv2, VRID 52, PASS authentication, 1 s) and VI_3 (VRRPv3, VRID 53,
unicast between r1 and r2, 0.1 s). The categories and what vipd must count for
each are in vipdlab/inject/frames.py: random bytes, truncated adverts, bad checksums,
TTL 1 and 64, versions 1/4/15, CARP, address counts beyond the payload, unknown
VRIDs, priority 0 for another VRID, bad v2 authentication, well-formed
priority-254 unicast adverts from a host that is not a peer, and IPv4 headers
the kernel drops itself (bad header checksum, IHL 4, total length beyond the
frame: counted in /proc/net/snmp, never seen by vipd).

Asserted: both daemons survive; no instance changes state (same transition
counters, r1 holds every VIP, r2 sends no advert, r1's VI_1 adverts keep their
cadence); for every category and every receiver the counters moved by exactly
what was sent (per reason; random bytes by total), with nothing lost in the
sockets' receive buffers (/proc/net/raw drops stay 0) and the kernel's own
drops matching /proc/net/snmp; RSS grows by less than 5 MB.

Pacing: the injector sends 256 frames, then waits (deadline) until both daemons
have counted them, so the test measures vipd, not the receive buffer size.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until
from vipdlab.inject import Baseline, Builder, assert_flat_and_unqueued, assert_undisturbed, inject_all
from vipdlab.lab.faults import instance, rss_kib, start_with_control, status
from vipdlab.lab.scenario import STARTUP_ALLOWANCE

pytestmark = pytest.mark.netns

AI = 0.1
SEED = 7
CHUNK = 256
RSS_LIMIT_KIB = 5 * 1024
VIPS = {"VI_1": "192.0.2.100", "VI_2": "192.0.2.101", "VI_3": "192.0.2.102"}


def _config(me: str, peer: str, priority: int) -> str:
    vi1 = Instance(name="VI_1", vrid=51, priority=priority, advert_int=AI, vips=(f"{VIPS['VI_1']}/24",))
    vi2 = Instance(
        name="VI_2", vrid=52, version=2, advert_int=1, priority=priority, auth_pass="secret",
        vips=(f"{VIPS['VI_2']}/24",),
    )  # fmt: skip
    vi3 = Instance(
        name="VI_3", vrid=53, priority=priority, advert_int=AI, vips=(f"{VIPS['VI_3']}/24",),
        extra=(f"unicast_src_ip {me}", f"unicast_peer {{\n        {peer}\n    }}"),
    )  # fmt: skip
    return render([vi1, vi2, vi3])


def _run(lab: Lab, total: int) -> None:
    r1, r2, inj = lab.r1, lab.r2, lab.inj
    configs = [(r1, _config(r1.ip4, r2.ip4, 150)), (r2, _config(r2.ip4, r1.ip4, 100))]
    daemons = start_with_control(lab, configs, STARTUP_ALLOWANCE)
    # VI_2 (v2, 1 s) converges last: MDI = 3 s + skew
    conv = STARTUP_ALLOWANCE + timing.master_down_interval(2, 150, 1.0)

    def settled() -> bool:
        if any(lab.holders(v) != [r1] for v in VIPS.values()):
            return False
        st = status(lab, r2)
        return all(instance(st, i)["state"] == "BACKUP" and instance(st, i)["master_address"] == r1.ip4 for i in VIPS)

    wait_until(settled, conv, interval=0.05, message=lambda: f"r1 master of all three, r2 backup: {lab.logs(10)}")

    t_build = time.monotonic()
    builder = Builder(
        inj,
        [r1, r2],
        {51: "VI_1", 52: "VI_2", 53: "VI_3"},
        seed=SEED,
        v2_vrid=52,
        v2_addrs=[VIPS["VI_2"]],
        v3_vrid=51,
        v3_addrs=[VIPS["VI_1"]],
        unicast_vrid=53,
        unicast_addrs=[VIPS["VI_3"]],
    )
    cats = builder.all(total)
    built = time.monotonic() - t_build
    assert sum(len(c.frames) for c in cats) >= total

    nodes = {"r1": r1, "r2": r2}
    base = Baseline.take(lab, nodes, daemons, VIPS)
    late0 = instance(status(lab, r1), "VI_1")["stats"]["advert_lateness_max"]
    send_time, elapsed, report = inject_all(lab, inj, cats, nodes, chunk=CHUNK)

    # ---- no state change, both alive, no buffer overflow, RSS flat
    assert_undisturbed(lab, nodes, base, r1, VIPS.values())
    st2 = status(lab, r2)
    assert all(instance(st2, i)["stats"]["advert_sent"] == base.advert_sent["r2"][i] for i in VIPS), "r2 advertised"
    st1 = status(lab, r1)
    vi1 = instance(st1, "VI_1")["stats"]
    sent = vi1["advert_sent"] - base.advert_sent["r1"]["VI_1"]
    assert sent >= elapsed / AI - 2, f"r1 sent {sent} VI_1 adverts in {elapsed:.1f} s"
    growth = {n: rss_kib(daemons[n].pid) - base.rss_kib[n] for n in nodes}
    print(
        f"\n{sum(len(c.frames) for c in cats)} hostile frames: built in {built:.1f} s, sent in {send_time:.2f} s "
        f"(whole run with pacing {elapsed:.1f} s); RSS growth r1 {growth['r1']} KiB, r2 {growth['r2']} KiB; "
        f"r1 VI_1 advert lateness max {vi1['advert_lateness_max'] * 1000:.1f} ms (before: {late0 * 1000:.1f} ms)"
    )
    print("\n".join(report))
    assert_flat_and_unqueued(lab, nodes, growth, RSS_LIMIT_KIB)


def test_hostile_input_10k(hostile_lab: Lab) -> None:
    _run(hostile_lab, 10_000)


@pytest.mark.slow
def test_hostile_input_100k(hostile_lab: Lab) -> None:
    _run(hostile_lab, 100_000)


def test_injector_is_not_in_vipd() -> None:
    """scapy and the injector live in the lab, never in the daemon's package."""
    root = Path(__file__).resolve().parents[2]
    imports = re.compile(r"^\s*(import|from)\s+(scapy|vipdlab)\b", re.M)
    assert not [p for d in ("vipd", "checks") for p in (root / d).rglob("*.py") if imports.search(p.read_text())]
