"""The daemon's receive path: an IPv4 advert repeated with a new IP Identification skips the decoder.

A master sends the same advert every interval; Linux gives each datagram a new Identification and
so a new header checksum (the kernel verified it). ``Daemon._on_packet`` hands a datagram equal to
one that passed every check before, but for those four octets, straight to its instance with the
earlier decoded advert (issue 18). Every other octet is in the key, so any datagram the checks could
treat differently takes the full path: these tests change TTL, protocol, source, VRID, priority,
checksum and length, reload the instance, and use a unicast instance.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from types import SimpleNamespace
from typing import Any

import pytest

from vipd.linux.sockets import RxPacket
from vipd.obs.log import RateLimiter
from vipd.obs.stats import InstanceStats
from vipd.runtime import daemon as daemon_module
from vipd.runtime.daemon import SEEN_PER_VRID, Daemon, _Port, _repeat_key
from vipd.wire.advert import VRRP_MCAST4, Advert
from vipd.wire.codec import encode_advert

SRC = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.100")


class FakeDriver:
    def __init__(self) -> None:
        self.stats = InstanceStats()
        self.recorder = None
        self.received: list[tuple[Any, float | None]] = []

    def on_advert(self, received: Any, rx_time: float | None = None) -> None:
        self.received.append((received, rx_time))


def _setup(unicast_peer: list[IPv4Address] | None = None) -> tuple[Daemon, _Port, FakeDriver, list[bytes]]:
    daemon = Daemon.__new__(Daemon)
    daemon._limiter = RateLimiter()
    daemon.plan = SimpleNamespace(config=SimpleNamespace(global_defs=SimpleNamespace(log_unknown_vrids=False)))  # type: ignore[assignment]
    port = _Port("eth0", 4, None)  # type: ignore[arg-type]
    driver = FakeDriver()
    inst = SimpleNamespace(name="VI_1", unicast_peer=unicast_peer or [], unicast_peer_ttl={}, virtual_ipaddress=[VIP])
    port.drivers[51] = (driver, inst)  # type: ignore[assignment]
    return daemon, port, driver, []


def _datagram(
    ident: int, *, vrid: int = 51, priority: int = 150, ttl: int = 255, src: IPv4Address = SRC, proto: int = 112
) -> bytes:
    msg = encode_advert(Advert(3, vrid, priority, 0.1, (VIP,)), src=src, dst=VRRP_MCAST4)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(msg), ident, 0x4000, ttl, proto, 0, src.packed, VRRP_MCAST4.packed
    )
    header = header[:10] + (ident * 7 & 0xFFFF).to_bytes(2, "big") + header[12:]  # a checksum that moves with the ID
    return header + msg


def _rx(daemon: Daemon, port: _Port, data: bytes, at: float) -> None:
    daemon._on_packet(port, RxPacket(data, SRC, None, -1, 0, False, at))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = daemon_module.decode_ipv4

    def counting(datagram: bytes, **kw: Any) -> Any:
        calls.append(datagram)
        return real(datagram, **kw)

    monkeypatch.setattr(daemon_module, "decode_ipv4", counting)
    return calls


def test_the_key_drops_exactly_the_identification_and_the_header_checksum() -> None:
    a, b = _datagram(1), _datagram(2)
    assert a != b and a[4:6] != b[4:6] and a[10:12] != b[10:12]
    assert _repeat_key(a) == _repeat_key(b)
    assert len(_repeat_key(a)) == len(a) - 4
    for i in set(range(len(a))) - {4, 5, 10, 11}:
        changed = a[:i] + bytes([a[i] ^ 1]) + a[i + 1 :]
        assert _repeat_key(changed) != _repeat_key(a), f"octet {i} is not in the key"


def test_a_repeat_with_a_new_identification_skips_the_decoder_and_keeps_its_own_receive_time(
    decodes: list[bytes],
) -> None:
    daemon, port, driver, _ = _setup()
    for i in range(5):
        _rx(daemon, port, _datagram(100 + i), at=10.0 + i)
    assert len(decodes) == 1
    assert [t for _, t in driver.received] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert all(r is driver.received[0][0] for r, _ in driver.received), "the same decoded advert"
    assert port.stats.rx_packets == 5 and not port.stats.rx_errors


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"ttl": 254}, "ip_ttl"),
        ({"proto": 51}, None),
        ({"vrid": 52}, "vrid"),
        ({"priority": 100}, ""),
        ({"src": IPv4Address("192.0.2.9")}, ""),
    ],
)
def test_any_other_change_takes_the_full_path(decodes: list[bytes], change: dict[str, Any], error: str | None) -> None:
    daemon, port, driver, _ = _setup()
    _rx(daemon, port, _datagram(1), at=1.0)
    _rx(daemon, port, _datagram(2, **change), at=2.0)
    assert len(decodes) == 2, "decoded again"
    if error == "":
        assert len(driver.received) == 2 and driver.received[1][0] is not driver.received[0][0]
    else:
        assert len(driver.received) == 1
        assert sum(port.stats.rx_errors.values()) == 1
        if error:
            assert port.stats.rx_errors[error] == 1


def test_a_bad_checksum_is_never_remembered(decodes: list[bytes]) -> None:
    daemon, port, driver, _ = _setup()
    good = _datagram(1)
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    for i in range(3):
        _rx(daemon, port, bad[:4] + (i + 5).to_bytes(2, "big") + bad[6:], at=float(i))
    assert len(decodes) == 3 and not driver.received
    assert port.stats.rx_errors["checksum"] == 3
    assert not port.seen


def test_an_instance_replaced_by_a_reload_gets_the_advert_through_the_full_path(decodes: list[bytes]) -> None:
    daemon, port, driver, _ = _setup()
    _rx(daemon, port, _datagram(1), at=1.0)
    new = FakeDriver()
    inst = SimpleNamespace(name="VI_1", unicast_peer=[], unicast_peer_ttl={}, virtual_ipaddress=[VIP])
    port.drivers[51] = (new, inst)  # type: ignore[assignment]
    _rx(daemon, port, _datagram(2), at=2.0)
    assert len(decodes) == 2 and len(driver.received) == 1 and len(new.received) == 1
    _rx(daemon, port, _datagram(3), at=3.0)
    assert len(decodes) == 2 and len(new.received) == 2


def test_unicast_instances_always_take_the_full_path(decodes: list[bytes]) -> None:
    daemon, port, driver, _ = _setup(unicast_peer=[SRC])
    for i in range(3):
        _rx(daemon, port, _datagram(i), at=float(i))
    assert len(decodes) == 3 and len(driver.received) == 3
    assert not port.seen


def test_the_memo_is_bounded(decodes: list[bytes]) -> None:
    daemon, port, driver, _ = _setup()
    for prio in range(1, 255):
        _rx(daemon, port, _datagram(prio, priority=prio), at=float(prio))
    assert len(port.seen) <= SEEN_PER_VRID * len(port.drivers) + 17
    assert len(driver.received) == 254
