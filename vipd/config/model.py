"""The validated configuration: frozen pydantic models with keepalived's defaults.

Field names are keepalived's keyword names. Units: every duration is a float in
**seconds** (keepalived's ``<TIMER>``); counts are ints. Field constraints here
are the single source of truth for value ranges: the parser hands strings to
these models and turns their validation errors into ``FILE:LINE`` diagnostics.

Cross-field rules that need line numbers (duplicate VRIDs, v2 with IPv6...) are
in :mod:`vipd.config.rules`; the models only check what is local to one value.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

IPAddress = IPv4Address | IPv6Address

_INT = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_BOOL_WORDS = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def _int_from_text(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not _INT.fullmatch(text):
            raise PydanticCustomError("kv_int", "expected a whole number, got '{value}'", {"value": value})
        return int(text)
    return value


def _seconds_from_text(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise PydanticCustomError(
                "kv_seconds", "expected a number of seconds (e.g. 1 or 0.5), got '{value}'", {"value": value}
            )
        return float(text)
    return value


def _bool_from_text(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in _BOOL_WORDS:
            raise PydanticCustomError(
                "kv_bool", "expected on/off, yes/no or true/false, got '{value}'", {"value": value}
            )
        return _BOOL_WORDS[word]
    return value


def _ifname(value: Any) -> Any:
    if isinstance(value, str) and (
        not value or len(value) > 15 or "/" in value or any(c.isspace() for c in value) or value in {".", ".."}
    ):
        raise PydanticCustomError(
            "kv_ifname",
            "'{value}' is not a valid interface name (1-15 characters, no '/' or spaces)",
            {"value": value},
        )
    return value


Int = Annotated[int, BeforeValidator(_int_from_text)]
"""An integer written in decimal (keepalived reads numbers with ``strtol``)."""

Seconds = Annotated[float, BeforeValidator(_seconds_from_text), Field(allow_inf_nan=False)]
"""A duration in seconds, fractional allowed (keepalived ``<TIMER>``)."""

Bool = Annotated[bool, BeforeValidator(_bool_from_text)]
"""keepalived ``<BOOL>``: on/off, yes/no, true/false; a bare keyword means true."""

IfName = Annotated[str, BeforeValidator(_ifname)]
"""A Linux interface name (at most 15 characters)."""

Version = Annotated[Literal[2, 3], BeforeValidator(_int_from_text)]
"""VRRP protocol version: 2 (RFC 3768) or 3 (RFC 5798/9568)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VirtualAddress(_Model):
    """One ``virtual_ipaddress`` entry: ``ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L]``.

    Attributes:
        address: the address (IPv4 or IPv6).
        prefixlen: prefix length; keepalived's default is 32 for IPv4, 128 for IPv6.
        brd: broadcast address (IPv4 only; keepalived ``brd``/``broadcast``).
        dev: interface to add it on (default: the instance's ``interface``).
        scope: address scope (``global``, ``site``, ``link``, ``host``, ``nowhere``
            or a number), as written.
        label: ``ifconfig``-style alias label, e.g. ``eth0:1`` (IPv4 only).
        line: line it was written on (0 when built in code). Not part of equality:
            moving a VIP in the file does not change it.
    """

    address: IPAddress
    prefixlen: Int
    brd: IPv4Address | None = None
    dev: IfName | None = None
    scope: str | None = None
    label: Annotated[str, Field(min_length=1, max_length=15)] | None = None
    line: int = 0

    @property
    def family(self) -> Literal[4, 6]:
        """Address family: 4 or 6."""
        return 6 if isinstance(self.address, IPv6Address) else 4

    def _key(self) -> tuple[Any, ...]:
        return (self.address, self.prefixlen, self.brd, self.dev, self.scope, self.label)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VirtualAddress):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @model_validator(mode="after")
    def _check(self) -> VirtualAddress:
        width = 128 if self.family == 6 else 32
        if not 0 <= self.prefixlen <= width:
            raise PydanticCustomError(
                "kv_prefix",
                "prefix length /{prefixlen} is out of range for IPv{family} (0..{width})",
                {"prefixlen": self.prefixlen, "family": self.family, "width": width},
            )
        if self.family == 6 and (self.brd is not None or self.label is not None):
            raise PydanticCustomError("kv_v4_only", "'brd' and 'label' apply to IPv4 addresses only", {})
        return self


class Authentication(_Model):
    """``authentication { auth_type PASS|AH; auth_pass X }`` (VRRPv2 only, RFC 2338 legacy).

    Attributes:
        auth_type: ``"PASS"`` (clear-text password) or ``"AH"`` (IPsec AH).
        auth_pass: the password, at most 8 characters (keepalived truncates longer
            ones; the parser warns and stores the truncated value that goes on the wire).
    """

    auth_type: Literal["PASS", "AH"]
    auth_pass: Annotated[str, Field(min_length=1, max_length=8)]


class GlobalDefs(_Model):
    """The VRRP-relevant part of ``global_defs { ... }``.

    Attributes:
        router_id: node name used in notifications (keepalived defaults to the host name).
        vrrp_version: default VRRP version of instances (2 or 3; keepalived default 2).
            IPv6 instances that do not set ``version`` use 3.
        vrrp_garp_master_delay: seconds after becoming master before the second burst
            of gratuitous ARPs/NAs (default 5; 0 = no second burst).
        vrrp_garp_master_repeat: gratuitous ARPs/NAs per burst (default 5).
        vrrp_garp_master_refresh: seconds between periodic re-announcements while
            master (default 0 = off).
        vrrp_garp_master_refresh_repeat: announcements per refresh (default 1).
    """

    router_id: str | None = None
    vrrp_version: Version = 2
    vrrp_garp_master_delay: Annotated[Seconds, Field(ge=0, le=86400)] = 5.0
    vrrp_garp_master_repeat: Annotated[Int, Field(ge=0, le=10000)] = 5
    vrrp_garp_master_refresh: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    vrrp_garp_master_refresh_repeat: Annotated[Int, Field(ge=0, le=10000)] = 1


class VrrpInstance(_Model):
    """``vrrp_instance NAME { ... }``: one virtual router.

    Attributes:
        name: the instance name (``VI_1``).
        state: initial state as written (``MASTER``/``BACKUP``), ``None`` if omitted.
            keepalived always starts in BACKUP; MASTER is a hint.
        interface: interface adverts are sent on and VIPs added to by default.
        virtual_router_id: VRID, 1..255 (keepalived ``virtual_router_id``).
        priority: 1..255, default 100; 255 = address owner. keepalived makes
            ``state MASTER`` without ``priority`` an owner (255): so does vipd, and
            then sets ``priority_implied``.
        priority_implied: True when ``priority`` was not written and came from
            ``state MASTER`` (reported as a warning).
        advert_int: advertisement interval in seconds (default 1). v2: whole
            seconds 1..255; v3: 0.01..40.95 in steps of 0.01.
        version: VRRP version 2 or 3 (default: ``global_defs`` ``vrrp_version``,
            3 for IPv6).
        virtual_ipaddress: the VIPs, all of one family, in file order.
        nopreempt: True: a higher-priority backup does not take over from a live
            master (keepalived ``nopreempt``; ``preempt`` sets it back to False).
        preempt_delay: seconds to wait before preempting, 0..1000 (default 0).
        authentication: v2 authentication, or ``None``.
        garp_master_delay, garp_master_repeat, garp_master_refresh,
        garp_master_refresh_repeat: per-instance gratuitous ARP/NA settings in
            seconds / counts; default to the ``vrrp_garp_master_*`` of ``global_defs``.
        unicast_src_ip: source address for adverts (keepalived ``unicast_src_ip``
            or ``mcast_src_ip``); ``None`` = the interface's primary address.
        unicast_peer: peers to send adverts to by unicast; empty = multicast.
    """

    name: str
    state: Literal["MASTER", "BACKUP"] | None = None
    interface: IfName
    virtual_router_id: Annotated[Int, Field(ge=1, le=255)]
    priority: Annotated[Int, Field(ge=1, le=255)] = 100
    priority_implied: bool = False
    advert_int: Annotated[Seconds, Field(gt=0, le=255)] = 1.0
    version: Version = 2
    virtual_ipaddress: list[VirtualAddress] = Field(default_factory=list)
    nopreempt: Bool = False
    preempt_delay: Annotated[Seconds, Field(ge=0, le=1000)] = 0.0
    authentication: Authentication | None = None
    garp_master_delay: Annotated[Seconds, Field(ge=0, le=86400)] = 5.0
    garp_master_repeat: Annotated[Int, Field(ge=0, le=10000)] = 5
    garp_master_refresh: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    garp_master_refresh_repeat: Annotated[Int, Field(ge=0, le=10000)] = 1
    unicast_src_ip: IPAddress | None = None
    unicast_peer: list[IPAddress] = Field(default_factory=list)

    @property
    def family(self) -> Literal[4, 6]:
        """Address family of the instance: from its VIPs, else its unicast addresses, else 4."""
        for vip in self.virtual_ipaddress:
            return vip.family
        for addr in (self.unicast_src_ip, *self.unicast_peer):
            if addr is not None:
                return 6 if isinstance(addr, IPv6Address) else 4
        return 4


class Config(_Model):
    """A whole keepalived configuration as vipd understands it.

    Attributes:
        global_defs: the ``global_defs`` block (defaults when absent).
        vrrp_instances: ``vrrp_instance`` blocks by name, in file order.
        source: path of the main configuration file (``"<string>"`` for text).
    """

    global_defs: GlobalDefs = Field(default_factory=GlobalDefs)
    vrrp_instances: dict[str, VrrpInstance] = Field(default_factory=dict)
    source: str = ""
