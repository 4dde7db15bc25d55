"""Per-instance and per-interface counters (RFC 6527 vocabulary).

Plain attributes and ``collections.Counter`` maps, read by the metrics
exporter and ``vipctl`` later; no prometheus_client here, so the runtime stays
importable without it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field


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


@dataclass(slots=True)
class InterfaceStats:
    """Receive errors counted before a packet reaches an instance (decode errors, unknown VRID).

    Attributes:
        rx_errors: drops by RFC 6527 reason ("checksum", "version", "ip_ttl", "vrid"...).
        rx_packets: datagrams read from the socket.
    """

    rx_packets: int = 0
    rx_errors: collections.Counter[str] = field(default_factory=collections.Counter)
