"""Per-instance and per-interface counters (RFC 6527 vocabulary).

Plain attributes and ``collections.Counter`` maps, read by the metrics
exporter and ``vipctl`` later; no prometheus_client here, so the runtime stays
importable without it.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass, field, fields

LATENCY_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Upper bounds (seconds) for timer lateness histograms; +Inf is implied."""


@dataclass(slots=True)
class Histogram:
    """A cumulative-on-export histogram of durations in seconds (no prometheus_client here).

    Attributes:
        bounds: upper bucket bounds, ascending, seconds.
        counts: observations per bucket (non-cumulative); the last slot is +Inf.
        total: sum of observed values (seconds).
        count: number of observations.
    """

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        """Record one value (seconds); negative values count as 0."""
        value = max(0.0, value)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """Return ``[(upper_bound_text, cumulative_count), ...]`` ending with ``("+Inf", count)``."""
        out: list[tuple[str, int]] = []
        acc = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), acc))
        return out


@dataclass(slots=True)
class InstanceStats:
    """Counters of one VRRP instance.

    Attributes:
        adverts_sent / adverts_received: ADVERTISEMENTs (RFC 6527 vrrpv3StatisticsRcvdAdvertisements).
        priority_zero_sent / priority_zero_received: RFC 6527 Sent/RcvdPriZeroPackets.
        discards: instance-level drops by reason ("interval", "auth", "address_list"...).
        transitions: state changes by "OLD->NEW:reason".
        master_transitions: times this instance became master (RFC 6527 vrrpv3StatisticsMasterTransitions).
        checksum_kinds: which checksum variant verified on received adverts ("pseudo"/"plain").
        advert_lateness_max: worst send lateness seen (seconds).
        address_errors: netlink failures while adding or removing VIPs.
        advert_lateness: histogram of advert send lateness behind the Adver_Timer deadline (seconds).
        vip_repairs: VIPs re-added while master after something else deleted them.
        notify_runs: notify script runs by "kind:result" (result ok/failed/timeout/error/skipped).
    """

    adverts_sent: int = 0
    adverts_received: int = 0
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    master_transitions: int = 0
    advert_lateness_max: float = 0.0
    address_errors: int = 0
    discards: collections.Counter[str] = field(default_factory=collections.Counter)
    transitions: collections.Counter[str] = field(default_factory=collections.Counter)
    checksum_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    advert_lateness: Histogram = field(default_factory=Histogram)
    vip_repairs: int = 0
    notify_runs: collections.Counter[str] = field(default_factory=collections.Counter)

    def clear(self) -> None:
        """Zero every counter in place (keepalived ``STATS_CLEAR``: the same object stays shared)."""
        fresh = InstanceStats()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))


@dataclass(slots=True)
class InterfaceStats:
    """Receive errors counted before a packet reaches an instance (decode errors, unknown VRID).

    Attributes:
        rx_errors: drops by RFC 6527 reason ("checksum", "version", "ip_ttl", "vrid"...).
        rx_packets: datagrams read from the socket.
    """

    rx_packets: int = 0
    rx_errors: collections.Counter[str] = field(default_factory=collections.Counter)
