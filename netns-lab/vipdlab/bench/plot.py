"""The takeover-overhead plot in docs/performance.md, from a ``bench-takeover`` JSON file.

``lab.py bench-plot [--input results/takeover-*.json] [--output docs/takeover-overhead.png]``.
Needs matplotlib (``pip install -e '.[bench]'``); nothing else in the lab does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

from ..lab.daemons import REPO_ROOT
from .common import latest

COLORS = {"vipd": "#1f77b4", "keepalived": "#d62728"}
TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
FLOOR_MS = 0.05  # log axis: anything below (never seen so far) is drawn at the floor


def plot(results: dict, output: Path) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    intervals = results["params"]["intervals"]
    runs = {(r["interval"], r["kind"]): r for r in results["runs"]}
    kinds = [k for k in ("vipd", "keepalived") if any(key[1] == k for key in runs)]
    fig, axes = plt.subplots(
        2, len(intervals), figsize=(max(9.0, 3.8 * len(intervals) + 1), 7.5), sharey=True, squeeze=False
    )
    rng = random.Random(1)
    every = [
        max(x["overhead"] * 1000, FLOOR_MS)
        for r in runs.values()
        for sc in ("crash", "graceful")
        for x in r["rows"][sc]
    ]
    lo, hi = min(every), max(every)
    for col, ai in enumerate(intervals):
        for row, (sc, title) in enumerate((("crash", "SIGKILL"), ("graceful", "SIGTERM"))):
            ax = axes[row][col]
            data = []
            for kind in kinds:
                r = runs.get((ai, kind))
                vals = [max(x["overhead"] * 1000, FLOOR_MS) for x in r["rows"][sc]] if r else []
                data.append(vals)
            ax.boxplot(
                data,
                positions=range(1, len(kinds) + 1),
                widths=0.5,
                showfliers=False,
                medianprops={"color": "black", "linewidth": 1.5},
                whis=(5, 95),
            )
            for i, (kind, vals) in enumerate(zip(kinds, data, strict=True), start=1):
                xs = [i + rng.uniform(-0.18, 0.18) for _ in vals]
                ax.scatter(xs, vals, s=14, alpha=0.7, color=COLORS[kind], edgecolors="none", zorder=3)
            for i, vals in enumerate(data, start=1):
                if vals:
                    med = statistics.median(vals)
                    ax.text(i + 0.28, med, f"{med:.2f}", fontsize=8, va="center")
            ax.set_yscale("log")
            ticks = [t for t in TICKS if lo / 2 <= t <= hi * 2]
            ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(range(1, len(kinds) + 1), [f"{k}\n(n={len(v)})" for k, v in zip(kinds, data, strict=True)])
            ax.grid(axis="y", which="both", alpha=0.3)
            ax.set_title(f"{title}, advert_int {ai:g} s", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{title}: ms past the bound (log)")
    started = results["started"][:16].replace("T", " ")
    load = results["host"]["loadavg_start"][0]
    v = results.get("versions", {})
    fig.suptitle(
        "Takeover overhead: the new master's first GARP seen by the client minus the protocol bound\n"
        "(SIGKILL: last advert + Master_Down_Interval; SIGTERM: priority-0 advert + Skew_Time)\n"
        f"boxes: median (in ms), quartiles, whiskers p5-p95; {started}, load {load:.2f}, "
        + ", ".join(f"{k} {x.split(' (')[0]}" for k, x in v.items()),  # the list of modified files is in the JSON
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    src = Path(args.input) if args.input else latest("takeover")
    if src is None:
        print("bench-plot: no results/takeover-*.json; run bench-takeover first", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench-plot: needs matplotlib (pip install -e '.[bench]')", file=sys.stderr)
        return 2
    out = Path(args.output)
    plot(json.loads(src.read_text()), out)
    print(f"bench-plot: {src} -> {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-plot", help="PNG of takeover-overhead distributions (needs matplotlib)")
    p.add_argument("--input", help="a bench-takeover JSON file (default: the newest in netns-lab/results/)")
    p.add_argument("--output", default=str(REPO_ROOT / "docs" / "takeover-overhead.png"))
    p.set_defaults(func=main)
