"""Address-deletion events from rtnetlink on a dedicated socket (libs.md §1.3).

A socket that carries requests receives their ACKs and no broadcasts, so the
monitor has its own ``AsyncIPRoute``. If the kernel drops events (ENOBUFS) the
socket is useless: the monitor closes it, opens a new one and calls
``on_resync`` so the caller re-checks everything it cares about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR

from vipd.wire.advert import IPAddress

log = logging.getLogger("vipd")

RESTART_DELAY = 0.1
"""Seconds to wait before reopening the socket after an error."""


class AddressMonitor:
    """Calls ``on_deleted(ifindex, address, prefixlen)`` for every RTM_DELADDR in this namespace.

    Args:
        on_deleted: called on the loop for each deleted address.
        on_resync: called after every (re)start of the socket: events may have been lost.
    """

    def __init__(
        self,
        on_deleted: Callable[[int, IPAddress, int], None],
        on_resync: Callable[[], None],
    ) -> None:
        self.on_deleted = on_deleted
        self.on_resync = on_resync
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the monitor task."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vipd-netlink-monitor")

    async def close(self) -> None:
        """Stop the monitor task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        first = True
        while True:
            mon: Any = AsyncIPRoute()
            try:
                await mon.bind(groups=RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
                if not first:
                    self.restarts += 1
                self.on_resync()
                first = False
                while True:
                    async for msg in mon.get():
                        if msg.get("event") != "RTM_DELADDR":
                            continue
                        addr = msg.get("address")
                        if addr:
                            self.on_deleted(int(msg["index"]), ip_address(addr), int(msg["prefixlen"]))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # ENOBUFS and friends: reopen and resynchronise
                log.warning("netlink monitor restarting after %r", e)
                await asyncio.sleep(RESTART_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    mon.close()
