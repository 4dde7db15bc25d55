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
from vipd.obs.scrape import ScrapeServer as MetricsServer
from vipd.obs.stats import Histogram
from vipd.obs.status import STATE_NUMBER, InstanceRow, Snapshot, stats_json

log = logging.getLogger("vipd")

__all__ = ["DEFAULT_PORT", "MetricsServer", "VipdCollector", "VipdRegistry", "make_registry", "parse_listen"]

COMMON = ["iname", "intf", "vrid"]
"""keepalived-exporter's label set for per-instance counters."""

SCRIPT_STATE: dict[str, int] = {"idle": 0, "running": 1, "requested_termination": 2, "forcing_termination": 3}
"""keepalived's vrrp_script run states (``SCRIPT_IDLE``... in vrrp_track.h) as the exporter exports them."""

DEFAULT_PORT = 10112
"""Suggested ``--metrics-listen`` port (off by default). 9165 is mehdy/keepalived-exporter's and 9650
gen2brain/keepalived_exporter's; the exporters' range 9100-9999 is fully allocated, so vipd takes a
port outside it (112: VRRP's IP protocol number). See docs/metrics.md."""

# keepalived-exporter counter name (without _total) -> key of stats_json()
KEEPALIVED_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("keepalived_advertisements_received", "advert_rcvd", "Advertisements received"),
    ("keepalived_advertisements_sent", "advert_sent", "Advertisements sent"),
    ("keepalived_become_master", "become_master", "Times the instance became master"),
    ("keepalived_release_master", "release_master", "Times the instance left master"),
    ("keepalived_packet_length_errors", "packet_len_err", "Packets with a bad length"),
    ("keepalived_advertisements_interval_errors", "advert_interval_err", "Adverts with a mismatched interval"),
    ("keepalived_ip_ttl_errors", "ip_ttl_err", "Packets with TTL/hop limit other than 255"),
    ("keepalived_invalid_type_received", "invalid_type_rcvd", "Packets with an invalid VRRP type"),
    ("keepalived_address_list_errors", "addr_list_err", "Adverts whose address list differs from ours"),
    ("keepalived_authentication_invalid", "invalid_authtype", "Adverts with an unknown auth type"),
    ("keepalived_authentication_mismatch", "authtype_mismatch", "Adverts with another auth type"),
    ("keepalived_authentication_failure", "auth_failure", "Adverts failing authentication"),
    ("keepalived_priority_zero_received", "pri_zero_rcvd", "Priority-0 adverts received"),
    ("keepalived_priority_zero_sent", "pri_zero_sent", "Priority-0 adverts sent"),
)


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
        """The families with one or more series per instance, for ``rows`` only.

        Every call yields the same families in the same order (empty ones too), so
        :func:`render` can build them a slice of instances at a time and concatenate.
        """
        state = GaugeMetricFamily(
            "keepalived_vrrp_state",
            "Instance state per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
            labels=[*COMMON, "ip_address"],
        )
        garp = CounterMetricFamily(
            "keepalived_gratuitous_arp_delay",
            "Configured garp_master_delay in seconds (as keepalived-exporter)",
            labels=COMMON,
        )
        fams = {name: CounterMetricFamily(name, doc, labels=COMMON) for name, _key, doc in KEEPALIVED_COUNTERS}
        v_state = GaugeMetricFamily(
            "vipd_instance_state", "1 for the instance's current state", labels=[*COMMON, "state"]
        )
        v_prio = GaugeMetricFamily(
            "vipd_instance_priority", "Priority: configured base and effective (advertised)", labels=[*COMMON, "kind"]
        )
        v_master_addr = GaugeMetricFamily(
            "vipd_master_info", "1, with the address of the current master", labels=[*COMMON, "master"]
        )
        v_maint = GaugeMetricFamily(
            "vipd_instance_maintenance", "1 while held out of master by vipctl maintenance", labels=COMMON
        )
        v_last = GaugeMetricFamily(
            "vipd_last_transition_timestamp_seconds", "Wall-clock time of the last state change", labels=COMMON
        )
        v_trans = CounterMetricFamily(
            "vipd_transitions",
            "State changes by old state, new state and reason",
            labels=[*COMMON, "from", "to", "reason"],
        )
        v_sent = CounterMetricFamily("vipd_adverts_sent", "VRRP adverts sent", labels=COMMON)
        v_rcvd = CounterMetricFamily("vipd_adverts_received", "VRRP adverts received for this instance", labels=COMMON)
        v_disc = CounterMetricFamily(
            "vipd_adverts_discarded",
            "Adverts for this instance dropped, by RFC 6527 reason",
            labels=[*COMMON, "reason"],
        )
        v_master = CounterMetricFamily("vipd_master_changes", "Times this instance became master", labels=COMMON)
        v_late = _histogram(
            "vipd_advert_send_lateness_seconds", "How late each advert left after its Adver_Timer deadline", COMMON
        )
        v_repair = CounterMetricFamily(
            "vipd_vip_repairs", "VIPs re-added while master after something else deleted them", labels=COMMON
        )
        v_addr_err = CounterMetricFamily(
            "vipd_address_errors", "Netlink failures adding or removing VIPs", labels=COMMON
        )
        v_notify = CounterMetricFamily(
            "vipd_notify_runs", "Notify script runs by kind and result", labels=[*COMMON, "kind", "result"]
        )
        excluded = GaugeMetricFamily(
            "keepalived_vrrp_excluded_state",
            "Instance state per virtual_ipaddress_excluded address: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
            labels=[*COMMON, "ip_address"],
        )
        for r in rows:
            lv = [r.name, r.interface, str(r.vrid)]
            s = stats_json(r.stats)
            num = float(STATE_NUMBER.get(r.state, 0))
            if r.vips:
                for addr, dev in r.vips:
                    state.add_metric([r.name, dev, str(r.vrid), addr.split("/")[0]], num)
            else:
                state.add_metric([*lv, ""], num)
            for addr, dev in r.excluded_vips:
                excluded.add_metric([r.name, dev, str(r.vrid), addr.split("/")[0]], num)
            garp.add_metric(lv, r.garp_master_delay)
            for name, key, _doc in KEEPALIVED_COUNTERS:
                fams[name].add_metric(lv, float(s[key]))
            for st in STATE_NUMBER:
                v_state.add_metric([*lv, st.lower()], 1.0 if r.state == st else 0.0)
            v_prio.add_metric([*lv, "base"], float(r.base_priority))
            v_prio.add_metric([*lv, "effective"], float(r.effective_priority))
            v_maint.add_metric(lv, 1.0 if r.maintenance else 0.0)
            if r.master_address:
                v_master_addr.add_metric([*lv, r.master_address], 1.0)
            if r.last_transition is not None:
                v_last.add_metric(lv, r.last_transition.at)
            for key, n in sorted(r.stats.transitions.items()):
                edge, _, reason = key.partition(":")
                old, _, new = edge.partition("->")
                v_trans.add_metric([*lv, old, new, reason], float(n))
            v_sent.add_metric(lv, float(r.stats.adverts_sent))
            v_rcvd.add_metric(lv, float(r.stats.adverts_received))
            for reason, n in sorted(r.stats.discards.items()):
                v_disc.add_metric([*lv, reason], float(n))
            v_master.add_metric(lv, float(r.stats.master_transitions))
            _add_hist(v_late, lv, r.stats.advert_lateness)
            v_repair.add_metric(lv, float(r.stats.vip_repairs))
            v_addr_err.add_metric(lv, float(r.stats.address_errors))
            for key, n in sorted(r.stats.notify_runs.items()):
                kind, _, result = key.partition(":")
                v_notify.add_metric([*lv, kind, result], float(n))
        yield state
        yield excluded
        yield garp
        yield from fams.values()
        yield from (v_state, v_prio, v_master_addr, v_last, v_trans, v_sent, v_rcvd, v_disc, v_master)
        yield from (v_late, v_repair, v_addr_err, v_notify, v_maint)

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
