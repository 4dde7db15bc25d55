"""Benchmark: event -> report latency of the event-driven trackers (issue 17).

``track_file``: time from the writer's ``close()`` (which raises
``IN_CLOSE_WRITE``) to the check's report. ``track_process``: time from the
kernel's exit event (its CLOCK_MONOTONIC timestamp in the connector message) to
the check's report. Both checks run with a poll interval of an hour, so every
report comes from an event. Also reported: the loop time spent per process
event while the host forks (every fork/exec/exit on the machine is an event).

    sudo python3 -m vipdlab.bench.trackers --trials 200     # from netns-lab/

On demand only (not in CI).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd.linux.procevents import PROC_EVENT_EXIT, ProcEvent, ProcEvents
from vipd_checks.file import FileCheck
from vipd_checks.process import ProcessCheck

from .common import percentile

HOUR = 3600.0


def summary(ms: list[float]) -> dict[str, float]:
    """p50/p99/max of a list of milliseconds."""
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms), "n": len(ms)}


async def file_latency(trials: int) -> list[float]:
    """Milliseconds from close() of a write to the FileCheck's report, ``trials`` times."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "prio"
        check = FileCheck(CheckSpec("f", "file", HOUR, 1.0, {"file": str(path)}), CheckContext())
        got: asyncio.Queue[tuple[float, CheckResult]] = asyncio.Queue()
        task = asyncio.ensure_future(check.watch(lambda r: got.put_nowait((time.monotonic(), r))))
        await got.get()
        out = []
        for i in range(1, trials + 1):
            with open(path, "w") as f:
                f.write(str(i))
            t0 = time.monotonic()
            while True:
                t1, r = await asyncio.wait_for(got.get(), 5)
                if r.value == i:
                    break
            out.append((t1 - t0) * 1e3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return out


async def process_latency(trials: int) -> tuple[list[float], dict[str, float]]:
    """Milliseconds from the kernel's exit event to the ProcessCheck's report; and the per-event loop cost."""
    tag = f"{7000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    check = ProcessCheck(CheckSpec("p", "process", HOUR, 5.0, {"process": "sleep", "args": [tag]}), CheckContext())
    got: asyncio.Queue[tuple[float, CheckResult]] = asyncio.Queue()
    exits: dict[int, float] = {}

    def on_event(ev: ProcEvent) -> None:
        if ev.what == PROC_EVENT_EXIT:
            exits[ev.tgid] = ev.timestamp

    task = asyncio.ensure_future(check.watch(lambda r: got.put_nowait((time.monotonic(), r))))
    await got.get()
    hub = ProcEvents.acquire(on_event)
    readable = hub._readable
    spent = [0.0]

    def timed() -> None:
        t = time.perf_counter()
        readable()
        spent[0] += time.perf_counter() - t

    hub.loop.remove_reader(hub.sock.fileno())
    hub.loop.add_reader(hub.sock.fileno(), timed)
    events0 = hub.events
    out = []
    for _ in range(trials):
        p = subprocess.Popen(["sleep", tag])
        while True:
            _, r = await asyncio.wait_for(got.get(), 5)
            if r.ok:
                break
        p.kill()
        while True:
            t1, r = await asyncio.wait_for(got.get(), 5)
            if not r.ok:
                break
        p.wait()
        out.append((t1 - exits[p.pid]) * 1e3)
    cost = {"events": hub.events - events0, "us_per_event": spent[0] / max(1, hub.events - events0) * 1e6}
    hub.release(on_event)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return out, cost


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args(argv)

    async def run() -> dict[str, object]:
        f = await file_latency(args.trials)
        p, cost = await process_latency(args.trials)
        return {"track_file_ms": summary(f), "track_process_ms": summary(p), "process_events": cost}

    print(json.dumps(asyncio.run(run()), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
