"""Receive rules, one test per RFC clause: each malformed packet raises its typed error.

RFC 3768 §7.1 (v2) and RFC 5798 §7.1 (v3) list what a receiver MUST verify; the
error classes map to the RFC 6527 / RFC 2787 counters through their ``reason``.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from scapy.layers.inet import IP, IPOption_Router_Alert
from scapy.packet import Raw
from scapy.utils import checksum

from vipd.wire import (
    VRRP_MCAST4,
    VRRP_MCAST6,
    AddressListError,
    Advert,
    AuthError,
    AuthType,
    AuthTypeError,
    ChecksumError,
    ChecksumKind,
    DecodeError,
    IntervalError,
    InvalidTypeError,
    PacketLengthError,
    ProtocolError,
    TtlError,
    VersionError,
    decode_advert,
    decode_ipv4,
    encode_advert,
    inet_checksum,
)

SRC4 = IPv4Address("192.0.2.1")
SRC6 = IPv6Address("fe80::1")
VIP4 = IPv4Address("192.0.2.100")
VIP6 = IPv6Address("2001:db8::100")

V2 = Advert(2, 51, 100, 1.0, (VIP4,))
V3_4 = Advert(3, 51, 100, 1.0, (VIP4,))
V3_6 = Advert(3, 51, 100, 1.0, (VIP6,))


def v2_bytes(advert: Advert = V2) -> bytes:
    return encode_advert(advert, src=SRC4, dst=VRRP_MCAST4)


def v3_4_bytes(advert: Advert = V3_4, *, pseudo_header: bool = True) -> bytes:
    return encode_advert(advert, src=SRC4, dst=VRRP_MCAST4, pseudo_header=pseudo_header)


def v3_6_bytes(advert: Advert = V3_6) -> bytes:
    return encode_advert(advert, src=SRC6, dst=VRRP_MCAST6)


def decode4(payload: bytes, ttl: int = 255):
    return decode_advert(payload, src=SRC4, dst=VRRP_MCAST4, ttl=ttl)


def decode6(payload: bytes, ttl: int = 255):
    return decode_advert(payload, src=SRC6, dst=VRRP_MCAST6, ttl=ttl)


def patch(payload: bytes, offset: int, value: bytes, *, fix: str | None) -> bytes:
    """Overwrite octets, then recompute the checksum ("plain", "pseudo4", "pseudo6") or leave it."""
    out = bytearray(payload)
    out[offset : offset + len(value)] = value
    out[6:8] = b"\0\0"
    if fix == "plain":
        out[6:8] = inet_checksum(bytes(out)).to_bytes(2, "big")
    elif fix == "pseudo4":
        pseudo = SRC4.packed + VRRP_MCAST4.packed + struct.pack("!BBH", 0, 112, len(out))
        out[6:8] = inet_checksum(pseudo + bytes(out)).to_bytes(2, "big")
    elif fix == "pseudo6":
        pseudo = SRC6.packed + VRRP_MCAST6.packed + struct.pack("!I3xB", len(out), 112)
        out[6:8] = inet_checksum(pseudo + bytes(out)).to_bytes(2, "big")
    else:
        out[6:8] = payload[6:8]
    return bytes(out)


# -- TTL / hop limit ------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, 1, 64, 128, 254])
def test_rfc5798_7_1_ttl_not_255_is_discarded(ttl):
    with pytest.raises(TtlError) as err:
        decode4(v3_4_bytes(), ttl=ttl)
    assert err.value.reason == "ip_ttl"


@pytest.mark.parametrize("hop_limit", [1, 254])
def test_rfc5798_7_1_ipv6_hop_limit_not_255_is_discarded(hop_limit):
    with pytest.raises(TtlError):
        decode6(v3_6_bytes(), ttl=hop_limit)


def test_rfc3768_7_1_v2_ttl_not_255_is_discarded():
    with pytest.raises(TtlError):
        decode4(v2_bytes(), ttl=1)


def test_rfc5798_7_1_ttl_is_checked_before_anything_else():
    with pytest.raises(TtlError):
        decode4(b"", ttl=1)


def test_rfc5798_7_1_ttl_comes_from_the_ipv4_header():
    datagram = bytes(IP(src=str(SRC4), dst=str(VRRP_MCAST4), ttl=1, proto=112) / Raw(v3_4_bytes()))
    with pytest.raises(TtlError):
        decode_ipv4(datagram)


# -- length ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", range(8))
def test_rfc5798_7_1_shorter_than_the_header_is_a_length_error(length):
    with pytest.raises(PacketLengthError) as err:
        decode4(v3_4_bytes()[:length])
    assert err.value.reason == "packet_length"


@pytest.mark.parametrize("cut", [1, 3, 4])
def test_rfc5798_7_1_truncated_ipv4_address_list_is_a_length_error(cut):
    payload = v3_4_bytes(Advert(3, 51, 100, 1.0, (VIP4, IPv4Address("192.0.2.101"))))
    with pytest.raises(PacketLengthError):
        decode4(payload[:-cut])


def test_rfc5798_7_1_truncated_ipv6_address_list_is_a_length_error():
    with pytest.raises(PacketLengthError):
        decode6(v3_6_bytes()[:-1])


@pytest.mark.parametrize("count", [2, 100, 255])
def test_rfc5798_7_1_address_count_larger_than_the_payload_is_a_length_error(count):
    payload = patch(v3_4_bytes(), 3, bytes([count]), fix="pseudo4")
    with pytest.raises(PacketLengthError):
        decode4(payload)


def test_rfc3768_5_1_v2_without_its_authentication_data_is_a_length_error():
    """RFC 3768 §5.1: the 8 octets of Authentication Data are part of every v2 advert."""
    payload = patch(v2_bytes()[:-8], 0, b"\x21", fix="plain")
    with pytest.raises(PacketLengthError):
        decode4(payload)


def test_rfc3768_5_1_v2_with_a_partial_authentication_data_is_a_length_error():
    with pytest.raises(PacketLengthError):
        decode4(v2_bytes()[:-1])


# -- version --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 4, 5, 15])
def test_rfc5798_7_1_version_not_2_or_3_is_discarded(version):
    payload = patch(v3_4_bytes(), 0, bytes([version << 4 | 1]), fix="pseudo4")
    with pytest.raises(VersionError) as err:
        decode4(payload)
    assert err.value.reason == "version"


def test_rfc3768_1_v2_over_ipv6_is_a_version_error():
    """RFC 3768 defines VRRPv2 for IPv4 only; the IPv6 draft for v2 never became a standard."""
    payload = patch(v3_6_bytes(), 0, b"\x21", fix="pseudo6")
    with pytest.raises(VersionError):
        decode6(payload)


def test_rfc5798_7_1_version_is_checked_before_type():
    payload = patch(v3_4_bytes(), 0, b"\x47", fix="pseudo4")
    with pytest.raises(VersionError):
        decode4(payload)


# -- type -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", [0, 2, 15])
@pytest.mark.parametrize("version", [2, 3])
def test_rfc5798_5_2_2_type_other_than_advertisement_is_discarded(version, msg_type):
    if version == 2:
        payload = patch(v2_bytes(), 0, bytes([0x20 | msg_type]), fix="plain")
    else:
        payload = patch(v3_4_bytes(), 0, bytes([0x30 | msg_type]), fix="pseudo4")
    with pytest.raises(InvalidTypeError) as err:
        decode4(payload)
    assert err.value.reason == "invalid_type"


# -- address list ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "decode"),
    [
        (patch(v3_4_bytes()[:8], 3, b"\x00", fix="pseudo4"), decode4),
        (patch(v3_6_bytes()[:8], 3, b"\x00", fix="pseudo6"), decode6),
        (patch(v2_bytes()[:8] + bytes(8), 3, b"\x00", fix="plain"), decode4),
    ],
    ids=["v3-ipv4", "v3-ipv6", "v2"],
)
def test_rfc5798_5_2_5_address_count_zero_is_an_address_list_error(payload, decode):
    with pytest.raises(AddressListError) as err:
        decode(payload)
    assert err.value.reason == "address_list"


def test_decode_with_src_and_dst_of_different_families_is_a_caller_bug_not_a_packet_error():
    with pytest.raises(ValueError) as err:
        decode_advert(v3_4_bytes(), src=SRC4, dst=VRRP_MCAST6, ttl=255)
    assert not isinstance(err.value, DecodeError)


# -- checksum -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "decode"),
    [(v2_bytes(), decode4), (v3_4_bytes(), decode4), (v3_6_bytes(), decode6)],
    ids=["v2", "v3-ipv4", "v3-ipv6"],
)
@pytest.mark.parametrize("offset", [1, 2, 6, 7, 8, 11])
def test_rfc5798_5_2_8_bad_checksum_is_discarded(payload, decode, offset):
    corrupt = bytearray(payload)
    corrupt[offset] ^= 0x01
    with pytest.raises(ChecksumError) as err:
        decode(bytes(corrupt))
    assert err.value.reason == "checksum"


def test_rfc3768_5_3_8_v2_checksum_covers_the_authentication_data():
    payload = bytearray(v2_bytes(Advert(2, 51, 100, 1.0, (VIP4,), AuthType.PASS, b"secret\0\0")))
    payload[-1] ^= 0x01
    with pytest.raises(ChecksumError):
        decode4(bytes(payload))


def test_rfc5798_5_2_8_v3_ipv4_pseudo_header_checksum_is_accepted_and_reported_pseudo():
    assert decode4(v3_4_bytes()).checksum is ChecksumKind.PSEUDO


def test_rfc5798_5_2_8_v3_ipv4_plain_checksum_is_accepted_and_reported_plain():
    """Cisco, Juniper and keepalived's v3_checksum_as_v2 leave the pseudo-header out."""
    received = decode4(v3_4_bytes(pseudo_header=False))
    assert received.checksum is ChecksumKind.PLAIN
    assert received.advert == V3_4


def test_rfc5798_5_2_8_v3_ipv6_plain_checksum_is_rejected():
    """For IPv6 the pseudo-header is the only form (it is what the kernel's IPV6_CHECKSUM computes)."""
    payload = patch(v3_6_bytes(), 0, b"\x31", fix="plain")
    with pytest.raises(ChecksumError):
        decode6(payload)


def test_rfc3768_5_3_8_v2_reports_plain():
    assert decode4(v2_bytes()).checksum is ChecksumKind.PLAIN


def test_rfc5798_5_2_8_pseudo_header_uses_the_received_destination():
    """A v3/IPv4 advert checksummed for 224.0.0.18 but received at a unicast address does not verify.

    (keepalived's old_unicast_checksum, pre-1.3.6 peers, used the multicast group in the
    pseudo-header of unicast adverts; vipd does not accept that form.)
    """
    payload = v3_4_bytes()
    with pytest.raises(ChecksumError):
        decode_advert(payload, src=SRC4, dst=IPv4Address("192.0.2.2"), ttl=255)
    unicast = encode_advert(V3_4, src=SRC4, dst=IPv4Address("192.0.2.2"))
    received = decode_advert(unicast, src=SRC4, dst=IPv4Address("192.0.2.2"), ttl=255)
    assert received.checksum is ChecksumKind.PSEUDO


def test_rfc5798_5_2_8_pseudo_header_is_tried_first_when_both_forms_verify():
    """If the pseudo-header sums to zero (one's complement) both forms verify: PSEUDO is reported.

    src 0.0.0.0, dst 255.131.0.0, proto 112, length 12: 0xff83 + 0x0070 + 0x000c == 0xffff.
    """
    src, dst = IPv4Address("0.0.0.0"), IPv4Address("255.131.0.0")
    plain = encode_advert(V3_4, src=src, dst=dst, pseudo_header=False)
    assert plain == encode_advert(V3_4, src=src, dst=dst, pseudo_header=True)
    assert decode_advert(plain, src=src, dst=dst, ttl=255).checksum is ChecksumKind.PSEUDO


# -- interval -------------------------------------------------------------------------------------


def test_rfc5798_5_2_7_v3_max_adver_int_zero_is_an_interval_error():
    payload = patch(v3_4_bytes(), 4, b"\x00\x00", fix="pseudo4")
    with pytest.raises(IntervalError) as err:
        decode4(payload)
    assert err.value.reason == "interval"


def test_rfc5798_5_2_7_v3_ipv6_max_adver_int_zero_is_an_interval_error():
    with pytest.raises(IntervalError):
        decode6(patch(v3_6_bytes(), 4, b"\x00\x00", fix="pseudo6"))


def test_rfc5798_5_2_7_v3_only_reserved_bits_set_is_an_interval_error():
    with pytest.raises(IntervalError):
        decode4(patch(v3_4_bytes(), 4, b"\xf0\x00", fix="pseudo4"))


def test_rfc3768_5_3_7_v2_adver_int_zero_is_an_interval_error():
    with pytest.raises(IntervalError):
        decode4(patch(v2_bytes(), 5, b"\x00", fix="plain"))


def test_rfc5798_5_2_6_reserved_bits_are_ignored_on_receive():
    payload = patch(v3_4_bytes(), 4, b"\xf0\x0a", fix="pseudo4")
    assert decode4(payload).advert.max_adver_int == 0.1


@pytest.mark.parametrize("centiseconds", [1, 10, 100, 4095])
def test_rfc5798_5_2_7_v3_interval_is_centiseconds(centiseconds):
    payload = patch(v3_4_bytes(), 4, centiseconds.to_bytes(2, "big"), fix="pseudo4")
    assert decode4(payload).advert.max_adver_int == centiseconds / 100


@pytest.mark.parametrize("seconds", [1, 3, 255])
def test_rfc3768_5_3_7_v2_interval_is_whole_seconds(seconds):
    payload = patch(v2_bytes(), 5, bytes([seconds]), fix="plain")
    assert decode4(payload).advert.max_adver_int == float(seconds)


# -- authentication (v2) --------------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", [3, 4, 254, 255])
def test_rfc3768_5_3_6_unknown_auth_type_is_discarded(auth_type):
    payload = patch(v2_bytes(), 4, bytes([auth_type]), fix="plain")
    with pytest.raises(AuthError) as err:
        decode4(payload)
    assert isinstance(err.value, AuthTypeError)
    assert err.value.reason == "auth_type"  # RFC 2787 vrrpStatsInvalidAuthType, keepalived invalid_authtype


def test_rfc3768_5_3_6_simple_password_data_is_returned_for_the_instance_to_compare():
    advert = Advert(2, 51, 100, 1.0, (VIP4,), AuthType.PASS, b"secret\0\0")
    assert decode4(v2_bytes(advert)).advert == advert


def test_rfc2338_5_3_6_auth_none_data_is_ignored_on_reception():
    payload = bytearray(v2_bytes())
    payload[-8:] = b"garbage!"
    received = decode4(patch(bytes(payload), 0, b"\x21", fix="plain"))
    assert received.advert.auth_type == AuthType.NONE
    assert received.advert.auth_data == b""


def test_rfc3768_5_3_6_ah_auth_type_is_decoded_for_the_instance_to_reject():
    payload = patch(v2_bytes(), 4, bytes([AuthType.AH]), fix="plain")
    received = decode4(payload)
    assert received.advert.auth_type is AuthType.AH
    assert received.advert.auth_data == bytes(8)


# -- padding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "decode", "fix"),
    [(v2_bytes(), decode4, "plain"), (v3_4_bytes(), decode4, "pseudo4"), (v3_6_bytes(), decode6, "pseudo6")],
    ids=["v2", "v3-ipv4", "v3-ipv6"],
)
@pytest.mark.parametrize("padding", [b"\0", b"\0\0\0\0", b"\xde\xad\xbe"])
def test_padding_after_the_message_is_accepted_when_the_checksum_covers_it(payload, decode, fix, padding):
    padded = patch(payload + padding, 0, payload[:1], fix=fix)
    expected = decode(payload).advert
    assert decode(padded).advert == expected


def test_padding_is_inside_the_v3_pseudo_header_length_so_message_only_checksums_fail():
    """Decision (see vipd.wire.codec): the checksum covers the whole payload as received."""
    with pytest.raises(ChecksumError):
        decode4(v3_4_bytes() + bytes(4))


def test_zero_padding_does_not_change_a_plain_checksum():
    assert decode4(v2_bytes() + bytes(4)).advert == V2
    assert decode4(v3_4_bytes(pseudo_header=False) + bytes(4)).checksum is ChecksumKind.PLAIN


# -- CARP -----------------------------------------------------------------------------------------


def carp_advert() -> bytes:
    """An OpenBSD/ucarp CARP advert: version 2, type 1, authlen 7, 36 octets, plain checksum."""
    header = struct.pack("!BBBBBBH", 0x21, 51, 0, 7, 0, 1, 0)
    counter, hmac = bytes.fromhex("0123456789abcdef"), bytes(range(20))
    body = header + counter + hmac
    return body[:6] + checksum(body).to_bytes(2, "big") + body[8:]


def test_carp_advert_is_rejected_as_a_packet_length_error():
    """CARP shares VRRPv2's first octet (0x21) and protocol 112; its authlen (7) reads as an
    address count of 7, needing 8 + 28 + 8 = 44 octets, and a CARP advert has 36. Its checksum
    alone would not reject it: it is a plain checksum over the 36 octets, like VRRPv2's."""
    payload = carp_advert()
    assert len(payload) == 36 and inet_checksum(payload) == 0
    with pytest.raises(PacketLengthError):
        decode4(payload)
    with pytest.raises(PacketLengthError):
        decode_ipv4(bytes(IP(src=str(SRC4), dst=str(VRRP_MCAST4), ttl=255, proto=112) / Raw(payload)))


# -- IPv4 header ----------------------------------------------------------------------------------


def ipv4_datagram(payload: bytes, proto: int = 112) -> bytes:
    return bytes(IP(src=str(SRC4), dst=str(VRRP_MCAST4), ttl=255, proto=proto) / Raw(payload))


def test_rfc791_decode_ipv4_reads_addresses_and_ttl_from_the_header():
    received = decode_ipv4(ipv4_datagram(v3_4_bytes()))
    assert (received.src, received.dst, received.ttl) == (SRC4, VRRP_MCAST4, 255)
    assert received.advert == V3_4


def test_rfc791_decode_ipv4_skips_header_options():
    datagram = bytes(
        IP(src=str(SRC4), dst=str(VRRP_MCAST4), ttl=255, proto=112, options=[IPOption_Router_Alert()])
        / Raw(v3_4_bytes())
    )
    assert datagram[0] & 0x0F == 6
    assert decode_ipv4(datagram).advert == V3_4


@pytest.mark.parametrize("protocol", [0, 6, 17, 51, 111, 113, 255])
def test_rfc791_decode_ipv4_other_protocol_is_a_protocol_error(protocol):
    """Protocol 51 is AH: keepalived's v2 ``auth_type AH`` adverts; vipd does not implement AH."""
    with pytest.raises(ProtocolError) as err:
        decode_ipv4(ipv4_datagram(v3_4_bytes(), proto=protocol))
    assert err.value.reason == "protocol"


@pytest.mark.parametrize("length", [0, 1, 19])
def test_rfc791_decode_ipv4_truncated_header_is_a_length_error(length):
    with pytest.raises(PacketLengthError):
        decode_ipv4(ipv4_datagram(v3_4_bytes())[:length])


def test_rfc791_decode_ipv4_truncated_options_are_a_length_error():
    datagram = bytearray(ipv4_datagram(b""))  # 20 octets
    datagram[0] = 0x46  # IHL 6: 24 octets of header
    with pytest.raises(PacketLengthError):
        decode_ipv4(bytes(datagram))


@pytest.mark.parametrize("first", [0x65, 0x05, 0xF5])
def test_rfc791_decode_ipv4_not_version_4_is_a_protocol_error(first):
    datagram = bytearray(ipv4_datagram(v3_4_bytes()))
    datagram[0] = first
    with pytest.raises(ProtocolError):
        decode_ipv4(bytes(datagram))


@pytest.mark.parametrize("ihl", [0, 4])
def test_rfc791_decode_ipv4_ihl_below_5_is_a_protocol_error(ihl):
    datagram = bytearray(ipv4_datagram(v3_4_bytes()))
    datagram[0] = 0x40 | ihl
    with pytest.raises(ProtocolError):
        decode_ipv4(bytes(datagram))


def test_rfc791_decode_ipv4_total_length_beyond_the_datagram_is_a_length_error():
    datagram = ipv4_datagram(v3_4_bytes())
    with pytest.raises(PacketLengthError):
        decode_ipv4(datagram[:-1])


def test_rfc791_decode_ipv4_total_length_below_the_header_is_a_length_error():
    datagram = bytearray(ipv4_datagram(v3_4_bytes()))
    datagram[2:4] = (19).to_bytes(2, "big")
    with pytest.raises(PacketLengthError):
        decode_ipv4(bytes(datagram))


def test_rfc791_decode_ipv4_octets_after_total_length_are_link_padding_and_ignored():
    datagram = ipv4_datagram(v3_4_bytes())
    assert decode_ipv4(datagram + b"\xff" * 14).advert == V3_4


def test_rfc791_decode_ipv4_total_length_is_network_byte_order():
    datagram = ipv4_datagram(v3_4_bytes())
    assert datagram[2:4] == (32).to_bytes(2, "big")
    assert decode_ipv4(datagram).advert == V3_4
