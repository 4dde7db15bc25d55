"""Properties of the codec: round trips, checksum arithmetic, encoder input validation."""

from __future__ import annotations

import math
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from scapy.utils import checksum as scapy_checksum

from vipd.wire import (
    VRRP_MCAST4,
    VRRP_MCAST6,
    Advert,
    AuthType,
    ChecksumKind,
    decode_advert,
    encode_advert,
    inet_checksum,
)
from vipd.wire.errors import AddressListError

ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)
vrids = st.integers(1, 255)
priorities = st.integers(0, 255)
v2_auth = st.one_of(
    st.just((AuthType.NONE, b"")),
    st.tuples(st.just(AuthType.PASS), st.binary(min_size=8, max_size=8)),
)


@st.composite
def v2_case(draw):
    auth_type, auth_data = draw(v2_auth)
    advert = Advert(
        2,
        draw(vrids),
        draw(priorities),
        float(draw(st.integers(1, 255))),
        tuple(draw(st.lists(ipv4, min_size=1, max_size=255))),
        auth_type,
        auth_data,
    )
    return advert, draw(ipv4), draw(st.one_of(st.just(VRRP_MCAST4), ipv4)), True


@st.composite
def v3_case(draw):
    family = draw(st.sampled_from([4, 6]))
    address = ipv4 if family == 4 else ipv6
    group = VRRP_MCAST4 if family == 4 else VRRP_MCAST6
    advert = Advert(
        3,
        draw(vrids),
        draw(priorities),
        draw(st.integers(1, 4095)) / 100,
        tuple(draw(st.lists(address, min_size=1, max_size=255))),
    )
    return advert, draw(address), draw(st.one_of(st.just(group), address)), draw(st.booleans())


def naive_checksum(data: bytes) -> int:
    """RFC 1071 §4.1, word by word, as the reference for the fast implementation."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- round trip -----------------------------------------------------------------------------------


@given(case=st.one_of(v2_case(), v3_case()))
def test_decode_of_encode_is_identity(case):
    advert, src, dst, pseudo_header = case
    payload = encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo_header)
    received = decode_advert(payload, src=src, dst=dst, ttl=255)
    assert received.advert == advert
    assert (received.src, received.dst, received.ttl) == (src, dst, 255)
    if advert.version == 2 or (not pseudo_header and src.version == 4):
        # a plain v3 message also verifies as pseudo when the pseudo-header sums to zero
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 112, len(payload))
        pseudo_sums_to_zero = naive_checksum(pseudo) in (0, 0xFFFF)
        assert received.checksum is ChecksumKind.PLAIN or (advert.version == 3 and pseudo_sums_to_zero)
    else:
        assert received.checksum is ChecksumKind.PSEUDO


@given(case=st.one_of(v2_case(), v3_case()))
def test_encode_of_decode_is_identity(case):
    advert, src, dst, pseudo_header = case
    payload = encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo_header)
    received = decode_advert(payload, src=src, dst=dst, ttl=255)
    kind = received.checksum is ChecksumKind.PSEUDO
    assert encode_advert(received.advert, src=src, dst=dst, pseudo_header=kind) == payload


@given(case=st.one_of(v2_case(), v3_case()))
def test_encoded_length(case):
    advert, src, dst, pseudo_header = case
    payload = encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo_header)
    size = 4 if src.version == 4 else 16
    assert len(payload) == 8 + size * len(advert.addresses) + (8 if advert.version == 2 else 0)
    assert payload[0] == advert.version << 4 | 1
    assert payload[3] == len(advert.addresses)


@pytest.mark.parametrize(
    ("seconds", "centiseconds"),
    [(0.01, 1), (0.1, 10), (0.3, 30), (1, 100), (1.0, 100), (2.55, 255), (40.95, 4095), (0.014, 1), (0.016, 2)],
)
def test_rfc5798_5_2_7_v3_interval_rounds_to_centiseconds(seconds, centiseconds):
    advert = Advert(3, 1, 100, seconds, (IPv4Address("192.0.2.9"),))
    payload = encode_advert(advert, src=IPv4Address("192.0.2.1"), dst=VRRP_MCAST4)
    assert int.from_bytes(payload[4:6], "big") == centiseconds


def test_rfc5798_5_2_7_v3_reserved_bits_are_zero_on_send():
    advert = Advert(3, 1, 100, 40.95, (IPv6Address("2001:db8::1"),))
    payload = encode_advert(advert, src=IPv6Address("fe80::1"), dst=VRRP_MCAST6)
    assert payload[4] >> 4 == 0


def test_pseudo_header_flag_is_ignored_for_ipv6_and_v2():
    v3 = Advert(3, 1, 100, 1.0, (IPv6Address("2001:db8::1"),))
    kw6 = {"src": IPv6Address("fe80::1"), "dst": VRRP_MCAST6}
    assert encode_advert(v3, **kw6, pseudo_header=False) == encode_advert(v3, **kw6)
    v2 = Advert(2, 1, 100, 1.0, (IPv4Address("192.0.2.9"),))
    kw4 = {"src": IPv4Address("192.0.2.1"), "dst": VRRP_MCAST4}
    assert encode_advert(v2, **kw4, pseudo_header=False) == encode_advert(v2, **kw4)


# -- checksum -------------------------------------------------------------------------------------


@given(data=st.binary(max_size=2048))
@example(data=b"")
@example(data=b"\x00" * 8)
@example(data=b"\xff\xff")
@example(data=b"\xff\xff\xff\xff")
@example(data=b"\x00\x01\xff\xfe")
@example(data=b"\xff")
def test_rfc1071_inet_checksum_equals_the_word_by_word_sum(data):
    assert inet_checksum(data) == naive_checksum(data)
    assert inet_checksum(data) == scapy_checksum(data)


@given(data=st.binary(min_size=2, max_size=512).filter(lambda d: len(d) % 2 == 0))
def test_rfc1071_data_with_its_checksum_inserted_sums_to_zero(data):
    zeroed = b"\0\0" + data[2:]
    assume(any(zeroed))
    filled = inet_checksum(zeroed).to_bytes(2, "big") + data[2:]
    assert inet_checksum(filled) == 0


def test_rfc1071_section_3_example():
    """RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2; the checksum is its complement."""
    assert inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


# -- encoder input validation ---------------------------------------------------------------------

A4 = IPv4Address("192.0.2.100")
A6 = IPv6Address("2001:db8::100")
S4 = {"src": IPv4Address("192.0.2.1"), "dst": VRRP_MCAST4}
S6 = {"src": IPv6Address("fe80::1"), "dst": VRRP_MCAST6}


@pytest.mark.parametrize(
    ("advert", "where"),
    [
        (Advert(1, 1, 100, 1.0, (A4,)), S4),
        (Advert(4, 1, 100, 1.0, (A4,)), S4),
        (Advert(2, 1, 100, 1.0, (A6,)), S6),  # v2 is IPv4 only
        (Advert(3, 0, 100, 1.0, (A4,)), S4),
        (Advert(3, 256, 100, 1.0, (A4,)), S4),
        (Advert(3, True, 100, 1.0, (A4,)), S4),
        (Advert(3, 1, -1, 1.0, (A4,)), S4),
        (Advert(3, 1, 256, 1.0, (A4,)), S4),
        (Advert(3, 1, 100.0, 1.0, (A4,)), S4),  # type: ignore[arg-type]
        (Advert(3, 1, 100, 1.0, (A4,) * 256), S4),
        (Advert(3, 1, 100, 1.0, (A6,)), S4),  # address family differs from src
        (Advert(3, 1, 100, 1.0, (A4,)), S6),
        (Advert(3, 1, 100, 1.0, (A4, A6)), S4),
        (Advert(3, 1, 100, 1.0, ("192.0.2.100",)), S4),  # type: ignore[arg-type]
        (Advert(3, 1, 100, 1.0, (A4,)), {"src": IPv4Address("192.0.2.1"), "dst": VRRP_MCAST6}),
        (Advert(3, 1, 100, 0.0, (A4,)), S4),
        (Advert(3, 1, 100, 0.004, (A4,)), S4),  # rounds to 0 cs
        (Advert(3, 1, 100, 40.96, (A4,)), S4),
        (Advert(3, 1, 100, -1.0, (A4,)), S4),
        (Advert(3, 1, 100, math.nan, (A4,)), S4),
        (Advert(3, 1, 100, math.inf, (A4,)), S4),
        (Advert(3, 1, 100, 1.0, (A4,), AuthType.PASS, b"12345678"), S4),  # no auth in v3
        (Advert(3, 1, 100, 1.0, (A4,), AuthType.NONE, b"x"), S4),
        (Advert(2, 1, 100, 0.0, (A4,)), S4),
        (Advert(2, 1, 100, 0.5, (A4,)), S4),  # v2 is whole seconds
        (Advert(2, 1, 100, 1.5, (A4,)), S4),
        (Advert(2, 1, 100, 256.0, (A4,)), S4),
        (Advert(2, 1, 100, math.inf, (A4,)), S4),
        (Advert(2, 1, 100, 1.0, (A4,), 3), S4),
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.AH, bytes(8)), S4),  # AH is not implemented
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.AH, b""), S4),
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.PASS, b"short"), S4),  # must be padded to 8
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.PASS, b"123456789"), S4),
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.PASS, b""), S4),
        (Advert(2, 1, 100, 1.0, (A4,), AuthType.NONE, b"12345678"), S4),
    ],
)
def test_unencodable_advert_raises_value_error(advert, where):
    with pytest.raises(ValueError):
        encode_advert(advert, **where)


def test_v2_interval_may_be_an_int():
    payload = encode_advert(Advert(2, 1, 100, 3, (A4,)), **S4)
    assert payload[5] == 3


def test_no_address_advert_round_trips_only_when_allowed() -> None:
    """keepalived ``no_virtual_ipaddress``: an advert with Count IPvX Addr 0 is sent, and accepted by an
    instance that has no VIP (``allow_empty``); otherwise the receive check of RFC 5798 §5.2.5 stands."""
    data = encode_advert(Advert(3, 1, 100, 1.0, ()), **S4)
    assert decode_advert(data, **S4, ttl=255, allow_empty=True).advert.addresses == ()
    with pytest.raises(AddressListError):
        decode_advert(data, **S4, ttl=255)
