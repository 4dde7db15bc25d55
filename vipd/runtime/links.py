"""Link state from rtnetlink events, on a dedicated ``AsyncIPRoute`` socket (libs.md §1.3).

The monitor binds its own socket to ``RTMGRP_LINK`` before taking a dump (on a
second, short-lived socket), so no change between the dump and the first event
is missed. "Up" is keepalived's ``IF_FLAGS_UP``: IFF_UP and IFF_RUNNING, so an
administratively downed link and a lost carrier both count as down. If the
kernel drops events (ENOBUFS) the socket is reopened and the state re-dumped;
subscribers hear about every difference.

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
from typing import Any

from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

from vipd.health.api import LinkCallback

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


class LinkMonitor:
    """The up/down state of every link in this namespace, kept current from events."""

    def __init__(self, delays: Mapping[str, tuple[float, float]] | None = None) -> None:
        self._state: dict[str, bool] = {}
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

    async def _dump(self) -> dict[str, bool]:
        ipr: Any = AsyncIPRoute()
        try:
            links: dict[str, bool] = {}
            async for msg in await ipr.link("dump"):
                name = msg.get("ifname")
                if name:
                    links[name] = link_is_up(int(msg["flags"]))
            addrs: dict[str, set[int]] = {}
            async for msg in await ipr.addr("dump"):
                addr = msg.get("address")
                if addr:
                    addrs.setdefault(_norm(addr), set()).add(int(msg["index"]))
            self._addrs = addrs
            for name, up in list(self._state.items()):
                if name.startswith("address ") and up and name[8:] not in addrs:
                    links[name] = False
            for addr in addrs:
                links[address_key(addr)] = True
            return links
        finally:
            ipr.close()

    def _on_addr(self, event: str, msg: Any) -> None:
        addr = msg.get("address")
        if not addr:
            return
        addr = _norm(addr)
        held = self._addrs.setdefault(addr, set())
        if event == "RTM_NEWADDR":
            held.add(int(msg["index"]))
        else:
            held.discard(int(msg["index"]))
        if not held:
            del self._addrs[addr]
        self._set(address_key(addr), bool(held))

    async def _run(self) -> None:
        first = True
        while True:
            mon: Any = AsyncIPRoute()
            try:
                await mon.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
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
                while True:
                    async for msg in mon.get():
                        event = msg.get("event")
                        if event in ("RTM_NEWADDR", "RTM_DELADDR"):
                            self._on_addr(event, msg)
                            continue
                        name = msg.get("ifname")
                        if not name:
                            continue
                        self.events += 1
                        if event == "RTM_NEWLINK":
                            self._set(name, link_is_up(int(msg["flags"])))
                        elif event == "RTM_DELLINK":
                            self._set(name, None)
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


def _norm(text: str) -> str:
    """An address as ``ipaddress`` prints it (netlink may spell IPv6 differently), so keys compare."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text
