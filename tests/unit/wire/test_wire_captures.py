"""Real keepalived traffic: every advert decodes to the known fields and re-encodes byte for byte.

The captures are described in tests/fixtures/captures/README.md.
"""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address

from vipd.wire import (
    VRRP_MCAST4,
    AuthType,
    ChecksumKind,
    decode_ipv4,
    encode_advert,
    garp_frame,
    mac_from_str,
)

VIP = IPv4Address("10.99.0.50")
ROUTERS = {
    # source address: (source MAC, configured priority)
    IPv4Address("10.99.0.1"): (mac_from_str("02:6b:6c:00:00:01"), 150),
    IPv4Address("10.99.0.2"): (mac_from_str("02:6b:6c:00:00:02"), 100),
}
EXPECTED_ADVERTS = {
    "keepalived-v2-adv1.pcap": 22,
    "keepalived-v3-adv1.pcap": 22,
    "keepalived-v3-adv0.1.pcap": 80,
}


def test_every_keepalived_advert_decodes_to_the_known_fields(capture):
    seen: Counter[tuple[IPv4Address, int]] = Counter()
    for frame in capture.vrrp:
        received = decode_ipv4(frame.payload)
        advert = received.advert
        mac, configured_priority = ROUTERS[received.src]
        assert frame.src_mac == mac
        assert received.dst == VRRP_MCAST4
        assert received.ttl == 255
        assert advert.version == capture.version
        assert advert.vrid == 51
        assert advert.priority in (configured_priority, 0)  # 0: leaving on shutdown
        assert advert.max_adver_int == capture.interval
        assert advert.addresses == (VIP,)
        assert advert.auth_type == AuthType.NONE
        assert advert.auth_data == b""
        # keepalived: plain for v2 (RFC 3768), IPv4 pseudo-header for v3 (RFC 5798 §5.2.8)
        assert received.checksum is (ChecksumKind.PLAIN if capture.version == 2 else ChecksumKind.PSEUDO)
        seen[received.src, advert.priority] += 1
    assert sum(seen.values()) == EXPECTED_ADVERTS[capture.name]
    assert seen[IPv4Address("10.99.0.1"), 0] == 2
    assert seen[IPv4Address("10.99.0.2"), 0] == 2
    assert seen[IPv4Address("10.99.0.2"), 100] == 2


def test_every_keepalived_advert_reencodes_byte_for_byte(capture):
    assert capture.vrrp
    for frame in capture.vrrp:
        received = decode_ipv4(frame.payload)
        header_len = (frame.payload[0] & 0x0F) * 4
        on_wire = frame.payload[header_len:]
        assert encode_advert(received.advert, src=received.src, dst=received.dst) == on_wire


def test_v3_captures_do_not_verify_as_plain_checksum(capture):
    """keepalived sends the pseudo-header form for v3/IPv4 unless v3_checksum_as_v2 is set."""
    for frame in capture.vrrp:
        received = decode_ipv4(frame.payload)
        plain = encode_advert(received.advert, src=received.src, dst=received.dst, pseudo_header=False)
        on_wire = frame.payload[20:]
        assert (plain == on_wire) is (capture.version == 2)


def test_every_keepalived_gratuitous_arp_equals_garp_frame(capture):
    by_router = Counter()
    for frame in capture.arp:
        assert len(frame.raw) == 42
        assert garp_frame(frame.src_mac, VIP) == frame.raw
        by_router[frame.src_mac] += 1
    assert by_router == {
        mac_from_str("02:6b:6c:00:00:01"): 20,
        mac_from_str("02:6b:6c:00:00:02"): 10,
    }
