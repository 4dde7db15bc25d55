"""Addresses and links over rtnetlink with pyroute2's ``AsyncIPRoute`` (libs.md §1).

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
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR, RTMGRP_IPV6_IFADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from vipd.linux.caps import CAP_NET_ADMIN, effective_capabilities
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
    """Thin async wrapper over one ``AsyncIPRoute`` request socket (not for events)."""

    def __init__(self) -> None:
        self._ipr: Any = AsyncIPRoute()

    def close(self) -> None:
        """Close the netlink socket."""
        self._ipr.close()

    @property
    def ipr(self) -> Any:
        """The ``AsyncIPRoute`` request socket itself (routes and rules: ``vipd.linux.routes``)."""
        return self._ipr

    async def link_info(self, ifname: str) -> LinkInfo:
        """Return the interface's index, MAC, state and usable source addresses.

        Raises:
            LookupError: no interface of that name in this network namespace.
        """
        try:
            links = await self._ipr.link("get", ifname=ifname)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                raise LookupError(f"interface {ifname!r} does not exist") from e
            raise
        link = links[0]
        index = int(link["index"])
        mac_s = link.get("address") or ""
        mac = bytes.fromhex(mac_s.replace(":", "")) if mac_s else b""
        oper = link.get("operstate")
        oper_up = oper == "UP" or (oper == "UNKNOWN" and bool(link["flags"] & 1))
        ipv4: list[IPv4Address] = []
        ll: IPv6Address | None = None
        async for msg in await self._ipr.addr("dump", index=index):
            addr = msg.get("address")
            if not addr:
                continue
            flags = msg.get("flags") or 0
            ip = ip_address(addr)
            if isinstance(ip, IPv4Address):
                if not flags & IFA_F_SECONDARY:
                    ipv4.append(ip)
            elif ip.is_link_local and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) and ll is None:
                ll = ip
        return LinkInfo(index, ifname, mac, oper_up, tuple(ipv4), ll)

    async def addresses(self, ifindex: int) -> set[tuple[IPAddress, int]]:
        """Return the set of (address, prefixlen) on ``ifindex``."""
        out: set[tuple[IPAddress, int]] = set()
        async for msg in await self._ipr.addr("dump", index=ifindex):
            addr = msg.get("address")
            if addr:
                out.add((ip_address(addr), int(msg["prefixlen"])))
        return out

    async def add_address(self, vip: VipSpec) -> bool:
        """Add ``vip``; IPv6 with ``nodad`` (DESIGN: a tentative VIP is unusable).

        Returns:
            True if it was added, False if it was already there (EEXIST).
        Raises:
            NetlinkError: any other refusal (ENODEV, ERANGE for a long label...).
        """
        kwargs: dict[str, Any] = {
            "index": vip.ifindex,
            "address": str(vip.address),
            "prefixlen": vip.prefixlen,
            "scope": vip.scope,
        }
        if isinstance(vip.address, IPv6Address):
            kwargs["flags"] = IFA_F_NODAD
        else:
            if vip.label:
                kwargs["label"] = vip.label
            if vip.broadcast is not None:
                kwargs["broadcast"] = str(vip.broadcast)
        try:
            await self._ipr.addr("add", **kwargs)
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        return True

    async def remove_address(self, vip: VipSpec) -> bool:
        """Remove ``vip``.

        Returns:
            True if it was removed, False if it was not there (EADDRNOTAVAIL).
        Raises:
            NetlinkError: any other refusal.
        """
        try:
            await self._ipr.addr("del", index=vip.ifindex, address=str(vip.address), prefixlen=vip.prefixlen)
        except NetlinkError as e:
            if e.code in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return False
            raise
        return True


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
    mon: Any = AsyncIPRoute()
    try:
        await mon.bind(groups=RTMGRP_IPV6_IFADDR)
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


async def _next_usable_ll(mon: Any, ifindex: int) -> bool:
    """Read one batch of address events; True if it holds a non-tentative link-local on ``ifindex``."""
    async for msg in mon.get():
        if msg.get("event") != "RTM_NEWADDR" or msg.get("index") != ifindex:
            continue
        addr = msg.get("address")
        flags = msg.get("flags") or 0
        if addr and ip_address(addr).is_link_local and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            return True
    return False


NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (netlink is host order)

AddressDone = Callable[[VipSpec, int], None]
"""Called with the VIP and 0 or an errno once the kernel acknowledged an add or remove."""


class AddressWriter:
    """Add and remove VIPs with one synchronous ``send`` each, on a netlink socket of its own.

    rtnetlink handles a request inside ``sendmsg``: when ``add``/``remove`` return,
    the kernel has already installed or removed the address, so a GARP can follow at
    once (keepalived's takeover path). pyroute2 encodes each VIP's two messages once,
    up front; only the sequence number is patched per send. Acknowledgements are read
    from the event loop and reported through the ``done`` callback: 0, or an errno
    (``EEXIST`` on add and ``EADDRNOTAVAIL`` on remove mean "already so").

    Raises:
        OSError: from the constructor if the netlink socket cannot be opened.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind((0, 0))
        except OSError:
            self._sock.close()
            raise
        self._seq = 0
        self._pending: dict[int, tuple[VipSpec, AddressDone, int, int]] = {}  # seq -> vip, done, add/remove, resends
        self._encoded: dict[VipSpec, tuple[bytearray, bytearray]] = {}
        loop.add_reader(self._sock.fileno(), self._read_acks)

    @staticmethod
    def _encode(vip: VipSpec, cmd: int) -> bytearray:
        msg = ifaddrmsg()
        family = socket.AF_INET6 if isinstance(vip.address, IPv6Address) else socket.AF_INET
        msg["family"] = family
        msg["prefixlen"] = vip.prefixlen
        msg["index"] = vip.ifindex
        msg["scope"] = vip.scope
        attrs: list[tuple[str, Any]] = [("IFA_LOCAL", str(vip.address)), ("IFA_ADDRESS", str(vip.address))]
        if cmd == RTM_NEWADDR:
            if family == socket.AF_INET6:
                msg["flags"] = IFA_F_NODAD
            else:
                if vip.label:
                    attrs.append(("IFA_LABEL", vip.label))
                if vip.broadcast is not None:
                    attrs.append(("IFA_BROADCAST", str(vip.broadcast)))
            flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        else:
            flags = NLM_F_REQUEST | NLM_F_ACK
        msg["attrs"] = attrs
        msg["header"]["type"] = cmd
        msg["header"]["flags"] = flags
        msg.encode()
        return bytearray(msg.data)

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
        """Encode ``vip``'s messages now (pyroute2 takes ~0.1-0.8 ms), off the takeover path."""
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
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                if mtype == NLMSG_ERROR and length >= _NLMSGHDR.size + 4:
                    (err,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                    entry = self._pending.pop(seq, None)
                    if entry is not None:
                        entry[1](entry[0], -err)
                offset += (length + 3) & ~3

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
