"""Fuzzing: whatever the bytes, decoding returns a Received or raises a DecodeError, nothing else."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vipd.wire import (
    VRRP_MCAST4,
    VRRP_MCAST6,
    Advert,
    DecodeError,
    Received,
    decode_advert,
    decode_ipv4,
    encode_advert,
    inet_checksum,
)

ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)
endpoints = st.one_of(st.tuples(ipv4, ipv4), st.tuples(ipv6, ipv6))
ttls = st.one_of(st.just(255), st.integers(0, 255))

fuzz = settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
fuzz_structured = settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_raises_decode_error(call, *args, **kwargs):
    try:
        result = call(*args, **kwargs)
    except DecodeError as err:
        assert isinstance(err.reason, str) and err.reason
        event(type(err).__name__)  # --hypothesis-show-statistics shows how deep the fuzz goes
        return None
    assert isinstance(result, Received)
    event("decoded")
    return result


@fuzz
@given(datagram=st.binary(max_size=1500))
def test_decode_ipv4_of_random_bytes_only_raises_decode_error(datagram):
    decodes_or_raises_decode_error(decode_ipv4, datagram)


@fuzz
@given(payload=st.binary(max_size=1500), ends=endpoints, ttl=ttls)
def test_decode_advert_of_random_bytes_only_raises_decode_error(payload, ends, ttl):
    src, dst = ends
    decodes_or_raises_decode_error(decode_advert, payload, src=src, dst=dst, ttl=ttl)


@st.composite
def ipv4_datagrams(draw):
    """A plausible IPv4 header (protocol 112 mostly, TTL 255 mostly) over random bytes."""
    payload = draw(st.binary(max_size=300))
    ihl = draw(st.sampled_from([5] * 6 + [6, 15, 0, 4]))
    options = draw(st.binary(min_size=max(0, ihl * 4 - 20), max_size=max(0, ihl * 4 - 20)))
    total = 20 + len(options) + len(payload) + draw(st.sampled_from([0, 0, 0, -1, 1, -30, 5000]))
    header = struct.pack(
        "!BBHHHBBH4s4s",
        draw(st.sampled_from([0x40] * 8 + [0x60, 0x00])) | ihl,
        0xC0,
        max(0, min(total, 0xFFFF)),
        0,
        0,
        draw(ttls),
        draw(st.sampled_from([112] * 8 + [51, 17])),
        0,
        draw(ipv4).packed,
        draw(st.one_of(st.just(VRRP_MCAST4), ipv4)).packed,
    )
    return header + options + payload + draw(st.binary(max_size=20))


@fuzz_structured
@given(datagram=ipv4_datagrams())
def test_decode_ipv4_of_plausible_headers_only_raises_decode_error(datagram):
    decodes_or_raises_decode_error(decode_ipv4, datagram)


@st.composite
def checksummed_payloads(draw):
    """Random VRRP-looking messages whose checksum verifies, to reach the interval and auth checks."""
    src, dst = draw(endpoints)
    first = draw(st.sampled_from([0x21] * 3 + [0x31] * 5 + [0x11, 0x22, 0x30, 0x41]))
    count = draw(st.sampled_from([0, 1, 1, 2, 3, 255]))
    size = 4 if src.version == 4 else 16
    body_len = count * size + (8 if first >> 4 == 2 else 0) + draw(st.sampled_from([0, 0, -1, 1, 3]))
    rest = draw(st.binary(min_size=max(0, body_len), max_size=max(0, body_len)))
    header = bytes([first, draw(st.integers(0, 255)), draw(st.integers(0, 255)), count])
    header += draw(st.binary(min_size=2, max_size=2)) + b"\0\0"
    message = header + rest
    if draw(st.booleans()) and first >> 4 == 3:
        if src.version == 4:
            pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 112, len(message))
        else:
            pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(message), 112)
        value = inet_checksum(pseudo + message)
    else:
        value = inet_checksum(message)
    return message[:6] + value.to_bytes(2, "big") + message[8:], src, dst


@fuzz_structured
@given(case=checksummed_payloads())
def test_decode_advert_of_checksummed_random_messages_only_raises_decode_error(case):
    payload, src, dst = case
    received = decodes_or_raises_decode_error(decode_advert, payload, src=src, dst=dst, ttl=255)
    if received is not None:
        advert = received.advert
        assert advert.version == payload[0] >> 4
        assert (advert.vrid, advert.priority, len(advert.addresses)) == (payload[1], payload[2], payload[3])
        assert advert.max_adver_int > 0


@st.composite
def mutated_adverts(draw):
    """Valid adverts with a few octets changed, dropped or appended."""
    src, dst = draw(endpoints)
    family_addresses = ipv4 if src.version == 4 else ipv6
    version = draw(st.sampled_from([2, 3])) if src.version == 4 else 3
    interval = float(draw(st.integers(1, 255))) if version == 2 else draw(st.integers(1, 4095)) / 100
    advert = Advert(
        version,
        draw(st.integers(1, 255)),
        draw(st.integers(0, 255)),
        interval,
        tuple(draw(st.lists(family_addresses, min_size=1, max_size=4))),
    )
    payload = bytearray(encode_advert(advert, src=src, dst=dst, pseudo_header=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(payload) - 1))
        payload[where] = draw(st.integers(0, 255))
    payload = payload[: draw(st.integers(0, len(payload)))] if draw(st.booleans()) else payload
    return bytes(payload) + draw(st.binary(max_size=8)), src, dst


@fuzz_structured
@given(case=mutated_adverts())
def test_decode_advert_of_mutated_adverts_only_raises_decode_error(case):
    payload, src, dst = case
    decodes_or_raises_decode_error(decode_advert, payload, src=src, dst=dst, ttl=255)


def test_decode_accepts_bytearray_and_memoryview_payloads():
    advert = Advert(3, 7, 100, 1.0, (IPv6Address("2001:db8::7"),))
    payload = encode_advert(advert, src=IPv6Address("fe80::1"), dst=VRRP_MCAST6)
    for view in (bytearray(payload), memoryview(payload)):
        received = decode_advert(view, src=IPv6Address("fe80::1"), dst=VRRP_MCAST6, ttl=255)  # type: ignore[arg-type]
        assert received.advert == advert
