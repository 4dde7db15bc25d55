"""The codec memoises decoding on the received bytes (issue 18): same answers, every check still made.

A repeat of the same bytes returns the same (immutable) result; a bad packet raises every
time, never a cached success; a different TTL, source or destination is a different input;
padded or very long payloads are decoded without the memo, so a crafted flood cannot
fill memory; ``decode_ipv4(check_ttl=False)`` is the unicast path without the TTL check.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from vipd.wire import codec
from vipd.wire.advert import VRRP_MCAST4, VRRP_MCAST6, Advert, ChecksumKind
from vipd.wire.codec import DECODE_CACHE_MAX_PAYLOAD, decode_advert, decode_ipv4, encode_advert, inet_checksum
from vipd.wire.errors import ChecksumError, TtlError

SRC = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.100")


def datagram(message: bytes, *, ttl: int = 255, src: IPv4Address = SRC, dst: IPv4Address = VRRP_MCAST4) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(message), 0, 0, ttl, 112, 0, src.packed, dst.packed)
    return header + message


def message(priority: int = 150, vrid: int = 51) -> bytes:
    return encode_advert(Advert(3, vrid, priority, 0.1, (VIP,)), src=SRC, dst=VRRP_MCAST4)


def test_a_repeat_gives_the_same_result_and_a_different_input_a_different_one() -> None:
    first = decode_ipv4(datagram(message()))
    again = decode_ipv4(datagram(message()))
    assert again == first and again.advert.priority == 150 and again.checksum is ChecksumKind.PSEUDO
    other = decode_ipv4(datagram(message(priority=100)))
    assert other.advert.priority == 100
    # the same message from another source: another pseudo-header, so the checksum fails there
    with pytest.raises(ChecksumError):
        decode_ipv4(datagram(message(), src=IPv4Address("192.0.2.2")))


def test_a_bad_packet_raises_every_time_even_after_the_good_one_was_memoised() -> None:
    good = datagram(message())
    decode_ipv4(good)
    bad = bytearray(good)
    bad[-1] ^= 0x01  # last address octet: the checksum no longer verifies
    for _ in range(3):
        with pytest.raises(ChecksumError):
            decode_ipv4(bytes(bad))
    for _ in range(3):
        with pytest.raises(TtlError):
            decode_ipv4(datagram(message(), ttl=254))
    assert decode_ipv4(datagram(message(), ttl=254), check_ttl=False).ttl == 255


def test_bytearray_and_memoryview_input_decode_like_bytes() -> None:
    raw = datagram(message())
    assert decode_ipv4(bytearray(raw)) == decode_ipv4(raw) == decode_ipv4(memoryview(raw))  # type: ignore[arg-type]
    msg6 = encode_advert(
        Advert(3, 7, 100, 1.0, (IPv6Address("2001:db8::100"),)), src=IPv6Address("fe80::1"), dst=VRRP_MCAST6
    )
    a = decode_advert(bytearray(msg6), src=IPv6Address("fe80::1"), dst=VRRP_MCAST6, ttl=255)  # type: ignore[arg-type]
    assert a == decode_advert(msg6, src=IPv6Address("fe80::1"), dst=VRRP_MCAST6, ttl=255)


def test_padded_payloads_longer_than_the_memo_bound_are_decoded_without_it() -> None:
    body = bytearray(message() + bytes(DECODE_CACHE_MAX_PAYLOAD))  # zero padding after the address list
    body[6:8] = b"\x00\x00"
    pseudo = SRC.packed + VRRP_MCAST4.packed + struct.pack("!BBH", 0, 112, len(body))
    body[6:8] = inet_checksum(pseudo + bytes(body)).to_bytes(2, "big")
    before = codec._decode_ipv4_cached.cache_info().currsize
    got = decode_ipv4(datagram(bytes(body)))
    assert got.advert.addresses == (VIP,)
    assert codec._decode_ipv4_cached.cache_info().currsize == before
