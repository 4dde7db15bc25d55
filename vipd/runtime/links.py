"""Links and addresses from rtnetlink events, on one dedicated event socket (:mod:`vipd.linux.rtnl`; libs.md §1.3).

The daemon's one event monitor: link state for ``interface`` checks, link
identity (ifindex, MAC) for following interfaces by name
(:mod:`vipd.runtime.follow`: its :class:`LinkListener`), and address
additions/deletions for VIP repair and ``track_src_ip``.

The monitor binds its own socket to ``RTMGRP_LINK`` and the address groups
before taking a dump (on a second, short-lived socket), so no change between
the dump and the first event is missed. "Up" is keepalived's ``IF_FLAGS_UP``:
IFF_UP and IFF_RUNNING, so an administratively downed link and a lost carrier
both count as down. A rename is the old name disappearing and the new one
appearing (links are known by ifindex underneath). If the kernel drops events
(ENOBUFS) the socket is reopened, the state re-dumped and the listener told to
re-check everything (address events may have been lost); subscribers hear
about every difference.

keepalived's ``interface_up_down_delays``: a link listed there changes state for
subscribers only once the new state has lasted its down (or up) delay; if it
flips back first, nobody hears of it. A link that disappears is reported at once.

The same socket follows the host's addresses (RTMGRP_IPV4_IFADDR/IPV6_IFADDR)
for keepalived's ``track_src_ip``: an address is reported under the pseudo-link
name ``address ADDR`` (:func:`address_key`), "up" while some interface has it.

Implements :class:`vipd.health.api.LinkEvents` for the ``interface`` check.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from vipd.health.api import LinkCallback
from vipd.linux.rtnl import (
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    RtAddr,
    RtLink,
    Rtnl,
    RtnlEvents,
)
from vipd.wire.advert import IPAddress

log = logging.getLogger("vipd")

IFF_UP = 0x1
IFF_RUNNING = 0x40
RESTART_DELAY = 0.1
"""Seconds before reopening the event socket after an error."""


def address_key(address: object) -> str:
    """The pseudo-link name under which the monitor reports ``address`` present (up) or absent (None)."""
    return f"address {address}"


def link_is_up(flags: int) -> bool:
    """keepalived ``IF_FLAGS_UP``: both IFF_UP and IFF_RUNNING are set in ``flags``."""
    return flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING)


@dataclass(frozen=True, slots=True)
class LinkState:
    """One link as the last event showed it (no ``interface_up_down_delays`` applied).

    Attributes:
        index: ifindex (a deleted and re-created device gets a new one).
        mac: hardware address, b"" if none.
        up: keepalived ``IF_FLAGS_UP``.
    """

    index: int
    mac: bytes
    up: bool


class LinkListener(Protocol):
    """What :class:`LinkMonitor` tells the daemon (``vipd.runtime.follow.LinkFollower``), on the loop."""

    def link_changed(self, ifname: str, link: LinkState | None) -> None:
        """``ifname`` appeared, changed (index, MAC, up) or disappeared (None: deleted or renamed away)."""
        ...

    def address_changed(self, added: bool, ifindex: int, address: IPAddress, prefixlen: int) -> None:
        """RTM_NEWADDR (``added``) or RTM_DELADDR for ``address/prefixlen`` on ``ifindex``."""
        ...

    def resynced(self) -> None:
        """The socket was (re)opened and the links re-dumped: events may have been lost, re-check everything."""
        ...


def _link_state(msg: RtLink) -> LinkState:
    return LinkState(msg.index, msg.mac, link_is_up(msg.flags))


class LinkMonitor:
    """The links of this namespace (state, index, MAC), kept current from events; address events passed on.

    Attributes:
        listener: told of every link identity change, address event and resync (None: nobody).
        restarts: times the socket was reopened after an error.
        events: link events handled.
    """

    def __init__(self, delays: Mapping[str, tuple[float, float]] | None = None) -> None:
        self._state: dict[str, bool] = {}
        self._links: dict[str, LinkState] = {}
        self._names: dict[int, str] = {}
        self.listener: LinkListener | None = None
        self._delays: dict[str, tuple[float, float]] = dict(delays or {})
        self._pending: dict[str, tuple[bool, asyncio.TimerHandle]] = {}
        self._addrs: dict[str, set[int]] = {}  # address text -> ifindexes holding it
        self._subs: dict[str, list[LinkCallback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self.restarts = 0
        self.events = 0

    # ------------------------------------------------------------------ LinkEvents

    def link_up(self, ifname: str) -> bool | None:
        """True up and running, False down, None if there is no such link."""
        return self._state.get(ifname)

    def link(self, ifname: str) -> LinkState | None:
        """The link named ``ifname`` now (as the last event showed it), or None if there is none."""
        return self._links.get(ifname)

    def addresses_on(self, ifindex: int) -> list[IPAddress]:
        """The addresses the interface ``ifindex`` has now (from the dump and the address events)."""
        return [ipaddress.ip_address(a) for a, held in self._addrs.items() if ifindex in held]

    def subscribe(self, ifname: str, callback: LinkCallback) -> Callable[[], None]:
        """Call ``callback(up)`` whenever ``ifname`` changes state; returns the unsubscribe function."""
        self._subs.setdefault(ifname, []).append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError, KeyError):
                self._subs[ifname].remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the event socket, dump the links; returns once the state is known.

        Raises:
            OSError: netlink refused the socket.
        """
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = loop.create_task(self._run(), name="vipd-link-monitor")
        await asyncio.shield(self._ready)

    async def close(self) -> None:
        """Stop the monitor task and close its socket (pending delayed changes are dropped)."""
        for _, handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------------ internals

    def set_delays(self, delays: Mapping[str, tuple[float, float]]) -> None:
        """Replace the ``interface_up_down_delays`` (seconds ``(down, up)`` per link; reload).

        A change already waiting keeps its timer.
        """
        self._delays = dict(delays)

    def _set(self, ifname: str, up: bool | None) -> None:
        delays = self._delays.get(ifname)
        committed = self._state.get(ifname)
        pending = self._pending.get(ifname)
        if delays is not None and up is not None and committed is not None:
            if up == committed:
                if pending is not None:  # flipped back within the delay: nobody hears of it
                    pending[1].cancel()
                    del self._pending[ifname]
                    log.info("%s: %s again within its interface_up_down_delays delay", ifname, "up" if up else "down")
                return
            delay = delays[1] if up else delays[0]
            if delay > 0:
                if pending is None or pending[0] != up:
                    if pending is not None:
                        pending[1].cancel()
                    handle = asyncio.get_running_loop().call_later(delay, self._commit, ifname, up)
                    self._pending[ifname] = (up, handle)
                return
        if pending is not None:
            pending[1].cancel()
            del self._pending[ifname]
        self._commit(ifname, up)

    def _commit(self, ifname: str, up: bool | None) -> None:
        self._pending.pop(ifname, None)
        old = self._state.get(ifname)
        if up is None:
            self._state.pop(ifname, None)
        else:
            self._state[ifname] = up
        if bool(old) != bool(up) or (old is None) != (up is None):
            for cb in list(self._subs.get(ifname, ())):
                try:
                    cb(bool(up))
                except Exception:  # a subscriber's bug must not stop the monitor
                    log.exception("link subscriber for %s failed", ifname)

    def _identity(self, ifname: str, link: LinkState | None) -> None:
        """Record which device ``ifname`` names now; a rename makes the old name disappear; tell the listener."""
        old = self._links.get(ifname)
        if link is None:
            self._links.pop(ifname, None)
            if old is not None and self._names.get(old.index) == ifname:
                del self._names[old.index]
        else:
            renamed = self._names.get(link.index)
            if renamed is not None and renamed != ifname:
                self._set(renamed, None)  # same device, new name: no stale "up" left under the old one
                self._identity(renamed, None)
            self._links[ifname] = link
            self._names[link.index] = ifname
        if old != link and self.listener is not None:
            try:
                self.listener.link_changed(ifname, link)
            except Exception:  # the listener's bug must not stop the monitor
                log.exception("link listener failed on %s", ifname)

    async def _dump(self) -> dict[str, bool]:
        with Rtnl() as rtnl:
            links: dict[str, bool] = {}
            idents: dict[str, LinkState] = {}
            for msg in await rtnl.dump_links():
                if msg.ifname:
                    links[msg.ifname] = link_is_up(msg.flags)
                    idents[msg.ifname] = _link_state(msg)
            for name in set(self._links) - set(idents):
                self._identity(name, None)
            for name, ident in idents.items():
                self._identity(name, ident)
            addrs: dict[str, set[int]] = {}
            for addr in await rtnl.dump_addrs():
                if addr.address is not None:
                    addrs.setdefault(str(addr.address), set()).add(addr.index)
            self._addrs = addrs
            for name, up in list(self._state.items()):
                if name.startswith("address ") and up and name[8:] not in addrs:
                    links[name] = False
            for text in addrs:
                links[address_key(text)] = True
            return links

    def _on_addr(self, msg: RtAddr) -> None:
        if msg.address is None:
            return
        addr = str(msg.address)
        held = self._addrs.setdefault(addr, set())
        added = msg.event == RTM_NEWADDR
        if added:
            held.add(msg.index)
        else:
            held.discard(msg.index)
        if not held:
            del self._addrs[addr]
        self._set(address_key(addr), bool(held))
        if self.listener is not None:
            try:
                self.listener.address_changed(added, msg.index, msg.address, msg.prefixlen)
            except Exception:
                log.exception("address listener failed on %s", addr)

    async def _run(self) -> None:
        first = True
        while True:
            mon: RtnlEvents | None = None
            try:
                mon = RtnlEvents(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
                links = await self._dump()
                for name in set(self._state) - set(links):
                    self._set(name, False if name.startswith("address ") else None)
                for name, up in links.items():
                    self._set(name, up)
                if first:
                    first = False
                else:
                    self.restarts += 1
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                if self.listener is not None:
                    self.listener.resynced()
                while True:
                    for msg in await mon.next_batch():
                        if isinstance(msg, RtAddr):
                            self._on_addr(msg)
                            continue
                        if not msg.ifname:
                            continue
                        self.events += 1
                        if msg.event == RTM_NEWLINK:
                            self._set(msg.ifname, link_is_up(msg.flags))
                            self._identity(msg.ifname, _link_state(msg))
                        elif msg.event == RTM_DELLINK:
                            current = self._links.get(msg.ifname)
                            if current is None or current.index == msg.index:
                                self._set(msg.ifname, None)
                                self._identity(msg.ifname, None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # ENOBUFS and friends: reopen and resynchronise
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(e)
                    return
                log.warning("netlink link monitor restarting after %r", e)
                await asyncio.sleep(RESTART_DELAY)
            finally:
                if mon is not None:
                    mon.close()
