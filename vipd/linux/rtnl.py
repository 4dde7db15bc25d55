"""rtnetlink for links and addresses on a plain netlink socket: dumps, requests, events.

What the daemon asks the kernel at start and keeps asking while it runs (an
interface's index, MAC and state; the addresses of this namespace; link and
address events; a VIP added or removed) is four message types of
``rtnetlink(7)``: ``RTM_{NEW,DEL,GET}LINK`` and ``RTM_{NEW,DEL,GET}ADDR``. This
module speaks exactly those, with ``struct`` and the attribute numbers of
``<linux/if_link.h>``/``<linux/if_addr.h>``, on a non-blocking ``AF_NETLINK``
socket driven by the event loop.

Why not pyroute2's ``AsyncIPRoute`` here (libs.md §1): importing
``pyroute2.iproute`` pulls in 99 modules (``unittest.mock`` and
``multiprocessing`` among them), ~6.5 MiB of resident memory and ~45 ms before
the first advert (issue 18's memory and start-up targets). pyroute2 stays for
what needs its breadth, loaded only when configured: routes and rules
(``virtual_routes``/``virtual_rules``, :mod:`vipd.linux.routes`) and macvlan
VMACs (:mod:`vipd.linux.vmac`).

Reading follows the kernel's conventions, as keepalived's ``vrrp_netlink.c``
does: an address is ``IFA_LOCAL`` when present (the local end of a
point-to-point address) and ``IFA_ADDRESS`` otherwise; address flags are the
32-bit ``IFA_FLAGS`` attribute when present, else the header's 8 bits. A dump
the kernel marks ``NLM_F_DUMP_INTR`` (the table changed while it was read) is
taken again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from vipd.wire.advert import IPAddress

# <linux/netlink.h>
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300
# <linux/rtnetlink.h>
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
# <linux/if_link.h>
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IF_OPER_UNKNOWN = 0
IF_OPER_UP = 6
IFF_UP = 0x1
# <linux/if_addr.h>
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_FLAGS = 8

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (netlink is host order)
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")  # len, type
RECV_SIZE = 1 << 16
"""Bytes per ``recv``: the kernel fills one dump batch up to this (it never splits a message)."""
DUMP_RETRIES = 5
"""Times a dump is taken while the kernel flags it interrupted by a change (``NLM_F_DUMP_INTR``); the last is used."""


class RtnlError(OSError):
    """The kernel refused a request (``NLMSG_ERROR`` with a negative errno); ``errno`` holds the positive code."""

    def __init__(self, code: int, what: str = "") -> None:
        super().__init__(code, f"{os.strerror(code)}{': ' + what if what else ''}")


@dataclass(frozen=True, slots=True)
class RtLink:
    """One ``RTM_NEWLINK``/``RTM_DELLINK`` message.

    Attributes:
        event: RTM_NEWLINK or RTM_DELLINK.
        index: ifindex.
        ifname: ``IFLA_IFNAME`` ("" if absent).
        flags: ``ifi_flags`` (IFF_UP 0x1, IFF_RUNNING 0x40, ...).
        mac: ``IFLA_ADDRESS``, b"" if none.
        operstate: ``IFLA_OPERSTATE`` (RFC 2863: 6 UP, 2 DOWN, 0 UNKNOWN...), 0 if absent.
    """

    event: int
    index: int
    ifname: str
    flags: int
    mac: bytes
    operstate: int

    @property
    def oper_up(self) -> bool:
        """operstate UP, or UNKNOWN with IFF_UP (loopback-like devices report no operstate)."""
        return self.operstate == IF_OPER_UP or (self.operstate == IF_OPER_UNKNOWN and bool(self.flags & IFF_UP))


@dataclass(frozen=True, slots=True)
class RtAddr:
    """One ``RTM_NEWADDR``/``RTM_DELADDR`` message.

    Attributes:
        event: RTM_NEWADDR or RTM_DELADDR.
        index: ifindex.
        address: ``IFA_LOCAL`` if present, else ``IFA_ADDRESS``; None if neither.
        prefixlen: 0..32 / 0..128.
        flags: ``IFA_FLAGS`` if present, else ``ifa_flags`` (IFA_F_SECONDARY 0x01, IFA_F_TENTATIVE 0x40...).
        scope: rtnetlink scope (0 global, 253 link, 254 host).
        label: ``IFA_LABEL`` (IPv4), "" if none.
    """

    event: int
    index: int
    address: IPAddress | None
    prefixlen: int
    flags: int
    scope: int
    label: str


def _attrs(data: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each ``rtattr`` in ``data[offset:end]`` (nested-flag bits masked)."""
    while offset + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > end:
            return
        yield kind & 0x3FFF, data[offset + RTATTR.size : offset + length]
        offset += (length + 3) & ~3


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _ip(family: int, raw: bytes) -> IPAddress | None:
    if family == socket.AF_INET and len(raw) == 4:
        return IPv4Address(raw)
    if family == socket.AF_INET6 and len(raw) == 16:
        return IPv6Address(raw)
    return None


def parse_link(mtype: int, data: bytes, offset: int, end: int) -> RtLink | None:
    """Decode the ``ifinfomsg`` at ``data[offset:end]`` (after the netlink header); None if too short."""
    if end - offset < IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(data, offset)
    ifname, mac, oper = "", b"", 0
    for kind, raw in _attrs(data, offset + IFINFOMSG.size, end):
        if kind == IFLA_IFNAME:
            ifname = _cstr(raw)
        elif kind == IFLA_ADDRESS:
            mac = bytes(raw)
        elif kind == IFLA_OPERSTATE and raw:
            oper = raw[0]
    return RtLink(mtype, index, ifname, flags, mac, oper)


def parse_addr(mtype: int, data: bytes, offset: int, end: int) -> RtAddr | None:
    """Decode the ``ifaddrmsg`` at ``data[offset:end]`` (after the netlink header); None if too short."""
    if end - offset < IFADDRMSG.size:
        return None
    family, prefixlen, flags, scope, index = IFADDRMSG.unpack_from(data, offset)
    local = address = None
    label = ""
    for kind, raw in _attrs(data, offset + IFADDRMSG.size, end):
        if kind == IFA_LOCAL:
            local = _ip(family, raw)
        elif kind == IFA_ADDRESS:
            address = _ip(family, raw)
        elif kind == IFA_FLAGS and len(raw) >= 4:
            (flags,) = struct.unpack_from("=I", raw)
        elif kind == IFA_LABEL:
            label = _cstr(raw)
    return RtAddr(mtype, index, local or address, prefixlen, flags, scope, label)


def messages(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(type, flags, seq, body offset, end) of each netlink message in one ``recv``'s bytes."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, mtype, flags, seq, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            return
        yield mtype, flags, seq, offset + NLMSGHDR.size, offset + length
        offset += (length + 3) & ~3


def decode(mtype: int, data: bytes, offset: int, end: int) -> RtLink | RtAddr | None:
    """A link or address message decoded; None for any other type."""
    if mtype in (RTM_NEWLINK, RTM_DELLINK):
        return parse_link(mtype, data, offset, end)
    if mtype in (RTM_NEWADDR, RTM_DELADDR):
        return parse_addr(mtype, data, offset, end)
    return None


def attr(kind: int, payload: bytes) -> bytes:
    """One ``rtattr``, padded to 4 bytes."""
    raw = RTATTR.pack(RTATTR.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) & 3)


def message(mtype: int, flags: int, body: bytes, seq: int = 0) -> bytearray:
    """A netlink message: header (length, ``mtype``, ``flags``, ``seq``, pid 0) and ``body``."""
    return bytearray(NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, flags, seq, 0) + body)


def address_request(
    cmd: int,
    address: IPAddress,
    prefixlen: int,
    ifindex: int,
    *,
    scope: int = 0,
    flags: int = 0,
    label: str | None = None,
    broadcast: IPv4Address | None = None,
) -> bytearray:
    """An ``RTM_NEWADDR`` (create, exclusive) or ``RTM_DELADDR`` request, acknowledged; seq 0 (patch bytes 8:12).

    As ``ip addr add/del``: ``IFA_LOCAL`` and ``IFA_ADDRESS`` both the address;
    ``IFA_LABEL`` and ``IFA_BROADCAST`` for IPv4 only.
    """
    family = socket.AF_INET6 if isinstance(address, IPv6Address) else socket.AF_INET
    body = IFADDRMSG.pack(family, prefixlen, flags & 0xFF, scope, ifindex)
    body += attr(IFA_LOCAL, address.packed) + attr(IFA_ADDRESS, address.packed)
    if flags > 0xFF:
        body += attr(IFA_FLAGS, struct.pack("=I", flags))
    if label:
        body += attr(IFA_LABEL, label.encode() + b"\0")
    if broadcast is not None:
        body += attr(IFA_BROADCAST, broadcast.packed)
    nl_flags = NLM_F_REQUEST | NLM_F_ACK
    if cmd == RTM_NEWADDR:
        nl_flags |= NLM_F_CREATE | NLM_F_EXCL
    return message(cmd, nl_flags, body)


def open_socket(groups: int = 0) -> socket.socket:
    """A non-blocking ``NETLINK_ROUTE`` socket bound to ``groups`` (RTMGRP_* bits; 0 for requests only).

    Raises:
        OSError: the kernel refused the socket or the bind.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, groups))
    except OSError:
        sock.close()
        raise
    return sock


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def recv(sock: socket.socket) -> bytes:
    """The next datagram of a non-blocking netlink socket, waiting on the running loop.

    Raises:
        OSError: ENOBUFS when the kernel dropped messages (the socket's queue overflowed),
            or any other receive error.
    """
    while True:
        try:
            return sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            pass
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = sock.fileno()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


class Rtnl:
    """One request socket: dumps and acknowledged requests, one at a time (an ``asyncio.Lock``).

    Not for events: a socket that sends requests gets their replies, and a
    socket bound to groups gets broadcasts (libs.md §1.3); see :class:`RtnlEvents`.

    Raises:
        OSError: from the constructor if the socket cannot be opened.
    """

    def __init__(self) -> None:
        self._sock = open_socket()
        self._seq = 0
        self._lock = asyncio.Lock()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _exchange(self, request: bytearray, dump: bool = False) -> tuple[list[RtLink | RtAddr], bool]:
        """Send ``request`` under a new seq; collect its replies until DONE (``dump``), its ACK or its one answer.

        Returns the replies and whether the kernel flagged the dump ``NLM_F_DUMP_INTR``.
        """
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        seq = self._seq
        struct.pack_into("=I", request, 8, seq)
        self._sock.send(request)
        out: list[RtLink | RtAddr] = []
        interrupted = False
        while True:
            data = await recv(self._sock)
            for mtype, flags, mseq, offset, end in messages(data):
                if mseq != seq:
                    continue  # a late reply to an abandoned request
                if flags & NLM_F_DUMP_INTR:
                    interrupted = True
                if mtype == NLMSG_DONE:
                    return out, interrupted
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset) if end - offset >= 4 else (-errno.EIO,)
                    if code:
                        raise RtnlError(-code)
                    return out, False  # the ACK
                item = decode(mtype, data, offset, end)
                if item is not None:
                    out.append(item)
                if not dump and not flags & NLM_F_MULTI:
                    return out, False

    async def dump_links(self) -> list[RtLink]:
        """Every link of this network namespace (``RTM_GETLINK``, dump)."""
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        got = await self._dump(message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, body))
        return [m for m in got if isinstance(m, RtLink)]

    async def dump_addrs(self, index: int = 0) -> list[RtAddr]:
        """Every address of this network namespace, or of ``index`` only (filtered here, any kernel)."""
        body = IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        return [
            m
            for m in await self._dump(message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body))
            if isinstance(m, RtAddr) and (not index or m.index == index)
        ]

    async def _dump(self, request: bytearray) -> list[RtLink | RtAddr]:
        async with self._lock:
            for _ in range(DUMP_RETRIES):
                out, interrupted = await self._exchange(bytearray(request), dump=True)
                if not interrupted:
                    break
            return out

    async def get_link(self, ifname: str) -> RtLink:
        """The link called ``ifname`` (``RTM_GETLINK`` with ``IFLA_IFNAME``).

        Raises:
            RtnlError: ENODEV if there is none.
        """
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, ifname.encode() + b"\0")
        async with self._lock:
            got, _ = await self._exchange(message(RTM_GETLINK, NLM_F_REQUEST, body))
        for m in got:
            if isinstance(m, RtLink):
                return m
        raise RtnlError(errno.ENODEV, ifname)

    async def request(self, request: bytearray) -> None:
        """Send an acknowledged request (``NLM_F_ACK`` set) and wait for its ACK.

        Raises:
            RtnlError: the kernel's refusal (EEXIST, EADDRNOTAVAIL, ENODEV...).
        """
        async with self._lock:
            await self._exchange(request)


class RtnlEvents:
    """A socket bound to rtnetlink multicast groups: link and address events as they happen.

    Args:
        groups: RTMGRP_* bits, e.g. ``RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR``.
    Raises:
        OSError: from the constructor if the socket cannot be opened or bound.
    """

    def __init__(self, groups: int) -> None:
        self._sock = open_socket(groups)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    async def next_batch(self) -> list[RtLink | RtAddr]:
        """The link and address messages of the next datagram (other types skipped; may be empty).

        Raises:
            OSError: ENOBUFS when events were lost (the caller reopens and re-dumps).
        """
        data = await recv(self._sock)
        out: list[RtLink | RtAddr] = []
        for mtype, _flags, _seq, offset, end in messages(data):
            item = decode(mtype, data, offset, end)
            if item is not None:
                out.append(item)
        return out
