"""Accept_Mode from the config: which VIPs the nftables table guards, and its life with the daemon.

RFC 5798 §6.4.3 and keepalived's ``accept`` / ``no_accept`` / ``vrrp_strict``:
every instance with Accept_Mode False (``accept`` off: ``no_accept``, or strict
mode without ``accept``) that is not the address owner (priority 255) has its
``virtual_ipaddress`` and ``virtual_ipaddress_excluded`` guarded. The rules
themselves, and why they can stay in place whatever the instance's state, are
in :mod:`vipd.linux.nftables`.

Life: :func:`start` at daemon start (before any instance can become master;
it replaces a table a crashed run left), :func:`reload` after a reload,
``AcceptMode.close()`` at exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING

from vipd.linux.nftables import DEFAULT_TABLE, AcceptMode, Guarded, NftError, Settings
from vipd.linux.vmac import default_vmac_name

if TYPE_CHECKING:
    from vipd.config.model import Config

log = logging.getLogger("vipd")


def settings(config: Config) -> Settings:
    """keepalived's ``nftables``/``nftables_priority``/``nftables_counters``/``nftables_ifindex`` (pure)."""
    g = config.global_defs
    return Settings(
        table=g.nftables or DEFAULT_TABLE,
        priority=g.nftables_priority,
        counters=g.nftables_counters,
        ifindex=g.nftables_ifindex,
    )


def guarded(config: Config) -> list[Guarded]:
    """The VIPs whose traffic is dropped while they are local: those of non-owner Accept_Mode False instances."""
    out: list[Guarded] = []
    for inst in config.vrrp_instances.values():
        if inst.accept or inst.priority == 255:
            continue
        base = (inst.vmac_name or default_vmac_name(inst.virtual_router_id)) if inst.use_vmac else inst.interface
        for vip in [*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded]:
            out.append(Guarded(vip.address, vip.dev or base))
    return out


def start(config: Config) -> AcceptMode | None:
    """Write the table for ``config``, replacing any left by a crashed run; None when nothing needs it.

    Raises:
        NftError: an instance needs Accept_Mode False and nftables cannot be used
            (libnftables missing, no CAP_NET_ADMIN): vipd must not run without it.
    """
    vips = guarded(config)
    wanted = settings(config)
    mark = _mark(wanted.table)
    if not vips and not os.path.exists(mark):
        return None  # vipd wrote no such table in this network namespace since boot: nothing to load
    try:
        table = AcceptMode(wanted)
    except NftError:
        if vips:
            raise
        return None  # nothing to guard and no libnftables: there cannot be a table of ours either
    if not vips:
        table.remove()  # a crashed run's table, if any
        table.nft.close()
        with contextlib.suppress(OSError):
            os.unlink(mark)
        return None
    with contextlib.suppress(OSError):  # before the table: a crash in between leaves a mark, never a lost table
        os.makedirs(MARK_DIR, mode=0o755, exist_ok=True)
        with open(mark, "w"):
            pass
    table.apply(vips)
    return table


MARK_DIR = "/run/vipd"
"""Where :func:`start` notes the tables it wrote (``nftables-TABLE-NETNS``), so a start with
nothing to guard loads libnftables (~1 MiB, ~20 ms) only to remove a table a crashed run left."""


def _mark(table: str) -> str:
    try:
        netns = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        netns = 0
    return os.path.join(MARK_DIR, f"nftables-{table}-{netns}")


def reload(current: AcceptMode | None, config: Config) -> AcceptMode | None:
    """Bring the table in line with a reloaded ``config``; on failure keep the old rules and log why."""
    vips, new_settings = guarded(config), settings(config)
    try:
        if current is not None and current.settings != new_settings:
            current.close()
            current = None
        if current is None:
            return start(config)
        current.apply(vips)
        if not vips:
            current.nft.close()
            return None
        return current
    except NftError as e:
        log.error("reload: accept mode rules unchanged: %s", e)
        return current
