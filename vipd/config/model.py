"""The validated configuration: frozen pydantic models with keepalived's defaults.

Field names are keepalived's keyword names. Units: every duration is a float in
**seconds** (keepalived's ``<TIMER>``); counts are ints. Field constraints here
are the single source of truth for value ranges: the parser hands strings to
these models and turns their validation errors into ``FILE:LINE`` diagnostics.

Cross-field rules that need line numbers (duplicate VRIDs, v2 with IPv6...) are
in :mod:`vipd.config.rules`; the models only check what is local to one value.

Size: over 400 lines: the one pydantic description of every keyword (the source of docs/configuration.md).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from vipd.config.values import GarpGroupFacts, ScriptFacts, VirtualAddressFacts, VrrpInstanceFacts

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


def _status_range(value: Any) -> Any:
    text = str(value)
    m = re.fullmatch(r"([0-9]{3})(?:-([0-9]{3}))?", text)
    if not m or not 100 <= int(m.group(1)) <= int(m.group(2) or m.group(1)) <= 599:
        raise PydanticCustomError(
            "kv_status", "'{value}' is not a status code 100..599 or a range LOW-HIGH of them", {"value": text}
        )
    return text


StatusCode = Annotated[str, BeforeValidator(_status_range)]
"""An HTTP status code or an inclusive range ``200-299`` (keepalived HTTP_GET ``status_code``)."""

Seconds = Annotated[float, BeforeValidator(_seconds_from_text), Field(allow_inf_nan=False)]
"""A duration in seconds, fractional allowed (keepalived ``<TIMER>``)."""

Bool = Annotated[bool, BeforeValidator(_bool_from_text)]


def _ms_from_text(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise PydanticCustomError(
                "kv_millis", "expected a number of milliseconds (e.g. 50 or 3.312), got '{value}'", {"value": value}
            )
        return float(text) / 1000.0
    return value


def _millis(low_ms: float, high_ms: float) -> Any:
    """keepalived's BFD timers: written in milliseconds (microsecond resolution), held in seconds.

    The range is checked, and reported, in milliseconds: the unit the operator wrote.
    """

    def convert(value: Any) -> Any:
        seconds = _ms_from_text(value)
        if isinstance(seconds, float) and not low_ms / 1000 <= seconds <= high_ms / 1000:
            raise PydanticCustomError(
                "kv_millis_range",
                "{value} ms is out of range {low}..{high} ms",
                {"value": value, "low": f"{low_ms:.0f}", "high": f"{high_ms:.0f}"},
            )
        return seconds

    convert.millis_range = (low_ms, high_ms)  # type: ignore[attr-defined]  # read by the config fuzzer
    return Annotated[float, BeforeValidator(convert), Field(allow_inf_nan=False)]


"""keepalived ``<BOOL>``: on/off, yes/no, true/false; a bare keyword means true."""

IfName = Annotated[str, BeforeValidator(_ifname)]
"""A Linux interface name (at most 15 characters)."""

Version = Annotated[Literal[2, 3], BeforeValidator(_int_from_text)]
"""VRRP protocol version: 2 (RFC 3768) or 3 (RFC 5798/9568)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VirtualAddress(_Model, VirtualAddressFacts):
    """One ``virtual_ipaddress`` entry: ``ADDR[/PREFIX] [brd X] [dev IF] [scope S] [label L]``.

    Attributes:
        address: the address (IPv4 or IPv6).
        prefixlen: prefix length; keepalived's default is 32 for IPv4, 128 for IPv6.
        brd: broadcast address (IPv4 only; keepalived ``brd``/``broadcast``).
        dev: interface to add it on (default: the instance's ``interface``).
        scope: address scope (``global``, ``site``, ``link``, ``host``, ``nowhere``
            or a number), as written.
        label: ``ifconfig``-style alias label, e.g. ``eth0:1`` (IPv4 only).
        use_vmac: keepalived's per-VIP ``use_vmac``: on another interface (or of the other
            family) the VIP gets a VMAC there, as with the instance's ``use_vmac_addr``.
        line: line it was written on (0 when built in code). Not part of equality:
            moving a VIP in the file does not change it.
    """

    address: IPAddress
    prefixlen: Int
    brd: IPv4Address | None = None
    dev: IfName | None = None
    scope: str | None = None
    label: Annotated[str, Field(min_length=1, max_length=15)] | None = None
    use_vmac: bool = False
    line: int = 0

    def _key(self) -> tuple[Any, ...]:
        return (self.address, self.prefixlen, self.brd, self.dev, self.scope, self.label, self.use_vmac)

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


Weight = Annotated[Int, Field(ge=-253, le=253)]
"""A tracker weight: added to the priority while OK (positive) or subtracted while failing
(negative); 0 means "FAULT when failing"."""


class Script(_Model, ScriptFacts):
    """A command keepalived runs: ``notify_*`` hooks and ``vrrp_script``'s ``script``.

    keepalived splits the command string on whitespace (quotes inside it group
    words) and executes it directly, without a shell, unless it starts with
    ``<`` (``"</dev/tcp/127.0.0.1/80"``), which keepalived hands to ``/bin/sh``.

    Attributes:
        command: the command string as written (one word of the config line).
        argv: the command split into arguments; ``argv[0]`` is the program.
        user: user to run it as (``notify_* CMD USER [GROUP]``), ``None`` = default.
        group: group to run it as, ``None`` = the user's group.
    """

    command: Annotated[str, Field(min_length=1)]
    argv: list[str]
    user: str | None = None
    group: str | None = None


class TrackInterface(_Model):
    """One ``track_interface`` line: ``IF [weight W [reverse]]``.

    Attributes:
        interface: interface whose link state is tracked.
        weight: -253..253; 0 (default) = the instance goes FAULT when the link is down.
        reverse: invert the weight's sense (keepalived ``reverse``).
    """

    interface: IfName
    weight: Weight = 0
    reverse: bool = False


class TrackRef(_Model):
    """One ``track_script`` / ``track_file`` / ``track_process`` / ``track_bfd`` line: ``NAME [weight W [reverse]]``.

    Attributes:
        name: the ``vrrp_script`` / ``track_file`` / ``vrrp_track_process`` / ``bfd_instance`` tracked.
        weight: overrides the tracked object's own weight; ``None`` = use it.
        reverse: invert the weight's sense.
    """

    name: str
    weight: Weight | None = None
    reverse: bool = False


class Route(_Model):
    """One ``virtual_routes`` / ``static_routes`` line (``ip route`` syntax), or a rule line.

    vipd keeps the words as written (addresses checked); it does not install
    routes or rules yet.

    Attributes:
        words: the line's words (``["192.168.0.0/24", "via", "192.0.2.1", "dev", "eth0"]``).
        line: where it was written (not part of equality).
    """

    words: list[str]
    line: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Route):
            return NotImplemented
        return self.words == other.words

    def __hash__(self) -> int:
        return hash(tuple(self.words))


class VrrpScript(_Model):
    """``vrrp_script NAME { ... }``: a periodic health-check command.

    Attributes:
        name: the script name ``track_script`` refers to.
        script: the command (required: keepalived drops a vrrp_script without one).
        interval: seconds between runs (default 1).
        timeout: seconds before a run counts as failed; ``None`` = ``interval``.
        weight: -253..253 (default 0: failure puts the instance in FAULT).
        weight_reverse: ``weight W reverse``.
        rise: successes needed to become OK (default 1).
        fall: failures needed to become KO (default 1).
        user, group: who runs it (``None`` = ``script_user`` / the default).
        init_fail: start in the failed state (default: OK).
    """

    name: str
    script: Script
    interval: Annotated[Seconds, Field(gt=0, le=86400)] = 1.0
    timeout: Annotated[Seconds, Field(gt=0, le=86400)] | None = None
    weight: Weight = 0
    weight_reverse: bool = False
    rise: Annotated[Int, Field(ge=1, le=10000)] = 1
    fall: Annotated[Int, Field(ge=1, le=10000)] = 1
    user: str | None = None
    group: str | None = None
    init_fail: Bool = False


class VrrpCheck(_Model):
    """``vrrp_check NAME { ... }`` (vipd): a built-in or plugin check, named by ``track_script``.

    keepalived has no such block; it lets ``track_script`` use a check that needs
    no fork (``tcp``, ``http``) or a third-party plugin (entry-point group
    ``vipd.checks``).

    Attributes:
        name: the name ``track_script`` refers to (must differ from every ``vrrp_script``).
        type: the plugin: ``tcp``, ``http``, or an installed plugin's name.
        interval: seconds between runs (default 1).
        timeout: seconds before a run counts as failed; ``None`` = ``interval``.
        weight: -253..253 (default 0: failure puts the instance in FAULT).
        weight_reverse: ``weight W reverse``.
        rise, fall: consecutive passes / failures to change state (default 1).
        init_fail: start in the failed state.
        connect_ip, connect_port, bindto: ``tcp``: where to connect (default
            host 127.0.0.1) and the source address.
        url: ``http``: ``http://`` or ``https://`` URL to GET.
        status_code: ``http``: accepted status codes and ranges, as keepalived's
            HTTP_GET ``status_code`` (default ``["200-299"]``, keepalived's default).
        digest: ``http``: MD5 of the whole (de-chunked) body in hex, as
            keepalived's HTTP_GET ``digest`` (``genhash``); None = not checked.
        body_match: ``http``: regular expression the body must contain.
        tls_verify: ``http``: verify the server certificate (default on).
        host_header: ``http``: ``Host:`` header to send.
        options: ``option KEY VALUE...`` lines, handed to a plugin as strings.
    """

    name: str
    type: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    interval: Annotated[Seconds, Field(gt=0, le=86400)] = 1.0
    timeout: Annotated[Seconds, Field(gt=0, le=86400)] | None = None
    weight: Weight = 0
    weight_reverse: bool = False
    rise: Annotated[Int, Field(ge=1, le=10000)] = 1
    fall: Annotated[Int, Field(ge=1, le=10000)] = 1
    init_fail: Bool = False
    connect_ip: str | None = None
    connect_port: Annotated[Int, Field(ge=1, le=65535)] | None = None
    bindto: IPAddress | None = None
    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$")] | None = None
    status_code: list[StatusCode] = Field(default_factory=lambda: ["200-299"])
    digest: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = None
    body_match: str | None = None
    tls_verify: Bool = True
    host_header: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> VrrpCheck:
        if self.type == "tcp" and self.connect_port is None:
            raise PydanticCustomError("kv_check", "type tcp needs connect_port", {})
        if self.type == "http" and self.url is None:
            raise PydanticCustomError("kv_check", "type http needs url", {})
        if self.body_match is not None:
            try:
                re.compile(self.body_match)
            except re.error as e:
                raise PydanticCustomError(
                    "kv_check", "body_match is not a valid regular expression: {why}", {"why": str(e)}
                ) from None
        return self


class TrackFile(_Model):
    """``track_file NAME { ... }``: an integer read from a file, times a weight.

    Attributes:
        name: the name ``track_file { NAME }`` refers to.
        file: path of the file.
        weight: multiplier -253..253 (default 1; 0 = non-zero content means FAULT).
        reverse: invert the weight's sense.
        init_file: create the file with this value at start (``init_file [V]``; V default 0).
        init_overwrite: overwrite an existing file (``init_file V overwrite``).
    """

    name: str
    file: Annotated[str, Field(min_length=1)]
    weight: Weight = 1
    reverse: bool = False
    init_file: Int | None = None
    init_overwrite: bool = False


class TrackProcess(_Model):
    """``vrrp_track_process NAME { ... }``: presence of a process.

    Attributes:
        name: the name ``track_process { NAME }`` refers to.
        process: process name (``comm``), or full command line with ``full_command``.
        args: arguments to match (``process NAME ARGS...``).
        param_match: ``initial`` or ``partial`` argument matching, ``None`` = exact.
        full_command: match the whole command line, not the name.
        weight: -253..253 (default 0: absence puts the instance in FAULT).
        reverse: invert the weight's sense.
        quorum: minimum number of matching processes (default 1).
        quorum_max: maximum number (``None`` = no maximum).
        delay: seconds to wait before acting on a change (``delay``), both ways.
        terminate_delay: seconds to wait after a process goes away.
        fork_delay: seconds to wait after a process starts.
    """

    name: str
    process: Annotated[str, Field(min_length=1)]
    args: list[str] = Field(default_factory=list)
    param_match: Literal["initial", "partial"] | None = None
    full_command: Bool = False
    weight: Weight = 0
    reverse: bool = False
    quorum: Annotated[Int, Field(ge=0, le=65535)] = 1
    quorum_max: Annotated[Int, Field(ge=0, le=65535)] | None = None
    delay: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    terminate_delay: Annotated[Seconds, Field(ge=0, le=86400)] | None = None
    fork_delay: Annotated[Seconds, Field(ge=0, le=86400)] | None = None


BFD_TIME_MAX = 4294967.295
"""Seconds: keepalived's BFD timers top out at UINT32_MAX microseconds."""


class BfdInstance(_Model):
    """``bfd_instance NAME { ... }``: one BFD session (RFC 5880/5881), keepalived's keywords.

    Times are written in milliseconds in the file (keepalived) and held here in seconds.

    Attributes:
        name: the name ``track_bfd { NAME }`` refers to (at most 31 characters, keepalived).
        neighbor_ip: the peer (``neighbor_ip``, also spelt ``neighbour_ip``); required.
        source_ip: our source address, same family (optional).
        min_rx: Required Min RX Interval, seconds (``min_rx`` ms, default 10 ms).
        min_tx: Desired Min TX Interval while Up, seconds (``min_tx`` ms, default 10 ms).
        idle_tx: Desired Min TX Interval while not Up, seconds (``idle_tx`` ms, 1000 ms minimum and
            default; RFC 5880 §6.8.3).
        multiplier: Detect Mult 1..255 (default 5).
        passive: take the Passive role (RFC 5880 §6.1).
        ttl: TTL / hop limit sent, 1..255 (``ttl`` or ``hoplimit``; default 255 for both families: RFC 5881
            §5. keepalived defaults the IPv6 hop limit to 64, which RFC 5881 receivers such as FRR drop).
        max_hops: accepted reduction of the received TTL, -1..255 (default 0: exactly ``ttl``; 255 or -1:
            no check); more than ``ttl`` is an error (keepalived clamps it).
        multihop: RFC 5883 multihop, UDP port 4784 (keepalived ``multihop``, newer than 2.2.7).
        weight, reverse: default weight of ``track_bfd`` lines naming this instance (-253..253, default 0).
    """

    name: Annotated[str, Field(max_length=31)]
    neighbor_ip: IPAddress
    source_ip: IPAddress | None = None
    min_rx: _millis(1, BFD_TIME_MAX * 1000) = 0.010  # type: ignore[valid-type]
    min_tx: _millis(1, BFD_TIME_MAX * 1000) = 0.010  # type: ignore[valid-type]
    idle_tx: _millis(1000, BFD_TIME_MAX * 1000) = 1.0  # type: ignore[valid-type]
    multiplier: Annotated[Int, Field(ge=1, le=255)] = 5
    passive: Bool = False
    ttl: Annotated[Int, Field(ge=1, le=255)] = 255
    max_hops: Annotated[Int, Field(ge=-1, le=255)] = 0
    multihop: Bool = False
    weight: Weight = 0
    reverse: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> BfdInstance:
        if self.source_ip is not None and type(self.source_ip) is not type(self.neighbor_ip):
            raise PydanticCustomError(
                "kv_bfd",
                "source_ip {src} and neighbor_ip {nbr} are not of the same family",
                {"src": str(self.source_ip), "nbr": str(self.neighbor_ip)},
            )
        if isinstance(self.neighbor_ip, IPv6Address) and self.neighbor_ip.is_link_local:
            raise PydanticCustomError(
                "kv_bfd",
                "neighbor_ip {nbr} is link-local: vipd cannot tell which link to use (give a global address)",
                {"nbr": str(self.neighbor_ip)},
            )
        if 0 <= self.ttl < self.max_hops < 255:
            raise PydanticCustomError(
                "kv_bfd", "max_hops {hops} exceeds ttl/hoplimit {ttl}", {"hops": self.max_hops, "ttl": self.ttl}
            )
        return self


class SyncGroup(_Model):
    """``vrrp_sync_group NAME { group { VI_1 VI_2 } ... }``: instances that change state together.

    Attributes:
        name: group name.
        group: member instance names (each instance in at most one group).
        track_interface, track_script, track_file, track_process, track_bfd: trackers applied
            to every member.
        notify_master, notify_backup, notify_fault, notify_stop: hooks run on the
            group's transitions; ``notify``: generic hook (``GROUP NAME STATE 0``).
        sync_group_tracking_weight: let members' tracker weights apply (keepalived
            ignores them in a sync group otherwise).
        notify_priority_changes: members write their priority changes to the notify
            FIFOs (``None``: global ``vrrp_notify_priority_changes``).
    """

    name: str
    group: list[str]
    track_interface: list[TrackInterface] = Field(default_factory=list)
    track_script: list[TrackRef] = Field(default_factory=list)
    track_file: list[TrackRef] = Field(default_factory=list)
    track_process: list[TrackRef] = Field(default_factory=list)
    track_bfd: list[TrackRef] = Field(default_factory=list)
    notify_master: Script | None = None
    notify_backup: Script | None = None
    notify_fault: Script | None = None
    notify_stop: Script | None = None
    notify: Script | None = None
    sync_group_tracking_weight: Bool = False
    notify_priority_changes: Bool | None = None


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
        vrrp_garp_lower_prio_delay, vrrp_garp_lower_prio_repeat: the GARP burst a
            master sends when it hears a lower priority (seconds / count; ``None`` =
            the ``vrrp_garp_master_*`` values).
        vrrp_garp_interval, vrrp_gna_interval: seconds between single GARPs / NAs
            (default 0).
        vrrp_mcast_group4, vrrp_mcast_group6: advert destinations (224.0.0.18, ff02::12).
        vrrp_strict: enforce keepalived's strict RFC mode on every instance.
        vrrp_check_unicast_src: accept unicast adverts only from listed peers.
        vrrp_skip_check_adv_addr: do not compare the address list of adverts.
        vrrp_lower_prio_no_advert: a master does not answer a lower-priority advert
            (``None`` = keepalived's default: on in strict mode, off otherwise).
        vrrp_higher_prio_send_advert: a yielding master sends one more advert.
        vrrp_down_timer_adverts: adverts missed before master-down (RFC: 3).
        v3_checksum_as_v2: VRRPv3/IPv4 checksum without the pseudo-header.
        vrrp_startup_delay: seconds to wait before starting the instances.
        dynamic_interfaces: allow interfaces that do not exist yet.
        enable_script_security: refuse scripts writable by non-root users.
        script_user, script_group: default user/group for scripts.
        vrrp_notify_fifo, notify_fifo: FIFO paths for state events.
        nftables: keepalived ``nftables [NAME]``: the ``inet`` table vipd writes its
            Accept_Mode rules into (bare keyword: ``keepalived``; ``None``: ``vipd``).
        nftables_priority: priority of those chains (keepalived default -1).
        nftables_counters: a counter on every Accept_Mode drop rule.
        nftables_ifindex: link-local IPv6 VIPs matched by interface index, not name.
        vrrp_iptables: keepalived ``vrrp_iptables [IN [OUT]]``: the chain names;
            vipd writes the same rules with nftables (the names are not used).
        default_interface: keepalived ``default_interface``: the device of ``static_ipaddress``
            entries without ``dev`` (``None``: keepalived's ``eth0``). keepalived 2.2.7 uses it
            for nothing else (``get_default_if``); an instance still names its ``interface``.
        vrrp_min_garp: keepalived ``vrrp_min_garp``: ``vrrp_garp_master_repeat`` 1,
            ``_delay`` 0, ``_refresh`` 0 and ``_refresh_repeat`` 0 unless written.
        vrrp_garp_extra_if, vrrp_garp_extra_if_all: default of the instances'
            ``garp_extra_if [all] DELAY`` (seconds; ``None`` = off).
        vrrp_owner_ignore_adverts: default of ``owner_ignore_adverts``.
        set_supplementary_groups: scripts run with their user's supplementary groups
            (keepalived default: none).
        notify_fifo_script, vrrp_notify_fifo_script: commands started with the
            ``notify_fifo`` / ``vrrp_notify_fifo`` path as last argument, to read it.
        vrrp_notify_priority_changes: default of ``notify_priority_changes``.
        fifo_write_vrrp_states_on_reload: after a reload, write every instance's and
            group's state to the notify FIFOs.
        vmac_prefix: name prefix of VMACs without ``use_vmac NAME`` (default ``vrrp``:
            ``vrrp.VRID``); vmac_addr_prefix: the same for ``use_vmac_addr`` VMACs.
        log_unknown_vrids: log adverts for VRIDs no instance has (they are counted
            either way; without it they are logged at debug level only).
        vipd_metrics_listen: vipd's own keyword: ``HOST:PORT`` (``[V6]:PORT``, or
            ``PORT`` on 127.0.0.1) to serve Prometheus ``/metrics`` on; ``None`` = off.
            Read at start-up; ``vipd --metrics-listen`` wins over it.
        vipd_recorder_size: vipd's own keyword: how many events the flight recorder
            keeps (``vipctl events``, ``vipctl capture``; 1..1000000, default 1000).
            Each event is a few hundred bytes; a transition also holds up to 15 adverts.
            Read at start-up.
    """

    router_id: str | None = None
    vrrp_version: Version = 2
    vrrp_garp_master_delay: Annotated[Seconds, Field(ge=0, le=86400)] = 5.0
    vrrp_garp_master_repeat: Annotated[Int, Field(ge=0, le=10000)] = 5
    vrrp_garp_master_refresh: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    vrrp_garp_master_refresh_repeat: Annotated[Int, Field(ge=0, le=10000)] = 1
    vrrp_garp_lower_prio_delay: Annotated[Seconds, Field(ge=0, le=86400)] | None = None
    vrrp_garp_lower_prio_repeat: Annotated[Int, Field(ge=0, le=10000)] | None = None
    vrrp_garp_interval: Annotated[Seconds, Field(ge=0, le=4294.967295)] = 0.0
    vrrp_gna_interval: Annotated[Seconds, Field(ge=0, le=4294.967295)] = 0.0
    vrrp_mcast_group4: IPv4Address = IPv4Address("224.0.0.18")
    vrrp_mcast_group6: IPv6Address = IPv6Address("ff02::12")
    vrrp_strict: Bool = False
    nftables: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")] | None = None
    nftables_priority: Annotated[Int, Field(ge=-(2**31), le=2**31 - 1)] = -1
    nftables_counters: Bool = False
    nftables_ifindex: Bool = False
    vrrp_iptables: list[str] | None = None
    vrrp_check_unicast_src: Bool = False
    vrrp_skip_check_adv_addr: Bool = False
    vrrp_lower_prio_no_advert: Bool | None = None
    vrrp_higher_prio_send_advert: Bool = False
    vrrp_down_timer_adverts: Annotated[Int, Field(ge=1, le=100)] = 3
    v3_checksum_as_v2: Bool = False
    vrrp_startup_delay: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    dynamic_interfaces: Bool = False
    enable_script_security: Bool = False
    script_user: str | None = None
    script_group: str | None = None
    vrrp_notify_fifo: str | None = None
    notify_fifo: str | None = None
    vipd_metrics_listen: str | None = None
    default_interface: IfName | None = None
    vrrp_min_garp: Bool = False
    vrrp_garp_extra_if: Annotated[Int, Field(ge=1, le=86400)] | None = None
    vrrp_garp_extra_if_all: bool = False
    vrrp_owner_ignore_adverts: Bool = False
    set_supplementary_groups: Bool = False
    notify_fifo_script: Script | None = None
    vrrp_notify_fifo_script: Script | None = None
    vrrp_notify_priority_changes: Bool = False
    fifo_write_vrrp_states_on_reload: Bool = False
    vmac_prefix: IfName | None = None
    vmac_addr_prefix: IfName | None = None
    log_unknown_vrids: Bool = False

    @model_validator(mode="after")
    def _min_garp(self) -> GlobalDefs:
        """keepalived ``vrrp_min_garp``: one GARP/NA, no second burst, no refresh, unless set explicitly.

        keepalived (``vrrp_min_garp_handler``) changes only the values still at their
        defaults; vipd does the same for the values not written in the file.
        """
        if self.vrrp_min_garp:
            for key, value in (
                ("vrrp_garp_master_repeat", 1),
                ("vrrp_garp_master_delay", 0.0),
                ("vrrp_garp_master_refresh", 0.0),
                ("vrrp_garp_master_refresh_repeat", 0),
            ):
                if key not in self.model_fields_set:
                    object.__setattr__(self, key, value)  # frozen model: set once, here
        return self

    vipd_recorder_size: Annotated[Int, Field(ge=1, le=1_000_000)] = 1000


class VrrpInstance(_Model, VrrpInstanceFacts):
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
        unicast_ttl: TTL of unicast adverts (``None`` = 255).
        unicast_peer_ttl: per-peer accepted TTL range of received adverts, ``{"ADDR":
            (min_ttl, max_ttl)}`` (keepalived ``unicast_peer { ADDR min_ttl N max_ttl M }``);
            peers not listed accept any TTL.
        unicast_fault_no_peer: go FAULT (rather than multicast) with no peers.
        check_unicast_src: accept unicast adverts only from ``unicast_peer``
            (default: ``global_defs`` ``vrrp_check_unicast_src``).
        mcast_dst_ip: multicast group for this instance (``None`` = the global one).
        native_ipv6: force IPv6 (deprecated in keepalived; the family comes from the VIPs).
        virtual_ipaddress_excluded: addresses moved with the state but not listed in
            adverts (any family).
        virtual_routes, virtual_rules: routes/rules installed while master
            (``ip route`` / ``ip rule`` syntax, kept as words).
        track_interface, track_script, track_file, track_process, track_bfd: trackers that
            adjust the priority or force FAULT.
        vipd_bfd_master_down: vipd only: the ``bfd_instance`` whose session to the master lets
            this backup take over at once when it goes Down (draft-ietf-rtgwg-vrrp-bfd-p2p);
            None = off.
        dont_track_primary: ignore link faults of ``interface`` itself.
        notify_master, notify_backup, notify_fault, notify_stop, notify_deleted,
        notify_master_rx_lower_pri: hooks run on entering that state; ``notify``:
            generic hook called with ``INSTANCE NAME STATE PRIORITY``.
        vipd_notify_master_before_vip: vipd only: a hook run on becoming master after the
            first advert and before the VIPs are added; the VIPs, the GARPs and the
            notify hooks wait for it (adverts do not). vipd_notify_before_vip_removal:
            vipd only: a hook run on leaving master before the VIPs are removed.
        vipd_before_vip_timeout: seconds either hook may run before its process group is
            killed (default 10). vipd_before_vip_on_failure: what a failed or timed-out
            ``vipd_notify_master_before_vip`` does: ``continue`` (add the VIPs anyway) or
            ``yield`` (hand over with priority 0, as ``vipctl handover --force``). A failed
            removal hook always lets the removal go on.
        use_vmac: put the VIPs on a macvlan with the VRRP virtual MAC;
            ``vmac_name`` names it; ``vmac_xmit_base``: send adverts on the base interface.
        accept: a non-owner master accepts traffic to its VIPs (keepalived default:
            on, off in strict mode; ``no_accept`` turns it off).
        strict_mode: keepalived strict RFC mode (default: global ``vrrp_strict``).
        skip_check_adv_addr, lower_prio_no_advert, higher_prio_send_advert,
        v3_checksum_as_v2: per-instance versions of the ``global_defs`` settings.
        garp_lower_prio_delay, garp_lower_prio_repeat: seconds / count of the GARP
            burst when a lower-priority advert is heard as master (default: the
            ``garp_master_*`` values).
        down_timer_adverts: adverts missed before master-down, 1..100 (RFC: 3).
        no_virtual_ipaddress: an instance without VIPs is intended: no warning, and
            VRRPv3 is allowed (adverts then carry no address, which RFC 5798 does not allow).
        owner_ignore_adverts: as address owner (priority 255), drop every advert
            received (``None``: on in strict mode, else global ``vrrp_owner_ignore_adverts``).
        notify_priority_changes: write ``INSTANCE "NAME" MASTER_PRIORITY|BACKUP_PRIORITY P``
            to the notify FIFOs on each priority change (``None``: the sync group's,
            else global ``vrrp_notify_priority_changes``).
        promote_secondaries: set ``net.ipv4.conf.IF.promote_secondaries`` on the interface
            while the instance runs (and clear it at exit if vipd set it).
        track_src_ip: FAULT while the configured ``unicast_src_ip``/``mcast_src_ip`` is not
            an address of the host (no effect without one).
        use_vmac_addr: VIPs on another interface (``dev``) or of the other family get a VMAC
            on that interface (named ``vmac_addr_prefix.VRID``).
        garp_extra_if, garp_extra_if_all: ``garp_extra_if [all] DELAY``: every DELAY
            seconds while master, GARP/NA for the VIPs on interfaces other than the
            instance's (without ``all`` only on the VMACs of ``use_vmac_addr``);
            ``None``: global ``vrrp_garp_extra_if``; 0: off.
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
    unicast_ttl: Annotated[Int, Field(ge=1, le=255)] | None = None
    unicast_peer_ttl: dict[str, tuple[int, int]] = Field(default_factory=dict)
    unicast_fault_no_peer: Bool = False
    check_unicast_src: Bool = False
    mcast_dst_ip: IPAddress | None = None
    native_ipv6: Bool = False
    virtual_ipaddress_excluded: list[VirtualAddress] = Field(default_factory=list)
    virtual_routes: list[Route] = Field(default_factory=list)
    virtual_rules: list[Route] = Field(default_factory=list)
    track_interface: list[TrackInterface] = Field(default_factory=list)
    track_script: list[TrackRef] = Field(default_factory=list)
    track_file: list[TrackRef] = Field(default_factory=list)
    track_process: list[TrackRef] = Field(default_factory=list)
    track_bfd: list[TrackRef] = Field(default_factory=list)
    vipd_bfd_master_down: str | None = None
    dont_track_primary: Bool = False
    notify_master: Script | None = None
    notify_backup: Script | None = None
    notify_fault: Script | None = None
    notify_stop: Script | None = None
    notify_deleted: Script | None = None
    notify_master_rx_lower_pri: Script | None = None
    vipd_notify_master_before_vip: Script | None = None
    vipd_notify_before_vip_removal: Script | None = None
    vipd_before_vip_timeout: Annotated[Seconds, Field(gt=0, le=3600)] = 10.0
    vipd_before_vip_on_failure: Literal["continue", "yield"] = "continue"
    notify: Script | None = None
    use_vmac: Bool = False
    vmac_name: IfName | None = None
    vmac_xmit_base: Bool = False
    accept: Bool = True
    strict_mode: Bool = False
    skip_check_adv_addr: Bool = False
    lower_prio_no_advert: Bool = False
    higher_prio_send_advert: Bool = False
    garp_lower_prio_delay: Annotated[Seconds, Field(ge=0, le=86400)] = 5.0
    garp_lower_prio_repeat: Annotated[Int, Field(ge=0, le=10000)] = 5
    down_timer_adverts: Annotated[Int, Field(ge=1, le=100)] = 3
    v3_checksum_as_v2: Bool = False
    no_virtual_ipaddress: Bool = False
    owner_ignore_adverts: Bool | None = None
    notify_priority_changes: Bool | None = None
    promote_secondaries: Bool = False
    track_src_ip: Bool = False
    garp_extra_if: Annotated[Int, Field(ge=0, le=86400)] | None = None
    garp_extra_if_all: bool = False
    use_vmac_addr: Bool = False

    @model_validator(mode="before")
    @classmethod
    def _dependent_defaults(cls, data: Any) -> Any:
        """keepalived's defaults that follow other fields (lower-prio GARPs, strict mode)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        peers = data.get("unicast_peer")
        if isinstance(peers, list) and any(isinstance(p, dict) for p in peers):
            # unicast_peer { ADDR min_ttl N max_ttl M }: the addresses stay a list; the bounds go aside.
            ttl = dict(data.get("unicast_peer_ttl") or {})
            for p in peers:
                if isinstance(p, dict):
                    ttl[str(p["address"])] = (p["min_ttl"], p["max_ttl"])
            data["unicast_peer"] = [p["address"] if isinstance(p, dict) else p for p in peers]
            data["unicast_peer_ttl"] = ttl
        strict = data.get("strict_mode", False)
        if isinstance(strict, bool):
            data.setdefault("accept", not strict)
            data.setdefault("lower_prio_no_advert", strict)
        return data

    @model_validator(mode="after")
    def _lower_prio_follows_master(self) -> VrrpInstance:
        """keepalived: ``garp_lower_prio_delay``/``_repeat`` not given default to ``garp_master_delay``/``_repeat``.

        Applied after validation, so a bad ``garp_master_*`` value is reported once, at its own line,
        not a second time through the copy (found by the structured config fuzzer).
        """
        for lower, master in (
            ("garp_lower_prio_delay", "garp_master_delay"),
            ("garp_lower_prio_repeat", "garp_master_repeat"),
        ):
            if lower not in self.model_fields_set:
                object.__setattr__(self, lower, getattr(self, master))  # frozen model: set once, here
        return self


class GarpGroup(_Model, GarpGroupFacts):
    """One ``garp_group { ... }``: GARP/NA spacing for an interface or a set of interfaces.

    Attributes:
        garp_interval, gna_interval: seconds between gratuitous ARPs / unsolicited NAs sent on
            these interfaces (``None``: the global ``vrrp_garp_interval`` / ``vrrp_gna_interval``).
        interface: the interface (keepalived: one of ``interface`` or ``interfaces``).
        interfaces: the interfaces.
    """

    garp_interval: Annotated[Seconds, Field(ge=0, le=4294.967295)] | None = None
    gna_interval: Annotated[Seconds, Field(ge=0, le=4294.967295)] | None = None
    interface: IfName | None = None
    interfaces: list[IfName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_of(self) -> GarpGroup:
        if (self.interface is None) == (not self.interfaces):
            raise PydanticCustomError("kv_garp_group", "give exactly one of 'interface' or 'interfaces'", {})
        return self


class UpDownDelay(_Model):
    """One ``interface_up_down_delays`` line: how long a link change waits before instances see it.

    Attributes:
        interface: the link.
        down_delay: seconds, 0..255, a link going down waits before instances go FAULT; it
            is cancelled if the link comes back first.
        up_delay: seconds, 0..255, before a link coming up clears the FAULT (keepalived's
            code makes an omitted value 0).
    """

    interface: IfName
    down_delay: Annotated[Seconds, Field(ge=0, le=255)]
    up_delay: Annotated[Seconds, Field(ge=0, le=255)] = 0.0


class Config(_Model):
    """A whole keepalived configuration as vipd understands it.

    Attributes:
        global_defs: the ``global_defs`` block (defaults when absent).
        vrrp_instances: ``vrrp_instance`` blocks by name, in file order.
        vrrp_scripts: ``vrrp_script`` blocks by name.
        vrrp_checks: ``vrrp_check`` blocks (vipd) by name.
        vrrp_sync_groups: ``vrrp_sync_group`` blocks by name.
        track_files: ``track_file`` (``vrrp_track_file``) blocks by name.
        vrrp_track_processes: ``vrrp_track_process`` blocks by name.
        bfd_instances: ``bfd_instance`` blocks by name.
        static_ipaddress, static_routes, static_rules: keepalived's permanent
            addresses/routes/rules (parsed and checked; vipd does not install them).
        interface_up_down_delays: per-link debounce of up/down changes.
        garp_groups: ``garp_group`` blocks (GARP/NA spacing per interface).
        source: path of the main configuration file (``"<string>"`` for text).
    """

    global_defs: GlobalDefs = Field(default_factory=GlobalDefs)
    vrrp_instances: dict[str, VrrpInstance] = Field(default_factory=dict)
    vrrp_scripts: dict[str, VrrpScript] = Field(default_factory=dict)
    vrrp_checks: dict[str, VrrpCheck] = Field(default_factory=dict)
    vrrp_sync_groups: dict[str, SyncGroup] = Field(default_factory=dict)
    track_files: dict[str, TrackFile] = Field(default_factory=dict)
    vrrp_track_processes: dict[str, TrackProcess] = Field(default_factory=dict)
    bfd_instances: dict[str, BfdInstance] = Field(default_factory=dict)
    static_ipaddress: list[VirtualAddress] = Field(default_factory=list)
    static_routes: list[Route] = Field(default_factory=list)
    static_rules: list[Route] = Field(default_factory=list)
    interface_up_down_delays: list[UpDownDelay] = Field(default_factory=list)
    garp_groups: list[GarpGroup] = Field(default_factory=list)
    source: str = ""
