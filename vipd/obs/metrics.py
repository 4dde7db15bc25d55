"""Prometheus ``/metrics``, served by the daemon on its own asyncio loop (no thread).

A custom ``Collector`` reads a fresh :class:`~vipd.obs.status.Snapshot` on every
scrape, so an instance removed by a reload takes its series with it. Names,
labels and value encodings follow mehdy/keepalived-exporter where it has the
metric (labels ``iname``, ``intf``, ``vrid``; ``keepalived_vrrp_state`` one series
per VIP, 0 INIT / 1 BACKUP / 2 MASTER / 3 FAULT), so its Grafana dashboard works
unchanged; vipd's own metrics are under ``vipd_``. The full list is in
``docs/metrics.md``.

The HTTP side is :mod:`vipd.obs.scrape`: the text is rendered at most once per
interval, a slice of instances at a time between advert timers, and served from
a cache to every scraper; connections are capped and timed out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from vipd import __version__
from vipd.obs.instancefams import COMMON, KEEPALIVED_COUNTERS, instance_metrics
from vipd.obs.scrape import ScrapeServer as MetricsServer
from vipd.obs.stats import Histogram
from vipd.obs.status import InstanceRow, Snapshot

log = logging.getLogger("vipd")

__all__ = [
    "COMMON",
    "DEFAULT_PORT",
    "KEEPALIVED_COUNTERS",
    "MetricsServer",
    "VipdCollector",
    "VipdRegistry",
    "make_registry",
    "parse_listen",
]

SCRIPT_STATE: dict[str, int] = {"idle": 0, "running": 1, "requested_termination": 2, "forcing_termination": 3}
"""keepalived's vrrp_script run states (``SCRIPT_IDLE``... in vrrp_track.h) as the exporter exports them."""

DEFAULT_PORT = 10112
"""Suggested ``--metrics-listen`` port (off by default). 9165 is mehdy/keepalived-exporter's and 9650
gen2brain/keepalived_exporter's; the exporters' range 9100-9999 is fully allocated, so vipd takes a
port outside it (112: VRRP's IP protocol number). See docs/metrics.md."""


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def _add_hist(fam: HistogramMetricFamily, values: list[str], h: Histogram) -> None:
    fam.add_metric(values, [(b, float(n)) for b, n in h.cumulative()], h.total)


class VipdCollector(Collector):
    """Builds every metric family from ``snapshot()`` at scrape time.

    Args:
        snapshot: returns the daemon's current :class:`Snapshot`; called once per scrape,
            on the event loop.
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> Snapshot:
        """Take the daemon's current :class:`Snapshot` (on the event loop)."""
        return self._snapshot()

    def describe(self) -> list[Metric]:
        """Return nothing, so ``register()`` does not call ``collect()`` (labels are dynamic)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield keepalived-exporter-compatible and ``vipd_`` metric families."""
        snap = self._snapshot()
        yield from self.instance_families(snap.instances)
        yield from self.global_families(snap)

    @staticmethod
    def instance_families(rows: Sequence[InstanceRow]) -> Iterator[Metric]:
        """The families with one or more series per instance, for ``rows`` only (:mod:`vipd.obs.instancefams`).

        Every call yields the same families in the same order (empty ones too).
        """
        yield from instance_metrics(rows)

    @staticmethod
    def global_families(snap: Snapshot) -> Iterator[Metric]:
        """The daemon-wide families: receive sockets, loop lag, reloads, checks, build info."""
        up = GaugeMetricFamily("keepalived_up", "1: the VRRP daemon is running and its data is readable")
        up.add_metric([], 1.0)
        yield up
        rx = CounterMetricFamily("vipd_rx_packets", "VRRP datagrams read per receive socket", labels=["intf", "family"])
        rx_err = CounterMetricFamily(
            "vipd_rx_errors",
            "VRRP packets dropped before reaching an instance, by RFC 6527 reason",
            labels=["intf", "family", "reason"],
        )
        for i in snap.interfaces:
            fam = "ipv4" if i.family == 4 else "ipv6"
            rx.add_metric([i.interface, fam], float(i.stats.rx_packets))
            for reason, n in sorted(i.stats.rx_errors.items()):
                rx_err.add_metric([i.interface, fam, reason], float(n))
        yield rx
        yield rx_err

        lag = snap.extra.get("loop_lag")
        if isinstance(lag, Histogram):
            h = _histogram("vipd_event_loop_lag_seconds", "Lateness of a periodic event-loop probe", [])
            _add_hist(h, [], lag)
            yield h
        lag_max = snap.extra.get("loop_lag_max")
        if isinstance(lag_max, float):
            g = GaugeMetricFamily("vipd_event_loop_lag_max_seconds", "Worst event-loop probe lateness since start")
            g.add_metric([], lag_max)
            yield g
        reloads = CounterMetricFamily("vipd_reloads", "Configuration reloads by result", labels=["result"])
        for result in ("ok", "invalid", "failed"):
            reloads.add_metric([result], float(snap.reloads.get(result, 0)))
        yield reloads
        repairs_seen = snap.extra.get("netlink_resyncs")
        if isinstance(repairs_seen, int):
            c = CounterMetricFamily("vipd_netlink_monitor_restarts", "Netlink event monitor restarts (ENOBUFS...)")
            c.add_metric([], float(repairs_seen))
            yield c
        yield from check_metrics(snap.extra.get("checks", []))
        info = GaugeMetricFamily("vipd_build_info", "vipd version", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        start = GaugeMetricFamily("vipd_start_time_seconds", "Wall-clock start time of the daemon")
        start.add_metric([], snap.started_at)
        yield start


def check_metrics(checks: list[dict[str, Any]]) -> Iterator[Metric]:
    """Metric families for the tracker's checks (``Tracker.status()`` dicts).

    keepalived-exporter's ``keepalived_script_status{name}`` (0 BAD, 1 GOOD: the
    debounced state of a ``vrrp_script``) and ``keepalived_script_state{name}``
    (keepalived's run state, :data:`SCRIPT_STATE`, from the dict's ``run_state``;
    idle when the tracker does not say) for script checks; ``vipd_check_*`` for
    every check, labelled ``name`` and ``type``. A check without a result yet has
    no status series.
    """
    ka = GaugeMetricFamily("keepalived_script_status", "vrrp_script result: 0 BAD, 1 GOOD", labels=["name"])
    ka_state = GaugeMetricFamily(
        "keepalived_script_state",
        "vrrp_script run state: 0 idle, 1 running, 2 requested termination, 3 forcing termination",
        labels=["name"],
    )
    labels = ["name", "type"]
    status = GaugeMetricFamily(
        "vipd_check_status", "Debounced (rise/fall) state of a check: 1 OK, 0 failed", labels=labels
    )
    last = GaugeMetricFamily("vipd_check_last_result", "Latest raw result: 1 passed, 0 failed", labels=labels)
    duration = GaugeMetricFamily("vipd_check_duration_seconds", "Duration of the latest run", labels=labels)
    value = GaugeMetricFamily("vipd_check_value", "Latest integer read by a track_file", labels=labels)
    runs = CounterMetricFamily("vipd_check_runs", "Check runs (or watcher reports)", labels=labels)
    failures = CounterMetricFamily("vipd_check_failures", "Check runs that failed", labels=labels)
    for c in checks:
        lv = [str(c["name"]), str(c["type"])]
        if c["type"] == "script":
            ka_state.add_metric([lv[0]], float(SCRIPT_STATE.get(str(c.get("run_state", "idle")), 0)))
        health = c.get("health")
        if health in ("ok", "failed"):
            ok = 1.0 if health == "ok" else 0.0
            status.add_metric(lv, ok)
            if c["type"] == "script":
                ka.add_metric([lv[0]], ok)
        if c.get("last_ok") is not None:
            last.add_metric(lv, 1.0 if c["last_ok"] else 0.0)
        if c.get("duration") is not None:
            duration.add_metric(lv, float(c["duration"]))
        if c.get("value") is not None:
            value.add_metric(lv, float(c["value"]))
        runs.add_metric(lv, float(c.get("runs", 0)))
        failures.add_metric(lv, float(c.get("failures", 0)))
    yield from (ka, ka_state, status, last, duration, value, runs, failures)


class VipdRegistry(CollectorRegistry):
    """The registry ``/metrics`` serves: :class:`VipdCollector` plus prometheus_client's ``process_*``.

    Attributes:
        vipd: the instance collector (rendered a slice of instances at a time by
            :func:`vipd.obs.scrape.render`).
        process: ``ProcessCollector`` (``process_cpu_seconds_total``,
            ``process_resident_memory_bytes``, ``process_open_fds``, ``process_max_fds``...).
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        super().__init__(auto_describe=False)
        self.vipd = VipdCollector(snapshot)
        self.register(self.vipd)
        self.process = ProcessCollector(registry=None)
        self.register(self.process)
        self.others: list[Collector] = [self.process]  # rendered after the instances, in one piece

    def add(self, collector: Collector) -> None:
        """Register ``collector`` and render it after the instance families (e.g. the HTTP server's own)."""
        self.register(collector)
        self.others.append(collector)


def make_registry(snapshot: Callable[[], Snapshot]) -> VipdRegistry:
    """Return a fresh :class:`VipdRegistry` reading ``snapshot()`` at every render."""
    return VipdRegistry(snapshot)


def parse_listen(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (host defaults to 127.0.0.1).

    Raises:
        ValueError: not of that shape, or port outside 0..65535.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [ADDRESS]:PORT, got {text!r}")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host or "127.0.0.1", int(port)
