"""Addresses and links over rtnetlink with pyroute2's ``AsyncIPRoute`` (libs.md §1).

One socket for requests. (Link and address *events* need a second socket: a
socket that also carries requests receives their ACKs and no broadcasts.)
Adding an address that is already there and removing one that is already gone
both count as success, so every operation is idempotent.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV6_IFADDR

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
