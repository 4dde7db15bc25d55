"""The plan: what the runtime builds, one frozen object per instance (see :mod:`vipd.plan.planner`).

Every value here is resolved: timers in float seconds, the VRRPv2 authentication
bytes, the device each VIP goes on, the link and TTL adverts leave by, routes and
rules parsed, hooks with the identity they run as, trackers. Interfaces are
named, never numbered: the runtime resolves the ifindex (and re-resolves it
when an interface is re-created). The validated keepalived block is kept beside
the resolved values (``config``) for status and dumps, as plain values
(:mod:`vipd.config.values`): a running daemon never loads the validator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from vipd.config.diagnostics import Loc
from vipd.config.routes import RouteSpec
from vipd.wire.advert import IPAddress

if TYPE_CHECKING:  # the runtime holds vipd.config.values of these kinds: same fields, no pydantic
    from vipd.config.model import Config, SyncGroup, VrrpInstance
    from vipd.plan.trackers import TrackerPlan


@dataclass(frozen=True, slots=True, order=True)
class InstanceKey:
    """What identifies a virtual router on this host: (interface, VRID, family).

    Reload matches instances by this key, as keepalived does, never by name:
    renaming an instance is not a transition.
    """

    interface: str
    vrid: int
    family: int

    def __str__(self) -> str:
        return f"VRID {self.vrid} on {self.interface} (IPv{self.family})"


@dataclass(frozen=True, slots=True)
class VipPlan:
    """One ``virtual_ipaddress`` line, resolved.

    Attributes:
        address: the VIP.
        prefixlen: 0..32 / 0..128.
        dev: the interface it goes on (its ``dev``, the VMAC, or the instance's interface).
        label: IPv4 label or None.
        broadcast: IPv4 broadcast address or None.
        scope: rtnetlink scope number (0 global, 253 link, 254 host).
    """

    address: IPAddress
    prefixlen: int
    dev: str
    label: str | None = None
    broadcast: IPv4Address | None = None
    scope: int = 0


@dataclass(frozen=True, slots=True)
class VmacPlan:
    """keepalived ``use_vmac``: the macvlan to create (name at most 15 characters) on ``base``."""

    name: str
    base: str
    vrid: int
    family: int
    xmit_base: bool


@dataclass(frozen=True, slots=True)
class HookPlan:
    """One notify command with the identity it runs as.

    Attributes:
        argv: the command split into arguments (keepalived's splitting).
        command: as written.
        shell: keepalived's ``</path`` form, run by ``/bin/sh -c``.
        user, group: names it runs as (None: the daemon's own user, root).
        supplementary_groups: with the user's supplementary groups (keepalived
            ``set_supplementary_groups``), else none.
    """

    argv: tuple[str, ...]
    command: str
    shell: bool = False
    user: str | None = None
    group: str | None = None
    supplementary_groups: bool = False


@dataclass(frozen=True, slots=True)
class InstancePlan:
    """Everything the runtime needs to run one ``vrrp_instance``.

    Attributes:
        name: instance name (keepalived ``vrrp_instance NAME``).
        key: (interface, VRID, family): what reload matches on.
        config: the validated keepalived instance (a :mod:`vipd.config.values` value of kind
            ``VrrpInstance``: the model's fields without pydantic).
        loc: where its block starts.
        auth_type, auth_data: VRRPv2 authentication (RFC 2338 §5.3.6), 8 bytes of data.
        src: the configured advert source (``unicast_src_ip``/``mcast_src_ip``),
            None = the interface's primary address, resolved at run time.
        multicast: adverts go to 224.0.0.18 / ff02::12 (no ``unicast_peer``).
        dsts: advert destinations (the peers, or the multicast group).
        ttl: TTL / hop limit of sent adverts (255, or ``unicast_ttl``).
        pseudo_header: v3/IPv4 checksum over the pseudo-header (not ``v3_checksum_as_v2``).
        tx_interface: the link adverts are sent on (the interface, or the VMAC).
        vip_dev: default device for the VIPs.
        vmac: the VMAC to create, or None.
        vips: the VIPs (``virtual_ipaddress``) then ``virtual_ipaddress_excluded``.
        excluded: how many of ``vips`` (at the end) are excluded from adverts.
        routes: ``virtual_routes`` then ``virtual_rules``, parsed.
        hooks: notify hook name (``notify_master``...) -> command with identity.
        group: the ``vrrp_sync_group`` it belongs to, or None.
        garp_interval, gna_interval: seconds between single GARPs / NAs (global).
        owner_ignore_adverts: as address owner (priority 255) drop every advert
            (keepalived ``owner_ignore_adverts``, resolved with strict mode and the global).
        notify_priority_changes: write priority changes to the notify FIFOs (keepalived
            ``notify_priority_changes``: the instance's, the sync group's, or the global).
        promote_secondaries: interfaces whose ``promote_secondaries`` sysctl the instance
            sets while it runs (keepalived ``promote_secondaries``; none with a VMAC).
        track_src: the configured advert source to track: FAULT while it is not an address
            of the host (keepalived ``track_src_ip``), or None.
        garp_extra_if: seconds between the periodic GARP/NA on each of ``extra_if`` while
            master (keepalived ``garp_extra_if``), 0 = off.
        extra_if: the devices keepalived's ``garp_extra_if`` announces on (one frame each, first VIP on it).
        addr_vmacs: the VMACs ``use_vmac_addr`` (or a VIP's ``use_vmac``) adds on the VIPs' other
            interfaces or for the other family; their VIPs' ``dev`` is the VMAC.
    """

    name: str
    key: InstanceKey
    config: VrrpInstance
    loc: Loc
    auth_type: int
    auth_data: bytes
    src: IPAddress | None
    multicast: bool
    dsts: tuple[IPAddress, ...]
    ttl: int
    pseudo_header: bool
    tx_interface: str
    vip_dev: str
    vmac: VmacPlan | None
    vips: tuple[VipPlan, ...]
    excluded: int
    routes: tuple[RouteSpec, ...]
    hooks: Mapping[str, HookPlan] = field(hash=False, compare=True)
    group: str | None = None
    garp_interval: float = 0.0
    gna_interval: float = 0.0
    owner_ignore_adverts: bool = False
    notify_priority_changes: bool = False
    promote_secondaries: tuple[str, ...] = ()
    track_src: IPAddress | None = None
    garp_extra_if: float = 0.0
    extra_if: tuple[str, ...] = ()
    addr_vmacs: tuple[VmacPlan, ...] = ()

    @property
    def interfaces(self) -> tuple[str, ...]:
        """Every interface the instance needs (its own, VIP devices; not the VMAC it creates)."""
        made = {m.name for m in (*self.addr_vmacs, *([self.vmac] if self.vmac is not None else []))}
        names = [self.key.interface, *(v.dev for v in self.vips), *(m.base for m in self.addr_vmacs)]
        names = [n for n in names if n not in made]
        return tuple(dict.fromkeys(names))

    def wire(self) -> tuple[object, ...]:
        """What the sending side depends on: a change needs new send sockets."""
        return (self.src, self.dsts, self.ttl, self.pseudo_header, self.tx_interface)


@dataclass(frozen=True, slots=True)
class SyncGroupPlan:
    """One ``vrrp_sync_group``: members (instance names) and its hooks."""

    name: str
    config: SyncGroup
    members: tuple[str, ...]
    hooks: Mapping[str, HookPlan] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Plan:
    """The plan of a whole configuration.

    Attributes:
        config: the validated configuration as :mod:`vipd.config.values` (kind ``Config``; kept
            for ``--dump-config``, status and the tracker).
        instances: name -> plan, in config order.
        groups: sync-group name -> plan.
        trackers: checks and bindings.
        script_default: (user, group) names scripts run as by default.
        host_checked: the host checks that were made (empty with ``--no-host``).
        link_delays: keepalived ``interface_up_down_delays``: link -> (down, up) seconds.
    """

    config: Config
    instances: Mapping[str, InstancePlan] = field(hash=False)
    groups: Mapping[str, SyncGroupPlan] = field(hash=False)
    trackers: TrackerPlan = field(hash=False)
    script_default: tuple[str | None, str | None] = (None, None)
    host_checked: tuple[str, ...] = ()
    link_delays: Mapping[str, tuple[float, float]] = field(default_factory=dict, hash=False)

    def by_key(self) -> dict[InstanceKey, InstancePlan]:
        """The instances by (interface, VRID, family)."""
        return {p.key: p for p in self.instances.values()}
