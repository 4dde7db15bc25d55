"""A lone master's steady state: advert interval deviation (idle and with CPU hogs) and idle cost.

``lab.py bench-steady``. vipd and keepalived run side by side, each in a lab
of its own (its own namespaces, bridge and client), each the only router of
its lab, so it becomes master and stays there. Both labs are measured over the
same window, so both daemons see the same machine load.

* Idle cost: CPU seconds (utime + stime of the whole process tree, from
  /proc/PID/stat) used during the window, and VmRSS summed over the tree
  (keepalived's parent and VRRP child; Pss too, which counts shared pages once).
* Advert deviation "at the client": gap between consecutive adverts seen by
  the client (kernel receive times on its eth0) minus the nominal interval;
  positive = late.
* Advert deviation "as sent": the same, from a tap in the router's namespace on
  its eth0 that keeps only its outgoing frames (PACKET_OUTGOING), stamped when
  the advert reached the device (dev_queue_xmit_nit), before the veth/bridge
  path. A glitch seen at the client but not as sent is the path's (delivery to
  the client), not the daemon's.
* Schedule lateness (both taps): vipd schedules drift-free
  (deadline_n = deadline_0 + n * AI), so advert n's lateness is
  t_n - (t_0 + n * AI) minus the minimum of that over the window (the earliest
  advert is 0; the window is cut where a gap exceeds 1.5 AI); keepalived
  schedules each advert AI after its previous send, so its lateness is gap - AI. See :func:`.common.lateness`.
* Transit: client time minus router time of the same advert.
* Run-queue wait: time the daemon's threads were runnable but not running
  over the window (field 2 of /proc/PID/task/*/schedstat), beside how many
  times they were scheduled in. Late adverts (as sent) that add up to about
  this figure were waiting for a CPU, not for their timer.
* Every advert time of both taps (seconds after the window's start, which is
  the same instant for both labs) goes into the JSON, so glitches of the two
  daemons can be lined up; so do /proc/stat steal/irq time and interrupt and
  softirq counts over the window.
* Busy: the same with two shell busy loops (one per lab) running for the
  window, killed at its end (and bounded by ``timeout``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time

from ..lab.conf import Instance, render
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import (
    LATENESS_RULE,
    AdvertTap,
    CostMeter,
    begin,
    cpu_counters,
    cpu_hogs,
    deviation,
    kinds_of,
    lateness,
    load_line,
    mib,
    ms,
    ratio,
    report,
    summary,
    transit,
)

VIP_CIDR = "192.0.2.100/24"
VRID = 51
LATE = 1e-3  # gaps this much late are listed in the markdown, with their time


def _window(
    labs: dict[str, Lab],
    taps: dict[str, AdvertTap],
    sent: dict[str, AdvertTap],
    roots: dict[str, int],
    seconds: float,
    ai: float,
) -> dict[str, dict[str, object]]:
    load0 = os.getloadavg()
    c0 = cpu_counters()
    t0 = time.monotonic()
    costs = CostMeter(roots).run(seconds)
    t1 = time.monotonic()
    c1 = cpu_counters()
    machine = {k: c1[k] - c0[k] for k in c1 if k in c0}
    out: dict[str, dict[str, object]] = {}
    for kind, lab in labs.items():
        seen = taps[kind].times(lab.r1.ip4, VRID, t0, t1)
        left = sent[kind].times(lab.r1.ip4, VRID, t0, t1)
        gaps = taps[kind].gaps(lab.r1.ip4, [VRID], t0, t1)
        drift_free = kind == "vipd"
        out[kind] = {
            "cost": costs[kind].as_dict(),
            "deviation": deviation(gaps, ai),
            "deviation_sent": deviation([b - a for a, b in itertools.pairwise(left)], ai),
            "lateness_sent": summary(lateness(left, ai, drift_free=drift_free)),
            "lateness_client": summary(lateness(seen, ai, drift_free=drift_free)),
            "lateness_rule": LATENESS_RULE[drift_free],
            "transit": summary(transit(left, seen, ai)),
            "times": {
                "t0": t0,
                "client": [round(t - t0, 7) for t in seen],
                "sent": [round(t - t0, 7) for t in left],
            },
            "clock_reads_retried": taps[kind].clock_reads_retried + sent[kind].clock_reads_retried,
            "machine": machine,
            "loadavg": [load0, os.getloadavg()],
        }
    return out


def run_interval(kinds: list[str], ai: float, seconds: float, busy_seconds: float) -> dict[str, object]:
    cfg = Instance(priority=150, vrid=VRID, advert_int=ai, version=3, vips=(VIP_CIDR,))
    with contextlib.ExitStack() as stack:
        labs = {k: stack.enter_context(Lab(routers=1, sniff=False)) for k in kinds}
        taps = {k: stack.enter_context(AdvertTap(lab.client.ns)) for k, lab in labs.items()}
        sent = {k: stack.enter_context(AdvertTap(lab.r1.ns, outgoing=True)) for k, lab in labs.items()}
        daemons = {k: lab.start_daemon(k, lab.r1, render(cfg)) for k, lab in labs.items()}
        for k, lab in labs.items():
            wait_until(lambda lab=lab: lab.holders("192.0.2.100") == [lab.r1], 10 + 4 * ai, message=f"{k} master")
            mark = time.monotonic()
            wait_until(lambda k=k, lab=lab, mark=mark: len(taps[k].times(lab.r1.ip4, VRID, mark)) >= 3, 3 + 4 * ai)
        roots = {k: d.pid for k, d in daemons.items()}
        print(f"bench-steady: {ai:g} s, idle window {seconds:g} s ...", file=sys.stderr, flush=True)
        result: dict[str, object] = {"interval": ai, "idle": _window(labs, taps, sent, roots, seconds, ai)}
        if busy_seconds > 0:
            print(f"bench-steady: {ai:g} s, busy window {busy_seconds:g} s ...", file=sys.stderr, flush=True)
            first = next(iter(labs.values()))
            hog_ns = ([lab.r1.ns for lab in labs.values()] * 2)[:2]  # two busy loops in all
            with cpu_hogs(hog_ns, busy_seconds + 5, first.workdir):
                result["busy"] = _window(labs, taps, sent, roots, busy_seconds, ai)
        for k, lab in labs.items():
            lab.assert_running()
            daemons[k].stop()
    return result


def main(args: argparse.Namespace) -> int:
    return report(collect(args), markdown)


def collect(args: argparse.Namespace) -> dict[str, object]:
    """Run the benchmark as ``args`` say; return (and save nothing of) its results."""
    kinds = kinds_of(args.daemon)
    intervals = [float(x) for x in args.intervals.split(",")]
    busy = {float(x) for x in args.busy_intervals.split(",") if x}
    params = {"intervals": intervals, "seconds": args.seconds, "busy_seconds": args.busy_seconds}
    results = begin("steady", kinds, params, runs=[])
    for ai in intervals:
        res = run_interval(kinds, ai, args.seconds, args.busy_seconds if ai in busy else 0.0)
        results["runs"].append(res)  # type: ignore[attr-defined]
    return results


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"Run: {load_line(results)}. " + ", ".join(f"{k} {x}" for k, x in results["versions"].items()) + ".",
        "",
        "Advert interval deviation (gap - nominal, client's kernel receive times; positive = late):",
        "",
        "| advert_int | load | daemon | gaps | median | p99 | max | min | abs p99 | p99 vipd / keepalived "
        "| load avg (1 min) start / end |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        for cond in ("idle", "busy"):
            w = r.get(cond)
            if not w:
                continue
            for kind, x in w.items():
                d = x["deviation"]
                rel = ""
                if kind == "vipd" and "keepalived" in w:
                    rel = ratio(d["p99"], w["keepalived"]["deviation"]["p99"])
                la = x["loadavg"]
                lines.append(
                    f"| {r['interval']:g} s | {cond if cond == 'idle' else 'two busy loops'} | {kind} | {d['n']} "
                    f"| {ms(d['median'], 3)} | {ms(d['p99'], 3)} | {ms(d['max'], 3)} | {ms(d['min'], 3)} "
                    f"| {ms(d['abs_p99'], 3)} | {rel} | {la[0][0]:.2f} / {la[1][0]:.2f} |"
                )
    if any("deviation_sent" in x for r in results["runs"] for c in ("idle", "busy") for x in r.get(c, {}).values()):
        lines += _sent_tables(results)
    lines += [
        "",
        "Idle cost as the only master (whole process tree; CPU = utime + stime over the window):",
        "",
        "| advert_int | daemon | window | CPU seconds (stat) | CPU % of one core | CPU vipd / keepalived "
        "| on-CPU seconds (schedstat) | RSS (sum) | Pss (sum) | processes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        w = r["idle"]
        for kind, x in w.items():
            c = x["cost"]
            rel = (
                ratio(c["cpu_seconds"], w["keepalived"]["cost"]["cpu_seconds"])
                if kind == "vipd" and "keepalived" in w
                else ""
            )
            lines.append(
                f"| {r['interval']:g} s | {kind} | {c['seconds']:.0f} s | {c['cpu_seconds']:.2f} s "
                f"| {c['cpu_percent']:.3f} % | {rel} | {c['sched_seconds']:.3f} s | {mib(c['rss_max'])} "
                f"| {mib(c['pss_max'])} | {c['processes']} |"
            )
    return "\n".join(lines)


def _late_at(times: list[float], ai: float) -> list[float]:
    """Window times (s) of the adverts that ended a gap whose deviation (gap - AI) is over LATE."""
    return [b for a, b in itertools.pairwise(times) if b - a - ai > LATE]


def _sent_tables(results: dict) -> list[str]:  # type: ignore[type-arg]
    lines = [
        "",
        "As sent (router's eth0, its own outgoing frames) beside the client; schedule lateness: vipd "
        "t_n - (t_0 + n*AI) minus its minimum over each run of gaps <= 1.5 AI (drift-free schedule), "
        "keepalived gap - AI "
        "(each advert scheduled AI after the previous send); transit = client time - router time:",
        "",
        "| advert_int | load | daemon | deviation p99 client / sent | max client / sent | min client / sent "
        "| lateness sent median / p99 / max | lateness client p99 / max | transit median / p99 / max "
        "| run-queue wait (schedstat) | steal / softirq time in window |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    late: list[str] = []
    for r in results["runs"]:
        ai = r["interval"]
        for cond in ("idle", "busy"):
            for kind, x in r.get(cond, {}).items():
                if "deviation_sent" not in x:
                    continue
                d, e, ls, lc, tr = (
                    x["deviation"],
                    x["deviation_sent"],
                    x["lateness_sent"],
                    x["lateness_client"],
                    x["transit"],
                )
                m = x["machine"]
                lines.append(
                    f"| {ai:g} s | {cond if cond == 'idle' else 'two busy loops'} | {kind} "
                    f"| {ms(d['p99'])} / {ms(e['p99'])} | {ms(d['max'])} / {ms(e['max'])} "
                    f"| {ms(d['min'])} / {ms(e['min'])} "
                    f"| {ms(ls['median'], 3)} / {ms(ls['p99'])} / {ms(ls['max'])} | {ms(lc['p99'])} / {ms(lc['max'])} "
                    f"| {ms(tr['median'], 3)} / {ms(tr['p99'], 3)} / {ms(tr['max'], 3)} "
                    f"| {ms(x['cost'].get('runqueue_wait_seconds', float('nan')), 1)} in "
                    f"{x['cost'].get('slices', 0)} runs "
                    f"| {m.get('steal_s', 0):.2f} / {m.get('softirq_s', 0):.2f} s |"
                )
                for where in ("client", "sent"):
                    at = _late_at(x["times"][where], ai)
                    shown = ", ".join(f"{t:.3f}" for t in at[:40]) + (" ..." if len(at) > 40 else "")
                    late.append(f"* {ai:g} s {cond}, {kind}, {where}: {len(at)}: {shown}")
    head = f"Gaps more than {LATE * 1e3:g} ms late, by the time (s into the window) they ended:"
    return [*lines, "", head, "", *late]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-steady", help="advert deviation (idle, busy) and idle CPU/RSS of a lone master")
    p.add_argument("--intervals", default="1,0.1", help="advert_int values (default 1,0.1)")
    p.add_argument("--seconds", type=float, default=60.0, help="idle window (default 60)")
    p.add_argument("--busy-seconds", type=float, default=60.0, help="window with two busy loops (default 60)")
    p.add_argument("--busy-intervals", default="0.1", help="intervals that also get the busy window (default 0.1)")
    p.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    p.set_defaults(func=main)
