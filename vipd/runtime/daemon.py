"""The daemon: build instances from the config, wire sockets to drivers, own signals.

One asyncio loop, no threads. Start-up resolves every interface through netlink,
opens one receive and one transmit socket per (interface, family), and starts
each instance; entering Backup removes VIPs a crashed run left behind.
SIGTERM/SIGINT: every master sends priority 0 and every instance removes its
VIPs, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vipd.config.model import Config, VrrpInstance
from vipd.fsm import Params, State, VrrpMachine
from vipd.linux.announce import L2Announcer
from vipd.linux.netlink import SCOPES, AddressWriter, LinkInfo, Netlink, VipSpec, wait_linklocal
from vipd.linux.routes import RouteSet, parse_route, parse_rule
from vipd.linux.sockets import AdvertReader, RxPacket, open_rx, open_tx, sockaddr
from vipd.linux.timerfd import Waker
from vipd.linux.vmac import VmacError, VmacManager, VmacSpec, default_vmac_name
from vipd.obs.log import RateLimiter
from vipd.obs.stats import InterfaceStats
from vipd.runtime.bfd_service import BfdService
from vipd.runtime.instance import AddressCompanion, AnnounceTarget, InstanceDriver
from vipd.runtime.syncgroup import SyncGroups
from vipd.runtime.tracking import TrackerError, Tracking
from vipd.wire.advert import VRRP_MCAST4, VRRP_MCAST6, VRRP_TTL, Advert, AuthType, IPAddress
from vipd.wire.codec import decode_advert, decode_ipv4, encode_advert
from vipd.wire.errors import DecodeError

log = logging.getLogger("vipd")

MAX_NOT_PEER_SOURCES = 256  # distinct non-peer sources counted one by one; the rest under "other"
LINKLOCAL_WAIT = 5.0  # seconds to wait for an IPv6 link-local address to leave DAD at start-up


class StartupError(Exception):
    """The daemon cannot start (interface missing, no source address, socket refused)."""


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


def scope_number(scope: str | None) -> int:
    """Return the rtnetlink scope for keepalived's ``scope`` word or number (default global, 0)."""
    if scope is None:
        return 0
    return int(scope) if scope.isdigit() else SCOPES.get(scope, 0)


def auth_bytes(inst: VrrpInstance) -> tuple[int, bytes]:
    """Return (auth_type, 8-byte auth_data) for VRRPv2 (RFC 2338 §5.3.6; keepalived truncates to 8)."""
    auth = inst.authentication
    if auth is None or inst.version != 2:
        return AuthType.NONE, b""
    if auth.auth_type == "PASS":
        return AuthType.PASS, auth.auth_pass.encode()[:8].ljust(8, b"\0")
    # A real AH advert is an IPsec AH packet (IP protocol 51) around the VRRP message;
    # a protocol-112 advert that merely says "AH" is accepted by no peer.
    raise StartupError(f"{inst.name}: authentication auth_type AH is not implemented by vipd (use PASS or none)")


RESTART_FIELDS = ("interface", "virtual_router_id", "version", "use_vmac", "vmac_name", "vmac_xmit_base")
"""``vrrp_instance`` keywords whose change makes a reload restart the instance (a new virtual router)."""


def needs_restart(old: VrrpInstance, new: VrrpInstance) -> bool:
    """Whether a reload must restart an instance rather than change it in place.

    True when the interface, VRID, version, address family or VMAC settings
    differ (``RESTART_FIELDS``), or it switches between unicast and multicast
    (the receive socket joins the multicast group only for multicast instances).
    Everything else (priority, VIPs, ``advert_int``, GARP, preempt, auth, peers,
    routes, trackers, notify) is applied in place.
    """
    if any(getattr(old, f) != getattr(new, f) for f in RESTART_FIELDS):
        return True
    return old.family != new.family or bool(old.unicast_peer) != bool(new.unicast_peer)


class Daemon:
    """vipd's process: owns the loop's signal handlers, netlink, sockets and drivers.

    Args:
        config: a validated ``Config``.
        pid_file: path to write our pid to (removed on exit), or None.
    """

    def __init__(self, config: Config, *, pid_file: str | None = None) -> None:
        self.config = config
        self.pid_file = pid_file
        self.drivers: dict[str, InstanceDriver] = {}
        self._ports: dict[tuple[str, int], _Port] = {}
        self._announcers: dict[str, L2Announcer] = {}
        self._tx: dict[tuple[str, int, str, int], socket.socket] = {}
        self._netlink: Netlink | None = None
        self._writer: AddressWriter | None = None
        self._vmacs = VmacManager()
        self._stop = asyncio.Event()
        self._limiter = RateLimiter()
        self.driver_hooks: list[Callable[[InstanceDriver, VrrpInstance], None]] = []
        """Called for every new driver before it starts (notify runners attach here)."""
        self.started_hooks: list[Callable[[], Awaitable[None]]] = []
        """Awaited once every instance has started (control socket, metrics, READY=1)."""
        self.stopping_hooks: list[Callable[[], Awaitable[None]]] = []
        """Awaited when a stop is requested, before the instances stop (STOPPING=1)."""
        self.stopped_hooks: list[Callable[[], Awaitable[None]]] = []
        """Awaited after the instances stopped (drain notify queues, close servers)."""
        self.tracking: Tracking | None = None
        """Health checks and trackers (``vipd.runtime.tracking``), started before the instances."""
        self.bfd = BfdService(config, self.drivers)
        """BFD sessions (``bfd_instance``) and BFD master-down (``vipd.runtime.bfd``)."""
        self.sync_groups = SyncGroups(lambda: self.config, self.drivers, lambda: asyncio.get_running_loop().time())
        """``vrrp_sync_group`` coordinators (``vipd.runtime.syncgroup``); attached to each driver by its hook."""
        self.driver_hooks.append(self.sync_groups.attach)

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        """Start everything, wait for SIGTERM/SIGINT, shut down cleanly. Returns the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._netlink = Netlink()
        try:
            try:
                self._writer = AddressWriter(loop)
                self._vmacs.recover()  # sysctls a SIGKILLed use_vmac run left on base interfaces
                await self._build(loop)
                self.bfd.start(loop)
                self.tracking = await Tracking.start(self.config, self.drivers, bfd=self.bfd.events)
                # Everything built so far lives until exit: move it out of the collector's sight.
                # A full collection over the start-up heap (pydantic, pyroute2) takes 15-40 ms and
                # would hold an advert back whenever checks allocate enough to trigger one.
                gc.collect()
                gc.freeze()
            except (StartupError, TrackerError, OSError) as e:
                log.error("cannot start: %s", e)
                return 1
            self._write_pid()
            log.info("vipd started: %d instance(s)", len(self.drivers))
            for driver in self.drivers.values():
                driver.start()
            for hook in self.started_hooks:
                await hook()
            await self._stop.wait()
            for hook in self.stopping_hooks:
                await hook()
            if self.tracking is not None:
                await self.tracking.stop()
            log.info("stopping: sending priority 0 where master and removing addresses")
            await asyncio.gather(*(d.stop() for d in self.drivers.values()))
            self.bfd.stop()  # after the instances: a master's priority 0 leaves before its BFD AdminDown
            for hook in self.stopped_hooks:
                await hook()
            return 0
        finally:
            self.bfd.stop()  # idempotent; here for a start-up that failed after BFD started
            await self._vmacs.close()  # after the drivers removed their VIPs; restores sysctls
            self._close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self._remove_pid()

    def request_stop(self) -> None:
        """Ask the daemon to shut down (as SIGTERM does)."""
        self._stop.set()

    def _on_signal(self, sig: int) -> None:
        log.info("received %s", signal.Signals(sig).name)
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

    async def _build(self, loop: asyncio.AbstractEventLoop) -> None:
        links: dict[str, LinkInfo] = {}
        for name, inst in self.config.vrrp_instances.items():
            await self._build_instance(loop, name, inst, links)

    async def _build_instance(
        self, loop: asyncio.AbstractEventLoop, name: str, inst: VrrpInstance, links: dict[str, LinkInfo]
    ) -> InstanceDriver:
        """Open what ``inst`` needs, create its driver (not started) and register it by name and VRID."""
        assert self._netlink is not None and self._writer is not None
        family = inst.family
        link = await self._link(inst.interface, family)
        links[inst.interface] = link
        src = self._source_address(inst, link, family)
        port = self._port(loop, inst.interface, family, link)
        if inst.virtual_router_id in port.drivers:
            other = port.drivers[inst.virtual_router_id][1].name
            raise StartupError(f"{name} and {other} both use VRID {inst.virtual_router_id} on {inst.interface}")
        vif, tx_link = await self._vmac(inst, link, family, links)
        vips, targets = await self._vip_specs(inst, vif, links)
        params = self._params(inst, src)
        ttl = inst.unicast_ttl if inst.unicast_peer and inst.unicast_ttl is not None else VRRP_TTL
        tx = self._tx_socket(tx_link.ifname, family, tx_link, src, ttl)
        send, prepare = self._sender(tx, inst, family, src, tx_link.index)
        reader = port.reader
        driver = InstanceDriver(
            name=name,
            machine=VrrpMachine(params),
            send_advert=send,
            prepare_advert=prepare,
            vips=vips,
            announce=targets,
            addresses=self._writer,
            timer=functools.partial(Waker.create, loop),
            input_pending=reader.pending if reader is not None else None,
            loop=loop,
        )
        routes = self._route_set(name, inst, family)
        if routes is not None:
            driver.companions.append(routes)
        driver.garp_interval = self.config.global_defs.vrrp_garp_interval
        driver.gna_interval = self.config.global_defs.vrrp_gna_interval
        self.drivers[name] = driver
        port.drivers[inst.virtual_router_id] = (driver, inst)
        log.info(
            "(%s) VRRPv%d VRID %d on %s from %s, priority %d, advert_int %gs, %d VIP(s)",
            name,
            inst.version,
            inst.virtual_router_id,
            inst.interface,
            src,
            inst.priority,
            inst.advert_int,
            len(vips),
        )
        for hook in self.driver_hooks:
            hook(driver, inst)
        return driver

    async def _vip_specs(
        self, inst: VrrpInstance, vif: str, links: dict[str, LinkInfo]
    ) -> tuple[list[VipSpec], list[AnnounceTarget]]:
        """Netlink specs and announce targets of ``inst``'s VIPs; ``vif`` is their default device.

        Raises:
            StartupError: a VIP's ``dev`` does not exist.
        """
        vips, targets = [], []
        for vip in inst.virtual_ipaddress:
            dev = vip.dev or vif
            if dev not in links:
                links[dev] = await self._link(dev, 4)
            vlink = links[dev]
            vips.append(
                VipSpec(
                    address=vip.address,
                    prefixlen=vip.prefixlen,
                    ifindex=vlink.index,
                    label=vip.label,
                    broadcast=vip.brd,
                    scope=scope_number(vip.scope),
                )
            )
            targets.append(AnnounceTarget(vip.address, self._announcer(dev), vlink.mac))
        return vips, targets

    @staticmethod
    def _params(inst: VrrpInstance, src: IPAddress) -> Params:
        """The FSM parameters of ``inst`` advertising from ``src``.

        Raises:
            StartupError: v2 ``auth_type AH`` (not implemented).
        """
        auth_type, auth_data = auth_bytes(inst)
        return Params(
            vrid=inst.virtual_router_id,
            version=inst.version,
            priority=inst.priority,
            advertisement_interval=inst.advert_int,
            primary_address=src,
            addresses=tuple(v.address for v in inst.virtual_ipaddress),
            preempt_mode=not inst.nopreempt,
            preempt_delay=inst.preempt_delay,
            auth_type=auth_type,
            auth_data=auth_data,
            garp_master_delay=inst.garp_master_delay,
            garp_master_repeat=inst.garp_master_repeat,
            garp_master_refresh=inst.garp_master_refresh,
            garp_master_refresh_repeat=inst.garp_master_refresh_repeat,
            check_address_list=not inst.skip_check_adv_addr,
            garp_lower_prio_repeat=inst.garp_lower_prio_repeat,
            garp_lower_prio_delay=inst.garp_lower_prio_delay,
        )

    async def _vmac(
        self, inst: VrrpInstance, link: LinkInfo, family: int, links: dict[str, LinkInfo]
    ) -> tuple[str, LinkInfo]:
        """keepalived ``use_vmac``: create the instance's macvlan (``vipd.linux.vmac``).

        Returns:
            (default device for the VIPs, link to send adverts on): the base
            interface twice without ``use_vmac``; the VMAC and the VMAC (or the
            base with ``vmac_xmit_base``, which unicast requires) with it.
        Raises:
            StartupError: the VMAC cannot be created.
        """
        if not inst.use_vmac:
            return inst.interface, link
        spec = VmacSpec(
            name=inst.vmac_name or default_vmac_name(inst.virtual_router_id),
            base=inst.interface,
            vrid=inst.virtual_router_id,
            family=family,
            linklocal=link.ipv6_linklocal if family == 6 and not inst.vmac_xmit_base else None,
        )
        try:
            await self._vmacs.ensure(spec)
        except VmacError as e:
            raise StartupError(f"({inst.name}) {e}") from None
        vlink = await self._link(spec.name, 4)
        links[spec.name] = vlink
        xmit_base = inst.vmac_xmit_base
        if inst.unicast_peer and not xmit_base:
            log.warning("(%s) unicast with use_vmac sends from the base interface (as with vmac_xmit_base)", inst.name)
            xmit_base = True
        return spec.name, (link if xmit_base else vlink)

    def _route_set(self, name: str, inst: VrrpInstance, family: int) -> RouteSet | None:
        """keepalived ``virtual_routes`` / ``virtual_rules`` of ``inst``, or None if it has none.

        Raises:
            StartupError: a line vipd cannot install as written (names the line and the word).
        """
        if not inst.virtual_routes and not inst.virtual_rules:
            return None
        assert self._netlink is not None
        specs = []
        for keyword, lines, parse in (
            ("virtual_routes", inst.virtual_routes, parse_route),
            ("virtual_rules", inst.virtual_rules, parse_rule),
        ):
            for route in lines:
                try:
                    specs.append(parse(route.words, family))
                except ValueError as e:
                    where = f"line {route.line}: " if route.line else ""
                    raise StartupError(f"({name}) {keyword} {where}{' '.join(route.words)!r}: {e}") from None
        return RouteSet(name, specs, self._netlink.ipr)

    def _source_address(self, inst: VrrpInstance, link: LinkInfo, family: int) -> IPAddress:
        if inst.unicast_src_ip is not None:
            return inst.unicast_src_ip
        if family == 4:
            if not link.ipv4:
                raise StartupError(f"interface {link.ifname} has no IPv4 address to send VRRP adverts from")
            return link.ipv4[0]
        if link.ipv6_linklocal is None:
            raise StartupError(f"interface {link.ifname} has no usable IPv6 link-local address")
        return link.ipv6_linklocal

    def _port(self, loop: asyncio.AbstractEventLoop, ifname: str, family: int, link: LinkInfo) -> _Port:
        key = (ifname, family)
        port = self._ports.get(key)
        if port is None:
            port = _Port(ifname, family, link)
            # Join 224.0.0.18 / ff02::12 only if some instance here uses multicast: clouds that
            # block multicast run unicast-only and should not see our IGMP/MLD reports.
            multicast = any(
                not i.unicast_peer
                for i in self.config.vrrp_instances.values()
                if i.interface == ifname and i.family == family
            )
            try:
                sock = open_rx(family, ifname, link.index, multicast=multicast)
            except OSError as e:
                raise StartupError(f"cannot open VRRP receive socket on {ifname}: {e}") from None
            port.reader = AdvertReader(loop, sock, family, lambda pkt: self._on_packet(port, pkt), self._on_rx_error)
            self._ports[key] = port
        return port

    def _tx_socket(
        self, ifname: str, family: int, link: LinkInfo, src: IPAddress, ttl: int = VRRP_TTL
    ) -> socket.socket:
        key = (ifname, family, str(src), ttl)
        if key not in self._tx:
            try:
                tx = open_tx(family, ifname, link.index, src)
                if ttl != VRRP_TTL:  # keepalived ``unicast_ttl`` (unicast only; multicast stays 255)
                    if family == 4:
                        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                    else:
                        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
                self._tx[key] = tx
            except OSError as e:
                raise StartupError(f"cannot open VRRP send socket on {ifname} from {src}: {e}") from None
        return self._tx[key]

    def _announcer(self, ifname: str) -> L2Announcer:
        if ifname not in self._announcers:
            try:
                self._announcers[ifname] = L2Announcer(ifname)
            except OSError as e:
                raise StartupError(f"cannot open AF_PACKET socket on {ifname}: {e}") from None
        return self._announcers[ifname]

    @staticmethod
    def _sender(
        tx: socket.socket, inst: VrrpInstance, family: int, src: IPAddress, ifindex: int
    ) -> tuple[Callable[[Advert], None], Callable[[Advert], None]]:
        """(send, prepare): send encodes (cached) and transmits to every destination; prepare only encodes."""
        peers: tuple[IPAddress, ...] = tuple(inst.unicast_peer)
        dsts: tuple[IPAddress, ...] = peers or ((VRRP_MCAST4,) if family == 4 else (VRRP_MCAST6,))
        # keepalived ``v3_checksum_as_v2``: v3/IPv4 checksum without the pseudo-header (Cisco, Juniper).
        pseudo = not inst.v3_checksum_as_v2

        @functools.lru_cache(maxsize=8)
        def encoded(advert: Advert) -> tuple[bytes, ...]:
            # An instance sends the same few adverts (its priority, 0) again and again: encode once.
            return tuple(encode_advert(advert, src=src, dst=dst, pseudo_header=pseudo) for dst in dsts)

        addrs = tuple(sockaddr(dst, ifindex) for dst in dsts)

        def send(advert: Advert) -> None:
            for addr, payload in zip(addrs, encoded(advert), strict=True):
                tx.sendto(payload, addr)

        def prepare(advert: Advert) -> None:
            encoded(advert)

        return send, prepare

    # ------------------------------------------------------------------ views and reload

    def instances(self) -> list[tuple[InstanceDriver, VrrpInstance]]:
        """Every running instance with its config, in config order."""
        by_name = {d.name: (d, inst) for port in self._ports.values() for d, inst in port.drivers.values()}
        return [by_name[n] for n in self.config.vrrp_instances if n in by_name]

    def interfaces(self) -> list[tuple[str, int, InterfaceStats]]:
        """``(ifname, family, stats)`` of every receive socket."""
        return [(p.ifname, p.family, p.stats) for p in self._ports.values()]

    async def apply_config(self, new: Config) -> dict[str, list[str]]:
        """Apply a validated config as a diff (SIGHUP / ``vipctl reload``; keepalived "reload").

        Unchanged instances are not touched: their timers keep running, no advert
        is skipped, their VIPs stay. Changed instances keep running too (keepalived
        keeps each instance's state across a reload): a new priority, VIP list,
        ``advert_int``, GARP, preempt, authentication, unicast peer or route setting
        is applied in place (``InstanceDriver.reconfigure``); while master only the
        difference of the VIP lists is added or removed. Only a change of
        interface, VRID, version, family, VMAC settings or between unicast and
        multicast restarts an instance (stop, then start in Backup). Removed
        instances stop (priority 0 if master, VIPs removed), except VIPs that a
        kept master instance owns under the new config; added ones start.

        Returns:
            ``{"unchanged": [...], "added": [...], "removed": [...], "changed": [...],
            "restarted": [...]}``; ``restarted`` is the part of ``changed`` that was
            restarted rather than changed in place.
        Raises:
            StartupError: an added/changed instance's interface or VIP device is
                missing; nothing was changed then.
        """
        loop = asyncio.get_running_loop()
        old = self.config
        hook_fields = [f for f in VrrpInstance.model_fields if f.startswith("notify")]

        def same(a: VrrpInstance, b: VrrpInstance) -> bool:
            blank = dict.fromkeys(hook_fields)
            return a.model_copy(update=blank) == b.model_copy(update=blank)

        diff: dict[str, list[str]] = {"unchanged": [], "added": [], "removed": [], "changed": [], "restarted": []}
        for name, inst in old.vrrp_instances.items():
            if name not in new.vrrp_instances:
                diff["removed"].append(name)
            elif same(inst, new.vrrp_instances[name]):
                diff["unchanged"].append(name)
            else:
                diff["changed"].append(name)
                if name not in self.drivers or needs_restart(inst, new.vrrp_instances[name]):
                    diff["restarted"].append(name)
        diff["added"] = [n for n in new.vrrp_instances if n not in old.vrrp_instances]
        start = diff["added"] + diff["restarted"]
        in_place = [n for n in diff["changed"] if n not in diff["restarted"]]
        # Pre-flight: every interface must exist before anything is stopped.
        links: dict[str, LinkInfo] = {}
        for name in start + in_place:
            inst = new.vrrp_instances[name]
            links[inst.interface] = await self._link(inst.interface, inst.family)
            for vip in inst.virtual_ipaddress:
                if vip.dev and vip.dev not in links:
                    links[vip.dev] = await self._link(vip.dev, 4)
        plans = {
            name: await self._reconfigure_plan(old.vrrp_instances[name], new.vrrp_instances[name], links)
            for name in in_place
        }
        # VIPs a kept master owns under the new config must survive the stop of their old owner.
        kept_master_vips = {
            v for n in diff["unchanged"] if self.drivers[n].machine.state is State.MASTER for v in self.drivers[n].vips
        } | {v for n in in_place if self.drivers[n].machine.state is State.MASTER for v in plans[n][1]}
        stopping = [self.drivers[n] for n in diff["removed"] + diff["restarted"] if n in self.drivers]
        for d in stopping:
            d.hand_over(kept_master_vips)
        removed = set(diff["removed"])
        await asyncio.gather(*(d.stop(deleted=d.name in removed) for d in stopping))
        for d in stopping:
            del self.drivers[d.name]
            for port in self._ports.values():
                for vrid, (pd, _inst) in list(port.drivers.items()):
                    if pd is d:
                        del port.drivers[vrid]
        self.config = new
        for name in in_place:
            params, vips, targets, sender, routes = plans[name]
            d = self.drivers[name]
            d.reconfigure(
                params,
                vips=vips,
                announce=targets,
                send_advert=sender[0] if sender is not None else None,
                prepare_advert=sender[1] if sender is not None else None,
                keep=kept_master_vips,
            )
            if routes is not None:
                d.replace_companions(routes)
            log.info("(%s) reconfigured in place (state %s kept)", name, d.machine.state.value)
        for name in diff["unchanged"] + in_place:
            d = self.drivers[name]
            for port in self._ports.values():
                for vrid, (pd, _inst) in list(port.drivers.items()):
                    if pd is d:
                        port.drivers[vrid] = (d, new.vrrp_instances[name])
            for hook in self.driver_hooks:
                hook(d, new.vrrp_instances[name])
        for name in start:
            try:
                driver = await self._build_instance(loop, name, new.vrrp_instances[name], links)
            except StartupError as e:
                log.error("(%s) cannot start after reload: %s", name, e)
                continue
            driver.start()
        try:
            self.bfd.reload(new, loop)
        except OSError as e:
            log.error("reload: bfd sessions could not restart: %s", e)
        if self.tracking is not None:
            self.tracking.bfd = self.bfd.events
            await self.tracking.reload(new, self.drivers)
        return diff

    async def _reconfigure_plan(
        self, old: VrrpInstance, inst: VrrpInstance, links: dict[str, LinkInfo]
    ) -> tuple[
        Params,
        list[VipSpec],
        list[AnnounceTarget],
        tuple[Callable[[Advert], None], Callable[[Advert], None]] | None,
        list[AddressCompanion] | None,
    ]:
        """What ``InstanceDriver.reconfigure`` needs for ``inst`` (changed in place from ``old``).

        Returns:
            (params, VIP specs, announce targets, new advert (sender, pre-encoder) or
            None if the sending side is unchanged, new route/rule companions or None if unchanged).
        Raises:
            StartupError: a VIP device or the source address is missing, or ``auth_type AH``.
        """
        family = inst.family
        link = links[inst.interface]
        src = self._source_address(inst, link, family)
        vif = inst.interface
        if inst.use_vmac:
            vif = inst.vmac_name or default_vmac_name(inst.virtual_router_id)
            links[vif] = await self._link(vif, 4)
        vips, targets = await self._vip_specs(inst, vif, links)
        params = self._params(inst, src)
        sender = None
        wire = ("unicast_src_ip", "unicast_peer", "unicast_ttl", "v3_checksum_as_v2")
        if any(getattr(old, f) != getattr(inst, f) for f in wire):
            tx_link = link if not inst.use_vmac or inst.vmac_xmit_base or inst.unicast_peer else links[vif]
            ttl = inst.unicast_ttl if inst.unicast_peer and inst.unicast_ttl is not None else VRRP_TTL
            tx = self._tx_socket(tx_link.ifname, family, tx_link, src, ttl)
            sender = self._sender(tx, inst, family, src, tx_link.index)
        routes: list[AddressCompanion] | None = None
        if (old.virtual_routes, old.virtual_rules) != (inst.virtual_routes, inst.virtual_rules):
            rs = self._route_set(inst.name, inst, family)
            routes = [rs] if rs is not None else []
        return params, vips, targets, sender, routes

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
        owner = self._vrid_entry(port, pkt.data)  # read once: unicast handling and error attribution
        unicast = owner is not None and bool(owner[1].unicast_peer)
        raw_ttl = (pkt.data[8] if len(pkt.data) >= 20 else None) if port.family == 4 else pkt.ttl
        if raw_ttl is not None and raw_ttl < 0:
            raw_ttl = None  # IPv6 without an IPV6_HOPLIMIT control message
        try:
            if port.family == 4:
                data = pkt.data
                if unicast and len(data) >= 20:
                    data = data[:8] + bytes((VRRP_TTL,)) + data[9:]  # keepalived: no TTL check in unicast mode
                received = decode_ipv4(data)
            else:
                dst = pkt.dst if pkt.dst is not None else VRRP_MCAST6
                received = decode_advert(pkt.data, src=pkt.src, dst=dst, ttl=VRRP_TTL if unicast else pkt.ttl)
        except DecodeError as e:
            if owner is not None:  # per-instance error counters, as keepalived's (exporter's *_errors_total)
                owner[0].stats.discards[e.reason] += 1
            self._drop(port, e.reason, f"from {pkt.src}: {e}", pkt.rx_time)
            return
        entry = port.drivers.get(received.advert.vrid)
        if entry is None:
            self._drop(port, "vrid", f"from {received.src}: VRID {received.advert.vrid} not configured", pkt.rx_time)
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
        if bounds is not None and raw_ttl is not None and not bounds[0] <= raw_ttl <= bounds[1]:
            # keepalived vrrp_check_packet: a unicast peer's TTL outside [min_ttl, max_ttl] is an ip_ttl error.
            driver.stats.discards["ip_ttl"] += 1
            why = f"from {received.src}: TTL {raw_ttl} outside min_ttl {bounds[0]} max_ttl {bounds[1]} of {inst.name}"
            self._drop(port, "ip_ttl", why, pkt.rx_time)
            return
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

    def _drop(self, port: _Port, reason: str, detail: str, now: float) -> None:
        port.stats.rx_errors[reason] += 1
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
