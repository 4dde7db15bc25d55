"""The on-demand benchmarks (netns-lab/lab.py bench-*) import and register their subcommands."""

import argparse

from vipdlab.bench import cli as bench_cli
from vipdlab.bench.common import deviation, percentile


def test_bench_subcommands_register() -> None:
    ap = argparse.ArgumentParser()
    bench_cli.add_parsers(ap.add_subparsers(dest="cmd"))
    for cmd in (
        "bench-takeover",
        "bench-steady",
        "bench-scale",
        "bench-startup",
        "bench-receive",
        "bench-all",
        "bench-plot",
    ):
        assert ap.parse_args([cmd]).cmd == cmd


def test_deviation_is_gap_minus_nominal() -> None:
    d = deviation([0.1, 0.101, 0.099, 0.1], 0.1)
    assert abs(d["max"] - 0.001) < 1e-12 and abs(d["min"] + 0.001) < 1e-12
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_lateness_is_one_definition_drift_free_runs_cut_at_long_gaps() -> None:
    from vipdlab.bench.common import lateness

    # on schedule, then one advert 2 ms late, then a stall that re-bases the schedule by 0.05 s
    times = [0.0, 0.1, 0.202, 0.3, 0.55, 0.65, 0.75]
    late = lateness(times, 0.1)
    assert len(late) == len(times)
    assert [round(x, 6) for x in late] == [0.0, 0.0, 0.002, 0.0, 0.0, 0.0, 0.0]
    # keepalived's schedule follows its sends: gap - AI
    assert [round(x, 6) for x in lateness([0.0, 0.1, 0.202], 0.1, drift_free=False)] == [0.0, 0.002]
