"""The ``lab.py bench-*`` subcommands (benchmarks against keepalived; on demand, never in CI)."""

from __future__ import annotations

import argparse

from . import bench_metrics, bench_plot, bench_profile, bench_scale, bench_startup, bench_steady, bench_takeover


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for mod in (bench_takeover, bench_steady, bench_scale, bench_startup, bench_plot, bench_profile, bench_metrics):
        mod.add_parser(sub)
