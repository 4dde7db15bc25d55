"""Write recorded adverts as a classic pcap file (``vipctl capture -w FILE``).

The packets are rebuilt by vipd's pure codec (:func:`vipd.wire.encode_advert`)
with an IPv4 or IPv6 header in front (TTL / hop limit 255, protocol 112), so the
capture holds exactly what an RFC-conformant sender puts on the wire. Link type
``LINKTYPE_RAW`` (101): each record starts with the IP header, no Ethernet
header (tcpdump, Wireshark and tshark read it as "Raw IP").

Format: libpcap's classic file format (tcpdump.org "pcap-savefile(5)"):
a 24-byte global header (magic ``0xa1b2c3d4``, version 2.4, snaplen, link type)
then per packet a 16-byte header (seconds, microseconds, captured and original
length) and the bytes. Pure: bytes out, no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address

from vipd.wire.advert import IPPROTO_VRRP, VRRP_TTL, Advert, ChecksumKind, IPAddress
from vipd.wire.codec import encode_advert, inet_checksum

LINKTYPE_RAW = 101
"""pcap link type of packets that begin with an IPv4 or IPv6 header."""

SNAPLEN = 65535

TOS_INTERNETWORK_CONTROL = 0xC0
"""IPv4 TOS keepalived and vipd send adverts with (precedence 6, internetwork control)."""


def global_header() -> bytes:
    """The 24-byte pcap file header, little-endian, microsecond timestamps, ``LINKTYPE_RAW``."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW)


def ip_packet(advert: Advert, src: IPAddress, dst: IPAddress, *, pseudo_header: bool = True) -> bytes:
    """The IP datagram carrying ``advert`` from ``src`` to ``dst`` (TTL / hop limit 255, RFC 5798 §5.1.1).

    Args:
        advert: the VRRP message.
        src, dst: addresses of one family.
        pseudo_header: v3/IPv4 checksum with the pseudo-header (see :func:`encode_advert`).
    Raises:
        ValueError: from the codec (mixed families, out-of-range fields).
    """
    payload = encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo_header)
    if isinstance(src, IPv4Address):
        head = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            TOS_INTERNETWORK_CONTROL,
            20 + len(payload),
            0,
            0,
            VRRP_TTL,
            IPPROTO_VRRP,
            0,
            src.packed,
            dst.packed,
        )
        head = head[:10] + struct.pack("!H", inet_checksum(head)) + head[12:]
        return head + payload
    head6 = struct.pack("!IHBB16s16s", 6 << 28, len(payload), IPPROTO_VRRP, VRRP_TTL, src.packed, dst.packed)
    return head6 + payload


def record(wall_time: float, packet: bytes) -> bytes:
    """One pcap record: the 16-byte header (``wall_time`` in epoch seconds) then ``packet``."""
    sec = int(wall_time)
    usec = min(999_999, round((wall_time - sec) * 1e6))
    return struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet


def write_pcap(
    adverts: Iterable[tuple[float, IPAddress, IPAddress, Advert, str]],
    *,
    dst_fallback: Callable[[IPAddress], IPAddress] | None = None,
) -> bytes:
    """A whole pcap file from ``(wall seconds, src, dst, advert, checksum kind)`` tuples, in the given order.

    ``checksum kind`` is ``"pseudo"`` or ``"plain"`` (:class:`ChecksumKind` values): the
    checksum the advert carried. ``dst_fallback`` is unused unless a ``dst`` is None.
    """
    out = [global_header()]
    for wall, src, dst, adv, checksum in adverts:
        if dst is None and dst_fallback is not None:
            dst = dst_fallback(src)
        pkt = ip_packet(adv, src, dst, pseudo_header=checksum != ChecksumKind.PLAIN.value)
        out.append(record(wall, pkt))
    return b"".join(out)
