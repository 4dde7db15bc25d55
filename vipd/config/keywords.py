"""The keyword tables: which keepalived keywords vipd reads, where, and how.

One table per block kind. A keyword missing from its table is an error with a
"did you mean" hint; a keepalived keyword vipd does not act on is listed as
:class:`~vipd.config.grammar.Ignored` so that it is named in a warning instead.

Size: over 400 lines: it is the table of every keepalived keyword vipd reads, one entry each.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipd.config.diagnostics import Path
from vipd.config.grammar import (
    Ctx,
    Deprecated,
    Flag,
    Ignored,
    InitFileValue,
    ListOf,
    Lvs,
    Named,
    ProcessValue,
    Raw,
    ScriptValue,
    Spec,
    Sub,
    Table,
    UserValue,
    Value,
    VmacValue,
    WeightValue,
    parse_ip,
    parse_member,
    parse_peer,
    parse_route,
    parse_rule,
    parse_track_interface,
    parse_track_ref,
    parse_vip,
    read_block,
    register_table,
)
from vipd.config.lexer import Token
from vipd.config.tree import Node

AUTH_PASS_MAX = 8
"""keepalived keeps the first 8 characters of ``auth_pass`` (the VRRPv2 auth field)."""


@dataclass
class AuthPass(Value):
    """``auth_pass X``: truncated to 8 characters like keepalived, with a warning."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        before = len(target.get("auth_pass", "")) if isinstance(target.get("auth_pass"), str) else None
        super().apply(node, target, path, ctx)
        value = target.get("auth_pass")
        if isinstance(value, str) and len(value) > AUTH_PASS_MAX and before is None:
            target["auth_pass"] = value[:AUTH_PASS_MAX]
            ctx.warning(
                node,
                node.name,
                f"password is {len(value)} characters; keepalived and vipd use only the first "
                f"{AUTH_PASS_MAX} ({value[:AUTH_PASS_MAX]!r})",
            )


def _ignored(reason: str, *names: str) -> Table:
    spec = Ignored(reason=reason)
    return dict.fromkeys(names, spec)


def parse_listen_address(text: str) -> str:
    """Check a ``HOST:PORT`` / ``[V6]:PORT`` / ``PORT`` listen address (vipd ``vipd_metrics_listen``).

    Returns:
        the text, stripped (the metrics server parses it again; host default 127.0.0.1).
    Raises:
        ValueError: not of that shape, or the port is not 0..65535.
    """
    text = text.strip()
    if text.startswith("["):
        _host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [ADDRESS]:PORT, got {text!r}")
    elif ":" in text:
        port = text.rpartition(":")[2]
    else:
        port = text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port 0..65535, got {text!r}")
    return text


_NOT_YET = "recognised keepalived keyword, not implemented by vipd yet"
_EMAIL = "vipd does not send e-mail (use notify scripts)"
_SNMP = "vipd has no SNMP/DBus agent (it exports Prometheus metrics)"
_PROCESS = "keepalived process/daemon housekeeping, not applicable to vipd"
_LVS_GLOBAL = "LVS/IPVS setting; vipd does not implement LVS"


@dataclass
class OptionalWord(Spec):
    """``keyword [WORD]``: stores the word, or ``default`` when the keyword stands alone."""

    default: str = ""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is not None or len(node.args) > 1:
            ctx.error(node, node.name, "takes at most one value")
            return
        if node.name in target:
            ctx.error(node, node.name, "given twice in this block")
            return
        target[node.name] = node.args[0].text if node.args else self.default
        ctx.mark((*path, node.name), node, node.name)


@dataclass
class AnyWords(Spec):
    """``keyword [W1 W2...]``: stored as a list of words (possibly empty)."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is not None:
            ctx.error(node, node.name, "takes values on the line, not a { } block")
            return
        if node.name in target:
            ctx.error(node, node.name, "given twice in this block")
            return
        target[node.name] = [t.text for t in node.args]
        ctx.mark((*path, node.name), node, node.name)


@dataclass
class Refused(Spec):
    """A keepalived keyword vipd cannot honour as it runs: an error at its line with ``reason``.

    Refused rather than ignored because ignoring it would change what the
    configuration does (the operator must remove it or choose another way).
    """

    reason: str = ""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        ctx.error(node, node.name, f"refused: {self.reason}")


@dataclass
class GarpExtraIf(Spec):
    """keepalived ``[vrrp_]garp_extra_if [all] DELAY``: periodic GARP/NA on a VIP's other interfaces.

    Stores ``DELAY`` (whole seconds 1..86400; 0 in the instance form turns it off)
    under ``field`` and whether ``all`` was given under ``field + "_all"``.
    """

    field: str = "garp_extra_if"
    allow_zero: bool = False

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is not None:
            ctx.error(node, node.name, "takes [all] DELAY on the line, not a { } block")
            return
        delay: int | None = None
        every = False
        for tok in node.args:
            if tok.text == "all":
                every = True
            elif tok.text.isdigit() and (self.allow_zero or int(tok.text) >= 1) and int(tok.text) <= 86400:
                delay = int(tok.text)
            else:
                low = 0 if self.allow_zero else 1
                ctx.error(node, node.name, f"expected [all] DELAY with DELAY {low}..86400 seconds, got {tok.text!r}")
                return
        if delay is None:
            ctx.error(node, node.name, "needs a DELAY in seconds (keepalived ignores the line without one)")
            return
        target[self.field] = delay
        target[self.field + "_all"] = every
        ctx.mark((*path, self.field), node, node.name)
        ctx.mark((*path, self.field + "_all"), node, node.name)


_LINKBEAT = (
    "vipd follows link state from rtnetlink events (IFF_RUNNING/operstate), which every Linux driver with "
    "carrier detection sends; it has no MII/ethtool/ioctl poller for drivers that do not: remove the line"
)
_VRF = (
    "keepalived takes 'vrf' only for a unicast instance without 'interface'; vipd runs every instance on an "
    "interface (VIPs, receive sockets and link tracking need one): give 'interface' (an interface enslaved to "
    "a VRF is used as it is) and remove 'vrf'"
)
_IPVLAN = (
    "vipd does not create ipvlan devices (its VMACs are macvlans: use_vmac); an ipvlan carries its parent's MAC, "
    "not the VRRP virtual MAC: use use_vmac, or create the ipvlan and its address outside vipd and name it "
    "as the instance's interface"
)
_TRACK_GROUP = (
    "track_group makes instances track static_ipaddress/static_routes/static_rules, which vipd parses but does "
    "not install; nothing would be tracked: remove it (or move the address into a vrrp_instance)"
)


def parse_up_down(words: list[Token], ctx: Ctx, keyword: str) -> dict[str, object] | None:
    """One ``interface_up_down_delays`` line: ``IF DOWN_DELAY [UP_DELAY]`` (seconds, 0..255).

    keepalived 2.2.7's parser (``alloc_if_up_down_delay``) sets UP_DELAY to 0 when it is
    omitted; its man page says "the same as the down delay". vipd follows the code.
    """
    if len(words) not in (2, 3):
        ctx.error(words[0], keyword, f"{words[0].text}: expected IF DOWN_DELAY [UP_DELAY]")
        return None
    out: dict[str, object] = {"interface": words[0].text, "down_delay": words[1].text}
    if len(words) == 3:
        out["up_delay"] = words[2].text
    return out


@dataclass
class SubList(Sub):
    """``keyword { ... }`` that may be repeated: each block is read with ``table`` into a new dict
    appended to ``target[field]`` (keepalived ``garp_group``)."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is None or node.args:
            ctx.error(node, node.name, f"must be a block: '{node.name} {{ ... }}'")
            return
        key = self.field or node.name
        items: list[Raw] = target.setdefault(key, [])
        where = (*path, key, len(items))
        sub: Raw = {}
        items.append(sub)
        ctx.mark(where, node, node.name)
        read_block(node.children, self.table(), sub, where, ctx, node.name)


_FIREWALL = "vipd writes Accept_Mode rules with nftables sets of its own (see nftables)"

GLOBAL_DEFS: Table = register_table(
    "global_defs",
    {
        "router_id": Value(doc="node name used in notifications"),
        "vrrp_version": Value(doc="default VRRP version (2 or 3)"),
        "vrrp_garp_master_delay": Value(doc="seconds before the second GARP burst"),
        "vrrp_garp_master_repeat": Value(doc="GARPs per burst"),
        "vrrp_garp_master_refresh": Value(doc="seconds between GARP refreshes (0 = off)"),
        "vrrp_garp_master_refresh_repeat": Value(doc="GARPs per refresh"),
        "vrrp_garp_lower_prio_delay": Value(doc="seconds before the second GARP burst after a lower-prio advert"),
        "vrrp_garp_lower_prio_repeat": Value(doc="GARPs per burst after a lower-prio advert"),
        "vrrp_garp_interval": Value(doc="seconds between single GARPs"),
        "vrrp_gna_interval": Value(doc="seconds between single unsolicited NAs"),
        "vrrp_mcast_group4": Value(doc="IPv4 advert group", pending=True),
        "vrrp_mcast_group6": Value(doc="IPv6 advert group", pending=True),
        "vrrp_strict": Flag(doc="strict RFC mode for every instance (its config rules are enforced)", pending=True),
        "vrrp_check_unicast_src": Flag(doc="accept unicast adverts only from peers (vipd always does)"),
        "vrrp_skip_check_adv_addr": Flag(doc="skip the advert address-list check"),
        "vrrp_lower_prio_no_advert": Flag(doc="do not answer lower-priority adverts", pending=True),
        "vrrp_higher_prio_send_advert": Flag(doc="send one more advert when yielding", pending=True),
        "vrrp_down_timer_adverts": Value(doc="adverts missed before master-down", pending=True),
        "v3_checksum_as_v2": Flag(doc="VRRPv3/IPv4 checksum without pseudo-header"),
        "vrrp_startup_delay": Value(doc="seconds to wait before starting instances", pending=True),
        "dynamic_interfaces": Flag(doc="allow interfaces that do not exist yet", pending=True),
        "enable_script_security": Flag(doc="refuse scripts writable by non-root users"),
        "script_user": UserValue(
            doc="default user [group] for scripts", user_field="script_user", group_field="script_group"
        ),
        "vrrp_notify_fifo": Value(doc="FIFO for VRRP state events"),
        "notify_fifo": Value(doc="FIFO for state events"),
        "vipd_metrics_listen": Value(
            doc="vipd only: serve Prometheus /metrics on HOST:PORT (the --metrics-listen flag wins)",
            convert=parse_listen_address,
        ),
        "vipd_recorder_size": Value(
            doc="vipd only: events the flight recorder keeps (vipctl events; default 1000, read at start)"
        ),
        **_ignored(
            _EMAIL,
            "notification_email",
            "notification_email_from",
            "smtp_server",
            "smtp_helo_name",
            "smtp_connect_timeout",
            "smtp_alert",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
            "no_email_faults",
            "email_from",
        ),
        **_ignored(
            _SNMP,
            "enable_snmp_vrrp",
            "enable_snmp_keepalived",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "enable_snmp_checker",
            "enable_traps",
            "snmp_socket",
            "enable_dbus",
            "dbus_service_name",
            "dbus_no_interface_name",
        ),
        **_ignored(
            _PROCESS,
            "instance",
            "use_pid_dir",
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "process_names",
            "process_name",
            "vrrp_process_name",
            "checker_process_name",
            "bfd_process_name",
            "umask",
            "child_wait_time",
            "vrrp_priority",
            "vrrp_rt_priority",
            "vrrp_no_swap",
            "vrrp_cpu_affinity",
            "vrrp_rlimit_rttime",
            "checker_priority",
            "checker_rt_priority",
            "checker_no_swap",
            "checker_cpu_affinity",
            "checker_rlimit_rttime",
            "bfd_priority",
            "bfd_rt_priority",
            "bfd_no_swap",
            "bfd_cpu_affinity",
            "bfd_rlimit_rttime",
            "max_auto_priority",
            "min_auto_priority_delay",
            "config_save_dir",
            "tmp_config_directory",
            "data_use_instance",
            "state_dump_file",
            "stats_dump_file",
            "json_dump_file",
            "json_version",
            "reload_check_config",
            "reload_time_file",
            "reload_repeat",
            "reload_file",
            "include_check",
            "random_seed",
            "iproute_usr_dir",
            "iproute_etc_dir",
            "vrrp_rx_bufs_policy",
            "vrrp_rx_bufs_multiplier",
            "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force",
            "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force",
            "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force",
            "startup_script",
            "startup_script_timeout",
            "shutdown_script",
            "shutdown_script_timeout",
            "local_name",
        ),
        "nftables": OptionalWord(
            doc="Accept_Mode rules in nftables table inet NAME (bare: keepalived; default vipd)",
            default="keepalived",
        ),
        "nftables_priority": Value(doc="priority of the Accept_Mode chains (default -1)"),
        "nftables_counters": Flag(doc="counters on the Accept_Mode drop rules"),
        "nftables_ifindex": Flag(doc="match link-local VIPs by interface index, not name"),
        "vrrp_iptables": AnyWords(doc="Accept_Mode rules wanted; vipd writes them with nftables (chains ignored)"),
        **_ignored(_FIREWALL, "vrrp_ipsets"),
        **_ignored(
            _LVS_GLOBAL,
            "lvs_id",
            "lvs_timeouts",
            "lvs_sync_daemon",
            "lvs_flush",
            "lvs_flush_on_stop",
            "lvs_notify_fifo",
            "lvs_notify_fifo_script",
            "checker_log_all_failures",
        ),
        "default_interface": Value(doc="device of static_ipaddress entries without dev (default eth0)"),
        "vrrp_min_garp": Flag(doc="one GARP/NA on becoming master, no second burst, no refresh"),
        "vrrp_garp_extra_if": GarpExtraIf(
            doc="[all] DELAY: periodic GARP/NA on VIP interfaces other than the instance's", field="vrrp_garp_extra_if"
        ),
        "vrrp_vmac_garp_intvl": Deprecated(
            inner=GarpExtraIf(field="vrrp_garp_extra_if"), message="use vrrp_garp_extra_if"
        ),
        "vrrp_owner_ignore_adverts": Flag(doc="an address owner (priority 255) ignores received adverts"),
        "set_supplementary_groups": Flag(doc="scripts get their user's supplementary groups"),
        "notify_fifo_script": ScriptValue(doc="CMD [USER [GROUP]] run with the notify_fifo path as last argument"),
        "vrrp_notify_fifo_script": ScriptValue(
            doc="CMD [USER [GROUP]] run with the vrrp_notify_fifo path as last argument"
        ),
        "vrrp_notify_priority_changes": Flag(doc="write priority changes to the notify FIFOs (default off)"),
        "fifo_write_vrrp_states_on_reload": Flag(doc="write every instance's state to the notify FIFOs on reload"),
        "vmac_prefix": Value(doc="name prefix of generated VMAC interfaces (default vrrp)"),
        "vmac_addr_prefix": Value(doc="name prefix of VMACs made by use_vmac_addr (default vmac_prefix)"),
        "log_unknown_vrids": Flag(doc="log adverts for VRIDs no instance has (always counted)"),
        "linkbeat_use_polling": Refused(reason=_LINKBEAT),
        "linkbeat_interfaces": Refused(reason=_LINKBEAT),
        **_ignored(
            _NOT_YET,
            "disable_local_igmp",
            "vrrp_delay_after_boot",
            "use_symlink_paths",
        ),
    },
)

AUTHENTICATION: Table = register_table(
    "authentication",
    {
        "auth_type": Value(doc="PASS or AH"),
        "auth_pass": AuthPass(doc="password, at most 8 characters"),
    },
)

GARP_GROUP: Table = register_table(
    "garp_group",
    {
        "garp_interval": Value(doc="seconds between gratuitous ARPs on these interfaces"),
        "gna_interval": Value(doc="seconds between unsolicited NAs on these interfaces"),
        "interface": Value(doc="the interface the spacing applies to"),
        "interfaces": ListOf(doc="interfaces sharing the spacing, one per line", each_word=True),
    },
)

VRRP_INSTANCE: Table = register_table(
    "vrrp_instance",
    {
        "state": Value(doc="initial state hint: MASTER or BACKUP"),
        "interface": Value(doc="interface for adverts and VIPs"),
        "virtual_router_id": Value(doc="VRID 1..255"),
        "priority": Value(doc="priority 1..255 (default 100)"),
        "advert_int": Value(doc="advert interval in seconds (default 1)"),
        "version": Value(doc="VRRP version 2 or 3"),
        "virtual_ipaddress": ListOf(
            doc="virtual IP addresses, one per line",
            item=parse_vip,
        ),
        "nopreempt": Flag(doc="do not preempt a lower-priority master"),
        "preempt": Flag(doc="preempt (the default; undoes nopreempt)", field="nopreempt", value=False),
        "preempt_delay": Value(doc="seconds to wait before preempting"),
        "authentication": Sub(doc="VRRPv2 authentication", table=lambda: AUTHENTICATION),
        "garp_master_delay": Value(doc="seconds before the second GARP burst"),
        "garp_master_repeat": Value(doc="GARPs per burst"),
        "garp_master_refresh": Value(doc="seconds between GARP refreshes (0 = off)"),
        "garp_master_refresh_repeat": Value(doc="GARPs per refresh"),
        "unicast_src_ip": Value(doc="source address of adverts", convert=parse_ip),
        "mcast_src_ip": Value(doc="source address of adverts", field="unicast_src_ip", convert=parse_ip),
        "unicast_peer": ListOf(
            doc="unicast peers, one address per line",
            item=parse_peer,
            nonempty=True,
            empty_hint="give at least one peer address (keepalived would silently fall back to multicast)",
        ),
        "unicast_ttl": Value(doc="TTL of unicast adverts"),
        "unicast_fault_no_peer": Flag(doc="FAULT instead of multicast when no peer", pending=True),
        "check_unicast_src": Flag(doc="accept unicast adverts only from peers (vipd always does)"),
        "mcast_dst_ip": Value(doc="multicast group of this instance", convert=parse_ip, pending=True),
        "native_ipv6": Deprecated(inner=Flag(), message="the family comes from the VIPs", pending=True),
        "virtual_ipaddress_excluded": ListOf(doc="addresses not listed in adverts", item=parse_vip, pending=True),
        "virtual_routes": ListOf(doc="routes installed while master", item=parse_route),
        "virtual_rules": ListOf(doc="rules installed while master", item=parse_rule),
        "track_interface": ListOf(doc="IF [weight W [reverse]]", item=parse_track_interface),
        "track_script": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_file": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_process": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_bfd": ListOf(doc="NAME [weight W [reverse]] (a bfd_instance)", item=parse_track_ref),
        "vipd_bfd_master_down": Value(
            doc="vipd only: take over at once when this bfd_instance (to the master) goes Down"
        ),
        "dont_track_primary": Flag(doc="ignore link faults of the interface"),
        "notify_master": ScriptValue(doc="run on becoming master"),
        "notify_backup": ScriptValue(doc="run on becoming backup"),
        "notify_fault": ScriptValue(doc="run on entering fault"),
        "notify_stop": ScriptValue(doc="run when the instance stops"),
        "notify_deleted": ScriptValue(doc="run (instead of notify_stop) when a reload removes the instance"),
        "notify_master_rx_lower_pri": ScriptValue(doc="run when a master hears a lower priority (1/s at most)"),
        "notify": ScriptValue(doc="generic hook: INSTANCE NAME STATE PRIORITY"),
        "vipd_notify_master_before_vip": ScriptValue(
            doc="vipd only: on becoming master, run and wait for this before adding the VIPs"
        ),
        "vipd_notify_before_vip_removal": ScriptValue(
            doc="vipd only: on leaving master, run and wait for this before removing the VIPs"
        ),
        "vipd_before_vip_timeout": Value(doc="vipd only: seconds either before-VIP hook may take (default 10)"),
        "vipd_before_vip_on_failure": Value(
            doc="vipd only: continue (add the VIPs anyway, default) or yield (hand over) when the before-VIP hook fails"
        ),
        "use_vmac": VmacValue(doc="VIPs on a macvlan with the VRRP MAC"),
        "vmac_xmit_base": Flag(doc="send adverts on the base interface"),
        "accept": Flag(doc="accept traffic to VIPs as non-owner master"),
        "no_accept": Flag(doc="drop traffic to VIPs as non-owner master (nftables)", field="accept", value=False),
        "strict_mode": Flag(doc="strict RFC mode (its config rules are enforced)", pending=True),
        "skip_check_adv_addr": Flag(doc="skip the advert address-list check"),
        "lower_prio_no_advert": Flag(doc="do not answer lower-priority adverts", pending=True),
        "higher_prio_send_advert": Flag(doc="send one more advert when yielding", pending=True),
        "garp_lower_prio_delay": Value(doc="seconds before the 2nd GARP burst after a lower-prio advert"),
        "garp_lower_prio_repeat": Value(doc="GARPs per burst after a lower-prio advert"),
        "down_timer_adverts": Value(doc="adverts missed before master-down", pending=True),
        "v3_checksum_as_v2": Flag(doc="VRRPv3/IPv4 checksum without pseudo-header"),
        **_ignored(_EMAIL, "smtp_alert"),
        **_ignored(
            "deprecated in keepalived (use global lvs_sync_daemon); vipd does not implement LVS",
            "lvs_sync_daemon_interface",
        ),
        **_ignored("never implemented by keepalived either", "debug"),
        "notify_priority_changes": Flag(doc="write priority changes to the notify FIFOs"),
        "track_src_ip": Flag(doc="FAULT while the configured unicast_src_ip/mcast_src_ip is not on the host"),
        "garp_extra_if": GarpExtraIf(
            doc="[all] DELAY: periodic GARP/NA on VIP interfaces other than the instance's (0 = off)", allow_zero=True
        ),
        "vmac_garp_intvl": Deprecated(inner=GarpExtraIf(allow_zero=True), message="use garp_extra_if"),
        "owner_ignore_adverts": Flag(doc="as address owner (priority 255), ignore received adverts"),
        "use_vmac_addr": Flag(doc="VIPs on other interfaces (or of the other family) get a VMAC there"),
        "promote_secondaries": Flag(doc="set the interface's promote_secondaries sysctl while running"),
        "no_virtual_ipaddress": Flag(doc="an instance without VIPs is intended (no warning; VRRPv3 allowed)"),
        "use_ipvlan": Refused(reason=_IPVLAN),
        "vrf": Refused(reason=_VRF),
        "linkbeat_use_polling": Refused(reason=_LINKBEAT),
        **_ignored(
            _NOT_YET,
            "timer_expired_backup",
            "thread_timer_expired",
            "old_unicast_checksum",
            "kernel_rx_buf_size",
            "auth_hmac",
        ),
    },
)

VRRP_SCRIPT: Table = register_table(
    "vrrp_script",
    {
        "script": ScriptValue(doc="the command", with_user=False),
        "interval": Value(doc="seconds between runs"),
        "timeout": Value(doc="seconds before a run fails"),
        "weight": WeightValue(doc="priority adjustment W [reverse]", reverse_field="weight_reverse"),
        "rise": Value(doc="successes to become OK"),
        "fall": Value(doc="failures to become KO"),
        "user": UserValue(doc="USER [GROUP] to run as"),
        "init_fail": Flag(doc="start as failed"),
    },
)


@dataclass
class OptionValue(Value):
    """``option KEY VALUE...``: one plugin option, stored as ``options[KEY] = "VALUE..."``."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is not None:
            ctx.error(node, node.name, "takes KEY VALUE, not a { } block")
            return
        if len(node.args) < 2:
            ctx.error(node, node.name, "expected 'option KEY VALUE...'")
            return
        key = node.args[0].text
        options = target.setdefault("options", {})
        if key in options:
            ctx.error(node, node.name, f"option {key!r} given twice")
            return
        options[key] = " ".join(t.text for t in node.args[1:])
        ctx.mark((*path, "options", key), node, node.name)


@dataclass
class WordsValue(Value):
    """``keyword W1 W2...``: stored as a list of words."""

    def apply(self, node: Node, target: Raw, path: Path, ctx: Ctx) -> None:
        if node.children is not None or not node.args:
            ctx.error(node, node.name, "expected one or more values on the line")
            return
        key = self.field or node.name
        if key in target:
            ctx.error(node, node.name, "given twice in this block")
            return
        target[key] = [t.text for t in node.args]
        ctx.mark((*path, key), node, node.name)


VRRP_CHECK: Table = register_table(
    "vrrp_check",
    {
        "type": Value(doc="tcp, http or a plugin's name (entry-point group vipd.checks)"),
        "interval": Value(doc="seconds between runs"),
        "timeout": Value(doc="seconds before a run fails"),
        "weight": WeightValue(doc="priority adjustment W [reverse]", reverse_field="weight_reverse"),
        "rise": Value(doc="successes to become OK"),
        "fall": Value(doc="failures to become KO"),
        "init_fail": Flag(doc="start as failed"),
        "connect_ip": Value(doc="tcp: host to connect to (default 127.0.0.1)"),
        "connect_port": Value(doc="tcp: port to connect to"),
        "bindto": Value(doc="tcp: source address"),
        "url": Value(doc="http: URL to GET"),
        "status_code": WordsValue(doc="http: accepted status codes CODE or LOW-HIGH... (default 200-299)"),
        "digest": Value(doc="http: MD5 of the body in hex (keepalived HTTP_GET digest)"),
        "body_match": Value(doc="http: regular expression the body must contain"),
        "tls_verify": Flag(doc="http: verify the server certificate (default on)"),
        "host_header": Value(doc="http: Host header to send"),
        "option": OptionValue(doc="KEY VALUE... for a plugin"),
    },
)

TRACK_FILE: Table = register_table(
    "track_file",
    {
        "file": Value(doc="path of the file"),
        "weight": WeightValue(doc="multiplier W [reverse]"),
        "init_file": InitFileValue(doc="create the file [VALUE] [overwrite]"),
    },
)

TRACK_PROCESS: Table = register_table(
    "vrrp_track_process",
    {
        "process": ProcessValue(doc="NAME [ARGS...]"),
        "param_match": Value(doc="initial or partial"),
        "full_command": Flag(doc="match the full command line"),
        "weight": WeightValue(doc="W [reverse]"),
        "quorum": Value(doc="minimum number of processes"),
        "quorum_max": Value(doc="maximum number of processes"),
        "delay": Value(doc="seconds before acting on a change"),
        "terminate_delay": Value(doc="seconds before acting on a process ending"),
        "fork_delay": Value(doc="seconds before acting on a process starting"),
    },
)

BFD_INSTANCE: Table = register_table(
    "bfd_instance",
    {
        "neighbor_ip": Value(doc="the peer's address (required)", convert=parse_ip),
        "neighbour_ip": Value(doc="the peer's address (British spelling)", field="neighbor_ip", convert=parse_ip),
        "source_ip": Value(doc="our source address", convert=parse_ip),
        "min_rx": Value(doc="Required Min RX Interval in ms (default 10)"),
        "min_tx": Value(doc="Desired Min TX Interval in ms while Up (default 10)"),
        "idle_tx": Value(doc="TX interval in ms while not Up (default and minimum 1000)"),
        "multiplier": Value(doc="Detect Mult 1..255 (default 5)"),
        "passive": Flag(doc="passive role: send only once the peer has spoken"),
        "ttl": Value(doc="TTL sent, 1..255 (default 255)"),
        "hoplimit": Value(doc="IPv6 hop limit sent, 1..255 (default 255)", field="ttl"),
        "max_hops": Value(doc="accepted TTL reduction on receive, -1..255 (default 0)"),
        "multihop": Flag(doc="RFC 5883 multihop session on UDP 4784"),
        "weight": WeightValue(doc="default track_bfd weight W [reverse]"),
        **_ignored("vipd has one process: BFD events always reach VRRP (no checker process)", "vrrp", "checker"),
    },
)

SYNC_GROUP: Table = register_table(
    "vrrp_sync_group",
    {
        "group": ListOf(doc="member instances", item=parse_member, each_word=True),
        "track_interface": ListOf(doc="IF [weight W [reverse]]", item=parse_track_interface),
        "track_script": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_file": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_process": ListOf(doc="NAME [weight W [reverse]]", item=parse_track_ref),
        "track_bfd": ListOf(doc="NAME [weight W [reverse]] (a bfd_instance)", item=parse_track_ref),
        "notify_master": ScriptValue(doc="run when the group becomes master"),
        "notify_backup": ScriptValue(doc="run when the group becomes backup"),
        "notify_fault": ScriptValue(doc="run when the group enters fault"),
        "notify_stop": ScriptValue(doc="run when the group stops"),
        "notify": ScriptValue(doc="generic hook: GROUP NAME STATE 0"),
        "sync_group_tracking_weight": Flag(doc="apply member tracker weights"),
        "global_tracking": Deprecated(
            inner=Flag(field="sync_group_tracking_weight"), message="use sync_group_tracking_weight"
        ),
        **_ignored(_EMAIL, "smtp_alert"),
        "notify_priority_changes": Flag(doc="write members' priority changes to the notify FIFOs"),
    },
)

_LVS_BLOCKS = (
    "virtual_server",
    "virtual_server_group",
    "real_server",
    "sorry_server",
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "BFD_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "FILE_CHECK",
)

TOP: Table = register_table(
    "<top>",
    {
        "global_defs": Sub(doc="global settings", table=lambda: GLOBAL_DEFS),
        "vrrp_instance": Named(doc="a VRRP instance", field="vrrp_instances", table=lambda: VRRP_INSTANCE),
        **{name: Lvs() for name in _LVS_BLOCKS},
        **_ignored(
            _PROCESS,
            "net_namespace",
            "instance",
            "use_pid_dir",
            "child_wait_time",
        ),
        "linkbeat_use_polling": Refused(reason=_LINKBEAT),
        "linkbeat_interfaces": Refused(reason=_LINKBEAT),
        "vrrp_script": Named(doc="a health-check script", field="vrrp_scripts", table=lambda: VRRP_SCRIPT),
        "vrrp_check": Named(doc="a vipd check (tcp, http, plugin)", field="vrrp_checks", table=lambda: VRRP_CHECK),
        "vrrp_sync_group": Named(
            doc="instances that change state together", field="vrrp_sync_groups", table=lambda: SYNC_GROUP
        ),
        "track_file": Named(doc="a tracked file", field="track_files", table=lambda: TRACK_FILE),
        "vrrp_track_file": Deprecated(
            inner=Named(field="track_files", table=lambda: TRACK_FILE), message="use track_file"
        ),
        "vrrp_track_process": Named(doc="a tracked process", field="vrrp_track_processes", table=lambda: TRACK_PROCESS),
        "bfd_instance": Named(doc="a BFD session (RFC 5880)", field="bfd_instances", table=lambda: BFD_INSTANCE),
        "static_ipaddress": ListOf(doc="permanent addresses", item=parse_vip, pending=True),
        "static_routes": ListOf(doc="permanent routes", item=parse_route, pending=True),
        "static_rules": ListOf(doc="permanent rules", item=parse_rule, pending=True),
        "track_group": Refused(reason=_TRACK_GROUP),
        "interface_up_down_delays": ListOf(
            doc="IF DOWN_DELAY [UP_DELAY]: seconds before a link change reaches the instances", item=parse_up_down
        ),
        "garp_group": SubList(
            doc="GARP/NA spacing for an interface or a group of interfaces",
            field="garp_groups",
            table=lambda: GARP_GROUP,
        ),
    },
)

TOPLEVEL_ONLY = frozenset(
    {
        "global_defs",
        "vrrp_instance",
        "vrrp_sync_group",
        "vrrp_script",
        "vrrp_check",
        "vrrp_track_process",
        "vrrp_track_file",
        "virtual_server",
        "virtual_server_group",
        "static_ipaddress",
        "static_routes",
        "static_rules",
    }
)
"""Keywords only valid at the top level: meeting one inside a block means a '}' is missing."""
