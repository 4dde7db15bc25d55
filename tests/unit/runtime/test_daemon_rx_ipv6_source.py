"""The daemon's receive path: where a multicast IPv6 advert may come from.

RFC 5798 §5.1.2.1 has the sender use "the IPv6 link-local address of the interface the packet
is being sent from", but §7.1 does not have receivers check it, and keepalived 2.2.7 both sends
from a global ``mcast_src_ip`` and accepts such adverts (docs/interop.md: dropping them made a
vipd backup and such a keepalived master both hold the VIP). So vipd accepts them too, whatever
their priority. Unicast instances (``unicast_peer``) accept their listed global peers.
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
    inst = SimpleNamespace(name="VI_1", unicast_peer=peers, unicast_peer_ttl={}, virtual_ipaddress=[object()])
    port.drivers[51] = (driver, inst)  # type: ignore[assignment]
    return daemon, port, driver


def _packet(src: IPv6Address, dst: IPv6Address, priority: int = 254) -> RxPacket:
    advert = Advert(3, 51, priority, 0.1, (IPv6Address("2001:db8::100"),))
    data = encode_advert(advert, src=src, dst=dst)
    return RxPacket(data=data, src=src, dst=dst, ttl=255, ifindex=2, truncated=False, rx_time=0.0)


@pytest.mark.parametrize("priority", [254, 0])
def test_multicast_advert_from_a_global_source_reaches_the_instance_as_keepalived_accepts_it(priority: int) -> None:
    daemon, port, driver = _setup([])
    daemon._on_packet(port, _packet(GLOBAL, VRRP_MCAST6, priority))
    assert len(driver.received) == 1 and driver.received[0].src == GLOBAL
    assert driver.received[0].advert.priority == priority
    assert not port.stats.rx_errors and not driver.stats.discards


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
