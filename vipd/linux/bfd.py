"""UDP sockets for BFD Control packets (RFC 5881 single hop, RFC 5883 multihop), IPv4 and IPv6.

Receive: one socket per (family, port) for the whole daemon, bound to the
wildcard address on 3784 (single hop) or 4784 (multihop), with IP_RECVTTL /
IPV6_RECVHOPLIMIT and IP(V6)_PKTINFO so the TTL rule of RFC 5881 §5 and the
demultiplexing of RFC 5880 §6.8.6 can be applied. Transmit: one connected
socket per session, bound to the session's source address and to a source
port in 49152..65535 (RFC 5881 §4: "The source port MUST be in the range 49152
through 65535. The same UDP source port number MUST be used for all BFD
Control packets associated with a particular session"), TTL / hop limit as
configured (255 by default: RFC 5881 §5 "MUST ... set to 255").
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

from vipd.wire.advert import IPAddress

BFD_PORT = 3784
"""RFC 5881 §4: single-hop Control packets go to UDP destination port 3784."""
BFD_MULTIHOP_PORT = 4784
"""RFC 5883 §5: multihop Control packets go to UDP destination port 4784."""
SRC_PORT_RANGE = (49152, 65535)
IP_RECVTTL = 12
IP_TTL_CMSG = 2  # IP_TTL: the cmsg type of a received TTL
IP_PKTINFO = 8
IPTOS_PREC_INTERNETCONTROL = 0xC0
RX_BATCH = 32
RECV_BUFSIZE = 512  # a Control packet is 24..52 octets; anything longer is junk


@dataclass(frozen=True, slots=True)
class BfdDatagram:
    """One datagram read from a BFD receive socket.

    Attributes:
        data: the UDP payload.
        src, sport: the sender's address and UDP source port.
        dst: our address it was sent to (IP(V6)_PKTINFO), or None.
        ttl: received IPv4 TTL / IPv6 hop limit, -1 if the kernel gave none.
        ifindex: ingress interface, 0 if unknown.
        rx_time: ``loop.time()`` seconds when it was read.
    """

    data: bytes
    src: IPAddress
    sport: int
    dst: IPAddress | None
    ttl: int
    ifindex: int
    rx_time: float


def open_rx(family: int, port: int = BFD_PORT) -> socket.socket:
    """Open the daemon's receive socket for ``family`` (4 or 6) on UDP ``port``.

    Raises:
        OSError: the port is taken (another BFD daemon: FRR bfdd, keepalived) or the kernel refused.
    """
    if family == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind(("0.0.0.0", port))
        except OSError:
            s.close()
            raise
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            s.bind(("::", port))
        except OSError:
            s.close()
            raise
    s.setblocking(False)
    return s


def open_tx(
    src: IPAddress | None,
    dst: IPAddress,
    *,
    port: int = BFD_PORT,
    ttl: int = 255,
    rng: Callable[[int, int], int] = random.randint,
) -> socket.socket:
    """Open a session's transmit socket, connected to ``(dst, port)``.

    Args:
        src: the session's source address (keepalived ``source_ip``); None = the kernel picks.
        dst: the neighbour (keepalived ``neighbor_ip``).
        port: 3784 single hop, 4784 multihop.
        ttl: IPv4 TTL / IPv6 hop limit to send with (keepalived ``ttl``/``hoplimit``).
        rng: picks the source port in 49152..65535 (RFC 5881 §4); retried on EADDRINUSE.
    Raises:
        OSError: no free source port after 64 tries, or the address is not ours (EADDRNOTAVAIL).
    """
    v4 = isinstance(dst, IPv4Address)
    s = socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        if v4:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, IPTOS_PREC_INTERNETCONTROL)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, IPTOS_PREC_INTERNETCONTROL)
        host = str(src) if src is not None else ("0.0.0.0" if v4 else "::")
        for attempt in range(64):
            try:
                s.bind((host, rng(*SRC_PORT_RANGE)))
                break
            except OSError as e:
                if e.errno != 98 or attempt == 63:  # EADDRINUSE
                    raise
        s.connect((str(dst), port))
    except OSError:
        s.close()
        raise
    s.setblocking(False)
    return s


def parse_ancillary(family: int, anc: list[tuple[int, int, bytes]]) -> tuple[IPAddress | None, int, int]:
    """Return (dst or None, ttl or -1, ifindex or 0) from ``recvmsg``'s ancillary data."""
    dst: IPAddress | None = None
    ttl = -1
    ifindex = 0
    for level, typ, c in anc:
        if family == 4 and level == socket.IPPROTO_IP:
            if typ == IP_TTL_CMSG and len(c) >= 1:
                ttl = c[0] if len(c) < 4 else struct.unpack("@i", c[:4])[0]
            elif typ == IP_PKTINFO and len(c) >= 12:
                ifindex, _spec, raw = struct.unpack("@i4s4s", c[:12])
                dst = IPv4Address(raw)
        elif family == 6 and level == socket.IPPROTO_IPV6:
            if typ == socket.IPV6_HOPLIMIT and len(c) >= 4:
                ttl = struct.unpack("@i", c[:4])[0]
            elif typ == socket.IPV6_PKTINFO and len(c) >= 20:
                raw6, ifindex = struct.unpack("@16sI", c[:20])
                dst = ip_address(raw6)
    return dst, ttl, ifindex


class BfdReader:
    """Drain a BFD receive socket from the event loop, calling ``on_datagram`` for each datagram.

    ``on_datagram`` runs in the loop and must not raise (exceptions go to ``on_error``).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        family: int,
        on_datagram: Callable[[BfdDatagram], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._family = family
        self._on_datagram = on_datagram
        self._on_error = on_error
        self._ancsize = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + 64
        loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        now = self._loop.time()
        for _ in range(RX_BATCH):  # bounded per wake-up: a flood cannot starve the timers
            try:
                data, anc, _flags, addr = self._sock.recvmsg(RECV_BUFSIZE, self._ancsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._on_error(e)
                return
            try:
                dst, ttl, ifindex = parse_ancillary(self._family, anc)
                src = ip_address(addr[0].split("%", 1)[0])
                self._on_datagram(BfdDatagram(data, src, addr[1], dst, ttl, ifindex, now))
            except Exception as e:  # one bad datagram never stops the reader
                self._on_error(e)

    def close(self) -> None:
        """Stop reading and close the socket."""
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
