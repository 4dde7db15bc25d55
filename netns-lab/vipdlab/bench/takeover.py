"""Takeover overhead past the protocol bound, after SIGKILL and after SIGTERM, at several advert intervals.

``lab.py bench-takeover``. r1 and r2 both have priority 100 (so either one's
bound is the same), VRRPv3, one VIP. Each trial:

1. wait a random fraction of an interval, then crash r1's daemon (SIGSTOP +
   SIGKILL of every process): r2 takes over after Master_Down_Interval;
2. remove the VIP the crash left on r1, restart r1: it stays backup (equal
   priority never preempts), which costs only its start-up and two adverts;
   then wait until the restarted daemon is quiet (under 5 % CPU over 200 ms):
   a daemon joins the group before it has finished starting, and a takeover
   during that tail would time the start-up, not the takeover path;
3. SIGTERM r2's daemon: priority 0, r1 takes over after Skew_Time;
4. restart r2 as backup.

Overhead = the new master's first GARP seen by the client minus
(the old master's last advert seen + Master_Down_Interval) for a crash, or
minus (its priority-0 advert seen + Skew_Time) for SIGTERM. All times are the
client's kernel receive times (see scenario.py).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from ..lab import timing
from ..lab.conf import Instance, render
from ..lab.scenario import STARTUP_ALLOWANCE, converge, crash_takeover, graceful_takeover
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import begin, kinds_of, load_line, ms, ratio, report, summary, wait_quiet

VIP = "192.0.2.100"
VIP_CIDR = f"{VIP}/24"
PRIORITY = 100
SCENARIOS = ("crash", "graceful")


def run_daemon(kind: str, ai: float, trials: int, verbose: bool) -> dict[str, object]:
    cfg = Instance(priority=PRIORITY, advert_int=ai, version=3, vips=(VIP_CIDR,))
    text = render(cfg)
    rows: dict[str, list[dict[str, object]]] = {"crash": [], "graceful": []}
    notes: list[str] = []
    quiet: list[float] = []  # time from converged to the restarted daemon going quiet (CPU < 5 %)
    settle = STARTUP_ALLOWANCE + 3 * ai + 2.0
    with Lab() as lab:
        r1, r2 = lab.r1, lab.r2
        d1 = lab.start_daemon(kind, r1, text)
        wait_until(lambda: lab.holders(VIP) == [r1], settle, message="r1 master")
        d2 = lab.start_daemon(kind, r2, text)
        try:
            converge(lab, r1, [r2], VIP, interval=ai, adverts=2, timeout=settle)
            wait_quiet(d2.pid)
            for i in range(trials):
                time.sleep(random.uniform(0, ai))  # crash at a random phase of the advert cycle
                tk = crash_takeover(lab, d1, r1, r2, VIP, backup_priority=PRIORITY, interval=ai)
                rows["crash"].append(tk.as_dict())
                lab.del_address(r1, VIP_CIDR)
                d1 = lab.start_daemon(kind, r1, text)
                converge(lab, r2, [r1], VIP, interval=ai, adverts=2, timeout=settle)
                quiet.append(wait_quiet(d1.pid))
                tg, rc = graceful_takeover(lab, d2, r2, r1, VIP, backup_priority=PRIORITY, interval=ai)
                rows["graceful"].append(tg.as_dict())
                if rc != 0:
                    notes.append(f"trial {i}: {kind} on r2 exited {rc} after SIGTERM")
                d2 = lab.start_daemon(kind, r2, text)
                converge(lab, r1, [r2], VIP, interval=ai, adverts=2, timeout=settle)
                quiet.append(wait_quiet(d2.pid))
                if verbose:
                    print(
                        f"  {kind} {ai:g}s {i + 1}/{trials}: crash +{tk.overhead * 1e3:.2f} ms "
                        f"(kill->GARP {tk.from_signal * 1e3:.1f} ms), graceful +{tg.overhead * 1e3:.2f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
        except BaseException:
            print(f"bench-takeover: {kind} at {ai:g}s failed; the client saw:", file=sys.stderr)
            print(lab.sniffer.summary(limit=30), file=sys.stderr)  # type: ignore[union-attr]
            print(lab.logs(30), file=sys.stderr)
            raise
        finally:
            for d in (d1, d2):
                d.stop()
    out: dict[str, object] = {"rows": rows, "notes": notes, "quiet_after_converge": quiet}
    out["summary"] = {
        sc: {
            "overhead": summary(r["overhead"] for r in rows[sc]),  # type: ignore[misc]
            "advert_overhead": summary(r["advert_overhead"] for r in rows[sc]),  # type: ignore[misc]
            "from_signal": summary(r["from_signal"] for r in rows[sc]),  # type: ignore[misc]
        }
        for sc in SCENARIOS
    }
    out["summary"]["quiet_after_converge"] = summary(quiet)  # type: ignore[index]
    return out


def main(args: argparse.Namespace) -> int:
    return report(collect(args), markdown)


def collect(args: argparse.Namespace) -> dict[str, object]:
    """Run the benchmark as ``args`` say; return (and save nothing of) its results."""
    kinds = kinds_of(args.daemon)
    intervals = [float(x) for x in args.intervals.split(",")]
    results = begin("takeover", kinds, {"priority": PRIORITY, "version": 3, "intervals": intervals}, runs=[])
    for ai in intervals:
        n = args.trials_1s if ai >= 1.0 and args.trials_1s else args.trials
        for kind in kinds:
            print(f"bench-takeover: {kind}, advert_int {ai:g} s, {n} trials ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            load0 = os.getloadavg()
            res = run_daemon(kind, ai, n, args.verbose)
            res.update(
                kind=kind,
                interval=ai,
                trials=n,
                seconds=time.monotonic() - t0,
                loadavg=[load0, os.getloadavg()],
                skew_time=timing.skew_time(3, PRIORITY, ai),
                master_down_interval=timing.master_down_interval(3, PRIORITY, ai),
            )
            results["runs"].append(res)  # type: ignore[attr-defined]
    return results


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    runs = results["runs"]
    v = results["versions"]
    lines = [
        f"Run: {load_line(results)}. " + ", ".join(f"{k} {x}" for k, x in v.items()) + ".",
        "",
        "| advert_int | scenario | bound | daemon | trials | median | p95 | max | vipd / keepalived (median, p95) "
        "| first advert median / p95 | signal -> GARP median | load (1 min) |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by = {(r["interval"], r["kind"]): r for r in runs}
    for ai in results["params"]["intervals"]:
        for sc in SCENARIOS:
            bound = timing.master_down_interval(3, PRIORITY, ai) if sc == "crash" else timing.skew_time(3, PRIORITY, ai)
            k = by.get((ai, "keepalived"))
            for kind in ("vipd", "keepalived"):
                r = by.get((ai, kind))
                if r is None:
                    continue
                o = r["summary"][sc]["overhead"]
                a = r["summary"][sc]["advert_overhead"]
                f = r["summary"][sc]["from_signal"]
                rel = ""
                if kind == "vipd" and k is not None:
                    ko = k["summary"][sc]["overhead"]
                    rel = f"{ratio(o['median'], ko['median'])}, {ratio(o['p95'], ko['p95'])}"
                lines.append(
                    f"| {ai:g} s | {'SIGKILL' if sc == 'crash' else 'SIGTERM'} | {ms(bound, 1)} | {kind} | {o['n']} "
                    f"| {ms(o['median'])} | {ms(o['p95'])} | {ms(o['max'])} | {rel} "
                    f"| {ms(a['median'])} / {ms(a['p95'])} | {ms(f['median'], 1)} | {r['loadavg'][0][0]:.2f} |"
                )
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-takeover", help="takeover overhead after SIGKILL/SIGTERM at 1, 0.1, 0.01 s adverts")
    p.add_argument("--trials", type=int, default=20, help="trials per daemon and interval (default 20)")
    p.add_argument("--trials-1s", type=int, default=0, help="trials at intervals >= 1 s (default: --trials)")
    p.add_argument("--intervals", default="1,0.1,0.01", help="comma-separated advert_int values in seconds")
    p.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    p.add_argument("-v", "--verbose", action="store_true", help="print every trial")
    p.set_defaults(func=main)
