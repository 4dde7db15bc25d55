"""Interfaces followed by name, and VIPs repaired, from the daemon's one netlink event monitor.

DESIGN "Production rules": an instance names its interfaces; the kernel knows
devices by ifindex, and vipd's handles (VIP specs, the receive socket and its
multicast membership, the transmit socket, the AF_PACKET announcer, the
announce MAC, an IPv6 source derived from the MAC) are opened for one ifindex.
So, from :class:`~vipd.runtime.links.LinkMonitor` events:

- an interface of the instance disappears (deleted, renamed away): FAULT,
  cause ``link`` (``vipd.runtime.instance.FAULT_LINK``), reason "interface X is gone";
- it appears again under its name with another ifindex (re-created): the handles
  of that name are closed, the instance stays in FAULT while a relink task
  resolves every interface by name again and re-opens what it must
  (``Daemon.relink``), retrying with backoff (``RELINK_MIN`` doubling to
  ``RELINK_MAX``, at once on any address or link event) until, e.g., the
  re-created device has its address back; then the ``link`` cause is cleared
  and the instance goes to Backup and the election (the trackers' own cause,
  the interface check, clears independently);
- same ifindex, new MAC: no FAULT; the announce targets (and an IPv6 source)
  are re-resolved and a master announces its VIPs again from the new MAC;
- the instance's advert source address is deleted (IPv6 disabled on the link
  takes the link-local with it): FAULT ``link`` until a source is usable again;
- a VIP is deleted from under a master: re-added at once
  (``InstanceDriver.repair``); if that fails the driver goes FAULT ``vip``;
- the monitor restarted (ENOBUFS): every master re-adds its VIPs and every
  interface is compared again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from vipd.fsm import State
from vipd.plan.model import InstancePlan
from vipd.runtime.instance import FAULT_LINK, InstanceDriver
from vipd.runtime.links import LinkMonitor, LinkState
from vipd.wire.advert import IPAddress

log = logging.getLogger("vipd")

RELINK_MIN = 0.1
"""Seconds before the second attempt to re-open an instance's interfaces; doubled after each failure."""
RELINK_MAX = 5.0
"""Seconds between attempts at most (an address event or link event retries at once)."""


class Relinker(Protocol):
    """What the follower needs from the daemon (``vipd.runtime.daemon.Daemon``)."""

    def instance_plans(self) -> list[tuple[InstanceDriver, InstancePlan]]:
        """Every running instance with its plan."""
        ...

    def drop_handles(self, names: set[str], family: int | None = None) -> None:
        """Close the sockets (of ``family`` only, and then not the announcers) opened for these names."""
        ...

    async def relink(self, name: str) -> None:
        """Resolve instance ``name``'s interfaces by name again and hand its driver new handles.

        Raises:
            StartupError, OSError: an interface, source address or socket is still missing.
        """
        ...


def interface_names(plan: InstancePlan) -> set[str]:
    """Every interface name ``plan`` holds a handle on: its own, the VIP devices, the VMAC."""
    names = {plan.key.interface, *plan.interfaces, plan.tx_interface}
    if plan.vmac is not None:
        names.add(plan.vmac.name)
    return names


class LinkFollower:
    """Listens to the link monitor for the daemon: FAULT while an interface is unusable, relink, repair.

    Args:
        monitor: the daemon's started :class:`LinkMonitor` (this becomes its listener).
        daemon: the running daemon.
    """

    def __init__(self, monitor: LinkMonitor, daemon: Relinker) -> None:
        self.monitor = monitor
        self.daemon = daemon
        self.relinks = 0
        """Times an instance's interfaces were re-opened."""
        self._bound: dict[str, LinkState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._generation = 0

    def start(self) -> None:
        """Take the links as they are now as what the handles were opened for; start listening."""
        self.bind_new()
        self.monitor.listener = self
        self.resynced()  # anything that changed between the build and now

    def bind_new(self) -> None:
        """Record the links of interfaces no instance used before (start, and after a reload added some)."""
        for _driver, plan in self.daemon.instance_plans():
            for name in interface_names(plan):
                link = self.monitor.link(name)
                if link is not None:
                    self._bound.setdefault(name, link)

    async def close(self) -> None:
        """Stop listening and cancel the relink tasks (before the instances stop)."""
        if self.monitor.listener is self:
            self.monitor.listener = None
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()

    # ------------------------------------------------------------------ LinkListener

    def link_changed(self, ifname: str, link: LinkState | None) -> None:
        """An interface appeared, changed or disappeared (see the module docstring for what follows)."""
        users = [(d, p) for d, p in self.daemon.instance_plans() if ifname in interface_names(p)]
        if not users:
            return
        self._generation += 1
        bound = self._bound.get(ifname)
        if link is None:
            for d, _p in users:
                if d.machine.state is not State.INITIALIZE:
                    log.warning("(%s) interface %s is gone: FAULT until it is back", d.name, ifname)
                d.set_fault(FAULT_LINK, f"interface {ifname} is gone")
            return
        self._bound[ifname] = link
        if bound is not None and bound.index != link.index:
            for d, _p in users:
                why = f"interface {ifname} re-created (ifindex {bound.index} -> {link.index}): re-opening"
                log.warning("(%s) %s", d.name, why)
                d.set_fault(FAULT_LINK, why)
            self.daemon.drop_handles({ifname})
        elif bound is not None and bound.mac == link.mac and not any(FAULT_LINK in d.faults for d, _p in users):
            return  # up/down only: the trackers' business (keepalived tracks the interface)
        for d, _p in users:
            self._relink(d.name)

    def address_changed(self, added: bool, ifindex: int, address: IPAddress, prefixlen: int) -> None:
        """Repair a VIP deleted from under a master; FAULT an instance whose advert source went away."""
        if added:  # a cause may be gone (IPv6 enabled again, address back): retry now, not at the backoff
            for event in self._wake.values():
                event.set()
            for d, _p in self.daemon.instance_plans():
                d.retry_vips()
            return
        for d, p in self.daemon.instance_plans():
            if any(v.ifindex == ifindex and v.address == address for v in d.vips):
                d.repair()  # no-op unless master; a failed re-add is a VIP fault
                continue
            own = self.monitor.link(p.key.interface)
            if (
                p.src is None
                and own is not None
                and own.index == ifindex
                and d.machine.params.primary_address == address
            ):
                why = f"advert source {address} removed from {p.key.interface}"
                log.warning("(%s) %s: FAULT until a source address is usable", d.name, why)
                d.set_fault(FAULT_LINK, why)
                if p.key.family == 6 and address.is_link_local:
                    # The link-local goes with disable_ipv6, and the device's IPv6 state (our
                    # multicast membership) with it: re-open this family's sockets once it is back.
                    self.daemon.drop_handles({p.key.interface}, 6)
                self._relink(d.name)

    def resynced(self) -> None:
        """Events may have been lost: masters re-add their VIPs, every interface is compared again."""
        for d, _p in self.daemon.instance_plans():
            d.repair()
        names = {n for _d, p in self.daemon.instance_plans() for n in interface_names(p)}
        for name in sorted(names):
            link = self.monitor.link(name)
            if link != self._bound.get(name) or link is None:
                self.link_changed(name, link)

    # ------------------------------------------------------------------ relink

    def _relink(self, name: str) -> None:
        event = self._wake.setdefault(name, asyncio.Event())
        event.set()
        task = self._tasks.get(name)
        if task is None or task.done():
            loop = asyncio.get_running_loop()
            self._tasks[name] = loop.create_task(self._relink_loop(name), name=f"vipd-relink-{name}")

    def _entry(self, name: str) -> tuple[InstanceDriver, InstancePlan] | None:
        for d, p in self.daemon.instance_plans():
            if d.name == name:
                return d, p
        return None

    async def _relink_loop(self, name: str) -> None:
        delay = RELINK_MIN
        wake = self._wake.setdefault(name, asyncio.Event())
        try:
            while True:
                wake.clear()
                entry = self._entry(name)
                if entry is None:
                    return  # removed by a reload
                driver, plan = entry
                missing = sorted(n for n in interface_names(plan) if self.monitor.link(n) is None)
                missing = [n for n in missing if plan.vmac is None or n != plan.vmac.name]  # relink re-creates it
                if missing:
                    driver.set_fault(FAULT_LINK, f"interface {missing[0]} is gone")
                else:
                    generation = self._generation
                    try:
                        await self.daemon.relink(name)
                    except Exception as e:  # StartupError, OSError: not there yet
                        if driver.faults.get(FAULT_LINK) != str(e):
                            log.warning("(%s) cannot re-open its interfaces yet: %s", name, e)
                        driver.set_fault(FAULT_LINK, str(e))
                    else:
                        if generation == self._generation:
                            self.relinks += 1
                            if FAULT_LINK in driver.faults:
                                log.info("(%s) interfaces re-opened by name: leaving the link fault", name)
                            driver.set_fault(FAULT_LINK, None)
                            return
                        continue  # something changed while we were resolving: again, now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), delay)
                delay = min(delay * 2, RELINK_MAX)
        finally:
            if self._tasks.get(name) is asyncio.current_task():
                del self._tasks[name]
