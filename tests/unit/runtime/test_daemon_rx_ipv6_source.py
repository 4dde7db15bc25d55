"""The daemon's receive path: a multicast IPv6 advert must come from a link-local source.

RFC 5798 §5.1.2.1: the source address of an IPv6 advert "is the IPv6 link-local address of the
interface the packet is being sent from". An advert to ff02::12 from a global address is dropped
before it reaches the instance, and counted as ``protocol`` on the port and the instance (found by
the IPv6 hostile-input lab test: a priority-254 advert from a global source took the master over).
Unicast instances (``unicast_peer``) keep accepting global peers.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from types import SimpleNamespace
from typing import Any

import pytest

from vipd.linux.sockets import RxPacket
from vipd.obs.log import RateLimiter
from vipd.obs.stats import InstanceStats
from vipd.runtime.daemon import Daemon, _Port
from vipd.wire.advert import VRRP_MCAST6, Advert
from vipd.wire.codec import encode_advert

LL = IPv6Address("fe80::2")
GLOBAL = IPv6Address("2001:db8::2")
ME = IPv6Address("2001:db8::1")


class FakeDriver:
    def __init__(self) -> None:
        self.stats = InstanceStats()
        self.received: list[Any] = []

    def on_advert(self, received: Any, rx_time: float | None = None) -> None:
        self.received.append(received)


def _setup(peers: list[IPv6Address]) -> tuple[Daemon, _Port, FakeDriver]:
    daemon = Daemon.__new__(Daemon)
    daemon._limiter = RateLimiter()
    port = _Port("eth0", 6, None)  # type: ignore[arg-type]
    driver = FakeDriver()
    inst = SimpleNamespace(name="VI_1", unicast_peer=peers, unicast_peer_ttl={})
    port.drivers[51] = (driver, inst)  # type: ignore[assignment]
    return daemon, port, driver


def _packet(src: IPv6Address, dst: IPv6Address, priority: int = 254) -> RxPacket:
    advert = Advert(3, 51, priority, 0.1, (IPv6Address("2001:db8::100"),))
    data = encode_advert(advert, src=src, dst=dst)
    return RxPacket(data=data, src=src, dst=dst, ttl=255, ifindex=2, truncated=False, rx_time=0.0)


@pytest.mark.parametrize("priority", [254, 0])
def test_multicast_advert_from_a_global_source_is_dropped_as_protocol(priority: int) -> None:
    daemon, port, driver = _setup([])
    daemon._on_packet(port, _packet(GLOBAL, VRRP_MCAST6, priority))
    assert driver.received == []
    assert port.stats.rx_errors == {"protocol": 1}
    assert driver.stats.discards == {"protocol": 1}


def test_multicast_advert_from_a_link_local_source_reaches_the_instance() -> None:
    daemon, port, driver = _setup([])
    daemon._on_packet(port, _packet(LL, VRRP_MCAST6))
    assert len(driver.received) == 1 and driver.received[0].src == LL
    assert not port.stats.rx_errors and not driver.stats.discards


def test_unicast_advert_from_a_global_peer_reaches_the_instance() -> None:
    daemon, port, driver = _setup([GLOBAL])
    daemon._on_packet(port, _packet(GLOBAL, ME))
    assert len(driver.received) == 1
    assert not port.stats.rx_errors and not driver.stats.discards
