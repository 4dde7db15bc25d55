"""The ``lab.py bench-*`` subcommands (benchmarks against keepalived; on demand, never in CI)."""

from __future__ import annotations

import argparse

from . import all, bfd, cpu_profile, metrics, plot, receive, scale, startup, steady, takeover


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for mod in (takeover, steady, scale, startup, receive, all, plot, cpu_profile, metrics, bfd):
        mod.add_parser(sub)
