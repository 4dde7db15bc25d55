"""``/metrics`` under a scrape storm: bytes, loop time per scrape, advert send lateness (issue 13).

``lab.py bench-metrics`` (on demand, never in CI). For each VRID count N: r1 is
vipd master of VRIDs 1..N at 0.1 s with ``--metrics-listen 127.0.0.1:PORT`` in its
namespace, r2 is vipd backup. Two windows of the same length, one after the other
in the same lab: *quiet* (nobody scrapes) and *storm*:

* 8 scrapers, each a GET /metrics every 0.3 s (5 s timeout);
* 2,000 idle connections (a non-blocking connect, then nothing), re-opened when vipd
  drops them; those beyond vipd's cap wait in its listen backlog or in SYN retries;
* 50 connections that send a GET and never read (4 KiB receive buffer), re-opened too.

The storm runs in a process of its own inside r1's namespace (:func:`storm`), at
``nice 19``: real scrapers run on other hosts, and on the lab's 2 shared vCPUs an
un-niced Python load generator (8 threads, thousands of connects a second) takes
the CPU from both daemons, the backup included, which then misses adverts for
reasons that have nothing to do with vipd's loop.
Measured: the body's size; vipd's own ``vipd_metrics_*`` counters (renders, loop
time spent rendering, requests by outcome); the lateness of r1's adverts at its
eth0 (an outgoing tap: when each advert left, against its drift-free schedule,
:func:`vipdlab.bench.common.lateness`); spurious transitions (``Entering`` lines
of either daemon) and FAULT lines.

:func:`run_storm_window` is shared with ``tests/integration/test_metrics_storm.py``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..lab import daemons
from ..lab.conf import Instance, render
from ..lab.topo import Lab, Node
from ..lab.wait import wait_until
from .common import AdvertTap, begin, count_lines, lateness, load_line, ms, percentile, report, summary

AI = 0.1
PORT = 10112
SCRAPERS, SCRAPE_EVERY, IDLE, NEVER_READ = 8, 0.3, 2000, 50
ENTERING = "Entering "


def vip_of(vrid: int) -> str:
    return f"198.51.100.{vrid}/32" if vrid <= 254 else f"203.0.113.{vrid - 254}/32"


def config(n: int, priority: int) -> str:
    return render(
        [
            Instance(name=f"VI_{v}", vrid=v, priority=priority, advert_int=AI, version=3, vips=(vip_of(v),))
            for v in range(1, n + 1)
        ],
        comment=f"bench-metrics: {n} VRIDs at {AI:g} s",
    )


# ---------------------------------------------------------------------------------------------- the storm


def _get(port: int, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def storm(port: int, seconds: float, scrapers: int = SCRAPERS, idle: int = IDLE, never_read: int = NEVER_READ) -> dict:  # type: ignore[type-arg]
    """Run the storm against ``127.0.0.1:port`` (in the caller's namespace) for ``seconds``; return its counts."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    deadline = time.monotonic() + seconds
    lat: list[float] = []
    res = {"ok": 0, "busy": 0, "failed": 0, "bytes": 0, "idle_opened": 0, "never_read_opened": 0, "connect_failed": 0}
    lock = threading.Lock()

    def scraper(k: int) -> None:
        nxt = time.monotonic() + k * SCRAPE_EVERY / scrapers
        while nxt < deadline:
            time.sleep(max(0.0, nxt - time.monotonic()))
            t0 = time.monotonic()
            try:
                data = _get(port, 5.0)
                key = (
                    "ok"
                    if data.startswith(b"HTTP/1.1 200")
                    else "busy"
                    if data.startswith(b"HTTP/1.1 503")
                    else "failed"
                )
            except OSError:
                data, key = b"", "failed"
            with lock:
                res[key] += 1
                if key == "ok":
                    lat.append(time.monotonic() - t0)
                    res["bytes"] = len(data)
            nxt += SCRAPE_EVERY

    threads = [threading.Thread(target=scraper, args=(k,), daemon=True) for k in range(scrapers)]
    for t in threads:
        t.start()
    poller = select.poll()
    socks: dict[int, tuple[socket.socket, str]] = {}

    def open_one(kind: str) -> None:
        s = socket.socket()
        try:
            if kind == "never_read":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(1.0)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            else:  # idle: a non-blocking connect; pending in vipd's backlog or accepted, it stays open
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, os.strerror(err))
        except OSError:
            res["connect_failed"] += 1
            s.close()
            return
        socks[s.fileno()] = (s, kind)
        poller.register(s.fileno(), select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        res[f"{kind}_opened"] += 1

    while time.monotonic() < deadline:
        have = {"idle": 0, "never_read": 0}
        for _s, kind in socks.values():
            have[kind] += 1
        for kind, want in (("never_read", never_read), ("idle", idle)):
            for _ in range(min(want - have[kind], 200)):  # at most 200 new connections per kind per round
                if time.monotonic() >= deadline:
                    break
                open_one(kind)
        for fd, _ev in poller.poll(100):
            s, _kind = socks.pop(fd)
            poller.unregister(fd)
            s.close()
    for t in threads:
        t.join(timeout=6)
    for s, _kind in socks.values():
        s.close()
    res["latency_p50"] = percentile(lat, 50) if lat else float("nan")
    res["latency_p99"] = percentile(lat, 99) if lat else float("nan")
    return res


def start_storm(ns: str, port: int, seconds: float, **kw: int) -> subprocess.Popen[str]:
    """Start :func:`storm` in a process inside namespace ``ns``; its stdout is one JSON object."""
    args = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    env = daemons.vipd_env()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
    )  # netns-lab/
    return subprocess.Popen(
        ["nice", "-n", "19", "ip", "netns", "exec", ns, sys.executable, "-m", "vipdlab.bench.metrics",
         "--port", str(port), "--seconds", str(seconds), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- one lab


def scrape(node: Node, port: int) -> tuple[bytes, dict[str, float]]:
    """GET /metrics from inside the node's namespace: the body and ``{name{labels}: value}`` of vipd_metrics_*."""
    from prometheus_client.parser import text_string_to_metric_families
    from pyroute2 import netns

    netns.pushns(node.ns)
    try:
        for _ in range(50):
            try:
                data = _get(port, 10.0)
            except OSError:
                time.sleep(0.1)
                continue
            if data.startswith(b"HTTP/1.1 200"):
                break
            time.sleep(0.1)
    finally:
        netns.popns()
    body = data.partition(b"\r\n\r\n")[2]
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(body.decode()):
        for smp in fam.samples:
            if smp.name.startswith(("vipd_metrics_", "vipd_event_loop_lag")):
                lbl = ",".join(f"{k}={v}" for k, v in sorted(smp.labels.items()))
                out[f"{smp.name}{{{lbl}}}" if lbl else smp.name] = smp.value
    return body, out


class MetricsLab:
    """r1 (vipd master of 1..N, /metrics on ``port``) and r2 (vipd backup) in a fresh lab, converged."""

    def __init__(self, lab: Lab, n: int, port: int = PORT) -> None:
        self.lab, self.n, self.port = lab, n, port
        orig = daemons.vipd_argv

        def argv(cfg: Path, pid_file: Path) -> list[str]:
            extra = ["--metrics-listen", f"127.0.0.1:{port}"] if cfg.name.startswith("r1") else []
            return orig(cfg, pid_file) + extra

        daemons.vipd_argv = argv  # type: ignore[assignment]
        try:
            self.d1 = lab.start_daemon("vipd", lab.r1, config(n, 150))
            want = {vip_of(v).split("/")[0] for v in range(1, n + 1)}
            wait_until(
                lambda: want <= {a.split("/")[0] for a in lab.addresses(lab.r1)}, 30, message="r1 holds all VIPs"
            )
            self.d2 = lab.start_daemon("vipd", lab.r2, config(n, 100))
            self.log1 = lab.workdir / "r1-vipd.log"
            self.log2 = lab.workdir / "r2-vipd.log"
            wait_until(lambda: count_lines(self.log2, ENTERING) >= n, 30, interval=0.05, message="r2 all BACKUP")
        finally:
            daemons.vipd_argv = orig  # type: ignore[assignment]
        time.sleep(10 * AI)  # r2 hears r1 for a few intervals before any window opens

    def events(self) -> dict[str, int]:
        return {
            "transitions": count_lines(self.log1, ENTERING) + count_lines(self.log2, ENTERING),
            "fault": count_lines(self.log1, "FAULT") + count_lines(self.log2, "FAULT"),
        }


def run_storm_window(
    ml: MetricsLab, seconds: float, *, storm_on: bool, tap: AdvertTap | None = None, **kw: int
) -> dict[str, Any]:
    """One window: counts of transitions/FAULT lines, vipd_metrics_* deltas, the storm's own counts, lateness."""
    _body, m0 = scrape(ml.lab.r1, ml.port)
    ev0 = ml.events()
    t0 = time.monotonic()
    st: dict[str, Any] = {}
    if storm_on:
        p = start_storm(ml.lab.r1.ns, ml.port, seconds, **kw)
        while p.poll() is None:
            ml.lab.assert_running()
            time.sleep(0.5)
        out, err = p.communicate()
        if p.returncode != 0:
            raise AssertionError(f"storm failed ({p.returncode}): {err[-2000:]}")
        st = json.loads(out)
    else:
        end = t0 + seconds
        while time.monotonic() < end:
            ml.lab.assert_running()
            time.sleep(0.5)
    t1 = time.monotonic()
    body, m1 = scrape(ml.lab.r1, ml.port)
    ev1 = ml.events()
    d = {k: m1.get(k, 0.0) - m0.get(k, 0.0) for k in m1}
    renders = d.get("vipd_metrics_renders_total", 0.0)
    served = d.get("vipd_metrics_requests_total{result=served}", 0.0)
    busy_s = d.get("vipd_metrics_render_loop_seconds_total", 0.0)
    res: dict[str, Any] = {
        "seconds": t1 - t0,
        "storm": st,
        "bytes": len(body),
        "transitions": ev1["transitions"] - ev0["transitions"],
        "fault_lines": ev1["fault"] - ev0["fault"],
        "renders": renders,
        "served": served,
        "render_loop_s": busy_s,
        "loop_per_render": busy_s / renders if renders else float("nan"),
        "loop_per_scrape": busy_s / served if served else float("nan"),
        "loop_share": busy_s / (t1 - t0),
        "metrics_delta": d,
    }
    if tap is not None:
        late: list[float] = []
        for v in range(1, ml.n + 1):
            late += lateness(tap.times(ml.lab.r1.ip4, v, t0, t1), AI, drift_free=True)
        res["lateness"] = summary(late)
    return res


def run_one(n: int, seconds: float) -> dict[str, Any]:
    with Lab(sniff=False) as lab:
        ml = MetricsLab(lab, n)
        with AdvertTap(lab.r1.ns, outgoing=True) as tap:
            quiet = run_storm_window(ml, seconds, storm_on=False, tap=tap)
            stormy = run_storm_window(ml, seconds, storm_on=True, tap=tap)
        ml.d2.stop(timeout=15.0)
        ml.d1.stop(timeout=15.0)
    return {"vrids": n, "quiet": quiet, "storm": stormy}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Run: {load_line(results)}.",
        "",
        "| VRIDs | body | window | renders | loop time / render | loop time / scrape served | loop share "
        "| scrapes ok / 503 / failed | lateness p99 quiet / storm | lateness max quiet / storm | transitions | FAULT |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        q, s = r["quiet"], r["storm"]
        st = s["storm"]
        lines.append(
            f"| {r['vrids']} | {s['bytes'] / 1024:.0f} KiB | {s['seconds']:.0f} s | {s['renders']:.0f} "
            f"| {ms(s['loop_per_render'], 1)} | {ms(s['loop_per_scrape'], 2)} | {s['loop_share'] * 100:.1f} % "
            f"| {st.get('ok', 0)} / {st.get('busy', 0)} / {st.get('failed', 0)} "
            f"| {ms(q['lateness']['p99'], 3)} / {ms(s['lateness']['p99'], 3)} "
            f"| {ms(q['lateness']['max'], 2)} / {ms(s['lateness']['max'], 2)} "
            f"| {q['transitions'] + s['transitions']} | {q['fault_lines'] + s['fault_lines']} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    counts = [(int(a), float(b or 30)) for a, _, b in (p.partition(":") for p in args.counts.split(","))]
    params = {"interval": AI, "scrapers": SCRAPERS, "every": SCRAPE_EVERY, "idle": IDLE, "never_read": NEVER_READ}
    results: dict[str, Any] = begin("metrics", ["vipd"], params, runs=[])
    for n, secs in counts:
        print(f"bench-metrics: {n} VRIDs, {secs:g} s quiet + {secs:g} s storm ...", file=sys.stderr, flush=True)
        results["runs"].append(run_one(n, secs))
    return report(results, markdown)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-metrics", help="/metrics at 1..255 VRIDs, quiet and under a scrape storm")
    p.add_argument("--counts", default="1:30,64:30,255:30", help="VRIDS:SECONDS,... (default 1:30,64:30,255:30)")
    p.set_defaults(func=main)


if __name__ == "__main__":  # the storm process: python -m vipdlab.bench.metrics --port P --seconds S
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--scrapers", type=int, default=SCRAPERS)
    ap.add_argument("--idle", type=int, default=IDLE)
    ap.add_argument("--never-read", type=int, default=NEVER_READ)
    a = ap.parse_args()
    print(json.dumps(storm(a.port, a.seconds, a.scrapers, a.idle, a.never_read)))
