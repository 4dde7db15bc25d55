"""Benchmark: does running health checks delay adverts? (issue 4, "Isolation")

One vipd master on r1 (VRRPv3, advert_int 0.1 s), r2 silent, the client
sniffing. Scenarios: no checks; 100 ``tcp`` checks (vrrp_check, no fork) at
0.5 s; 100 ``script`` checks (``/bin/true``, a fork+exec each) at 0.5 s. All
checks are tracked by the instance with weight 0 and pass, so nothing changes
state: only their cost shows.

Advert send lateness is read off the wire: vipd schedules adverts drift-free
(deadline_n = deadline_0 + n * interval), so for the n-th advert received at
t_n (kernel timestamp on the client), ``t_n - n * interval`` minus its minimum
over the run is how late it left (plus the veth's jitter, which is the same in
every scenario): :func:`vipdlab.bench.common.lateness`, the benchmarks' one
definition, with the linear percentile of :func:`vipdlab.bench.common.percentile`.
Reported: p50, p99 and max in milliseconds, and p99 minus the
no-check p99 ("added").

    sudo python3 -m vipdlab.bench.tracking --seconds 60     # from netns-lab/

On demand only (not in CI): it takes a few minutes and wants a quiet machine.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from ..lab.conf import Instance, render
from ..lab.scenario import STARTUP_ALLOWANCE
from ..lab.services import tcp_listener
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import begin, lateness, percentile, report

AI = 0.1
VIP = "192.0.2.100"


def checks_config(kind: str, n: int, interval: float) -> tuple[str, str]:
    """``(blocks, track_script)`` text for ``n`` checks of ``kind`` ("tcp" or "script")."""
    blocks, names = [], []
    for i in range(n):
        name = f"c{i:03d}"
        names.append(name)
        if kind == "tcp":
            blocks.append(
                f"vrrp_check {name} {{\n    type tcp\n    connect_port 8080\n"
                f"    interval {interval}\n    timeout 0.4\n}}\n"
            )
        else:
            blocks.append(
                f'vrrp_script {name} {{\n    script "/bin/true"\n    interval {interval}\n    timeout 0.4\n}}\n'
            )
    track = "track_script {\n" + "".join(f"        {n}\n" for n in names) + "    }"
    return "".join(blocks), track


def run_scenario(
    kind: str, n: int, interval: float, seconds: float, keep: bool = False
) -> dict[str, float | int | str]:
    with Lab(keep_workdir=keep) as lab:
        if kind == "tcp":
            tcp_listener(lab, lab.r1, 8080)
        blocks, track = checks_config(kind, n, interval) if n else ("", "")
        inst = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",), priority=150, extra=(track,) if track else ())
        lab.start_vipd(lab.r1, blocks + render(inst))
        wait_until(lambda: lab.holders(VIP) == [lab.r1], STARTUP_ALLOWANCE + 5, message="r1 master")
        time.sleep(2.0)  # let start-up work (imports, first check round, GARP bursts) settle: not measured
        t0 = time.monotonic()
        time.sleep(seconds)  # the measurement window itself
        assert lab.sniffer is not None
        adverts = [a.t for a in lab.sniffer.adverts(src=lab.r1.ip4, since=t0) if a.priority > 0]
        lab.assert_running()
        log = (lab.workdir / "r1-vipd.log").read_text()
    lag_warnings = sum(1 for line in log.splitlines() if "event loop ran" in line)
    # A gap longer than 1.5 intervals would mean a lost or skipped advert: count it.
    gaps = [b - a for a, b in itertools.pairwise(adverts)]
    late = lateness(adverts, AI)
    return {
        "scenario": "none" if not n else f"{n} {kind} checks @ {interval:g}s",
        "adverts": len(adverts),
        "skipped": sum(1 for g in gaps if g > 1.5 * AI),
        "p50_ms": percentile(late, 50) * 1000,
        "p99_ms": percentile(late, 99) * 1000,
        "max_ms": max(late) * 1000,
        "gap_stdev_ms": statistics.pstdev(gaps) * 1000 if gaps else 0.0,
        "loop_lag_warnings": lag_warnings,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement window per scenario")
    ap.add_argument("--checks", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--kinds", default="tcp,script", help="comma-separated: tcp, script")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every scenario")
    args = ap.parse_args(argv)
    scenarios = [("none", 0), *((k, args.checks) for k in args.kinds.split(","))]
    params = {k: getattr(args, k) for k in ("seconds", "checks", "interval", "kinds", "rounds")}
    results = begin("tracking", ["vipd"], params, scenarios=scenarios, rows=[])
    rows: list[dict[str, float | int | str]] = results["rows"]  # type: ignore[assignment]
    for r in range(args.rounds):  # interleaved, so slow drifts of the machine hit every scenario alike
        for kind, n in scenarios:
            row = run_scenario(kind, n, args.interval, args.seconds)
            row["round"] = r + 1
            rows.append(row)
    return report(results, markdown)


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    """The table of docs/performance.md's health-check section, from :func:`main`'s results."""
    p, rows = results["params"], results["rows"]
    lines = [
        "| scenario | adverts | skipped | p50 ms | p99 ms (per round) | median p99 ms | max ms | p99 added ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = None
    for kind, n in results["scenarios"]:
        mine = [x for x in rows if x["scenario"] == ("none" if not n else f"{n} {kind} checks @ {p['interval']:g}s")]
        p99s = [float(x["p99_ms"]) for x in mine]
        med = statistics.median(p99s)
        base = med if base is None else base
        adverts, skipped = sum(int(x["adverts"]) for x in mine), sum(int(x["skipped"]) for x in mine)
        lines.append(
            f"| {mine[0]['scenario']} | {adverts} | {skipped} | "
            f"{statistics.median(float(x['p50_ms']) for x in mine):.3f} | {' / '.join(f'{v:.2f}' for v in p99s)} | "
            f"{med:.3f} | {max(float(x['max_ms']) for x in mine):.3f} | {med - base:+.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
