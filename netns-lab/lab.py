#!/usr/bin/env python3
"""vipd's network-namespace lab: a demo, a failover benchmark, and a sweeper.

    sudo python3 netns-lab/lab.py demo                      # r1/r2/client, crash, takeover, preempt
    sudo python3 netns-lab/lab.py bench --trials 20 --daemon both
    sudo python3 netns-lab/lab.py sweep                     # remove labs whose owner process died
    sudo python3 netns-lab/lab.py bench-takeover|bench-steady|bench-scale|bench-startup|bench-plot
                                                            # the benchmarks in docs/performance.md

Needs root (network namespaces). Only 192.0.2.0/24 and 2001:db8::/64 are used,
inside namespaces named vl<hex>-*, all removed on exit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This checkout's vipdlab and vipd (the benchmarks time vipd code in-process too), before any installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vipdlab import (
    Instance,
    Lab,
    keepalived_available,
    render,
    sweep,
    timing,
    vipd_available,
    wait_until,
)
from vipdlab.bench.cli import add_parsers as add_bench_parsers
from vipdlab.bench.common import percentile
from vipdlab.lab.daemons import REPO_ROOT
from vipdlab.lab.scenario import STARTUP_ALLOWANCE, converge, crash_takeover, graceful_takeover

VIP = "192.0.2.100"
VIP_CIDR = f"{VIP}/24"
P_MASTER, P_BACKUP = 150, 100
RESULTS = Path(__file__).resolve().parent / "results"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _preflight(kinds: list[str]) -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    if not Path("/run/netns").exists() and not os.access("/run", os.W_OK):
        return "no /run/netns and /run is not writable"
    for kind in kinds:
        if kind == "keepalived" and not keepalived_available():
            return "keepalived is not installed (apt-get install keepalived)"
        if kind == "vipd":
            ok, why = vipd_available()
            if not ok:
                return f"`python -m vipd` does not run from {REPO_ROOT}: {why}"
    return None


# --------------------------------------------------------------------------- demo
class DemoFailed(Exception):
    pass


class Steps:
    def __init__(self) -> None:
        self.n = 0

    def step(self, text: str) -> None:
        self.n += 1
        print(f"\n[{self.n}] {text}", flush=True)

    @staticmethod
    def ok(text: str) -> None:
        print(f"    ok  {text}", flush=True)

    @staticmethod
    def info(text: str) -> None:
        print(f"        {text}", flush=True)

    @staticmethod
    def check(what: str, fn: Callable[[], object], timeout: float) -> object:
        try:
            return wait_until(fn, timeout, message=what)
        except AssertionError as exc:
            raise DemoFailed(f"{what}: {exc}") from None


def demo(args: argparse.Namespace) -> int:
    kind = args.daemon
    why = _preflight([kind])
    if why:
        print(f"demo: {why}", file=sys.stderr)
        return 2
    ai = args.interval
    cfg = Instance(priority=P_MASTER, advert_int=ai, version=3, vips=(VIP_CIDR,))
    s = Steps()
    mdi_r1 = timing.master_down_interval(3, P_MASTER, ai)
    window = timing.crash_window(3, P_BACKUP, ai)
    print(f"{kind} demo: two routers share {VIP} with VRRPv3, one advert every {ai:g} s")
    with Lab(keep_workdir=args.keep) as lab:
        r1, r2, client = lab.r1, lab.r2, lab.client
        sn = lab.sniffer
        assert sn is not None
        print(f"lab {lab.prefix}: bridge in {lab.sw_ns}; sniffer on the client's eth0")
        for n in (r1, r2, client):
            print(f"    {n.name:<7} {n.ip4:<11} {n.mac}   namespace {n.ns}")
        try:
            s.step(f"start {kind} on r1 (priority {P_MASTER}) and r2 (priority {P_BACKUP})")
            t0 = time.monotonic()
            d1 = lab.start_daemon(kind, r1, render(cfg))
            d2 = lab.start_daemon(kind, r2, render(cfg.with_(priority=P_BACKUP)))
            s.check("r1 becomes the only holder of the VIP", lambda: lab.holders(VIP) == [r1], STARTUP_ALLOWANCE)
            converge(lab, r1, [r2], VIP, interval=ai)
            advs = sn.adverts(src=r1.ip4, since=t0)
            gaps = [b.t - a.t for a, b in itertools.pairwise(advs)][-5:]
            s.ok(f"election: r1 is master, advertising from {r1.ip4} at priority {advs[-1].priority}")
            s.info(f"gaps between its adverts as seen by the client: {', '.join(_ms(g) for g in gaps)}")
            s.ok("r2 is backup: it sends nothing while r1 advertises")

            s.step(f"the VIP {VIP_CIDR} is on the master")
            s.ok(f"r1 holds {VIP}: {lab.holds(r1, VIP)}; r2 holds it: {lab.holds(r2, VIP)}")
            lab.set_neighbour(client, VIP, r1.mac)
            s.info(
                f"client's ARP entry for {VIP} seeded to r1's MAC {r1.mac} (STALE): Linux updates "
                "but doesn't create entries from gratuitous ARP (arp_accept=0)"
            )

            s.step("SIGKILL the master's daemon (a crash: no priority-0 advert, nothing cleaned up)")
            tk = crash_takeover(lab, d1, r1, r2, VIP, backup_priority=P_BACKUP, interval=ai)
            s.ok(f"r1's daemon killed; its last advert was seen {_ms(tk.t_signal - tk.t_reference)} before the kill")

            s.step("the backup takes over")
            if not window.contains(tk.from_signal, margin_high=0.1):
                raise DemoFailed(f"takeover after {_ms(tk.from_signal)}, outside {window} (+100 ms margin)")
            s.ok(f"r2's first gratuitous ARP for {VIP} came {_ms(tk.from_signal)} after the kill")
            s.info(f"protocol bound for priority {P_BACKUP}: {window} (2*adv+skew .. 3*adv+skew)")
            s.info(
                f"= r1's last advert + Master_Down_Interval {_ms(tk.bound)} + {_ms(tk.overhead)} "
                "(detection, netlink, GARP, wire)"
            )
            s.check("r2 holds the VIP", lambda: lab.holds(r2, VIP), 1.0)
            s.info(f"r1 still holds the VIP: {lab.holds(r1, VIP)} (a killed daemon leaves it behind)")

            s.step("the client follows the VIP to the new master")
            n = s.check(
                "client's neighbour entry points at r2",
                lambda: (e := lab.neighbour(client, VIP)) and e.lladdr == r2.mac and e,
                1.0,
            )
            asked = sn.requests_for(VIP, since=tk.t_signal)
            s.ok(f"client's entry for {VIP}: {n.lladdr} ({n.state}) = r2's MAC")  # type: ignore[attr-defined]
            s.info(f"set by r2's gratuitous ARP: the client sent {len(asked)} ARP request(s) for {VIP}")
            if asked:
                raise DemoFailed(f"the client had to ask for {VIP}: {asked}")

            s.step(f"restart {kind} on r1: it cleans up and preempts back (higher priority)")
            t_restart = time.monotonic()
            d1 = lab.start_daemon(kind, r1, render(cfg))
            try:
                wait_until(lambda: not lab.holds(r1, VIP), STARTUP_ALLOWANCE)
                s.ok(f"r1 removed its stale VIP at start-up ({_ms(time.monotonic() - t_restart)} after exec)")
            except AssertionError:
                s.info("r1 kept the stale VIP through its start-up")
            s.check("r1 master again", lambda: lab.holders(VIP) == [r1], STARTUP_ALLOWANCE + mdi_r1 + 1.0)
            back = s.check(
                "r1 announces the VIP",
                lambda: (g := sn.announcements(VIP, mac=r1.mac, since=t_restart)) and g[0],
                1.0,
            )
            s.ok(f"r1 is master again, first GARP {_ms(back.t - t_restart)} after exec")  # type: ignore[attr-defined]
            s.info(
                f"(process start-up + Master_Down_Interval of r1 {_ms(mdi_r1)}: lower-priority adverts don't reset it)"
            )
            s.check("r2 releases the VIP", lambda: not lab.holds(r2, VIP), 1.0)
            s.check(
                "client's entry points at r1 again",
                lambda: (e := lab.neighbour(client, VIP)) and e.lladdr == r1.mac,
                1.0,
            )
            s.ok(f"r2 is backup and released the VIP; client's entry -> {r1.mac} (r1)")

            s.step("stop both daemons (SIGTERM: priority 0, VIPs removed) and remove the lab")
            for d in (d1, d2):
                rc = d.stop()
                if rc != 0:
                    raise DemoFailed(f"{d.name} exited with status {rc}")
            s.check("nobody holds the VIP", lambda: lab.holders(VIP) == [], 1.0)
            s.ok("both daemons exited 0 and no router holds the VIP")
        except (DemoFailed, AssertionError) as exc:
            print(f"\nFAILED at step {s.n}: {exc}", file=sys.stderr)
            print("\nwhat the client saw (last frames):", file=sys.stderr)
            print(sn.summary(limit=40), file=sys.stderr)
            print("\ndaemon logs:", file=sys.stderr)
            print(lab.logs(40), file=sys.stderr)
            lab.keep_workdir = True
            print(f"\nlogs kept in {lab.workdir}", file=sys.stderr)
            return 1
    print(f"\nPASS: every step happened; namespaces {lab.prefix}-* removed")
    return 0


# --------------------------------------------------------------------------- bench
def _version(kind: str) -> str:
    if kind == "keepalived":
        out = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
        first = (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else ""
        return first.split()[1] if len(first.split()) > 1 else first
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        rev = ""
    return f"git {rev}" if rev else "checkout"


def bench_one(kind: str, trials: int, ai: float, verbose: bool) -> dict[str, object]:
    cfg = Instance(priority=P_MASTER, advert_int=ai, version=3, vips=(VIP_CIDR,))
    crash, graceful, notes = [], [], []
    with Lab() as lab:
        r1, r2 = lab.r1, lab.r2
        d1 = lab.start_daemon(kind, r1, render(cfg))
        d2 = lab.start_daemon(kind, r2, render(cfg.with_(priority=P_BACKUP)))
        try:
            converge(lab, r1, [r2], VIP, interval=ai)
            for i in range(trials):
                # crash: SIGKILL (after SIGSTOP of every process of the instance), at a random
                # phase of the advert cycle so the kill->GARP times sample the whole window
                time.sleep(random.uniform(0, ai))
                tk = crash_takeover(lab, d1, r1, r2, VIP, backup_priority=P_BACKUP, interval=ai)
                crash.append(tk.as_dict())
                # a killed daemon leaves its VIP: remove it so each trial starts the same for both daemons
                lab.del_address(r1, VIP_CIDR)
                d1 = lab.start_daemon(kind, r1, render(cfg))
                converge(lab, r1, [r2], VIP, interval=ai, timeout=STARTUP_ALLOWANCE + 2.0)
                # graceful: SIGTERM, priority-0 advert, backup takes over after Skew_Time
                tg, rc = graceful_takeover(lab, d1, r1, r2, VIP, backup_priority=P_BACKUP, interval=ai)
                graceful.append(tg.as_dict())
                if rc != 0:
                    notes.append(f"trial {i}: {kind} on r1 exited {rc} after SIGTERM")
                d1 = lab.start_daemon(kind, r1, render(cfg))
                converge(lab, r1, [r2], VIP, interval=ai, timeout=STARTUP_ALLOWANCE + 2.0)
                if verbose:
                    print(
                        f"  {kind} trial {i + 1}/{trials}: crash +{tk.overhead * 1000:.2f} ms "
                        f"(kill->GARP {_ms(tk.from_signal)}), graceful +{tg.overhead * 1000:.2f} ms",
                        flush=True,
                    )
        except BaseException:
            print(f"bench: {kind} failed; what the client saw:\n{lab.sniffer.summary(limit=30)}", file=sys.stderr)  # type: ignore[union-attr]
            print(lab.logs(30), file=sys.stderr)
            raise
        finally:
            for d in (d1, d2):
                d.stop()
    return {"version": _version(kind), "crash": crash, "graceful": graceful, "notes": notes}


def _summary(rows: list[dict[str, object]], key: str) -> dict[str, float]:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]  # type: ignore[arg-type]
    if not vals:
        return {"n": 0, "median": float("nan"), "p95": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "p95": percentile(vals, 95),
        "min": min(vals),
        "max": max(vals),
    }


def bench(args: argparse.Namespace) -> int:
    kinds = ["vipd", "keepalived"] if args.daemon == "both" else [args.daemon]
    if args.daemon == "both" and not keepalived_available():
        print("bench: keepalived not installed; measuring vipd only", file=sys.stderr)
        kinds = ["vipd"]
    why = _preflight(kinds)
    if why:
        print(f"bench: {why}", file=sys.stderr)
        return 2
    ai = args.interval
    skew = timing.skew_time(3, P_BACKUP, ai)
    mdi = timing.master_down_interval(3, P_BACKUP, ai)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results: dict[str, object] = {
        "started": started,
        "host": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "params": {
            "version": 3,
            "advert_int": ai,
            "priorities": {"r1": P_MASTER, "r2": P_BACKUP},
            "trials": args.trials,
            "skew_time": skew,
            "master_down_interval": mdi,
            "definition": {
                "crash": "first GARP from r2 - (r1's last advert seen + Master_Down_Interval(r2))",
                "graceful": "first GARP from r2 - (r1's priority-0 advert seen + Skew_Time(r2))",
                "clock": "kernel rx timestamps (SO_TIMESTAMPNS) on the client's eth0, mapped to CLOCK_MONOTONIC",
            },
        },
        "daemons": {},
    }
    for kind in kinds:
        print(f"bench: {kind}, {args.trials} trials of crash + graceful failover ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        res = bench_one(kind, args.trials, ai, args.verbose)
        res["seconds"] = time.monotonic() - t0
        res["summary"] = {
            "crash_overhead": _summary(res["crash"], "overhead"),  # type: ignore[arg-type]
            "crash_from_kill": _summary(res["crash"], "from_signal"),  # type: ignore[arg-type]
            "graceful_overhead": _summary(res["graceful"], "overhead"),  # type: ignore[arg-type]
            "crash_advert_overhead": _summary(res["crash"], "advert_overhead"),  # type: ignore[arg-type]
            "graceful_advert_overhead": _summary(res["graceful"], "advert_overhead"),  # type: ignore[arg-type]
        }
        results["daemons"][kind] = res  # type: ignore[index]
    results["host"]["loadavg_end"] = os.getloadavg()  # type: ignore[index]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"\nraw results: {out}", file=sys.stderr)
    return 0


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    p = results["params"]
    h = results["host"]
    ai = p["advert_int"]
    lines = [
        f"Failover overhead, VRRPv3 advert_int {ai:g} s, r1 priority {P_MASTER} -> r2 priority {P_BACKUP} "
        f"(Skew_Time {_ms(p['skew_time'])}, Master_Down_Interval {_ms(p['master_down_interval'])}), "
        f"{p['trials']} trials each, {results['started'][:10]}, kernel {h['kernel']}, {h['cpus']} vCPU, "
        f"load {h['loadavg_start'][0]:.2f}.",
        "",
        "Overhead = the backup's first GARP seen by the client minus the protocol's bound: for a crash "
        "(SIGKILL of every process) the dead master's last advert + Master_Down_Interval, for a graceful "
        "stop (SIGTERM) its priority-0 advert + Skew_Time.",
        "",
        "| daemon | scenario | median | p95 | min | max | first advert: median / p95 | SIGKILL -> GARP median |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, res in results["daemons"].items():
        sm = res["summary"]
        c, g, k = sm["crash_overhead"], sm["graceful_overhead"], sm["crash_from_kill"]
        ca, ga = sm["crash_advert_overhead"], sm["graceful_advert_overhead"]
        name = f"{kind} {res['version']}"

        def cells(x: dict) -> str:  # type: ignore[type-arg]
            return " | ".join(f"{x[q] * 1000:.2f} ms" for q in ("median", "p95", "min", "max"))

        def adv(x: dict) -> str:  # type: ignore[type-arg]
            return f"{x['median'] * 1000:.2f} / {x['p95'] * 1000:.2f} ms"

        lines.append(f"| {name} | crash | {cells(c)} | {adv(ca)} | {k['median'] * 1000:.1f} ms |")
        lines.append(f"| {name} | graceful | {cells(g)} | {adv(ga)} | |")
    lines += [
        "",
        f"SIGKILL -> GARP must fall in {timing.crash_window(3, P_BACKUP, ai)} (2*adv+skew .. 3*adv+skew) plus the "
        'overhead; the kill lands at a random phase of the advert cycle. "first advert" is the same overhead '
        "measured at the new master's first advert instead of its first GARP.",
    ]
    return "\n".join(lines)


def sweep_cmd(_args: argparse.Namespace) -> int:
    removed = sweep()
    print("removed: " + (" ".join(removed) if removed else "nothing"))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="election, crash, takeover, preemption, step by step")
    d.add_argument("--daemon", choices=["vipd", "keepalived"], default="vipd")
    d.add_argument("--interval", type=float, default=0.1, help="advert_int in seconds (default 0.1)")
    d.add_argument("--keep", action="store_true", help="keep the lab's work directory (configs, logs)")
    d.set_defaults(func=demo)
    b = sub.add_parser("bench", help="crash and graceful failover overhead, median and p95")
    b.add_argument("--trials", type=int, default=20)
    b.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    b.add_argument("--interval", type=float, default=0.1)
    b.add_argument("-v", "--verbose", action="store_true", help="print every trial")
    b.set_defaults(func=bench)
    sw = sub.add_parser("sweep", help="remove labs (vl*) whose owner process is gone")
    sw.set_defaults(func=sweep_cmd)
    add_bench_parsers(sub)  # bench-takeover, bench-steady, bench-scale, bench-startup, bench-plot
    args = ap.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted: lab removed", file=sys.stderr)
        return 130
    except SystemExit as exc:  # SIGTERM/SIGHUP from the lab's safety net
        if isinstance(exc.code, int) and exc.code > 128:
            print(f"\nstopped by signal {exc.code - 128}: lab removed", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
