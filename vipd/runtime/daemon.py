"""The daemon: builds the runtime from a plan, dispatches received adverts, applies reloads.

One asyncio loop, no threads. Start-up builds every instance of the
:class:`~vipd.plan.model.Plan` (resolving interfaces by name, opening one
receive and one transmit socket per (interface, family), creating VMACs),
starts the trackers, then the instances; entering Backup removes VIPs a
crashed run left behind. Stop (SIGTERM/SIGINT through the operator layer):
every master sends priority 0 and every instance removes its VIPs.

Reload (:meth:`Daemon.apply_plan`) never makes things worse: it first builds
everything the new plan needs (links, sockets, VMACs, drivers, VIP specs,
routes, the new tracker) without touching a running instance; if any step
fails, what was built is closed and :class:`ReloadError` says why, with
nothing changed. Only then does it switch: removed and restarted instances
stop, renamed ones take their new name, changed ones are reconfigured in
place, added ones start once their trackers have reported.

This module is longer than 400 lines because build and reload share every
helper (sockets, VMACs, VIP specs) and must stay one code path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from vipd.fsm import LowerPriorityHeard, MaintenanceChanged, Notify, Params, PriorityNotice, State, VrrpMachine
from vipd.fsm.machine import skew_time
from vipd.linux.announce import L2Announcer
from vipd.linux.netlink import AddressWriter, LinkInfo, Netlink, VipSpec, wait_linklocal
from vipd.linux.nftables import AcceptMode, NftError
from vipd.linux.sockets import AdvertReader, RxPacket, open_rx, open_tx, sockaddr
from vipd.linux.timerfd import shared_timer
from vipd.linux.vmac import VmacError, VmacManager, VmacSpec
from vipd.obs.log import RateLimiter
from vipd.obs.recorder import FlightRecorder
from vipd.obs.stats import InterfaceStats
from vipd.plan.model import InstancePlan, Plan, SyncGroupPlan
from vipd.runtime import acceptmode
from vipd.runtime.bfd_service import BfdService
from vipd.runtime.follow import LinkFollower
from vipd.runtime.gates import gate_from_plan
from vipd.runtime.instance import AddressCompanion, AnnounceTarget, InstanceDriver
from vipd.runtime.links import LinkMonitor
from vipd.runtime.syncgroup import SyncGroup, SyncGroups
from vipd.runtime.tracking import Tracker, TrackerError, Tracking
from vipd.wire.advert import VRRP_MCAST6, VRRP_TTL, Advert, IPAddress, Received
from vipd.wire.codec import decode_advert, decode_ipv4, encode_advert
from vipd.wire.errors import DecodeError

if TYPE_CHECKING:
    from vipd.config.model import Config, VrrpInstance
    from vipd.plan.diff import PlanDiff

log = logging.getLogger("vipd")

MAX_NOT_PEER_SOURCES = 256  # distinct non-peer sources counted one by one; the rest under "other"
LINKLOCAL_WAIT = 5.0  # seconds to wait for an IPv6 link-local address to leave DAD at start-up


class StartupError(Exception):
    """The daemon cannot start (interface missing, no source address, socket refused)."""


class ReloadError(Exception):
    """A reload could not build what the new plan needs; nothing was changed."""


Notifier = Callable[[Notify | LowerPriorityHeard | PriorityNotice], None]


class Services(Protocol):
    """The operator layer the daemon is built with (``vipd.control.operate.Operations``).

    The daemon calls these; it never has hooks patched in.
    """

    def notifier(self, plan: InstancePlan, priority: Callable[[], int]) -> Notifier | None:
        """The notify runner of one instance (kept by name across reloads), or None."""
        ...

    def group_notifier(self, group: SyncGroupPlan) -> Callable[[Notify], None] | None:
        """The notify runner of one sync group, or None."""
        ...

    def renamed(self, old: str, new: str) -> None:
        """A reload renamed an instance (same interface, VRID and family)."""
        ...

    async def started(self) -> None:
        """Every instance has started (endpoints, READY=1). Raises StartupError to refuse the start."""
        ...

    async def stopping(self) -> None:
        """A stop was requested; called before the instances stop."""
        ...

    async def stopped(self) -> None:
        """The instances have stopped (drain notify queues, close endpoints)."""
        ...


class NoServices:
    """:class:`Services` that do nothing (tests, embedding)."""

    def notifier(self, plan: InstancePlan, priority: Callable[[], int]) -> Notifier | None:
        """No notify hooks."""
        return None

    def group_notifier(self, group: SyncGroupPlan) -> Callable[[Notify], None] | None:
        """No group hooks."""
        return None

    def renamed(self, old: str, new: str) -> None:
        """Nothing to rename."""

    async def started(self) -> None:
        """Nothing to start."""

    async def stopping(self) -> None:
        """Nothing to stop."""

    async def stopped(self) -> None:
        """Nothing to close."""


@dataclass(slots=True)
class _Port:
    """Receive side of one (interface, family): the socket and the instances by VRID."""

    ifname: str
    family: int
    link: LinkInfo
    reader: AdvertReader | None = None
    drivers: dict[int, tuple[InstanceDriver, VrrpInstance]] = field(default_factory=dict)
    stats: InterfaceStats = field(default_factory=InterfaceStats)
    not_peer_sources: collections.Counter[str] = field(default_factory=collections.Counter)
    """Unicast adverts dropped because their source is not a listed peer, by source address."""
    seen: dict[bytes, tuple[tuple[InstanceDriver, VrrpInstance], Received]] = field(default_factory=dict)
    """IPv4 multicast adverts that passed every check of ``Daemon._on_packet``, by :func:`_repeat_key`."""


SEEN_PER_VRID = 4
"""``_Port.seen`` is emptied when it holds more than this many datagrams per configured VRID (plus 16)."""


def _repeat_key(datagram: bytes) -> bytes:
    """An IPv4 datagram without its Identification (octets 4-5) and header checksum (10-11), RFC 791 §3.1.

    Linux gives each advert a new Identification (and so a new header checksum, which the kernel
    verified before queueing it). Every other octet is kept, so two datagrams with one key decode
    alike: :func:`vipd.wire.decode_ipv4` reads version, IHL, total length, TTL, protocol, the
    addresses and the VRRP message, all in the key (and the key's length is the datagram's)."""
    return datagram[:4] + datagram[6:10] + datagram[12:]


COALESCE_SKEW_SHARE = 0.125
"""Receive coalescing waits at most this share of the smallest Skew_Time of a socket's instances.

A priority-0 advert starts a Skew_Time wait counted from its kernel receive stamp
(RFC 5798 §6.4.2); read within an eighth of it, the takeover happens when it would
have without coalescing. The wait is also under 1/24 of every Master_Down_Interval
(3 * Master_Adver_Interval + Skew_Time > Skew_Time * 3): ``vipd.linux.sockets``."""


def _coalesce_bound(port: _Port) -> float:
    """Longest receive coalescing delay (seconds) the instances on ``port`` allow now; 0.0 with none.

    Called by the reader about four times a second: ``skew_time`` is called directly on the
    machines' current priority and Master_Adver_Interval (the property's extra call, 255 times,
    showed in profiles)."""
    if not port.drivers:
        return 0.0
    least = min(
        skew_time(m.params.version, m.priority, m.master_adver_interval)
        for m in (d.machine for d, _ in port.drivers.values())
    )
    return COALESCE_SKEW_SHARE * least


@dataclass(slots=True)
class _Built:
    """One driver built from its plan, not yet registered or started."""

    plan: InstancePlan
    driver: InstanceDriver
    port: _Port


@dataclass(slots=True)
class _InPlace:
    """What ``InstanceDriver.reconfigure`` needs for one changed instance, built before the switch."""

    params: Params
    vips: list[VipSpec]
    targets: list[AnnounceTarget]
    sender: tuple[Callable[[Advert], None], Callable[[Advert], None]] | None
    routes: list[AddressCompanion] | None


@dataclass(slots=True)
class _Stage:
    """What a build opened, so that a failed reload closes exactly that and nothing else."""

    ports: list[tuple[str, int]] = field(default_factory=list)
    tx: list[tuple[str, int, str, int]] = field(default_factory=list)
    announcers: list[str] = field(default_factory=list)
    vmacs: list[str] = field(default_factory=list)
    """VMACs that did not exist before this build (keepalived ``use_vmac``, ``use_vmac_addr``)."""


class Daemon:
    """vipd's runtime: netlink, sockets and one driver per instance, built from a plan.

    Args:
        plan: the plan to run (:func:`vipd.plan.check_file`).
        pid_file: path to write our pid to (removed on exit), or None.
        services: the operator layer (notify, endpoints); default none.
    """

    def __init__(self, plan: Plan, *, pid_file: str | None = None, services: Services | None = None) -> None:
        self.plan = plan
        self.pid_file = pid_file
        self.services: Services = services or NoServices()
        self.drivers: dict[str, InstanceDriver] = {}
        self._plans: dict[str, InstancePlan] = {}
        self._ports: dict[tuple[str, int], _Port] = {}
        self._announcers: dict[str, L2Announcer] = {}
        self._tx: dict[tuple[str, int, str, int], socket.socket] = {}
        self._netlink: Netlink | None = None
        self._writer: AddressWriter | None = None
        self._vmacs = VmacManager()
        self._stop = asyncio.Event()
        self._limiter = RateLimiter()
        self.accept_mode: AcceptMode | None = None
        """Accept_Mode nftables table (``vipd.runtime.acceptmode``), or None when no instance needs it."""
        self.links: LinkMonitor | None = None
        """The one netlink link/address event monitor (``vipd.runtime.links``): trackers, follower, repair."""
        self.follower: LinkFollower | None = None
        """Follows interfaces by name and repairs VIPs (``vipd.runtime.follow``), from ``links``."""
        self.tracking: Tracking | None = None
        """Health checks and trackers (``vipd.runtime.tracking``), started before the instances."""
        self.maintenance: set[str] = set()
        """Instances held out of Master by ``vipctl maintenance`` (set before start from the saved state)."""
        self.recorder = FlightRecorder(plan.config.global_defs.vipd_recorder_size)
        """The flight recorder (``vipd.obs.recorder``; ``vipd_recorder_size`` is read at start)."""
        self.bfd = BfdService(plan.config, self.drivers)
        """BFD sessions (``bfd_instance``) and BFD master-down (``vipd.runtime.bfd``)."""
        self.sync_groups = SyncGroups(
            lambda: self.plan.config, self.drivers, lambda: asyncio.get_running_loop().time(), self._group_runner
        )
        """``vrrp_sync_group`` coordinators (``vipd.runtime.syncgroup``)."""

    @property
    def config(self) -> Config:
        """The validated model of the plan in force (status and dumps)."""
        return self.plan.config

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        """Build everything, start, wait for :meth:`request_stop`, shut down cleanly. Returns the exit status."""
        loop = asyncio.get_running_loop()
        self._netlink = Netlink()
        try:
            try:
                self._writer = AddressWriter(loop)
                self._vmacs.recover()  # sysctls a SIGKILLed use_vmac run left on base interfaces
                links: dict[str, LinkInfo] = {}
                built = [await self._build(loop, p, links, _Stage()) for p in self.plan.instances.values()]
                for b in built:
                    self._register(b)
                self.accept_mode = acceptmode.start(self.plan.config)  # before any instance can become master
                self.bfd.start(loop)
                self.links = LinkMonitor(self.plan.link_delays)
                await self.links.start()
                self.tracking = await Tracking.start(self.plan, self.drivers, bfd=self.bfd.events, links=self.links)
            except (StartupError, TrackerError, NftError, OSError) as e:
                log.error("cannot start: %s", e)
                return 1
            self._write_pid()
            log.info("vipd started: %d instance(s)", len(self.drivers))
            for driver in self.drivers.values():
                driver.start()
            self.follower = LinkFollower(self.links, self)
            self.follower.start()
            # Everything built so far lives until exit: move it out of the collector's sight, once
            # the instances' timers run (a collection takes ~5 ms). A full collection over the
            # start-up heap would otherwise hold an advert back whenever checks allocate enough
            # to trigger one. vipd.cli disabled the collector for the start-up.
            gc.collect()
            gc.freeze()
            gc.enable()
            try:
                await self.services.started()
            except StartupError as e:
                log.error("cannot start: %s", e)
                await asyncio.gather(*(d.stop() for d in self.drivers.values()))
                await self.services.stopped()
                return 1
            await self._stop.wait()
            await self.services.stopping()
            await self.follower.close()  # no repair nor relink while the instances remove their VIPs
            if self.tracking is not None:
                await self.tracking.stop()
            log.info("stopping: sending priority 0 where master and removing addresses")
            await asyncio.gather(*(d.stop() for d in self.drivers.values()))
            self.bfd.stop()  # after the instances: a master's priority 0 leaves before its BFD AdminDown
            await self.services.stopped()
            return 0
        finally:
            self.bfd.stop()  # idempotent; here for a start-up that failed after BFD started
            if self.follower is not None:
                await self.follower.close()
            if self.links is not None:
                await self.links.close()
            await self._vmacs.close()  # after the drivers removed their VIPs; restores sysctls
            if self.accept_mode is not None:
                self.accept_mode.close()
            self._close()
            self._remove_pid()

    def request_stop(self) -> None:
        """Ask the daemon to shut down (SIGTERM, SIGINT)."""
        self._stop.set()

    # ------------------------------------------------------------------ build

    async def _link(self, ifname: str, family: int) -> LinkInfo:
        assert self._netlink is not None
        try:
            info = await self._netlink.link_info(ifname)
        except LookupError as e:
            raise StartupError(str(e)) from None
        if family == 6 and info.ipv6_linklocal is None:
            # The link-local address is tentative for ~2 s after link-up (DAD): no advert may
            # leave before it is usable, so wait for the kernel's RTM_NEWADDR event.
            log.info("%s: waiting up to %gs for the IPv6 link-local address to leave DAD", ifname, LINKLOCAL_WAIT)
            try:
                info = await wait_linklocal(self._netlink, ifname, LINKLOCAL_WAIT)
            except LookupError as e:
                raise StartupError(str(e)) from None
        return info

    async def _links_of(self, plan: InstancePlan, links: dict[str, LinkInfo]) -> LinkInfo:
        """Resolve (by name, now) every interface ``plan`` needs; returns its own interface's."""
        if plan.key.interface not in links:
            links[plan.key.interface] = await self._link(plan.key.interface, plan.key.family)
        for dev in plan.interfaces:
            if dev not in links:
                links[dev] = await self._link(dev, 4)
        return links[plan.key.interface]

    async def _build(
        self, loop: asyncio.AbstractEventLoop, plan: InstancePlan, links: dict[str, LinkInfo], stage: _Stage
    ) -> _Built:
        """Open what ``plan`` needs and construct its driver, complete, not registered nor started.

        Raises:
            StartupError: an interface, source address, socket or VMAC is missing or refused.
        """
        assert self._netlink is not None and self._writer is not None
        family = plan.key.family
        link = await self._links_of(plan, links)
        src = self._source_address(plan, link)
        port = self._port(loop, plan, link, stage)
        tx_link = await self._vmac(plan, link, links, stage)
        for ifname in plan.promote_secondaries:  # keepalived promote_secondaries; restored at exit (and after a crash)
            self._vmacs.set_sysctl(f"net/ipv4/conf/{ifname}/promote_secondaries", "1", persist=True)
        vips, targets = self._vip_specs(plan, links, stage)
        group = self.sync_groups.group_of(plan.name)
        member = group is not None and len(group.members) > 1
        machine = VrrpMachine(replace(self._params(plan, src), sync_group=member))
        if plan.name in self.maintenance:  # before Startup: an owner in maintenance starts as Backup
            machine.handle(MaintenanceChanged(True, force=True), loop.time())
        tx = self._tx_socket(tx_link, family, src, plan.ttl, stage)
        send, prepare = self._sender(tx, plan, src, tx_link.index)
        reader = port.reader
        recorder = self.recorder.instance(plan.name)
        v2_form = plan.config.version == 2 or (family == 4 and not plan.pseudo_header)
        recorder.tx_checksum = "plain" if v2_form else "pseudo"
        driver = InstanceDriver(
            name=plan.name,
            machine=machine,
            send_advert=send,
            prepare_advert=prepare,
            vips=vips,
            announce=targets,
            addresses=self._writer,
            timer=functools.partial(shared_timer, loop),
            input_pending=reader.pending if reader is not None else None,
            drain_input=reader.drain if reader is not None else None,
            align_adverts=len(self.plan.instances) > 1,
            loop=loop,
            companions=self._route_set(plan),
            garp_interval=plan.garp_interval,
            gna_interval=plan.gna_interval,
            notifier=self.services.notifier(plan, lambda: machine.priority),
            sync_observer=group.observe if group is not None and member else None,
            recorder=recorder,
            gate=gate_from_plan(plan),
        )
        if member:
            driver.own_fault_observer = self.sync_groups.member_fault  # vrrp_sync_fault for VIP and link faults
        log.info(
            "(%s) VRRPv%d VRID %d on %s from %s, priority %d, advert_int %gs, %d VIP(s)",
            plan.name,
            plan.config.version,
            plan.key.vrid,
            plan.key.interface,
            src,
            plan.config.priority,
            plan.config.advert_int,
            len(vips),
        )
        return _Built(plan, driver, port)

    def _register(self, b: _Built) -> None:
        self.drivers[b.plan.name] = b.driver
        self._plans[b.plan.name] = b.plan
        b.port.drivers[b.plan.key.vrid] = (b.driver, b.plan.config)

    def _unregister(self, name: str) -> None:
        driver = self.drivers.pop(name)
        plan = self._plans.pop(name)
        port = self._ports.get((plan.key.interface, plan.key.family))
        if port is not None and port.drivers.get(plan.key.vrid, (None,))[0] is driver:
            del port.drivers[plan.key.vrid]

    def _vip_specs(
        self, plan: InstancePlan, links: dict[str, LinkInfo], stage: _Stage
    ) -> tuple[list[VipSpec], list[AnnounceTarget]]:
        """Netlink specs (ifindex resolved now, by name) and announce targets of the plan's VIPs."""
        vips, targets = [], []
        for vip in plan.vips:
            vlink = links[vip.dev]
            vips.append(VipSpec(vip.address, vip.prefixlen, vlink.index, vip.label, vip.broadcast, vip.scope))
            extra = vip.dev in plan.extra_if  # keepalived garp_extra_if: announced again periodically
            targets.append(AnnounceTarget(vip.address, self._announcer(vip.dev, stage), vlink.mac, extra))
        return vips, targets

    @staticmethod
    def _params(plan: InstancePlan, src: IPAddress) -> Params:
        """The FSM parameters of ``plan`` advertising from ``src`` (excluded VIPs are not advertised)."""
        inst = plan.config
        return Params(
            vrid=plan.key.vrid,
            version=inst.version,
            priority=inst.priority,
            advertisement_interval=inst.advert_int,
            primary_address=src,
            addresses=tuple(v.address for v in inst.virtual_ipaddress),
            preempt_mode=not inst.nopreempt,
            preempt_delay=inst.preempt_delay,
            auth_type=plan.auth_type,
            auth_data=plan.auth_data,
            garp_master_delay=inst.garp_master_delay,
            garp_master_repeat=inst.garp_master_repeat,
            garp_master_refresh=inst.garp_master_refresh,
            garp_master_refresh_repeat=inst.garp_master_refresh_repeat,
            check_address_list=not inst.skip_check_adv_addr,
            garp_lower_prio_repeat=inst.garp_lower_prio_repeat,
            garp_lower_prio_delay=inst.garp_lower_prio_delay,
            owner_ignore_adverts=plan.owner_ignore_adverts,
            garp_extra_if=plan.garp_extra_if,
            notify_priority_changes=plan.notify_priority_changes,
        )

    async def _vmac(self, plan: InstancePlan, link: LinkInfo, links: dict[str, LinkInfo], stage: _Stage) -> LinkInfo:
        """keepalived ``use_vmac``: create the instance's macvlan (``vipd.linux.vmac``); return the tx link.

        Raises:
            StartupError: the VMAC cannot be created.
        """
        await self._addr_vmacs(plan, links, stage)
        vm = plan.vmac
        if vm is None:
            return link
        spec = VmacSpec(
            name=vm.name,
            base=vm.base,
            vrid=vm.vrid,
            family=vm.family,
            linklocal=link.ipv6_linklocal if vm.family == 6 and not vm.xmit_base else None,
        )
        if not self._vmacs.holds(spec.name):
            stage.vmacs.append(spec.name)  # before ensure(): it may create the device, then fail
        try:
            await self._vmacs.ensure(spec)
        except VmacError as e:
            raise StartupError(f"({plan.name}) {e}") from None
        vlink = await self._link(spec.name, 4)
        links[spec.name] = vlink
        return link if vm.xmit_base else vlink

    async def _addr_vmacs(self, plan: InstancePlan, links: dict[str, LinkInfo], stage: _Stage) -> None:
        """keepalived ``use_vmac_addr`` / a VIP's ``use_vmac``: the VMACs the VIPs on other interfaces go on.

        Raises:
            StartupError: one cannot be created.
        """
        for vm in plan.addr_vmacs:
            if not self._vmacs.holds(vm.name):
                stage.vmacs.append(vm.name)
            try:
                await self._vmacs.ensure(VmacSpec(name=vm.name, base=vm.base, vrid=vm.vrid, family=vm.family))
            except VmacError as e:
                raise StartupError(f"({plan.name}) use_vmac_addr: {e}") from None
            links[vm.name] = await self._link(vm.name, 4)

    def _route_set(self, plan: InstancePlan) -> list[AddressCompanion]:
        """keepalived ``virtual_routes`` / ``virtual_rules`` of the plan (parsed by the planner)."""
        if not plan.routes:
            return []
        assert self._netlink is not None
        from vipd.linux.routes import RouteSet  # pyroute2's AsyncIPRoute: only with routes or rules

        return [RouteSet(plan.name, plan.routes, self._netlink.ipr)]

    @staticmethod
    def _source_address(plan: InstancePlan, link: LinkInfo) -> IPAddress:
        if plan.src is not None:
            return plan.src
        if plan.key.family == 4:
            if not link.ipv4:
                raise StartupError(f"interface {link.ifname} has no IPv4 address to send VRRP adverts from")
            return link.ipv4[0]
        if link.ipv6_linklocal is None:
            raise StartupError(f"interface {link.ifname} has no usable IPv6 link-local address")
        return link.ipv6_linklocal

    def _port(self, loop: asyncio.AbstractEventLoop, plan: InstancePlan, link: LinkInfo, stage: _Stage) -> _Port:
        key = (plan.key.interface, plan.key.family)
        port = self._ports.get(key)
        if port is None or port.reader is None:  # None: new, or its device was re-created (drop_handles)
            if port is None:
                port = _Port(plan.key.interface, plan.key.family, link)
                stage.ports.append(key)
            port.link = link
            # Join 224.0.0.18 / ff02::12 only if an instance here uses multicast: clouds that
            # block multicast run unicast-only and should not see our IGMP/MLD reports.
            multicast = any(
                p.multicast
                for p in self.plan.instances.values()
                if (p.key.interface, p.key.family) == (plan.key.interface, plan.key.family)
            )
            try:
                sock = open_rx(plan.key.family, plan.key.interface, link.index, multicast=multicast)
            except OSError as e:
                raise StartupError(f"cannot open VRRP receive socket on {plan.key.interface}: {e}") from None
            bound = port
            port.reader = AdvertReader(
                loop,
                sock,
                plan.key.family,
                functools.partial(self._on_packet, bound),
                self._on_rx_error,
                max_delay=lambda: _coalesce_bound(bound),
            )
            self._ports[key] = port
        return port

    def _tx_socket(self, link: LinkInfo, family: int, src: IPAddress, ttl: int, stage: _Stage) -> socket.socket:
        key = (link.ifname, family, str(src), ttl)
        if key not in self._tx:
            try:
                tx = open_tx(family, link.ifname, link.index, src)
                if ttl != VRRP_TTL:  # keepalived ``unicast_ttl`` (unicast only; multicast stays 255)
                    if family == 4:
                        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                    else:
                        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
                self._tx[key] = tx
                stage.tx.append(key)
            except OSError as e:
                raise StartupError(f"cannot open VRRP send socket on {link.ifname} from {src}: {e}") from None
        return self._tx[key]

    def _announcer(self, ifname: str, stage: _Stage) -> L2Announcer:
        if ifname not in self._announcers:
            try:
                self._announcers[ifname] = L2Announcer(ifname)
                stage.announcers.append(ifname)
            except OSError as e:
                raise StartupError(f"cannot open AF_PACKET socket on {ifname}: {e}") from None
        return self._announcers[ifname]

    def _rollback(self, stage: _Stage) -> None:
        """Close what a failed reload opened (ports, send sockets, announcers); running instances keep theirs."""
        for key in stage.ports:
            port = self._ports.pop(key, None)
            if port is not None and port.reader is not None:
                port.reader.close()
        for tkey in stage.tx:
            tx = self._tx.pop(tkey, None)
            if tx is not None:
                tx.close()
        for ifname in stage.announcers:
            a = self._announcers.pop(ifname, None)
            if a is not None:
                a.close()

    @staticmethod
    def _sender(
        tx: socket.socket, plan: InstancePlan, src: IPAddress, ifindex: int
    ) -> tuple[Callable[[Advert], None], Callable[[Advert], None]]:
        """(send, prepare): send encodes (cached) and transmits to every destination; prepare only encodes."""
        dsts = plan.dsts
        # keepalived ``v3_checksum_as_v2``: v3/IPv4 checksum without the pseudo-header (Cisco, Juniper).
        pseudo = plan.pseudo_header

        @functools.lru_cache(maxsize=8)
        def encoded(advert: Advert) -> tuple[bytes, ...]:
            # An instance sends the same few adverts (its priority, 0) again and again: encode once.
            return tuple(encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo) for dst in dsts)

        addrs = tuple(sockaddr(dst, ifindex) for dst in dsts)
        last: list[object] = [None, ()]  # the advert sent last (the machine hands out the same object) and its bytes
        sendto = tx.sendto
        if len(addrs) == 1:  # multicast, or one unicast peer: the common case, one sendto
            (addr,) = addrs

            def send(advert: Advert) -> None:
                if advert is not last[0]:
                    last[0], last[1] = advert, encoded(advert)  # hashing an Advert costs µs: once per change
                sendto(last[1][0], addr)  # type: ignore[index]

        else:

            def send(advert: Advert) -> None:
                if advert is not last[0]:
                    last[0], last[1] = advert, encoded(advert)
                for a, payload in zip(addrs, last[1], strict=True):  # type: ignore[call-overload]
                    sendto(payload, a)

        def prepare(advert: Advert) -> None:
            encoded(advert)

        return send, prepare

    def _group_runner(self, group: SyncGroup) -> Callable[[Notify], None] | None:
        gp = self.plan.groups.get(group.name)
        return self.services.group_notifier(gp) if gp is not None else None

    # ------------------------------------------------------------------ views and reload

    def instances(self) -> list[tuple[InstanceDriver, VrrpInstance]]:
        """Every running instance with its config, in plan order."""
        return [(self.drivers[n], self._plans[n].config) for n in self.plan.instances if n in self.drivers]

    def instance_plans(self) -> list[tuple[InstanceDriver, InstancePlan]]:
        """Every running instance with its plan, in plan order."""
        return [(self.drivers[n], self._plans[n]) for n in self.plan.instances if n in self.drivers]

    def interfaces(self) -> list[tuple[str, int, InterfaceStats]]:
        """``(ifname, family, stats)`` of every receive socket."""
        return [(p.ifname, p.family, p.stats) for p in self._ports.values()]

    async def apply_plan(self, new: Plan) -> PlanDiff:
        """Apply a new plan as a diff, all or nothing (SIGHUP / ``vipctl reload``; keepalived "reload").

        Step 1 builds, for every added or restarted instance, its sockets, VMAC and
        driver; for every changed one, its new parameters, VIP specs and sender;
        and the new tracker. Nothing running is touched; if anything fails, what
        step 1 opened is closed and :class:`ReloadError` is raised.

        Step 2 switches: VIPs that a kept master owns under the new plan are handed
        over; removed and restarted instances stop (priority 0 if master);
        renamed instances take their new name (no transition: instances are
        matched by interface, VRID and family); changed ones are reconfigured in
        place (state and timers kept; while master only the VIP difference is
        touched); the new tracker starts and its first results are applied; then
        the added and restarted instances start.

        Returns:
            the :class:`~vipd.plan.diff.PlanDiff` applied.
        Raises:
            ReloadError: step 1 failed; nothing was changed.
        """
        loop = asyncio.get_running_loop()
        from vipd.plan.diff import diff_plans  # reload only

        diff = diff_plans(self.plan, new)
        stage = _Stage()
        links: dict[str, LinkInfo] = {}
        old_plan = self.plan
        try:
            self.plan = new  # sync-group lookups during the build see the new groups
            built = [await self._build(loop, p, links, stage) for p in [*diff.added, *(x.new for x in diff.restarted)]]
            in_place = {pair.new.name: await self._in_place(pair.old, pair.new, links, stage) for pair in diff.changed}
            tracker: Tracker | None = None
            if self.tracking is not None:
                tracker = self.tracking.prepare(new, self.drivers, bfd=self.bfd.events)
        except (StartupError, TrackerError, OSError) as e:
            self.plan = old_plan
            self._rollback(stage)
            for name in reversed(stage.vmacs):  # a VMAC this build made goes with it
                await self._vmacs.remove(name)
            raise ReloadError(str(e)) from None
        # Step 2: switch. From here on nothing can fail short of a bug.
        kept_master_vips: set[VipSpec] = set()
        for pair in diff.unchanged:
            d = self.drivers[pair.old.name]
            if d.machine.state is State.MASTER:
                kept_master_vips.update(d.vips)
        for pair in diff.changed:
            if self.drivers[pair.old.name].machine.state is State.MASTER:
                kept_master_vips.update(in_place[pair.new.name].vips)
        stopping = [(p.name, True) for p in diff.removed] + [(x.old.name, False) for x in diff.restarted]
        for name, _ in stopping:
            self.drivers[name].hand_over(kept_master_vips)
        await asyncio.gather(*(self.drivers[n].stop(deleted=deleted) for n, deleted in stopping))
        for name, _ in stopping:
            self._unregister(name)
        wanted = {vm.name for p in new.instances.values() for vm in (p.vmac, *p.addr_vmacs) if vm is not None}
        for name in sorted(self._vmacs.names() - wanted):  # keepalived removes a removed instance's VMAC
            await self._vmacs.remove(name)
        self.accept_mode = acceptmode.reload(self.accept_mode, new.config)
        for pair in [*diff.unchanged, *diff.changed]:
            d = self.drivers.pop(pair.old.name)
            del self._plans[pair.old.name]
            if pair.old.name != pair.new.name:
                d.name = pair.new.name
                self.services.renamed(pair.old.name, pair.new.name)
                log.info("(%s) renamed from %s (%s): no transition", pair.new.name, pair.old.name, pair.new.key)
            self.drivers[pair.new.name] = d
            self._plans[pair.new.name] = pair.new
            port = self._ports[(pair.new.key.interface, pair.new.key.family)]
            port.drivers[pair.new.key.vrid] = (d, pair.new.config)
            d.notifier = self.services.notifier(pair.new, functools.partial(lambda m: m.priority, d.machine))
            d.gate = gate_from_plan(pair.new)
            self.sync_groups.attach(d)
        for pair in diff.changed:
            ip = in_place[pair.new.name]
            d = self.drivers[pair.new.name]
            d.reconfigure(
                replace(ip.params, sync_group=d.machine.params.sync_group),
                vips=ip.vips,
                announce=ip.targets,
                send_advert=ip.sender[0] if ip.sender is not None else None,
                prepare_advert=ip.sender[1] if ip.sender is not None else None,
                keep=kept_master_vips,
            )
            if ip.routes is not None:
                d.replace_companions(ip.routes)
            log.info("(%s) reconfigured in place (state %s kept)", pair.new.name, d.machine.state.value)
        for b in built:
            self._register(b)
        if new.config != old_plan.config:  # BfdService.reload restarts sessions only if bfd_instance changed
            before = self.bfd.events
            try:
                self.bfd.reload(new.config, loop)
            except OSError as e:
                log.error("reload: bfd sessions could not restart: %s", e)
            if self.tracking is not None and self.bfd.events is not before:
                tracker = self.tracking.prepare(new, self.drivers, bfd=self.bfd.events)
        if self.tracking is not None and tracker is not None:
            # Added instances wait for their trackers' first results: none advertises above its
            # peers at its base priority before a failing check has been seen.
            await self.tracking.switch(tracker)
        for b in built:
            b.driver.start()
        if self.follower is not None:
            self.follower.bind_new()
        return diff

    # ------------------------------------------------------------------ interfaces followed by name

    def drop_handles(self, names: set[str], family: int | None = None) -> None:
        """Close the receive sockets, send sockets and announcers opened for these interface names.

        Their device is gone (re-created under the same name: a new ifindex), or, with
        ``family`` 6, its IPv6 side was reset (disable_ipv6: memberships and the
        link-local gone; the announcers are kept); :meth:`relink` opens new ones. Drivers
        still holding the old ones are in FAULT meanwhile.
        """
        for port in self._ports.values():
            if port.ifname in names and port.reader is not None and family in (None, port.family):
                port.reader.close()
                port.reader = None
        for key in [k for k in self._tx if k[0] in names and family in (None, k[1])]:
            self._tx.pop(key).close()
        for name in names if family is None else ():
            announcer = self._announcers.pop(name, None)
            if announcer is not None:
                announcer.close()

    async def relink(self, name: str) -> None:
        """Resolve instance ``name``'s interfaces by name again and give its driver new handles (no restart).

        ifindex and MAC from the kernel now; the VMAC re-created if its base was; the receive
        socket (device binding, multicast membership), send socket and announcers re-opened
        where :meth:`drop_handles` closed them; VIP specs and announce targets rebuilt; the
        advert source re-chosen (an IPv6 link-local follows the MAC). The machine keeps its
        state, timers and effective priority (``InstanceDriver.relink``).

        Raises:
            StartupError: an interface or a source address is missing, or a socket is refused.
            KeyError: no running instance ``name``.
        """
        loop = asyncio.get_running_loop()
        driver, plan = self.drivers[name], self._plans[name]
        links: dict[str, LinkInfo] = {}
        stage = _Stage()
        link = await self._links_of(plan, links)
        src = self._source_address(plan, link)
        tx_link = await self._vmac(plan, link, links, stage)
        port = self._port(loop, plan, link, stage)
        vips, targets = self._vip_specs(plan, links, stage)
        tx = self._tx_socket(tx_link, plan.key.family, src, plan.ttl, stage)
        send, prepare = self._sender(tx, plan, src, tx_link.index)
        reader = port.reader
        if self.drivers.get(name) is not driver:
            return  # a reload replaced it meanwhile
        driver.relink(
            replace(driver.machine.params, primary_address=src),
            vips=vips,
            announce=targets,
            send_advert=send,
            prepare_advert=prepare,
            input_pending=reader.pending if reader is not None else None,
            drain_input=reader.drain if reader is not None else None,
        )
        log.info("(%s) re-resolved %s by name: ifindex %d, source %s", name, plan.key.interface, link.index, src)

    async def _in_place(
        self, old: InstancePlan, new: InstancePlan, links: dict[str, LinkInfo], stage: _Stage
    ) -> _InPlace:
        """Build what ``InstanceDriver.reconfigure`` needs for ``new`` (changed in place from ``old``).

        Raises:
            StartupError: an interface or the source address is missing, or a socket is refused.
        """
        link = await self._links_of(new, links)
        if new.vmac is not None and new.vmac.name not in links:
            links[new.vmac.name] = await self._link(new.vmac.name, 4)
        for vm in new.addr_vmacs:  # unchanged (a change restarts the instance): already made
            if vm.name not in links:
                links[vm.name] = await self._link(vm.name, 4)
        src = self._source_address(new, link)
        vips, targets = self._vip_specs(new, links, stage)
        sender = None
        if old.wire() != new.wire():
            tx_link = links[new.tx_interface]
            tx = self._tx_socket(tx_link, new.key.family, src, new.ttl, stage)
            sender = self._sender(tx, new, src, tx_link.index)
        routes: list[AddressCompanion] | None = None
        if old.routes != new.routes:
            routes = self._route_set(new)
        return _InPlace(self._params(new, src), vips, targets, sender, routes)

    # ------------------------------------------------------------------ receive

    def _on_packet(self, port: _Port, pkt: RxPacket) -> None:
        """Decode, dispatch by VRID; count and drop anything bad (never raises).

        Unicast instances (keepalived ``unicast_peer``) skip the TTL/hop-limit 255
        check, as keepalived does: a routed peer's adverts arrive with 254 or less.
        They accept adverts only from their listed peers; anything else is dropped
        before it reaches the machine (no timer is touched) and counted by source
        in ``port.not_peer_sources``. A peer with keepalived's ``min_ttl``/``max_ttl``
        bounds has adverts outside them dropped and counted as ``ip_ttl``. A multicast IPv6 advert
        from a global source is accepted, as keepalived accepts it (RFC 5798 §5.1.2.1 makes the
        sender use its link-local address, but §7.1 has receivers check only TTL, version,
        checksum, VRID and the rest).
        """
        port.stats.rx_packets += 1
        key = b""
        if port.family == 4:
            # A master repeats the same advert every interval: one that passed every check below
            # before, with only its IP Identification and header checksum new, goes straight on
            # (~2 us less per advert at 255 VRIDs: no decode, no instance lookups, issue 18).
            key = _repeat_key(pkt.data)
            seen = port.seen.get(key)
            if seen is not None and port.drivers.get(seen[1].advert.vrid) is seen[0]:  # not replaced by a reload
                seen[0][0].on_advert(seen[1], pkt.rx_time)
                return
        owner = self._vrid_entry(port, pkt.data)  # read once: unicast handling and error attribution
        unicast = owner is not None and bool(owner[1].unicast_peer)
        empty = owner is not None and not owner[1].virtual_ipaddress  # keepalived no_virtual_ipaddress: Count 0
        try:
            if port.family == 4:
                # keepalived: no TTL check in unicast mode (min_ttl/max_ttl below instead)
                received = decode_ipv4(pkt.data, check_ttl=not unicast, allow_empty=empty)
            else:
                dst = pkt.dst if pkt.dst is not None else VRRP_MCAST6
                ttl = VRRP_TTL if unicast else pkt.ttl
                received = decode_advert(pkt.data, src=pkt.src, dst=dst, ttl=ttl, allow_empty=empty)
        except DecodeError as e:
            if owner is not None:  # per-instance error counters, as keepalived's (exporter's *_errors_total)
                owner[0].stats.discards[e.reason] += 1
                if owner[0].recorder is not None:
                    owner[0].recorder.discard(pkt.rx_time, e.reason, pkt.src)
            self._drop(port, e.reason, f"from {pkt.src}: {e}", pkt.rx_time)
            return
        entry = owner  # the decoder read the same VRID byte _vrid_entry did
        if entry is None:
            # keepalived logs unknown VRIDs only with log_unknown_vrids; vipd counts them always.
            why = f"from {received.src}: VRID {received.advert.vrid} not configured"
            self._drop(port, "vrid", why, pkt.rx_time, log_it=self.plan.config.global_defs.log_unknown_vrids)
            return
        driver, inst = entry
        if inst.unicast_peer and received.src not in inst.unicast_peer:
            src = str(received.src)
            if src in port.not_peer_sources or len(port.not_peer_sources) < MAX_NOT_PEER_SOURCES:
                port.not_peer_sources[src] += 1
            else:
                port.not_peer_sources["other"] += 1
            self._drop(port, "not_peer", f"from {received.src}: not a unicast_peer of {inst.name}", pkt.rx_time)
            return
        bounds = inst.unicast_peer_ttl.get(str(received.src)) if inst.unicast_peer_ttl else None
        raw_ttl = None
        if bounds is not None:  # only unicast peers with min_ttl/max_ttl need the received TTL
            raw_ttl = (pkt.data[8] if len(pkt.data) >= 20 else None) if port.family == 4 else pkt.ttl
            if raw_ttl is not None and raw_ttl < 0:
                raw_ttl = None  # IPv6 without an IPV6_HOPLIMIT control message
        if bounds is not None and raw_ttl is not None and not bounds[0] <= raw_ttl <= bounds[1]:
            # keepalived vrrp_check_packet: a unicast peer's TTL outside [min_ttl, max_ttl] is an ip_ttl error.
            driver.stats.discards["ip_ttl"] += 1
            why = f"from {received.src}: TTL {raw_ttl} outside min_ttl {bounds[0]} max_ttl {bounds[1]} of {inst.name}"
            self._drop(port, "ip_ttl", why, pkt.rx_time)
            return
        if key and not unicast and not inst.unicast_peer_ttl:  # the checks above depend on the bytes alone
            if len(port.seen) > SEEN_PER_VRID * len(port.drivers) + 16:
                port.seen.clear()
            port.seen[key] = (entry, received)
        driver.on_advert(received, pkt.rx_time)

    @staticmethod
    def _vrid_entry(port: _Port, data: bytes) -> tuple[InstanceDriver, VrrpInstance] | None:
        """The instance whose VRID is in this raw datagram's VRID byte, or None if unreadable/unknown."""
        if port.family == 4:
            if len(data) < 20:
                return None
            at = (data[0] & 0x0F) * 4 + 1
        else:
            at = 1
        if len(data) <= at:
            return None
        return port.drivers.get(data[at])

    def _drop(self, port: _Port, reason: str, detail: str, now: float, *, log_it: bool = True) -> None:
        port.stats.rx_errors[reason] += 1
        if not log_it:
            log.debug("%s: dropped VRRP packet (%s) %s", port.ifname, reason, detail)
            return
        ok, suppressed = self._limiter.allow(f"{port.ifname}/{port.family}/{reason}", now)
        if ok:
            more = f" ({suppressed} similar suppressed)" if suppressed else ""
            log.warning("%s: dropped VRRP packet (%s) %s%s", port.ifname, reason, detail, more)

    def _on_rx_error(self, e: BaseException) -> None:
        ok, _ = self._limiter.allow("rx-error", asyncio.get_running_loop().time())
        if ok:
            log.error("VRRP receive error: %r", e)

    # ------------------------------------------------------------------ cleanup

    def _close(self) -> None:
        for port in self._ports.values():
            if port.reader is not None:
                port.reader.close()
        for s in self._tx.values():
            s.close()
        for a in self._announcers.values():
            a.close()
        if self._writer is not None:
            self._writer.close()
        if self._netlink is not None:
            self._netlink.close()

    def _write_pid(self) -> None:
        if self.pid_file:
            with open(self.pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")

    def _remove_pid(self) -> None:
        if self.pid_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pid_file)
