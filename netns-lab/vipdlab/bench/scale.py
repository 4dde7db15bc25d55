"""Many VRIDs on one interface at 0.1 s adverts: CPU, RSS, advert lateness, spurious transitions.

``lab.py bench-scale``. For each count N and each daemon (one after the other,
each in a fresh lab): r1 is master (priority 150) of VRIDs 1..N, r2 is backup
(priority 100) of the same VRIDs, one /32 VIP each (198.51.100.V, and
203.0.113.1 for VRID 255; addresses live only inside the lab's namespaces).
r1 starts first and takes every VIP, then r2 starts; the window opens once r2
has had three intervals to hear r1. During the window:

* spurious transitions: "Entering ... STATE" lines both daemons log (vipd uses
  keepalived's wording), adverts with a non-zero priority from r2 and GARPs
  from r2, all of which must be 0;
* deviation: each VRID's gaps between r1's adverts seen by the client (kernel
  receive times) minus the interval;
* adverts seen vs expected (N x window / interval), a check for lost adverts;
* CPU (utime + stime of each daemon's tree) and RSS (VmRSS summed, max sampled);
* the 224.0.0.18 membership count on r1's eth0 and the daemon's socket count
  (the kernel allows 20 memberships per socket, igmp_max_memberships).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..lab.conf import Instance, render
from ..lab.topo import Lab, Node
from ..lab.wait import wait_until
from .common import (
    AdvertTap,
    CostMeter,
    begin,
    count_lines,
    deviation,
    kinds_of,
    load_line,
    mib,
    ms,
    ratio,
    report,
)

AI = 0.1
ENTERING = "Entering "


def vip_of(vrid: int) -> str:
    return f"198.51.100.{vrid}/32" if vrid <= 254 else f"203.0.113.{vrid - 254}/32"


def config(n: int, priority: int) -> str:
    return render(
        [
            Instance(name=f"VI_{v}", vrid=v, priority=priority, advert_int=AI, version=3, vips=(vip_of(v),))
            for v in range(1, n + 1)
        ],
        comment=f"bench-scale: {n} VRIDs at {AI:g} s",
    )


def igmp_users(lab: Lab, node: Node) -> int | None:
    """Users of 224.0.0.18 on the node's eth0 (/proc/net/igmp), i.e. sockets that joined it."""
    dev = None
    for line in lab.read_proc(node.ns, "/proc/net/igmp").splitlines()[1:]:
        if not line.startswith(("\t", " ")):
            parts = line.split()
            dev = parts[1] if len(parts) > 1 else None
            continue
        parts = line.split()
        if dev == node.ifname and parts and parts[0].upper() in ("120000E0", "E0000012"):
            return int(parts[1])
    return None


def sockets_of(pids: tuple[int, ...]) -> int:
    n = 0
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
    return n


def run_one(kind: str, n: int, seconds: float) -> dict[str, object]:
    with Lab(sniff=False) as lab, AdvertTap(lab.client.ns) as tap:
        r1, r2 = lab.r1, lab.r2
        log1, log2 = Path(lab.workdir / f"r1-{kind}.log"), Path(lab.workdir / f"r2-{kind}.log")
        t_start = time.monotonic()
        d1 = lab.start_daemon(kind, r1, config(n, 150))
        want = {vip_of(v).split("/")[0] for v in range(1, n + 1)}
        wait_until(
            lambda: want <= {a.split("/")[0] for a in lab.addresses(r1)},
            30 + 4 * AI,
            message=f"r1 holds all {n} VIPs",
        )
        t_master = time.monotonic() - t_start
        d2 = lab.start_daemon(kind, r2, config(n, 100))
        wait_until(lambda: lab.vrrp_joined(r2), 30, message="r2 joined 224.0.0.18")
        # every instance of r2 has logged its Initialize -> Backup transition (both daemons log one per instance)
        wait_until(lambda: count_lines(log2, ENTERING) >= n, 30, interval=0.05, message=f"r2 logged {n} transitions")
        t_backup = time.monotonic() - t_start
        mark = time.monotonic()
        # converged once r1 has sent three adverts on every VRID since r2's socket was open
        wait_until(
            lambda: all(len(tap.times(r1.ip4, v, mark)) >= 3 for v in range(1, n + 1)),
            10 + 10 * AI,
            interval=0.1,
            message="three adverts per VRID from r1 after r2 joined",
        )
        lab.assert_running()
        ent1, ent2 = count_lines(log1, ENTERING), count_lines(log2, ENTERING)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        costs = CostMeter({"r1": d1.pid, "r2": d2.pid}, every=5.0).run(seconds, on_tick=lab.assert_running)
        t1 = time.monotonic()
        load1 = os.getloadavg()
        gaps = tap.gaps(r1.ip4, range(1, n + 1), t0, t1)
        seen = tap.count(r1.ip4, t0, t1)
        res: dict[str, object] = {
            "kind": kind,
            "vrids": n,
            "seconds": t1 - t0,
            "loadavg": [load0, load1],
            "startup_to_all_master": t_master,
            "r2_all_backup_after_start": t_backup,
            "r1": costs["r1"].as_dict(),
            "r2": costs["r2"].as_dict(),
            "deviation": deviation(gaps, AI),
            "adverts_seen": seen,
            "adverts_expected": round(n * (t1 - t0) / AI),
            "vrids_seen": len(tap.vrids(r1.ip4)),
            "spurious": {
                "log_transitions_r1": count_lines(log1, ENTERING) - ent1,
                "log_transitions_r2": count_lines(log2, ENTERING) - ent2,
                "adverts_from_r2": tap.count(r2.ip4, t0, t1),
                "garps_from_r2": tap.garp_count(r2.mac, t0, t1),
            },
            "igmp_users_r1": igmp_users(lab, r1),
            "sockets_r1": sockets_of(costs["r1"].end.pids),
            "tap_frames": tap.frames,
        }
        for d in (d2, d1):
            d.stop(timeout=15.0)
    return res


def parse_counts(text: str) -> list[tuple[int, float]]:
    out = []
    for part in text.split(","):
        n, _, secs = part.partition(":")
        out.append((int(n), float(secs or 60)))
    return out


def main(args: argparse.Namespace) -> int:
    return report(collect(args), markdown)


def collect(args: argparse.Namespace) -> dict[str, object]:
    """Run the benchmark as ``args`` say; return (and save nothing of) its results."""
    kinds = kinds_of(args.daemon)
    counts = parse_counts(args.counts)
    results = begin("scale", kinds, {"interval": AI, "counts": counts}, runs=[])
    for n, secs in counts:
        for kind in kinds:
            print(f"bench-scale: {kind}, {n} VRIDs, {secs:g} s ...", file=sys.stderr, flush=True)
            results["runs"].append(run_one(kind, n, secs))  # type: ignore[attr-defined]
    return results


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"Run: {load_line(results)}. " + ", ".join(f"{k} {x}" for k, x in results["versions"].items()) + ".",
        "",
        "| VRIDs | daemon | window | master CPU | backup CPU | CPU vipd / keepalived (master) | master RSS "
        "| backup RSS | deviation p99 | deviation max | adverts seen / expected | spurious transitions "
        "| 224.0.0.18 users / sockets | load (1 min) start / end |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by = {(r["vrids"], r["kind"]): r for r in results["runs"]}
    for r in results["runs"]:
        s = r["spurious"]
        spurious = s["log_transitions_r1"] + s["log_transitions_r2"] + s["adverts_from_r2"] + s["garps_from_r2"]
        k = by.get((r["vrids"], "keepalived"))
        rel = ratio(r["r1"]["cpu_seconds"], k["r1"]["cpu_seconds"]) if r["kind"] == "vipd" and k else ""
        d = r["deviation"]
        lines.append(
            f"| {r['vrids']} | {r['kind']} | {r['seconds']:.0f} s "
            f"| {r['r1']['cpu_percent']:.2f} % | {r['r2']['cpu_percent']:.2f} % | {rel} "
            f"| {mib(r['r1']['rss_max'])} | {mib(r['r2']['rss_max'])} | {ms(d['p99'], 3)} | {ms(d['max'], 2)} "
            f"| {r['adverts_seen']} / {r['adverts_expected']} | {spurious} "
            f"| {r['igmp_users_r1']} / {r['sockets_r1']} | {r['loadavg'][0][0]:.2f} / {r['loadavg'][1][0]:.2f} |"
        )
    lines += [
        "",
        "CPU is % of one core over the window (utime + stime of the whole process tree). Deviation = gap between "
        "consecutive adverts of a VRID minus 0.1 s, all VRIDs pooled. Spurious transitions = "
        '"Entering ... STATE" log lines of either daemon + adverts (priority > 0) and GARPs from the backup, '
        "all during the window.",
    ]
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-scale", help="1..255 VRIDs at 0.1 s: CPU, RSS, lateness, spurious transitions")
    p.add_argument(
        "--counts", default="1:60,16:60,64:60,255:300", help="VRIDS:SECONDS,... (default 1:60,16:60,64:60,255:300)"
    )
    p.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    p.set_defaults(func=main)
