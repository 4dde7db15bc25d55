"""GARP, unsolicited NA and VMAC helpers, field by field (scapy equality is in test_wire_scapy_oracle)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipd.wire import (
    garp_frame,
    inet_checksum,
    mac_from_str,
    mac_to_str,
    unsolicited_na_frame,
    vmac_address,
)

MAC = bytes.fromhex("026b6c000001")


def test_rfc5227_3_garp_is_a_broadcast_arp_request_with_sender_and_target_the_vip():
    vip = IPv4Address("10.99.0.50")
    frame = garp_frame(MAC, vip)
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == MAC and frame[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)
    assert frame[22:28] == MAC and frame[28:32] == vip.packed  # sender
    assert frame[32:38] == b"\xff" * 6  # keepalived's target hardware address (RFC 5227 says zero)
    assert frame[38:42] == vip.packed  # target


def test_rfc4861_4_4_unsolicited_na_layout():
    vip = IPv6Address("2001:db8::50")
    frame = unsolicited_na_frame(MAC, vip)
    assert len(frame) == 86
    assert frame[:6] == bytes.fromhex("333300000001") and frame[6:12] == MAC and frame[12:14] == b"\x86\xdd"
    first_word, payload_len, next_header, hop_limit = struct.unpack_from("!IHBB", frame, 14)
    assert (first_word, payload_len, next_header, hop_limit) == (6 << 28, 32, 58, 255)
    assert frame[22:38] == vip.packed and frame[38:54] == IPv6Address("ff02::1").packed
    icmp = frame[54:]
    assert (icmp[0], icmp[1]) == (136, 0)
    flags = int.from_bytes(icmp[4:8], "big")
    assert flags == 0x20000000  # O=1, S=0, R=0
    assert icmp[8:24] == vip.packed
    assert icmp[24:26] == b"\x02\x01" and icmp[26:32] == MAC  # Target Link-Layer Address option
    pseudo = frame[22:54] + struct.pack("!I3xB", len(icmp), 58)
    assert inet_checksum(pseudo + icmp) == 0


def test_rfc4861_4_4_router_flag_mirrors_forwarding():
    frame = unsolicited_na_frame(MAC, IPv6Address("2001:db8::50"), router=True)
    assert int.from_bytes(frame[58:62], "big") == 0xA0000000  # R=1, O=1, S=0


@pytest.mark.parametrize(
    ("vrid", "family", "expected"),
    [(1, 4, "00:00:5e:00:01:01"), (51, 4, "00:00:5e:00:01:33"), (255, 6, "00:00:5e:00:02:ff")],
)
def test_rfc5798_7_3_virtual_router_mac_address(vrid, family, expected):
    assert mac_to_str(vmac_address(vrid, family)) == expected


@pytest.mark.parametrize(("vrid", "family"), [(0, 4), (256, 4), (1, 2), (1, 10), (1, 0), (True, 4)])
def test_vmac_address_rejects_bad_input(vrid, family):
    with pytest.raises(ValueError):
        vmac_address(vrid, family)


@given(mac=st.binary(min_size=6, max_size=6))
def test_mac_string_round_trip(mac):
    text = mac_to_str(mac)
    assert len(text) == 17 and text == text.lower()
    assert mac_from_str(text) == mac
    assert mac_from_str(text.upper()) == mac


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00:00:5e:00:01",
        "00:00:5e:00:01:33:44",
        "00-00-5e-00-01-33",
        "0:0:5e:0:1:33",
        "00:00:5e:00:01:zz",
        " 0:00:5e:00:01:33",
        "+0:00:5e:00:01:33",
        "000:0:5e:00:01:33",
    ],
)
def test_mac_from_str_rejects_anything_but_six_hex_pairs(text):
    with pytest.raises(ValueError):
        mac_from_str(text)


@pytest.mark.parametrize("mac", [b"", b"\x00" * 5, b"\x00" * 7])
def test_frames_reject_a_mac_that_is_not_6_bytes(mac):
    with pytest.raises(ValueError):
        garp_frame(mac, IPv4Address("192.0.2.1"))
    with pytest.raises(ValueError):
        unsolicited_na_frame(mac, IPv6Address("2001:db8::1"))
    with pytest.raises(ValueError):
        mac_to_str(mac)


def test_frames_reject_the_wrong_address_family():
    with pytest.raises(ValueError):
        garp_frame(MAC, IPv6Address("2001:db8::1"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        unsolicited_na_frame(MAC, IPv4Address("192.0.2.1"))  # type: ignore[arg-type]
