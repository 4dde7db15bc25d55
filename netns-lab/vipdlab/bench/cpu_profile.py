"""Where vipd's CPU goes with many VRIDs: cProfile of a master and a backup in the lab.

``lab.py bench-profile [--vrids 255] [--seconds 20]``. The same setup as
``bench-scale`` (r1 master, r2 backup of VRIDs 1..N at 0.1 s), but both vipd
processes run under ``python -m cProfile``; SIGTERM makes vipd exit normally,
so cProfile writes its file. Prints the functions with the most own time
(tottime) and the CPU cost per advert sent (master) / received (backup) from
/proc, without the profiler (a separate, unprofiled window comes first).

cProfile slows Python code down (roughly 1.5-2x), so the absolute times in the
profile are inflated; the shares are what to read.
"""

from __future__ import annotations

import argparse
import io
import pstats
import signal
import sys

from ..lab.daemons import vipd_argv, vipd_env
from ..lab.procs import Process
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import CostMeter, begin, count_lines, save
from .scale import AI, config, vip_of


def _start(lab: Lab, node_name: str, text: str, profile: str | None) -> Process:
    node = lab.nodes[node_name]
    conf = lab.workdir / f"{node_name}-profile.conf"
    conf.write_text(text)
    run = lab.workdir / f"run-{node_name}-profile"
    run.mkdir(exist_ok=True)
    argv = vipd_argv(conf, run / "vipd.pid")
    if profile:
        argv = [argv[0], "-m", "cProfile", "-o", profile, *argv[1:]]
    return Process(f"vipd@{node_name}", node.ns, argv, lab.workdir / f"{node_name}-vipd.log", env=vipd_env(), cwd=run)


def run(n: int, seconds: float, top: int) -> dict[str, object]:
    out: dict[str, object] = {"vrids": n, "seconds": seconds}
    with Lab(sniff=False) as lab:
        for profiled in (False, True):
            profs = {r: str(lab.workdir / f"{r}.prof") if profiled else None for r in ("r1", "r2")}
            p1 = _start(lab, "r1", config(n, 150), profs["r1"])
            want = {vip_of(v).split("/")[0] for v in range(1, n + 1)}
            wait_until(
                lambda want=want: want <= {a.split("/")[0] for a in lab.addresses(lab.r1)}, 60, message="r1 master"
            )
            before = count_lines(lab.workdir / "r2-vipd.log", "Entering ")
            p2 = _start(lab, "r2", config(n, 100), profs["r2"])
            wait_until(
                lambda before=before: count_lines(lab.workdir / "r2-vipd.log", "Entering ") >= before + n,
                60,
                interval=0.1,
                message=f"r2 logged {n} transitions to Backup",
            )
            costs = CostMeter({"r1": p1.pid, "r2": p2.pid}).run(seconds)
            label = "profiled" if profiled else "plain"
            adverts = n * seconds / AI
            out[label] = {
                r: {
                    **c.as_dict(),
                    "cpu_us_per_advert": 1e6 * c.cpu / adverts,
                    "sched_us_per_advert": 1e6 * (c.end.sched - c.start.sched) / adverts,
                }
                for r, c in costs.items()
            }
            for p in (p2, p1):
                p.stop(signal.SIGTERM, timeout=30.0)
            if profiled:
                for r in ("r1", "r2"):
                    buf = io.StringIO()
                    st = pstats.Stats(profs[r], stream=buf)  # type: ignore[arg-type]
                    st.sort_stats("tottime").print_stats(top)
                    out[f"profile_{r}"] = buf.getvalue()
    return out


def main(args: argparse.Namespace) -> int:
    res = run(args.vrids, args.seconds, args.top)
    res = {**begin("profile", ["vipd"], {"vrids": args.vrids, "seconds": args.seconds}), **res}
    path = save("profile", res)
    for label in ("plain", "profiled"):
        for r, c in res[label].items():  # type: ignore[attr-defined]
            role = "master" if r == "r1" else "backup"
            print(
                f"{label:8} {role}: {c['cpu_percent']:.1f} % CPU, {c['sched_us_per_advert']:.0f} us on-CPU per advert "
                f"{'sent' if r == 'r1' else 'received'}"
            )
    for r in ("r1", "r2"):
        print(f"\n==== {'master' if r == 'r1' else 'backup'} ({r}), top functions by own time ====")
        text = res[f"profile_{r}"]
        start = text.find("   ncalls")
        print(text[start:] if start >= 0 else text)
    print(f"raw results: {path}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-profile", help="cProfile of a vipd master and backup with many VRIDs (diagnosis)")
    p.add_argument("--vrids", type=int, default=255)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--top", type=int, default=25)
    p.set_defaults(func=main)
