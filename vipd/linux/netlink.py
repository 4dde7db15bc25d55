"""Addresses and links over rtnetlink (:mod:`vipd.linux.rtnl`; libs.md §1).

One socket for requests. (Link and address *events* need a second socket: a
socket that also carries requests receives their ACKs and no broadcasts.)
Adding an address that is already there and removing one that is already gone
both count as success, so every operation is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from vipd.linux.caps import CAP_NET_ADMIN, effective_capabilities
from vipd.linux.rtnl import (
    NLMSG_ERROR,
    RTM_DELADDR,
    RTM_NEWADDR,
    RTMGRP_IPV6_IFADDR,
    RtAddr,
    Rtnl,
    RtnlError,
    RtnlEvents,
    address_request,
    messages,
    open_socket,
)
from vipd.wire.advert import IPAddress

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08

SCOPES: dict[str, int] = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


@dataclass(frozen=True, slots=True)
class VipSpec:
    """One virtual address as the kernel sees it (keepalived ``virtual_ipaddress`` line).

    Attributes:
        address: the VIP.
        prefixlen: 0..32 / 0..128.
        ifindex: device to put it on.
        label: IPv4 label (at most 15 characters), or None.
        broadcast: IPv4 broadcast address, or None for none.
        scope: rtnetlink scope number (0 global, 253 link, 254 host).
    """

    address: IPAddress
    prefixlen: int
    ifindex: int
    label: str | None = None
    broadcast: IPv4Address | None = None
    scope: int = 0


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What vipd needs to know about an interface.

    Attributes:
        index: ifindex.
        ifname: name.
        mac: 6-byte hardware address (b"" if none).
        oper_up: operstate UP (or UNKNOWN with IFF_UP, as for loopback-like devices).
        ipv4: IPv4 primary (non-secondary) addresses, kernel order.
        ipv6_linklocal: a usable (non-tentative) IPv6 link-local address, or None.
    """

    index: int
    ifname: str
    mac: bytes
    oper_up: bool
    ipv4: tuple[IPv4Address, ...]
    ipv6_linklocal: IPv6Address | None


class Netlink:
    """The daemon's rtnetlink request socket (:class:`vipd.linux.rtnl.Rtnl`; not for events).

    pyroute2's ``AsyncIPRoute`` is opened only when :attr:`ipr` is first asked for
    (routes and rules, ``vipd.linux.routes``), so a configuration without them never
    imports ``pyroute2.iproute``.
    """

    def __init__(self) -> None:
        self._rtnl = Rtnl()
        self._ipr: Any = None

    def close(self) -> None:
        """Close the netlink socket(s)."""
        self._rtnl.close()
        if self._ipr is not None:
            self._ipr.close()

    @property
    def ipr(self) -> Any:
        """An ``AsyncIPRoute`` request socket (routes and rules: ``vipd.linux.routes``), opened on first use."""
        if self._ipr is None:
            from pyroute2.iproute.linux import AsyncIPRoute

            self._ipr = AsyncIPRoute()
        return self._ipr

    async def link_info(self, ifname: str) -> LinkInfo:
        """Return the interface's index, MAC, state and usable source addresses.

        Raises:
            LookupError: no interface of that name in this network namespace.
            OSError: netlink refused otherwise.
        """
        try:
            link = await self._rtnl.get_link(ifname)
        except RtnlError as e:
            if e.errno == errno.ENODEV:
                raise LookupError(f"interface {ifname!r} does not exist") from e
            raise
        ipv4: list[IPv4Address] = []
        ll: IPv6Address | None = None
        for msg in await self._rtnl.dump_addrs(link.index):
            ip = msg.address
            if isinstance(ip, IPv4Address):
                if not msg.flags & IFA_F_SECONDARY:
                    ipv4.append(ip)
            elif (
                ip is not None
                and ip.is_link_local
                and not msg.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
                and ll is None
            ):
                ll = ip
        return LinkInfo(link.index, ifname, link.mac, link.oper_up, tuple(ipv4), ll)


async def wait_linklocal(netlink: Netlink, ifname: str, timeout: float) -> LinkInfo:
    """Wait until ``ifname`` has a usable IPv6 link-local address (DAD finished), from netlink events.

    After link-up the kernel's link-local address is tentative for about
    ``dad_transmits * retrans_time`` (~1-2 s) and a socket cannot bind to it.
    This listens for ``RTM_NEWADDR`` on a dedicated event socket (libs.md §1.3:
    a socket that also sends requests gets no broadcasts) and re-reads the link
    after subscribing, so an address that became usable in between is not missed.

    Args:
        netlink: the request socket, used to re-read the link.
        ifname: interface name.
        timeout: seconds to wait at most.
    Returns:
        The link, with ``ipv6_linklocal`` set if one became usable in time (else None there).
    Raises:
        LookupError: the interface does not exist.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    mon = RtnlEvents(RTMGRP_IPV6_IFADDR)
    try:
        info = await netlink.link_info(ifname)
        while info.ipv6_linklocal is None:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                seen = await asyncio.wait_for(_next_usable_ll(mon, info.index), left)
            except TimeoutError:
                break
            if seen:
                info = await netlink.link_info(ifname)
        return info
    finally:
        mon.close()


async def _next_usable_ll(mon: RtnlEvents, ifindex: int) -> bool:
    """Read one batch of address events; True if it holds a non-tentative link-local on ``ifindex``."""
    for msg in await mon.next_batch():
        if not isinstance(msg, RtAddr) or msg.event != RTM_NEWADDR or msg.index != ifindex:
            continue
        if (
            msg.address is not None
            and msg.address.is_link_local
            and not msg.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
        ):
            return True
    return False


AddressDone = Callable[[VipSpec, int], None]
"""Called with the VIP and 0 or an errno once the kernel acknowledged an add or remove."""


class AddressWriter:
    """Add and remove VIPs with one synchronous ``send`` each, on a netlink socket of its own.

    rtnetlink handles a request inside ``sendmsg``: when ``add``/``remove`` return,
    the kernel has already installed or removed the address, so a GARP can follow at
    once (keepalived's takeover path). Each VIP's two messages are encoded once,
    up front; only the sequence number is patched per send. Acknowledgements are read
    from the event loop and reported through the ``done`` callback: 0, or an errno
    (``EEXIST`` on add and ``EADDRNOTAVAIL`` on remove mean "already so").

    Raises:
        OSError: from the constructor if the netlink socket cannot be opened.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sock = open_socket()
        self._seq = 0
        self._pending: dict[int, tuple[VipSpec, AddressDone, int, int]] = {}  # seq -> vip, done, add/remove, resends
        self._encoded: dict[VipSpec, tuple[bytearray, bytearray]] = {}
        loop.add_reader(self._sock.fileno(), self._read_acks)

    @staticmethod
    def _encode(vip: VipSpec, cmd: int) -> bytearray:
        if cmd == RTM_DELADDR:
            return address_request(cmd, vip.address, vip.prefixlen, vip.ifindex, scope=vip.scope)
        v6 = isinstance(vip.address, IPv6Address)
        return address_request(
            cmd,
            vip.address,
            vip.prefixlen,
            vip.ifindex,
            scope=vip.scope,
            flags=IFA_F_NODAD if v6 else 0,
            label=None if v6 else vip.label,
            broadcast=None if v6 else vip.broadcast,
        )

    def _send(self, vip: VipSpec, which: int, done: AddressDone, tries: int = 0) -> None:
        self.prepare(vip)
        data = self._encoded[vip][which]
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        struct.pack_into("=I", data, 8, self._seq)
        try:
            self._sock.send(data)
        except OSError as e:
            done(vip, e.errno or errno.EIO)
            return
        self._pending[self._seq] = (vip, done, which, tries)

    def prepare(self, vip: VipSpec) -> None:
        """Encode ``vip``'s messages now, off the takeover path."""
        if vip not in self._encoded:
            self._encoded[vip] = (self._encode(vip, RTM_NEWADDR), self._encode(vip, RTM_DELADDR))

    @staticmethod
    def probe(vip: VipSpec) -> int:
        """The errno an add of ``vip`` would get for a cause vipd can see without adding it, else 0.

        ENODEV: no device has ``vip.ifindex`` (deleted; re-created devices get a new index).
        EACCES: an IPv6 VIP on a device with ``net.ipv6.conf.DEV.disable_ipv6 = 1``;
        EAFNOSUPPORT: IPv6 is off in the kernel. EPERM: CAP_NET_ADMIN is not effective.
        Reads procfs and ``if_indextoname`` only (microseconds; nothing is installed).
        """
        try:
            name = socket.if_indextoname(vip.ifindex)
        except OSError:
            return errno.ENODEV
        if isinstance(vip.address, IPv6Address):
            try:
                with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6") as f:
                    if f.read().strip() == "1":
                        return errno.EACCES
            except FileNotFoundError:
                return errno.EAFNOSUPPORT
            except OSError:
                pass
        try:
            if not effective_capabilities() >> CAP_NET_ADMIN & 1:
                return errno.EPERM
        except (OSError, ValueError):
            pass
        return 0

    def add(self, vip: VipSpec, done: AddressDone) -> None:
        """Install ``vip`` now (IPv6 with ``nodad``); ``done(vip, errno)`` follows from the loop."""
        self._send(vip, 0, done)

    def remove(self, vip: VipSpec, done: AddressDone) -> None:
        """Remove ``vip`` now; ``done(vip, errno)`` follows from the loop."""
        self._send(vip, 1, done)

    MAX_RESENDS = 3
    """Times a request whose acknowledgement was lost (ENOBUFS) is sent again before its error is reported."""

    def _read_acks(self) -> None:
        overrun: OSError | None = None
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                if overrun is not None:
                    self._resend_lost(overrun)
                return
            except OSError as e:
                # ENOBUFS: the receive queue overflowed and some acks were dropped. The requests
                # themselves were handled inside send(); read on for the acks that did arrive.
                overrun = e
                continue
            for mtype, _flags, seq, offset, end in messages(data):
                if mtype == NLMSG_ERROR and end - offset >= 4:
                    (err,) = struct.unpack_from("=i", data, offset)
                    entry = self._pending.pop(seq, None)
                    if entry is not None:
                        entry[1](entry[0], -err)

    def _resend_lost(self, overrun: OSError) -> None:
        """Send again every request whose ack was lost in an overrun, instead of reporting it failed.

        rtnetlink handles a request inside ``send()``, so once the queue is drained every
        request still pending was handled and only its ack is gone: the outcome is unknown,
        not failed. Both requests are idempotent with "already so" answers (an add that was
        applied now gets EEXIST, a remove EADDRNOTAVAIL), which the caller counts as success.
        After :attr:`MAX_RESENDS` overruns in a row a request reports the overrun's errno.
        """
        lost, self._pending = self._pending, {}
        for vip, done, which, tries in lost.values():
            if tries >= self.MAX_RESENDS:
                done(vip, overrun.errno or errno.EIO)
            else:
                self._send(vip, which, done, tries + 1)

    def close(self) -> None:
        """Stop reading acknowledgements and close the socket."""
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
