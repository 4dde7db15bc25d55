"""Shared pieces of the benchmarks (``lab.py bench-*``): statistics, process cost, CPU hogs, an advert tap.

Benchmarks run on demand, never in CI. Every figure is taken from the kernel
(``/proc`` for CPU and memory, ``SO_TIMESTAMPNS`` times on an AF_PACKET socket
for packets: receive times on the client's eth0, or, with ``outgoing=True``, the
instant a host's own frame reached its device), never from the daemons' own
reports.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..lab.daemons import REPO_ROOT
from ..lab.procs import Process, process_tree
from ..lab.sniff import Tap

RESULTS = Path(__file__).resolve().parents[2] / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MASTER_LINE = "Entering MASTER STATE"  # vipd logs keepalived's wording


# --------------------------------------------------------------------------- statistics
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(values: Iterable[float | None]) -> dict[str, float]:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        nan = float("nan")
        return {"n": 0, "median": nan, "p95": nan, "p99": nan, "min": nan, "max": nan, "mean": nan}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "p95": percentile(vals, 95),
        "p99": percentile(vals, 99),
        "min": min(vals),
        "max": max(vals),
        "mean": statistics.fmean(vals),
    }


def ms(seconds: float, digits: int = 2) -> str:
    if seconds != seconds:  # nan
        return "n/a"
    return f"{seconds * 1000:.{digits}f} ms"


def ratio(a: float, b: float) -> str:
    if b != b or a != a or b == 0:
        return "n/a"
    return f"{a / b:.1f}x"


# --------------------------------------------------------------------------- run metadata
def version_of(kind: str) -> str:
    if kind == "keepalived":
        out = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
        text = out.stderr or out.stdout
        first = text.splitlines()[0] if text else ""
        return first.split()[1] if len(first.split()) > 1 else first
    git = ["git", "-C", str(REPO_ROOT)]
    rev = subprocess.run([*git, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    if not rev:
        return "checkout"
    if rev.endswith("-dirty"):  # say which of vipd's files were uncommitted when measured
        dirty = subprocess.run([*git, "diff", "--name-only", "HEAD", "--", "vipd"], capture_output=True, text=True)
        files = [Path(f).name for f in dirty.stdout.split()]
        if files:
            rev += f" ({', '.join(files)} modified)"
    return f"git {rev}"


def host_info() -> dict[str, object]:
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def save(name: str, results: dict[str, object]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    return out


def latest(name: str) -> Path | None:
    found = sorted(RESULTS.glob(f"{name}-*.json"))
    return found[-1] if found else None


def load_line(results: dict) -> str:  # type: ignore[type-arg]
    h = results["host"]
    a = h["loadavg_start"]
    b = h.get("loadavg_end", a)
    when = results["started"][:16].replace("T", " ")
    return (
        f"{when}, kernel {h['kernel']}, {h['cpus']} vCPU, CPython {h['python']}; load average "
        f"{a[0]:.2f} / {a[1]:.2f} / {a[2]:.2f} at the start, {b[0]:.2f} / {b[1]:.2f} / {b[2]:.2f} at the end"
    )


def kinds_of(daemon: str) -> list[str]:
    """The daemons a ``--daemon vipd|keepalived|both`` option names, vipd first."""
    return ["vipd", "keepalived"] if daemon == "both" else [daemon]


def begin(bench: str, kinds: Sequence[str], params: dict[str, object], **fields: object) -> dict[str, object]:
    """The header every benchmark's results start with: which bench, when, the host, the command,
    the parameters and each daemon's version; ``fields`` are added (e.g. ``runs=[]``)."""
    return {
        "bench": bench,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": host_info(),
        "command": "sudo python3 netns-lab/lab.py " + " ".join(sys.argv[1:]),
        "params": params,
        "versions": {k: version_of(k) for k in kinds},
        **fields,
    }


def report(results: dict[str, object], markdown: Callable[[dict], str]) -> int:  # type: ignore[type-arg]
    """End a benchmark the one way: note the load at the end, save the JSON, print the markdown. Returns 0."""
    results["host"]["loadavg_end"] = os.getloadavg()  # type: ignore[index]
    path = save(str(results["bench"]), results)
    print(markdown(results))
    print(f"\nraw results: {path}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- process cost
@dataclass(frozen=True)
class Cost:
    """CPU seconds (utime + stime) and memory of a daemon's whole process tree at one instant."""

    t: float
    cpu: float
    sched: float  # seconds on CPU from /proc/PID/task/*/schedstat (ns resolution, every thread)
    rss: int  # bytes, VmRSS summed over the tree
    pss: int  # bytes, Pss summed (shared pages counted once across the tree)
    pids: tuple[int, ...]
    wait: float = 0.0  # seconds runnable but waiting for a CPU (schedstat field 2, every thread)
    slices: int = 0  # times scheduled in (schedstat field 3)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def tree_cost(root: int) -> Cost:
    pids = tuple(process_tree(root))
    cpu = sched = wait = 0.0
    slices = 0
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                st = _read(f"/proc/{pid}/task/{tid}/schedstat").split()
                if len(st) >= 3:
                    sched += int(st[0]) / 1e9
                    wait += int(st[1]) / 1e9
                    slices += int(st[2])
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            rest = stat[stat.rindex(")") + 2 :].split()
            cpu += (int(rest[11]) + int(rest[12])) / CLK_TCK  # utime, stime (fields 14, 15)
        for line in _read(f"/proc/{pid}/status").splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) * 1024
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return Cost(time.monotonic(), cpu, sched, rss, pss, pids, wait, slices)


@dataclass
class CostWindow:
    """CPU used between two samples and the largest RSS seen in between (sampled)."""

    start: Cost
    end: Cost
    rss_max: int
    pss_max: int

    @property
    def seconds(self) -> float:
        return self.end.t - self.start.t

    @property
    def cpu(self) -> float:
        return self.end.cpu - self.start.cpu

    def as_dict(self) -> dict[str, object]:
        return {
            "seconds": self.seconds,
            "cpu_seconds": self.cpu,
            "cpu_percent": 100.0 * self.cpu / self.seconds if self.seconds > 0 else float("nan"),
            "sched_seconds": self.end.sched - self.start.sched,
            "sched_percent": 100.0 * (self.end.sched - self.start.sched) / self.seconds if self.seconds > 0 else 0.0,
            "runqueue_wait_seconds": self.end.wait - self.start.wait,
            "slices": self.end.slices - self.start.slices,
            "rss_end": self.end.rss,
            "rss_max": self.rss_max,
            "pss_end": self.end.pss,
            "pss_max": self.pss_max,
            "processes": len(self.end.pids),
        }


class CostMeter:
    """Samples several daemons' trees every ``every`` seconds while ``run(duration)`` waits."""

    def __init__(self, roots: dict[str, int], every: float = 2.0) -> None:
        self.roots = roots
        self.every = every

    def run(self, duration: float, on_tick: object = None) -> dict[str, CostWindow]:
        start = {k: tree_cost(p) for k, p in self.roots.items()}
        rss_max = {k: c.rss for k, c in start.items()}
        pss_max = {k: c.pss for k, c in start.items()}
        end_at = time.monotonic() + duration
        while (left := end_at - time.monotonic()) > 0:
            time.sleep(min(self.every, left))
            if callable(on_tick):
                on_tick()
            for k, p in self.roots.items():
                c = tree_cost(p)
                rss_max[k] = max(rss_max[k], c.rss)
                pss_max[k] = max(pss_max[k], c.pss)
        end = {k: tree_cost(p) for k, p in self.roots.items()}
        return {k: CostWindow(start[k], end[k], max(rss_max[k], end[k].rss), max(pss_max[k], end[k].pss)) for k in end}


def wait_quiet(pid: int, *, window: float = 0.2, max_share: float = 0.05, timeout: float = 10.0) -> float:
    """Wait until the process tree of ``pid`` uses under ``max_share`` of a CPU over ``window`` seconds.

    A daemon joins the VRRP group before it has finished starting (CPython keeps
    importing and building objects for a while); a takeover measured during that
    tail would time the start-up, not the takeover path. Returns the time waited
    (``timeout`` at most).
    """
    t0 = time.monotonic()
    prev = tree_cost(pid)
    while True:
        time.sleep(window)
        cur = tree_cost(pid)
        if (cur.sched - prev.sched) < max_share * (cur.t - prev.t):
            return cur.t - t0
        if cur.t - t0 > timeout:
            return cur.t - t0  # busy for good (a loaded machine): go on, the JSON shows it
        prev = cur


def mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


# --------------------------------------------------------------------------- CPU hogs
@contextlib.contextmanager
def cpu_hogs(namespaces: Sequence[str], seconds: float, log_dir: Path) -> Iterator[list[Process]]:
    """One shell busy loop per namespace, killed on exit and by ``timeout`` after ``seconds`` anyway."""
    hogs: list[Process] = []
    try:
        for i, ns in enumerate(namespaces):
            argv = ["timeout", "-s", "KILL", f"{seconds:.0f}", "sh", "-c", "while :; do :; done"]
            hogs.append(Process(f"hog{i}", ns, argv, log_dir / f"hog{i}.log"))
        yield hogs
    finally:
        for h in hogs:
            h.crash()


# --------------------------------------------------------------------------- advert tap
class AdvertTap:
    """A lean recorder of VRRP (IPv4) adverts and gratuitous ARPs on a lab host's interface.

    It records through the lab's one tap (:class:`vipdlab.lab.sniff.Tap`: kernel times,
    drained every ``TAP_DRAIN_EVERY`` seconds and on every query) but, unlike
    :class:`vipdlab.Sniffer`, keeps no frame objects: only arrays of kernel receive
    times per (source, VRID) for adverts with a non-zero priority, counts of priority-0
    adverts, and GARP times per sender MAC. That keeps hours of 255 VRIDs at 0.1 s
    (2,550 frames/s) in a few MB.

    ``outgoing=False`` (default) records the frames the host receives (its own
    are skipped); ``outgoing=True`` records only the host's own frames
    (``sll_pkttype == PACKET_OUTGOING``), stamped when they reach the device
    (``dev_queue_xmit_nit``): a tap in a router's namespace on its eth0 sees
    when the daemon's adverts left, before the veth/bridge path to the client.
    """

    def __init__(self, ns: str, ifname: str = "eth0", *, outgoing: bool = False) -> None:
        self.ns = ns
        self.ifname = ifname
        self.outgoing = outgoing
        self.adverts: dict[tuple[str, int], array[float]] = {}
        self.prio0: dict[tuple[str, int], int] = {}
        self.garps: dict[str, array[float]] = {}
        self.frames = 0
        self._lock = threading.Lock()
        self._tap = Tap(ns, ifname, self._on_frame, snaplen=128, label=f"advert-tap-{ns}")

    @property
    def clock_reads_retried(self) -> int:
        """Realtime -> monotonic offset reads the tap discarded (see :class:`vipdlab.lab.sniff.Tap`)."""
        return self._tap.clock_reads_retried

    def __enter__(self) -> AdvertTap:
        self._tap.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._tap.stop()

    def sync(self, timeout: float = 2.0) -> None:
        """Wait until every frame queued before the call has been recorded."""
        self._tap.sync(timeout)

    def _on_frame(self, data: bytes, t: float, outgoing: bool) -> None:
        if outgoing == self.outgoing:  # the host's own frames on a receive tap, received ones on a send tap
            self._record(data, t)

    def _record(self, data: bytes, t: float) -> None:
        if len(data) < 42:
            return
        etype = (data[12] << 8) | data[13]
        with self._lock:
            self.frames += 1
            if etype == 0x0800 and data[23] == 112:
                ihl = (data[14] & 0x0F) * 4
                src = socket.inet_ntoa(data[26:30])
                off = 14 + ihl
                if len(data) < off + 4:
                    return
                key = (src, data[off + 1])
                if data[off + 2] == 0:
                    self.prio0[key] = self.prio0.get(key, 0) + 1
                else:
                    self.adverts.setdefault(key, array("d")).append(t)
            elif etype == 0x0806 and data[20:22] in (b"\x00\x01", b"\x00\x02") and data[28:32] == data[38:42]:
                mac = ":".join(f"{b:02x}" for b in data[22:28])  # gratuitous: sender IP == target IP
                self.garps.setdefault(mac, array("d")).append(t)

    # queries -------------------------------------------------------------
    def times(self, src: str, vrid: int, since: float = 0.0, until: float = float("inf")) -> list[float]:
        self.sync()
        with self._lock:
            arr = list(self.adverts.get((src, vrid), ()))
        return [t for t in arr if since <= t <= until]

    def count(self, src: str, since: float = 0.0, until: float = float("inf")) -> int:
        """Adverts (priority > 0) from ``src`` for any VRID in the window."""
        self.sync()
        with self._lock:
            keys = [k for k in self.adverts if k[0] == src]
            arrays = [list(self.adverts[k]) for k in keys]
        return sum(1 for arr in arrays for t in arr if since <= t <= until)

    def vrids(self, src: str) -> list[int]:
        self.sync()
        with self._lock:
            return sorted(v for s, v in self.adverts if s == src)

    def garp_count(self, mac: str, since: float = 0.0, until: float = float("inf")) -> int:
        self.sync()
        with self._lock:
            arr = list(self.garps.get(mac, ()))
        return sum(1 for t in arr if since <= t <= until)

    def gaps(self, src: str, vrids: Iterable[int], since: float, until: float) -> list[float]:
        """Inter-advert gaps (seconds) of every VRID of ``src`` in the window."""
        out: list[float] = []
        for v in vrids:
            ts = self.times(src, v, since, until)
            out.extend(b - a for a, b in itertools.pairwise(ts))
        return out


def deviation(gaps: Sequence[float], interval: float) -> dict[str, float]:
    """Gap - nominal interval: positive = late. p99/max of the signed and of the absolute deviation."""
    dev = [g - interval for g in gaps]
    s = summary(dev)
    a = summary([abs(d) for d in dev])
    return {
        "n": s["n"],
        "median": s["median"],
        "mean": s["mean"],
        "p99": s["p99"],
        "max": s["max"],
        "min": s["min"],
        "abs_p99": a["p99"],
        "abs_max": a["max"],
    }


LATENESS_RULE = {
    True: "t_n - (t_0 + n*AI) - min, per run of gaps <= 1.5 AI",
    False: "gap - AI",
}
"""How :func:`lateness` is computed, by ``drift_free``; benchmarks store it beside the figures."""


def lateness(times: Sequence[float], interval: float, *, drift_free: bool = True) -> list[float]:
    """Schedule lateness of each advert (seconds; 0 = on schedule), from one source's sorted advert times.

    The one lateness definition of the benchmarks (``bench-steady``, ``bench-scale``,
    ``bench-tracking``...):

    * ``drift_free=True`` (vipd: deadline_n = deadline_0 + n * AI): the times are cut
      into runs where a gap exceeds 1.5 AI (an advert skipped by the sender or lost
      by the tap: vipd re-bases its schedule after a whole-interval stall, so the
      phase before and after differ). Within a run, advert n's lateness is
      ``t_n - (t_0 + n * AI)`` with n = ``round((t_n - t_0) / AI)``, minus the
      minimum of that over the run, so the earliest advert of each run is 0 and
      every other one is how much later than it it left, relative to the schedule.
      One value per time.
    * ``drift_free=False`` (keepalived: each advert AI after the previous send):
      ``gap - AI`` for each pair of consecutive adverts, since a late send moves every
      later deadline with it. One value per time after the first.
    """
    if not times:
        return []
    if not drift_free:
        return [b - a - interval for a, b in itertools.pairwise(times)]
    out: list[float] = []
    run: list[float] = []
    for t in times:
        if run and t - run[-1] > 1.5 * interval:
            out += _run_lateness(run, interval)
            run = []
        run.append(t)
    return out + _run_lateness(run, interval)


def _run_lateness(times: list[float], interval: float) -> list[float]:
    t0 = times[0]
    raw = [t - t0 - round((t - t0) / interval) * interval for t in times]
    low = min(raw)
    return [r - low for r in raw]


def transit(sent: Sequence[float], seen: Sequence[float], interval: float) -> list[float]:
    """For each time in ``seen``, its delay after the latest ``sent`` time at or before it (within AI/2).

    ``sent`` and ``seen`` are sorted times of the same adverts at two points of
    the path (the router's device and the client's); unmatched ones are skipped.
    """
    out: list[float] = []
    for t in seen:
        i = bisect.bisect_right(sent, t) - 1
        if i >= 0 and t - sent[i] < interval / 2:
            out.append(t - sent[i])
    return out


def cpu_counters() -> dict[str, float]:
    """Machine-wide counters to difference over a window: steal/irq/softirq time (s), interrupts, softirqs."""
    out: dict[str, float] = {}
    for line in _read("/proc/stat").splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            for name, i in (("irq_s", 6), ("softirq_s", 7), ("steal_s", 8)):
                out[name] = int(f[i]) / CLK_TCK if len(f) > i else 0.0
    for line in _read("/proc/interrupts").splitlines():
        f = line.split()
        if f and f[0] in ("LOC:", "RES:", "CAL:", "TLB:"):
            out["irq_" + f[0].rstrip(":")] = sum(int(x) for x in f[1:] if x.isdigit())
    for line in _read("/proc/softirqs").splitlines():
        f = line.split()
        if f and f[0] in ("TIMER:", "NET_RX:", "SCHED:", "HRTIMER:"):
            out["softirq_" + f[0].rstrip(":")] = sum(int(x) for x in f[1:] if x.isdigit())
    return out


def count_lines(path: Path, needle: str) -> int:
    try:
        return path.read_text(errors="replace").count(needle)
    except FileNotFoundError:
        return 0


def stop_all(daemons: Iterable[object]) -> None:
    for d in daemons:
        with contextlib.suppress(Exception):
            d.stop(signal.SIGTERM, timeout=10.0)  # type: ignore[attr-defined]
