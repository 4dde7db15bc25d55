"""Prometheus metrics of the BFD sessions (``vipd_bfd_*``), a collector of its own.

Registered beside :class:`vipd.obs.metrics.VipdCollector` on the same registry;
it reads :meth:`vipd.runtime.bfd.BfdService.status` at every scrape, so sessions a
reload removed take their series with them. Labels: ``session`` (the
``bfd_instance`` name) and ``neighbor``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LABELS = ["session", "neighbor"]


class BfdCollector(Collector):
    """``vipd_bfd_*`` from a status callable (``BfdService.status``)."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def describe(self) -> list[Metric]:
        """Nothing: labels are dynamic (as ``VipdCollector``)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One family per metric; see docs/metrics.md "BFD"."""
        st = self._status()
        sessions: list[dict[str, Any]] = st.get("sessions", [])
        state = GaugeMetricFamily(
            "vipd_bfd_session_state", "BFD session state (RFC 5880: 0 AdminDown, 1 Down, 2 Init, 3 Up)", labels=LABELS
        )
        up = GaugeMetricFamily("vipd_bfd_session_up", "1 while the BFD session is Up", labels=LABELS)
        detect = GaugeMetricFamily(
            "vipd_bfd_detection_time_seconds", "Current Detection Time (RFC 5880 §6.8.4)", labels=LABELS
        )
        tx_int = GaugeMetricFamily(
            "vipd_bfd_tx_interval_seconds", "Current transmit interval before jitter (RFC 5880 §6.8.7)", labels=LABELS
        )
        trans = CounterMetricFamily(
            "vipd_bfd_transitions", "BFD session state changes", labels=[*LABELS, "from_state", "to_state"]
        )
        expiries = CounterMetricFamily(
            "vipd_bfd_detection_time_expiries", "Sessions taken Down by a Detection Time expiry (diag 1)", labels=LABELS
        )
        sent = CounterMetricFamily("vipd_bfd_packets_sent", "BFD Control packets sent", labels=LABELS)
        send_err = CounterMetricFamily("vipd_bfd_send_errors", "BFD Control packets the kernel refused", labels=LABELS)
        rx = CounterMetricFamily("vipd_bfd_packets_received", "BFD Control packets accepted", labels=LABELS)
        dropped = CounterMetricFamily(
            "vipd_bfd_packets_discarded", "BFD Control packets dropped, by reason", labels=[*LABELS, "reason"]
        )
        for s in sessions:
            lv = [str(s["name"]), str(s["neighbor"])]
            state.add_metric(lv, float(s["state_number"]))
            up.add_metric(lv, 1.0 if s["state"] == "up" else 0.0)
            detect.add_metric(lv, float(s["detection_time"]))
            tx_int.add_metric(lv, float(s["tx_interval"]))
            for edge, n in s["transitions"].items():
                a, _, b = edge.partition("->")
                trans.add_metric([*lv, a, b], float(n))
            expiries.add_metric(lv, float(s["detect_expiries"]))
            sent.add_metric(lv, float(s["tx"]))
            send_err.add_metric(lv, float(s["tx_errors"]))
            rx.add_metric(lv, float(s["rx"]))
            for reason, n in s["discards"].items():
                dropped.add_metric([*lv, str(reason)], float(n))
        unmatched = CounterMetricFamily(
            "vipd_bfd_packets_unmatched",
            "BFD datagrams no session took (malformed, unknown discriminator or address), by reason",
            labels=["reason"],
        )
        for reason, n in st.get("unmatched", {}).items():
            unmatched.add_metric([str(reason)], float(n))
        yield from (state, up, detect, tx_int, trans, expiries, sent, send_err, rx, dropped, unmatched)
