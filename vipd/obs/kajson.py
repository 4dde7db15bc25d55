"""keepalived's JSON dump (SIGJSON, ``/tmp/keepalived.json``) in keepalived's own schema.

keepalived's ``vrrp_json.c`` writes a JSON array with one object per instance,
``{"data": {...}, "stats": {...}}`` (``json_version 1``, the default; version 2
wraps it as ``{"vrrp": [...]}``). The exporters' JSON mode reads it:
mehdy/keepalived-exporter (``iname``, ``state``, ``wantstate``, ``ifp_ifname``,
``garp_delay``, ``vrid``, ``vips``, ``evips`` and the stats) and
gen2brain/keepalived_exporter (the same, ``state`` turned into a label). Their Go
structs take ``garp_delay`` as an integer, so numbers are written as keepalived's
``%g`` writes them: ``5``, not ``5.0``.

vipd fills the fields it has; keepalived-only ones (VMAC names, ``garp_refresh``,
SMTP, ``track_process``...) are left out, as keepalived itself leaves out what it
does not have (empty lists are not written at all). VIP strings are keepalived's
``format_ipaddress``: ``ADDRESS[/PREFIX] dev DEV scope global`` with the prefix only
when it is not the host prefix (/32, /128); the exporters split them on spaces.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from ipaddress import ip_interface
from typing import Any

from vipd.obs.status import STATE_NUMBER, InstanceRow, stats_json

STATS_FIELDS: tuple[str, ...] = (
    "advert_rcvd",
    "advert_sent",
    "become_master",
    "release_master",
    "packet_len_err",
    "advert_interval_err",
    "ip_ttl_err",
    "invalid_type_rcvd",
    "addr_list_err",
    "invalid_authtype",
    "authtype_mismatch",
    "auth_failure",
    "auth_ext_missing",
    "auth_ext_malformed",
    "auth_ext_unknown_key",
    "auth_ext_invalid_hmac",
    "auth_ext_stale",
    "auth_ext_replay",
    "pri_zero_rcvd",
    "pri_zero_sent",
)
"""keepalived's ``vrrp_json_stats_dump`` fields, in its order (``auth_ext_*``: auth_hmac, always 0 here)."""


def _g(x: float) -> int | float:
    """A number as C's ``%g`` prints it: integral values without a fraction."""
    return int(x) if float(x).is_integer() else x


@functools.lru_cache(maxsize=4096)
def format_ipaddress(addr: str, dev: str) -> str:
    """keepalived's ``format_ipaddress`` for ``addr`` (``A/P``) on ``dev``: ``10.0.0.1 dev eth0 scope global``."""
    iface = ip_interface(addr)
    host = iface.network.prefixlen == iface.max_prefixlen
    text = str(iface.ip) if host else f"{iface.ip}/{iface.network.prefixlen}"
    return f"{text} dev {dev} scope global"


def instance_json(r: InstanceRow) -> dict[str, Any]:
    """The ``{"data": ..., "stats": ...}`` object of one instance."""
    state = STATE_NUMBER.get(r.state, 0)
    data: dict[str, Any] = {
        "iname": r.name,
        "dont_track_primary": 0,
        "skip_check_adv_addr": 0,
        "strict_mode": 0,
        "ifp_ifname": r.interface,
        "master_priority": r.effective_priority if r.state == "MASTER" else 0,
        "last_transition": float(f"{r.last_transition.at:f}") if r.last_transition is not None else 0.0,
        "garp_delay": _g(r.garp_master_delay),
        "vrid": r.vrid,
        "base_priority": r.base_priority,
        "effective_priority": r.effective_priority,
        "vipset": r.state == "MASTER",
        "adver_int": _g(r.advert_int),
        "master_adver_int": _g(r.master_adver_int),
        "nopreempt": r.nopreempt,
        "preempt_delay": int(r.preempt_delay),
        "state": state,
        "wantstate": state,
        "version": r.version,
    }
    if r.vips:
        data["vips"] = [format_ipaddress(a, d) for a, d in r.vips]
    if r.excluded_vips:
        data["evips"] = [format_ipaddress(a, d) for a, d in r.excluded_vips]
    s = stats_json(r.stats)
    stats = {k: int(s.get(k, 0)) for k in STATS_FIELDS}
    return {"data": data, "stats": stats}


def render_json_file(rows: Iterable[InstanceRow], *, version: int = 1) -> str:
    """Return keepalived's ``keepalived.json`` text for these instances.

    Args:
        rows: the instances.
        version: keepalived's ``json_version``: 1 (a bare array, the default) or 2
            (``{"vrrp": [...]}``).
    """
    items = [instance_json(r) for r in rows]
    doc: Any = items if version == 1 else {"vrrp": items}
    return json.dumps(doc) + "\n"  # one line: the C encoder (indent= falls back to pure Python, ~10x slower)
