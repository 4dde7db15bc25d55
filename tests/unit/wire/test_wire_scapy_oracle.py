"""scapy as the oracle: our encoder equals its builder, its dissector accepts our bytes.

scapy is GPL-2.0-only and test-only: it is imported here, never from vipd/.
(Do not import scapy.contrib.carp in this process: it unbinds VRRP from IP.)
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, in4_chksum
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6NDOptDstLLAddr,
    IPv6,
    in6_chksum,
)
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Raw
from scapy.utils import checksum

from vipd.wire import (
    VRRP_MCAST4,
    VRRP_MCAST6,
    Advert,
    AuthType,
    encode_advert,
    garp_frame,
    mac_to_str,
    unsolicited_na_frame,
)

ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)
vrids = st.integers(1, 255)
priorities = st.integers(0, 255)
macs = st.binary(min_size=6, max_size=6)
dst4 = st.one_of(st.just(VRRP_MCAST4), ipv4)
dst6 = st.one_of(st.just(VRRP_MCAST6), ipv6)
auth = st.one_of(
    st.just((AuthType.NONE, b"")),
    st.tuples(st.just(AuthType.PASS), st.binary(min_size=8, max_size=8)),
)

oracle = settings(deadline=None, max_examples=150)


@oracle
@given(
    vrid=vrids,
    priority=priorities,
    seconds=st.integers(1, 255),
    addresses=st.lists(ipv4, min_size=1, max_size=255),
    auth=auth,
    src=ipv4,
    dst=dst4,
)
def test_v2_ipv4_encoder_equals_scapy(vrid, priority, seconds, addresses, auth, src, dst):
    auth_type, auth_data = auth
    advert = Advert(2, vrid, priority, float(seconds), tuple(addresses), auth_type, auth_data)
    padded = auth_data or bytes(8)
    theirs = VRRP(
        vrid=vrid,
        priority=priority,
        authtype=int(auth_type),
        adv=seconds,
        addrlist=[str(a) for a in addresses],
        auth1=int.from_bytes(padded[:4], "big"),
        auth2=int.from_bytes(padded[4:], "big"),
    )
    expected = bytes(IP(src=str(src), dst=str(dst), ttl=255) / theirs)[20:]
    assert encode_advert(advert, src=src, dst=dst) == expected


@oracle
@given(
    vrid=vrids,
    priority=priorities,
    centiseconds=st.integers(1, 4095),
    addresses=st.lists(ipv4, min_size=1, max_size=255),
    src=ipv4,
    dst=dst4,
)
def test_v3_ipv4_pseudo_header_encoder_equals_scapy(vrid, priority, centiseconds, addresses, src, dst):
    advert = Advert(3, vrid, priority, centiseconds / 100, tuple(addresses))
    theirs = VRRPv3(vrid=vrid, priority=priority, adv=centiseconds, addrlist=[str(a) for a in addresses])
    expected = bytes(IP(src=str(src), dst=str(dst), ttl=255) / theirs)[20:]
    assert encode_advert(advert, src=src, dst=dst) == expected


@oracle
@given(
    vrid=vrids,
    priority=priorities,
    centiseconds=st.integers(1, 4095),
    addresses=st.lists(ipv4, min_size=1, max_size=50),
    src=ipv4,
)
def test_v3_ipv4_plain_encoder_equals_scapy_with_plain_checksum(vrid, priority, centiseconds, addresses, src):
    advert = Advert(3, vrid, priority, centiseconds / 100, tuple(addresses))
    zeroed = bytes(
        IP(src=str(src), dst=str(VRRP_MCAST4), ttl=255)
        / VRRPv3(vrid=vrid, priority=priority, adv=centiseconds, addrlist=[str(a) for a in addresses], chksum=0)
    )[20:]
    expected = zeroed[:6] + checksum(zeroed).to_bytes(2, "big") + zeroed[8:]
    assert encode_advert(advert, src=src, dst=VRRP_MCAST4, pseudo_header=False) == expected


@oracle
@given(
    vrid=vrids,
    priority=priorities,
    centiseconds=st.integers(1, 4095),
    addresses=st.lists(ipv6, min_size=1, max_size=255),
    src=ipv6,
    dst=dst6,
)
def test_v3_ipv6_encoder_equals_scapy(vrid, priority, centiseconds, addresses, src, dst):
    advert = Advert(3, vrid, priority, centiseconds / 100, tuple(addresses))
    theirs = VRRPv3(vrid=vrid, priority=priority, adv=centiseconds, addrlist=[str(a) for a in addresses])
    expected = bytes(IPv6(src=str(src), dst=str(dst), hlim=255) / theirs)[40:]
    assert encode_advert(advert, src=src, dst=dst) == expected


@oracle
@given(
    version=st.sampled_from([2, 3]),
    vrid=vrids,
    priority=priorities,
    interval=st.integers(1, 255),
    addresses=st.lists(ipv4, min_size=1, max_size=20),
    src=ipv4,
    dst=dst4,
)
def test_scapy_dissects_our_ipv4_bytes_with_a_valid_checksum(version, vrid, priority, interval, addresses, src, dst):
    seconds = float(interval) if version == 2 else interval / 100
    advert = Advert(version, vrid, priority, seconds, tuple(addresses))
    ours = encode_advert(advert, src=src, dst=dst)
    packet = IP(bytes(IP(src=str(src), dst=str(dst), ttl=255, proto=112) / Raw(ours)))
    layer = packet[VRRP] if version == 2 else packet[VRRPv3]
    assert (layer.version, layer.type, layer.vrid, layer.priority) == (version, 1, vrid, priority)
    assert layer.adv == interval
    assert layer.ipcount == len(addresses)
    assert layer.addrlist == [str(a) for a in addresses]
    if version == 2:
        assert checksum(bytes(layer)) == 0
    else:
        assert in4_chksum(112, packet[IP], bytes(layer)) == 0


@oracle
@given(
    vrid=vrids,
    priority=priorities,
    centiseconds=st.integers(1, 4095),
    addresses=st.lists(ipv6, min_size=1, max_size=20),
    src=ipv6,
    dst=dst6,
)
def test_scapy_dissects_our_ipv6_bytes_with_a_valid_checksum(vrid, priority, centiseconds, addresses, src, dst):
    advert = Advert(3, vrid, priority, centiseconds / 100, tuple(addresses))
    ours = encode_advert(advert, src=src, dst=dst)
    packet = IPv6(bytes(IPv6(src=str(src), dst=str(dst), hlim=255, nh=112) / Raw(ours)))
    layer = packet[VRRPv3]
    assert (layer.version, layer.type, layer.vrid, layer.priority) == (3, 1, vrid, priority)
    assert (layer.adv, layer.ipcount) == (centiseconds, len(addresses))
    assert [IPv6Address(a) for a in layer.addrlist] == addresses
    assert in6_chksum(112, packet[IPv6], bytes(layer)) == 0


def test_libs_md_reference_vectors():
    """The vectors verified against the kernel and scapy in reference/libs.md §2.1, §2.3, §3.3."""
    v3 = Advert(3, 51, 100, 1.0, (IPv4Address("192.0.2.100"),))
    assert encode_advert(v3, src=IPv4Address("192.0.2.1"), dst=VRRP_MCAST4).hex() == "3133640100640572c0000264"
    v2 = Advert(2, 51, 100, 1.0, (IPv4Address("192.0.2.100"),))
    assert (
        encode_advert(v2, src=IPv4Address("192.0.2.1"), dst=VRRP_MCAST4).hex() == "213364010001b865c0000264" + "00" * 8
    )
    v6 = Advert(3, 52, 200, 1.0, (IPv6Address("2001:db8::100"),))
    ours = encode_advert(v6, src=IPv6Address("fe80::704e:50ff:fee0:a07c"), dst=VRRP_MCAST6)
    assert ours[:8].hex() == "3134c801006478e3"  # 0x78e3: what the kernel's IPV6_CHECKSUM wrote


@settings(deadline=None)
@given(mac=macs, vip=ipv4)
def test_garp_frame_equals_scapy(mac, vip):
    text = mac_to_str(mac)
    theirs = Ether(dst="ff:ff:ff:ff:ff:ff", src=text) / ARP(
        op=1, hwsrc=text, psrc=str(vip), hwdst="ff:ff:ff:ff:ff:ff", pdst=str(vip)
    )
    ours = garp_frame(mac, vip)
    assert len(ours) == 42
    assert ours == bytes(theirs)


@settings(deadline=None)
@given(mac=macs, vip=ipv6, router=st.booleans())
def test_unsolicited_na_frame_equals_scapy(mac, vip, router):
    text = mac_to_str(mac)
    theirs = (
        Ether(dst="33:33:00:00:00:01", src=text)
        / IPv6(src=str(vip), dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=str(vip), R=int(router), S=0, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=text)
    )
    ours = unsolicited_na_frame(mac, vip, router=router)
    assert len(ours) == 86
    assert ours == bytes(theirs)


@settings(deadline=None)
@given(mac=macs, vip=ipv6, router=st.booleans())
def test_scapy_dissects_our_na_frame_with_a_valid_checksum(mac, vip, router):
    packet = Ether(unsolicited_na_frame(mac, vip, router=router))
    na = packet[ICMPv6ND_NA]
    assert (na.R, na.S, na.O, IPv6Address(na.tgt)) == (int(router), 0, 1, vip)
    assert packet[IPv6].hlim == 255
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == mac_to_str(mac)
    assert in6_chksum(58, packet[IPv6], bytes(na)) == 0
