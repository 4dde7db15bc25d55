"""Links and addresses from rtnetlink events, on one dedicated ``AsyncIPRoute`` socket (libs.md §1.3).

The daemon's one event monitor: link state for ``interface`` checks, link
identity (ifindex, MAC) for following interfaces by name
(:mod:`vipd.runtime.follow`), and address additions/deletions for VIP repair.

The monitor binds its own socket to ``RTMGRP_LINK`` and the address groups
before taking a dump (on a second, short-lived socket), so no change between
the dump and the first event is missed. "Up" is keepalived's ``IF_FLAGS_UP``:
IFF_UP and IFF_RUNNING, so an administratively downed link and a lost carrier
both count as down. A rename is the old name disappearing and the new one
appearing (links are known by ifindex underneath). If the kernel drops events
(ENOBUFS) the socket is reopened, the links re-dumped and the listener told
to re-check everything (address events may have been lost); subscribers hear
about every difference.

Implements :class:`vipd.health.api.LinkEvents` for the ``interface`` check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, Protocol

from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

from vipd.health.api import LinkCallback
from vipd.wire.advert import IPAddress

log = logging.getLogger("vipd")

IFF_UP = 0x1
IFF_RUNNING = 0x40
RESTART_DELAY = 0.1
"""Seconds before reopening the event socket after an error."""


def link_is_up(flags: int) -> bool:
    """keepalived ``IF_FLAGS_UP``: both IFF_UP and IFF_RUNNING are set in ``flags``."""
    return flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING)


@dataclass(frozen=True, slots=True)
class LinkState:
    """One link as the last event showed it.

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


def _mac(msg: Any) -> bytes:
    text = msg.get("address") or ""
    try:
        return bytes.fromhex(text.replace(":", "")) if text else b""
    except ValueError:
        return b""


class LinkMonitor:
    """The links of this namespace (state, index, MAC), kept current from events; address events passed on.

    Attributes:
        listener: told of every link change, address event and resync (None: nobody).
        restarts: times the socket was reopened after an error.
        events: link and address events handled.
    """

    def __init__(self) -> None:
        self._links: dict[str, LinkState] = {}
        self._names: dict[int, str] = {}
        self._subs: dict[str, list[LinkCallback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self.listener: LinkListener | None = None
        self.restarts = 0
        self.events = 0

    # ------------------------------------------------------------------ LinkEvents

    def link_up(self, ifname: str) -> bool | None:
        """True up and running, False down, None if there is no such link."""
        link = self._links.get(ifname)
        return None if link is None else link.up

    def link(self, ifname: str) -> LinkState | None:
        """The link named ``ifname`` now, or None if there is none."""
        return self._links.get(ifname)

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
        """Stop the monitor task and close its socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------------ internals

    def _set(self, ifname: str, link: LinkState | None) -> None:
        old = self._links.get(ifname)
        if link is None:
            self._links.pop(ifname, None)
            if old is not None and self._names.get(old.index) == ifname:
                del self._names[old.index]
        else:
            renamed = self._names.get(link.index)
            if renamed is not None and renamed != ifname:
                self._set(renamed, None)  # same device, new name: the old name is gone
            self._links[ifname] = link
            self._names[link.index] = ifname
        if old == link:
            return
        was_up, is_up = old is not None and old.up, link is not None and link.up
        if was_up != is_up or (old is None) != (link is None):
            for cb in list(self._subs.get(ifname, ())):
                try:
                    cb(is_up)
                except Exception:  # a subscriber's bug must not stop the monitor
                    log.exception("link subscriber for %s failed", ifname)
        if self.listener is not None:
            try:
                self.listener.link_changed(ifname, link)
            except Exception:
                log.exception("link listener failed on %s", ifname)

    @staticmethod
    def _state(msg: Any) -> LinkState:
        return LinkState(int(msg["index"]), _mac(msg), link_is_up(int(msg["flags"])))

    async def _dump(self) -> dict[str, LinkState]:
        ipr: Any = AsyncIPRoute()
        try:
            links: dict[str, LinkState] = {}
            async for msg in await ipr.link("dump"):
                name = msg.get("ifname")
                if name:
                    links[name] = self._state(msg)
            return links
        finally:
            ipr.close()

    def _on_event(self, msg: Any) -> None:
        event = msg.get("event")
        if event in ("RTM_NEWLINK", "RTM_DELLINK"):
            name = msg.get("ifname")
            if not name:
                return
            self.events += 1
            if event == "RTM_NEWLINK":
                self._set(name, self._state(msg))
            elif self._links.get(name) is not None and self._links[name].index == int(msg["index"]):
                self._set(name, None)
        elif event in ("RTM_NEWADDR", "RTM_DELADDR"):
            addr = msg.get("address")
            if not addr:
                return
            self.events += 1
            if self.listener is not None:
                try:
                    self.listener.address_changed(
                        event == "RTM_NEWADDR", int(msg["index"]), ip_address(addr), int(msg["prefixlen"])
                    )
                except Exception:
                    log.exception("address listener failed")

    async def _run(self) -> None:
        first = True
        while True:
            mon: Any = AsyncIPRoute()
            try:
                await mon.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
                links = await self._dump()
                for name in set(self._links) - set(links):
                    self._set(name, None)
                for name, link in links.items():
                    self._set(name, link)
                if first:
                    first = False
                else:
                    self.restarts += 1
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                if self.listener is not None:
                    self.listener.resynced()
                while True:
                    async for msg in mon.get():
                        self._on_event(msg)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # ENOBUFS and friends: reopen and resynchronise
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(e)
                    return
                log.warning("netlink link monitor restarting after %r", e)
                await asyncio.sleep(RESTART_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    mon.close()
