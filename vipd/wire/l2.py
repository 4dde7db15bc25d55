"""Link-layer announcement frames: gratuitous ARP, unsolicited Neighbor Advertisement, VMACs.

pure: no I/O, no asyncio, no sockets. The frames are complete Ethernet frames,
ready for an ``AF_PACKET``/``SOCK_RAW`` socket (the NIC pads them to 60 octets);
their layout follows keepalived (``vrrp_arp.c``, ``vrrp_ndisc.c``) and is checked
byte for byte against scapy and against captured keepalived frames in the tests.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from vipd.wire.codec import inet_checksum

__all__ = [
    "ETH_P_ARP",
    "ETH_P_IPV6",
    "GARP_FRAME_LEN",
    "UNSOLICITED_NA_FRAME_LEN",
    "garp_frame",
    "mac_from_str",
    "mac_to_str",
    "unsolicited_na_frame",
    "vmac_address",
]

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
GARP_FRAME_LEN = 42
UNSOLICITED_NA_FRAME_LEN = 86

_ETH_BROADCAST = b"\xff" * 6
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ALL_NODES = IPv6Address("ff02::1")
_ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"  # RFC 2464 §7: 33:33 + low 32 bits of ff02::1
_IPPROTO_ICMPV6 = 58
_ND_NEIGHBOR_ADVERT = 136
_ND_OPT_TARGET_LINKADDR = 2
_NA_FLAG_ROUTER = 0x80000000
_NA_FLAG_OVERRIDE = 0x20000000
_NDISC_HOP_LIMIT = 255

# ARP header for Ethernet/IPv4 (RFC 826): htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
_ARP_REQUEST_HEADER = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)


def _require_mac(mac: bytes) -> bytes:
    if not isinstance(mac, bytes | bytearray) or len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {mac!r}")
    return bytes(mac)


def garp_frame(mac: bytes, vip: IPv4Address) -> bytes:
    """Build a gratuitous ARP frame announcing ``vip`` at ``mac`` (RFC 5227 §3, RFC 5798 §8.1.2).

    As keepalived sends it: Ethernet destination ff:ff:ff:ff:ff:ff, source
    ``mac``, type 0x0806; ARP request (op 1), sender ``mac``/``vip``, target
    hardware address ff:ff:ff:ff:ff:ff and target protocol address ``vip``.
    (RFC 5227 says the target hardware address should be zero; keepalived
    sends all-ones, and Linux accepts both.)

    Args:
        mac: 6 bytes, the source MAC (the interface's, or the VMAC).
        vip: the virtual IPv4 address.

    Returns:
        The 42-octet frame.

    Raises:
        ValueError: ``mac`` is not 6 bytes or ``vip`` is not an IPv4Address.
    """
    source = _require_mac(mac)
    if not isinstance(vip, IPv4Address):
        raise ValueError(f"garp_frame needs an IPv4Address, got {vip!r}")
    ip = vip.packed
    ethernet = _ETH_BROADCAST + source + ETH_P_ARP.to_bytes(2, "big")
    return ethernet + _ARP_REQUEST_HEADER + source + ip + _ETH_BROADCAST + ip


def unsolicited_na_frame(mac: bytes, vip: IPv6Address, *, router: bool = False) -> bytes:
    """Build an unsolicited Neighbor Advertisement for ``vip`` at ``mac`` (RFC 4861 §4.4, §7.2.6).

    As keepalived sends it: Ethernet 33:33:00:00:00:01 from ``mac``; IPv6 from
    ``vip`` to ff02::1, hop limit 255, traffic class and flow label 0; ICMPv6
    type 136 code 0 with Override set, Solicited clear, Router set when
    ``router`` (keepalived mirrors the interface's IPv6 ``forwarding``), target
    ``vip``, and one Target Link-Layer Address option carrying ``mac``. The
    ICMPv6 checksum includes the IPv6 pseudo-header (RFC 4443 §2.3).

    Args:
        mac: 6 bytes, the source and advertised MAC.
        vip: the virtual IPv6 address.
        router: set the R flag.

    Returns:
        The 86-octet frame (14 Ethernet + 40 IPv6 + 24 NA + 8 option).

    Raises:
        ValueError: ``mac`` is not 6 bytes or ``vip`` is not an IPv6Address.
    """
    source = _require_mac(mac)
    if not isinstance(vip, IPv6Address):
        raise ValueError(f"unsolicited_na_frame needs an IPv6Address, got {vip!r}")
    flags = _NA_FLAG_OVERRIDE | (_NA_FLAG_ROUTER if router else 0)
    option = struct.pack("!BB", _ND_OPT_TARGET_LINKADDR, 1) + source
    icmp = struct.pack("!BBHI", _ND_NEIGHBOR_ADVERT, 0, 0, flags) + vip.packed + option
    pseudo = vip.packed + _ALL_NODES.packed + struct.pack("!I3xB", len(icmp), _IPPROTO_ICMPV6)
    icmp = icmp[:2] + inet_checksum(pseudo + icmp).to_bytes(2, "big") + icmp[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), _IPPROTO_ICMPV6, _NDISC_HOP_LIMIT)
    ipv6 += vip.packed + _ALL_NODES.packed
    return _ALL_NODES_MAC + source + ETH_P_IPV6.to_bytes(2, "big") + ipv6 + icmp


def vmac_address(vrid: int, family: int) -> bytes:
    """Return the virtual router MAC address of ``vrid`` (RFC 5798 §7.3, RFC 3768 §7.3).

    IPv4: 00:00:5e:00:01:{vrid}; IPv6: 00:00:5e:00:02:{vrid}.

    Args:
        vrid: 1..255.
        family: the IP version, 4 or 6 (not ``socket.AF_INET``/``AF_INET6``).

    Returns:
        6 bytes.

    Raises:
        ValueError: ``vrid`` outside 1..255 or ``family`` not 4 or 6.
    """
    if isinstance(vrid, bool) or not isinstance(vrid, int) or not 1 <= vrid <= 255:
        raise ValueError(f"vrid must be 1..255, got {vrid!r}")
    if family not in (4, 6) or isinstance(family, bool):
        raise ValueError(f"family must be the IP version 4 or 6, got {family!r}")
    return bytes((0x00, 0x00, 0x5E, 0x00, 1 if family == 4 else 2, vrid))


def mac_to_str(mac: bytes) -> str:
    """Format 6 bytes as lower-case ``aa:bb:cc:dd:ee:ff``.

    Raises:
        ValueError: ``mac`` is not 6 bytes.
    """
    return _require_mac(mac).hex(":")


def mac_from_str(text: str) -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff`` (six colon-separated pairs of hex digits, any case) into 6 bytes.

    Raises:
        ValueError: anything else (other separators, missing or extra octets,
            single-digit octets).
    """
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 6 or not all(len(part) == 2 and set(part) <= _HEX_DIGITS for part in parts):
        raise ValueError(f"not a MAC address (aa:bb:cc:dd:ee:ff): {text!r}")
    return bytes(int(part, 16) for part in parts)
