"""Accept_Mode (RFC 5798 §6.4.3) with nftables: a non-owner master with ``no_accept`` drops traffic to its VIPs.

RFC 5798 §6.4.3: a Master that is not the address owner and has Accept_Mode
False "MUST NOT accept packets addressed to the IPvX address(es) associated with
the virtual router"; it still answers ARP (not IP: netfilter's ``inet`` hooks
never see it) and ND Neighbor Solicitations for them (§6.4.3, "MUST respond to
ND NS"), so ICMPv6 NS/NA stay accepted. keepalived does this for ``no_accept``
and ``vrrp_strict`` with ``vrrp_iptables`` or ``nftables``; vipd does it with
nftables only (``vrrp_iptables`` is accepted and served the same way: the
kernel's iptables is nftables underneath).

The table (``inet``, named by keepalived's ``nftables NAME``, else ``vipd``) is
owned by vipd and written whole, atomically, with one libnftables transaction
(add + delete + re-create, so a table a crashed run left behind is replaced):

    table inet vipd {
        set vips4    { type ipv4_addr }
        set vips6    { type ipv6_addr }
        set vips6_ll { type ipv6_addr . ifname }      # iface_index with nftables_ifindex
        chain in  { type filter hook input priority P; policy accept;
                    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
                    ip daddr @vips4 drop; ip6 daddr @vips6 drop; ip6 daddr . iifname @vips6_ll drop }
        chain out { type filter hook output priority P; policy accept;
                    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
                    ip saddr @vips4 drop; ip6 saddr @vips6 drop; ip6 saddr . oifname @vips6_ll drop }
    }

``P`` is ``nftables_priority`` (keepalived's default -1); ``nftables_counters``
adds a counter to each drop rule. The sets hold the VIPs of every non-owner
``no_accept`` instance all the time, not only while master: the input and output
hooks see only locally delivered and locally generated packets, and a VIP is
local only while this node is its master, so the rules act exactly then, with no
window at a takeover and no rule change on the advert path. (keepalived adds
the addresses to its sets when it adds the VIPs; the effect is the same.)
Link-local IPv6 VIPs are matched with their interface, as keepalived does.

The binding is libnftables' JSON API (``libnftables.so.1``, Debian package
``libnftables1``, which ``nftables`` depends on) loaded with ctypes: no ``nft``
process per change, no Python package outside the venv. Each call is one
netlink transaction, made at start, reload and exit only, on the loop: 10 VIPs
took p50 1.9 ms, p90 4.6 ms, max 24 ms (the first call) on the 2-core lab VM
under load.
"""

from __future__ import annotations

import ctypes
import json
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

log = logging.getLogger("vipd")

DEFAULT_TABLE = "vipd"
KEEPALIVED_TABLE = "keepalived"
"""The table keepalived uses for a bare ``nftables`` keyword."""
DEFAULT_PRIORITY = -1
"""keepalived's default ``nftables_priority``: just before the ``filter`` priority 0."""
_OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON: also makes nft_run_cmd_from_buffer parse JSON input


class NftError(OSError):
    """libnftables is missing or refused a command (the message is nft's)."""


class Nft:
    """One libnftables context (``nft_ctx``), JSON in and out.

    Raises (constructor):
        NftError: ``libnftables.so.1`` cannot be loaded or the context cannot be made.
    """

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError as e:
            raise NftError(f"libnftables.so.1 not found (Debian package libnftables1): {e}") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
        self._lib, self._ctx = lib, ctx

    def run(self, commands: list[dict[str, Any]] | str) -> dict[str, Any] | None:
        """Run JSON commands (``[{"add": {...}}, ...]``, one transaction) or one nft command line.

        Returns:
            the parsed JSON output (``list`` commands), or None when there is none.
        Raises:
            NftError: nft refused it (e.g. EPERM without CAP_NET_ADMIN, a missing table).
        """
        text = commands if isinstance(commands, str) else json.dumps({"nftables": commands})
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, text.encode())
        out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
        err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        if rc != 0:
            raise NftError(err.decode(errors="replace").strip() or f"nft failed ({rc})")
        return json.loads(out) if out.strip() else None

    def close(self) -> None:
        """Free the context (idempotent)."""
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


@dataclass(frozen=True, slots=True)
class Guarded:
    """One VIP whose traffic is dropped while it is local (a non-owner ``no_accept`` master's).

    Attributes:
        address: the VIP.
        ifname: its interface (used for IPv6 link-local VIPs only).
    """

    address: IPv4Address | IPv6Address
    ifname: str


@dataclass(frozen=True, slots=True)
class Settings:
    """keepalived's global nftables keywords.

    Attributes:
        table: ``nftables [NAME]`` (bare: ``keepalived``; absent: ``vipd``).
        priority: ``nftables_priority`` (-1).
        counters: ``nftables_counters``: a counter on every drop rule.
        ifindex: ``nftables_ifindex``: link-local VIPs matched by interface index, not name.
    """

    table: str = DEFAULT_TABLE
    priority: int = DEFAULT_PRIORITY
    counters: bool = False
    ifindex: bool = False


def _match(left: dict[str, Any], right: Any) -> dict[str, Any]:
    return {"match": {"op": "==", "left": left, "right": right}}


def _field(proto: str, name: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": name}}


def ruleset(settings: Settings, guarded: Iterable[Guarded]) -> list[dict[str, Any]]:
    """The JSON commands that replace the table with one guarding ``guarded`` (pure).

    Raises:
        OSError: ``nftables_ifindex`` and a link-local VIP's interface does not exist.
    """
    t, fam = settings.table, "inet"
    v4 = sorted({str(g.address) for g in guarded if g.address.version == 4})
    v6 = sorted({str(g.address) for g in guarded if g.address.version == 6 and not g.address.is_link_local})
    ll: list[list[Any]] = []
    for g in sorted({g for g in guarded if g.address.version == 6 and g.address.is_link_local}, key=str):
        ll.append([str(g.address), socket.if_nametoindex(g.ifname) if settings.ifindex else g.ifname])
    if_type, in_key, out_key = ("iface_index", "iif", "oif") if settings.ifindex else ("ifname", "iifname", "oifname")

    def table_obj() -> dict[str, Any]:
        return {"table": {"family": fam, "name": t}}

    def set_obj(name: str, typ: Any, elems: list[Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {"family": fam, "table": t, "name": name, "type": typ}
        if elems:
            obj["elem"] = elems
        return {"add": {"set": obj}}

    def rule(chain: str, *expr: dict[str, Any], drop: bool = True) -> dict[str, Any]:
        verdict: list[dict[str, Any]] = ([{"counter": None}] if settings.counters else []) + [{"drop": None}]
        tail = verdict if drop else [{"accept": None}]
        return {"add": {"rule": {"family": fam, "table": t, "chain": chain, "expr": [*expr, *tail]}}}

    cmds: list[dict[str, Any]] = [{"add": table_obj()}, {"delete": table_obj()}, {"add": table_obj()}]
    cmds += [
        set_obj("vips4", "ipv4_addr", v4),
        set_obj("vips6", "ipv6_addr", v6),
        set_obj("vips6_ll", ["ipv6_addr", if_type], [{"concat": e} for e in ll]),
    ]
    nd = _match(_field("icmpv6", "type"), {"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]})
    for chain, hook, addr, iface in (("in", "input", "daddr", in_key), ("out", "output", "saddr", out_key)):
        cmds.append(
            {
                "add": {
                    "chain": {
                        "family": fam,
                        "table": t,
                        "name": chain,
                        "type": "filter",
                        "hook": hook,
                        "prio": settings.priority,
                        "policy": "accept",
                    }
                }
            }
        )
        cmds.append(rule(chain, nd, drop=False))  # RFC 5798 §6.4.3: answer ND for the VIPs
        cmds.append(rule(chain, _match(_field("ip", addr), "@vips4")))
        cmds.append(rule(chain, _match(_field("ip6", addr), "@vips6")))
        concat = {"concat": [_field("ip6", addr), {"meta": {"key": iface}}]}
        cmds.append(rule(chain, _match(concat, "@vips6_ll")))
    return cmds


class AcceptMode:
    """The daemon's nftables table for Accept_Mode: written at start and reload, deleted at exit.

    Args:
        settings: the global nftables keywords.
        nft: a libnftables context (default: a new :class:`Nft`).
    Raises (constructor):
        NftError: libnftables cannot be loaded.
    """

    def __init__(self, settings: Settings, nft: Nft | None = None) -> None:
        self.settings = settings
        self.nft = nft or Nft()
        self.guarded: tuple[Guarded, ...] = ()
        self.installed = False

    def apply(self, guarded: Sequence[Guarded]) -> None:
        """Replace the table's contents with ``guarded`` (one atomic transaction); no table when empty.

        Raises:
            NftError: nft refused (no CAP_NET_ADMIN, no nf_tables in the kernel).
        """
        if not guarded:
            self.remove()
            self.guarded = ()
            return
        self.nft.run(ruleset(self.settings, guarded))
        self.guarded, self.installed = tuple(guarded), True
        log.info(
            "accept mode: nftables table inet %s drops traffic to %d VIP(s) of no_accept instances while master",
            self.settings.table,
            len(guarded),
        )

    def remove(self) -> None:
        """Delete the table if it exists (at exit; at start for one a crashed run left). Never raises."""
        t = {"table": {"family": "inet", "name": self.settings.table}}
        try:
            self.nft.run([{"add": t}, {"delete": t}])
        except NftError as e:
            log.warning("accept mode: could not delete table inet %s: %s", self.settings.table, e)
            return
        self.installed = False

    def close(self) -> None:
        """Delete the table and free libnftables."""
        self.remove()
        self.nft.close()
