"""Virtual MAC interfaces (keepalived ``use_vmac [NAME]``, ``vmac_xmit_base``; libs.md §1.4).

With ``use_vmac`` an instance gets a macvlan device on its interface that
carries the virtual router MAC of RFC 5798 §7.3 (00:00:5e:00:01:VRID for IPv4,
00:00:5e:00:02:VRID for IPv6). Its VIPs live on that device and its
gratuitous ARPs / unsolicited NAs announce that MAC, so on failover the
clients' neighbour caches stay right and only the switch relearns a port.
Adverts leave from the macvlan too, unless ``vmac_xmit_base`` sends them from
the base interface (needed with unicast peers, as keepalived requires).
Adverts are always *received* on the base interface: multicast from the wire
reaches the lower device whatever macvlans sit on it.

What :class:`VmacManager` does, as keepalived does (``vrrp_vmac.c``,
``vrrp_if_config.c``), and says so in the log:

* creates ``vrrp.VRID`` (or the configured name), macvlan mode ``private``,
  down; sets IPv6 ``addrgenmode none`` *before* bringing it up (otherwise every
  router of the VRID derives the same ``fe80::200:5eff:fe00:1xx`` from the
  shared MAC and DAD fails), then brings it up;
* IPv4: on the macvlan ``arp_ignore=1``, ``accept_local=1``, ``rp_filter=0``,
  ``promote_secondaries=1``; on the base interface ``arp_ignore=1`` and
  ``arp_filter=1``, so that only the device holding an address answers ARP for
  it (without this the base interface answers for the VIP with its own MAC);
* IPv6 sending from the macvlan: copies the base interface's link-local
  address onto it (``nodad``), so adverts have the same source either way;
* on :meth:`VmacManager.close`: removes the devices it created and restores
  every sysctl it changed to the value it found.
* the base interface's original values are also written to a state file,
  ``/run/vipd/sysctl-NETNS-IFNAME.json`` (:class:`SysctlState`), before they are
  changed: after a SIGKILL nothing runs ``close``, so the next start-up
  (:meth:`VmacManager.recover`) puts them back from that file, says so in the
  log and removes the file. NETNS is the inode of the network namespace, so
  daemons in several namespaces sharing one ``/run`` keep apart.

A device of the right name that already is a macvlan with our MAC on our base
interface (left by a crashed run) is adopted and removed at exit; any other
device of that name is an error.

Not done (keepalived does): ``rp_filter`` of ``all``/``default`` (keepalived
lowers ``all.rp_filter`` to 0 and raises per-interface values), IGMP/MLD
filtering on the VMAC (``vrrp_iptables``/``nftables``), ipvlan.

Size: over 400 lines because the VMAC's device, its sysctls and their crash recovery must change together.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

from vipd.linux.netlink import IFA_F_NODAD
from vipd.wire.l2 import vmac_address

log = logging.getLogger("vipd")

VMAC_PREFIX = "vrrp"
"""keepalived's default ``vmac_prefix``: devices are named ``vrrp.VRID``."""

ADDR_GEN_MODE_NONE = {"attrs": [("AF_INET6", {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", 1)]})]}

VMAC_SYSCTLS = {"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1"}
"""IPv4 sysctls set on the macvlan (``net.ipv4.conf.<vmac>.*``), keepalived's values."""

BASE_SYSCTLS = {"arp_ignore": "1", "arp_filter": "1"}
"""IPv4 sysctls set on the base interface (``net.ipv4.conf.<base>.*``), restored at exit."""


class VmacError(Exception):
    """A VMAC cannot be created (name taken by another device, kernel refusal, base missing)."""


def default_vmac_name(vrid: int) -> str:
    """keepalived's default VMAC device name for ``vrid``: ``vrrp.VRID`` (at most 9 characters)."""
    return f"{VMAC_PREFIX}.{vrid}"


def mac_text(mac: bytes) -> str:
    """``00:00:5e:00:01:33`` for 6 bytes."""
    return ":".join(f"{b:02x}" for b in mac)


@dataclass(frozen=True, slots=True)
class VmacSpec:
    """One VMAC device to create.

    Attributes:
        name: device name, at most 15 characters (keepalived ``use_vmac NAME``; default ``vrrp.VRID``).
        base: the instance's ``interface``.
        vrid: virtual router id, 1..255.
        family: 4 or 6; selects 00:00:5e:00:01:VRID or 00:00:5e:00:02:VRID.
        linklocal: IPv6 only: the base's link-local address to copy onto the VMAC
            (adverts sent from the VMAC need it), or None.
    """

    name: str
    base: str
    vrid: int
    family: int
    linklocal: IPv6Address | None = None

    @property
    def mac(self) -> bytes:
        """The RFC 5798 §7.3 virtual router MAC."""
        return vmac_address(self.vrid, self.family)


@dataclass(slots=True)
class _Changed:
    path: str
    old: str


STATE_DIR = "/run/vipd"
"""Where :class:`SysctlState` keeps the original sysctl values of base interfaces."""


def netns_id() -> int:
    """The inode of this process's network namespace (``/proc/self/ns/net``), 0 if unreadable."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


class SysctlState:
    """Original sysctl values of base interfaces, persisted so a SIGKILLed run can be undone.

    One JSON file per (network namespace, interface): ``DIR/sysctl-NETNS-IFNAME.json``
    holding ``{"pid": PID, "interface": IFNAME, "values": {"arp_ignore": "0", ...}}``.
    The first value recorded for a key wins (later writes are our own).

    Args:
        directory: state directory (default :data:`STATE_DIR`), created 0700.
        netns: network namespace id (default :func:`netns_id`).
    """

    def __init__(self, directory: str = STATE_DIR, netns: int | None = None) -> None:
        self.directory = directory
        self.netns = netns_id() if netns is None else netns

    def path(self, ifname: str) -> str:
        """The state file of ``ifname`` in this namespace."""
        return os.path.join(self.directory, f"sysctl-{self.netns}-{ifname}.json")

    def read(self, ifname: str) -> dict[str, str]:
        """The recorded originals of ``ifname`` (``{}`` if none or unreadable)."""
        data = self._load(self.path(ifname))
        values = data.get("values") if data else None
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}

    def record(self, ifname: str, key: str, old: str) -> None:
        """Remember ``old`` as the original of ``key`` on ``ifname`` unless one is recorded already.

        Raises:
            OSError: the directory or file cannot be written.
        """
        values = self.read(ifname)
        if key in values:
            return
        values[key] = old
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = self.path(ifname)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "interface": ifname, "values": values}, f)
        os.replace(tmp, path)

    def clear(self, ifname: str) -> None:
        """Forget ``ifname`` (its values were restored). Never raises."""
        with contextlib.suppress(OSError):
            os.unlink(self.path(ifname))

    def leftovers(self) -> list[tuple[str, dict[str, str]]]:
        """``(ifname, originals)`` of every state file of this namespace whose writer is gone.

        A file whose pid is alive and not ours belongs to a running daemon and is skipped.
        """
        prefix = f"sysctl-{self.netns}-"
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return []
        out = []
        for name in names:
            if not (name.startswith(prefix) and name.endswith(".json")):
                continue
            data = self._load(os.path.join(self.directory, name))
            if not data:
                continue
            pid = data.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
                continue
            ifname = name[len(prefix) : -len(".json")]
            values = data.get("values")
            if isinstance(values, dict):
                out.append((ifname, {str(k): str(v) for k, v in values.items()}))
        return out

    @staticmethod
    def _load(path: str) -> dict[str, Any] | None:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _NotLoaded(Exception):
    """Stands for pyroute2's ``NetlinkError`` until pyroute2 is imported (nothing can raise it before)."""


class VmacManager:
    """Creates VMAC devices and sets sysctls; :meth:`close` undoes all of it.

    Args:
        sysctl_root: where ``net/ipv4/conf/...`` lives (``/proc/sys``; a directory in tests).
        state: where the base interfaces' originals are persisted (default
            :class:`SysctlState` under :data:`STATE_DIR`).
    """

    def __init__(self, sysctl_root: str = "/proc/sys", state: SysctlState | None = None) -> None:
        self._ipr: Any = None
        self._error: Any = _NotLoaded  # pyroute2's NetlinkError once _nl() has imported it
        self._root = sysctl_root
        self._state = state if state is not None else SysctlState()
        self._created: list[tuple[str, int]] = []
        self._changed: list[_Changed] = []
        self._persisted: set[str] = set()

    def recover(self) -> list[str]:
        """Restore base-interface sysctls a killed earlier run left changed (from :class:`SysctlState`).

        Call once at start-up, before any :meth:`ensure`. Logs each value put back
        and removes the state file. Never raises.

        Returns:
            the ``net.ipv4.conf.IF.KEY=VALUE`` settings restored.
        """
        done = []
        for ifname, values in self._state.leftovers():
            for key, old in values.items():
                name = f"net/ipv4/conf/{ifname}/{key}"
                try:
                    with open(os.path.join(self._root, name), "w") as f:
                        f.write(old)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        log.warning("cannot restore %s=%s left by an earlier run: %s", name.replace("/", "."), old, e)
                    continue
                done.append(f"{name.replace('/', '.')}={old}")
            self._state.clear(ifname)
        if done:
            log.warning(
                "restored %s: an earlier run with use_vmac or promote_secondaries ended without restoring them "
                "(killed?); state file in %s",
                ", ".join(done),
                self._state.directory,
            )
        return done

    def _nl(self) -> Any:
        if self._ipr is None:
            from pyroute2.iproute.linux import AsyncIPRoute  # only with use_vmac (~45 ms, ~6 MiB)
            from pyroute2.netlink.exceptions import NetlinkError

            self._ipr = AsyncIPRoute()
            self._error = NetlinkError
        return self._ipr

    async def ensure(self, spec: VmacSpec) -> int:
        """Create (or adopt) the VMAC of ``spec``, configure it, bring it up; return its ifindex.

        Raises:
            VmacError: the base interface is missing, the name belongs to another
                device, or the kernel refused (EADDRINUSE: another macvlan on the
                base already has this MAC).
        """
        ipr = self._nl()
        mac = mac_text(spec.mac)
        try:
            (base,) = await ipr.link_lookup(ifname=spec.base) or (None,)
        except self._error as e:
            raise VmacError(f"base interface {spec.base!r}: {e}") from None
        if base is None:
            raise VmacError(f"base interface {spec.base!r} does not exist")
        index = await self._existing(spec, base, mac)
        if index is None:
            try:
                await ipr.link("add", ifname=spec.name, kind="macvlan", link=base, macvlan_mode="private", address=mac)
                (index,) = await ipr.link_lookup(ifname=spec.name)
            except self._error as e:
                raise VmacError(f"cannot create macvlan {spec.name} on {spec.base}: {e}") from None
            log.info("VMAC %s created on %s with MAC %s (macvlan, private)", spec.name, spec.base, mac)
        else:
            log.info(
                "VMAC %s with MAC %s on %s already exists (left by an earlier run): adopted", spec.name, mac, spec.base
            )
        self._created.append((spec.name, index))
        try:
            # addrgenmode none before up: no shared EUI-64 link-local from the virtual MAC (libs.md §1.4).
            await ipr.link("set", index=index, af_spec=ADDR_GEN_MODE_NONE)
        except self._error as e:
            log.warning("VMAC %s: cannot set IPv6 addrgenmode none: %s", spec.name, e)
        if spec.family == 4:
            for key, value in VMAC_SYSCTLS.items():
                self.set_sysctl(f"net/ipv4/conf/{spec.name}/{key}", value)
            for key, value in BASE_SYSCTLS.items():
                self.set_sysctl(f"net/ipv4/conf/{spec.base}/{key}", value, persist=True)
        try:
            await ipr.link("set", index=index, state="up")
        except self._error as e:
            raise VmacError(f"cannot bring up {spec.name} (MAC {mac}): {e}") from None
        if spec.family == 6 and spec.linklocal is not None:
            try:
                await ipr.addr("add", index=index, address=str(spec.linklocal), prefixlen=64, flags=IFA_F_NODAD)
                log.info("VMAC %s: link-local %s copied from %s", spec.name, spec.linklocal, spec.base)
            except self._error as e:
                if e.code != errno.EEXIST:
                    raise VmacError(f"cannot add {spec.linklocal} to {spec.name}: {e}") from None
        return int(index)

    async def _existing(self, spec: VmacSpec, base: int, mac: str) -> int | None:
        ipr = self._nl()
        try:
            links = await ipr.link("get", ifname=spec.name)
        except self._error as e:
            if e.code == errno.ENODEV:
                return None
            raise VmacError(f"cannot look up {spec.name}: {e}") from None
        link = links[0]
        kind = link.get(("linkinfo", "kind"))
        if kind != "macvlan" or link.get("link") != base or (link.get("address") or "").lower() != mac:
            raise VmacError(
                f"interface {spec.name} exists and is not our VMAC (kind {kind}, MAC {link.get('address')}); "
                "remove it or name the VMAC with 'use_vmac NAME'"
            )
        return int(link["index"])

    def set_sysctl(self, key: str, value: str, *, persist: bool = False) -> None:
        """Write ``value`` to ``<root>/<key>``, remembering the old value for :meth:`close`.

        Args:
            key: ``net/ipv4/conf/IFNAME/NAME``.
            value: the new value.
            persist: also record the old value in the state file first (base
                interfaces: they outlive a SIGKILL; a VMAC's own sysctls vanish with it).
        Failures are logged, not raised: a missing sysctl must not stop failover.
        """
        path = os.path.join(self._root, key)
        try:
            with open(path) as f:
                old = f.read().strip()
            if old == value:
                return
            if persist:
                ifname = key.split("/")[-2]
                try:
                    self._state.record(ifname, key.split("/")[-1], old)
                    self._persisted.add(ifname)
                except OSError as e:
                    log.warning("cannot record the original %s in %s: %s", key, self._state.directory, e)
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            log.warning("cannot set %s=%s: %s", key.replace("/", "."), value, e)
            return
        if not any(c.path == path for c in self._changed):
            self._changed.append(_Changed(path, old))
        log.info("sysctl %s=%s (was %s; restored at exit)", key.replace("/", "."), value, old)

    def holds(self, name: str) -> bool:
        """Whether the VMAC called ``name`` was created or adopted by this manager (and not removed since)."""
        return any(n == name for n, _ in self._created)

    def names(self) -> set[str]:
        """The names of the VMACs created or adopted and not removed."""
        return {n for n, _ in self._created}

    async def remove(self, name: str) -> None:
        """Delete the VMAC called ``name`` if this manager created or adopted it (a reload dropped its instance,
        or a failed reload made it). Its own sysctls go with the device; the base interface's stay until
        :meth:`close` (other VMACs may share that base). Never raises."""
        entries = [(n, i) for n, i in self._created if n == name]
        if not entries:
            return
        self._created = [(n, i) for n, i in self._created if n != name]
        try:
            await self._nl().link("del", index=entries[-1][1])
            log.info("VMAC %s removed", name)
        except self._error as e:
            if e.code != errno.ENODEV:
                log.error("cannot remove VMAC %s: %s", name, e)

    async def close(self) -> None:
        """Remove the VMACs created or adopted, restore changed sysctls (newest first). Never raises."""
        for name, index in reversed(self._created):
            try:
                await self._nl().link("del", index=index)
                log.info("VMAC %s removed", name)
            except self._error as e:
                if e.code != errno.ENODEV:
                    log.error("cannot remove VMAC %s: %s", name, e)
        self._created.clear()
        for c in reversed(self._changed):
            try:
                with open(c.path, "w") as f:
                    f.write(c.old)
                log.info("sysctl %s restored to %s", c.path.removeprefix(self._root + "/").replace("/", "."), c.old)
            except OSError as e:
                if e.errno != errno.ENOENT:  # the VMAC's own sysctls vanish with it
                    log.warning("cannot restore %s: %s", c.path, e)
        self._changed.clear()
        for ifname in self._persisted:
            self._state.clear(ifname)
        self._persisted.clear()
        if self._ipr is not None:
            with contextlib.suppress(Exception):
                self._ipr.close()
            self._ipr = None
