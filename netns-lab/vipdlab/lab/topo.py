"""The lab topology: a bridge namespace, routers r1..rN and a client, built with pyroute2.

::

        r1 (192.0.2.1)   r2 (192.0.2.2)   client (192.0.2.10)
          eth0             eth0             eth0
            |                |                |
          p-r1 ----------- br0 ------------ p-c        <- namespace "<prefix>-sw"
                             |
                           p-r2

Every namespace is named ``<prefix>-<role>``, with a fresh random prefix per
lab. Everything the lab creates is removed on exit: ``with Lab() as lab:``,
``lab.close()``, an ``atexit`` hook and SIGTERM/SIGINT all lead to the same
idempotent :meth:`Lab.close`. A marker file per lab in ``/run/vipdlab`` lets
``lab.py sweep`` remove the remains of a lab whose owner was SIGKILLed.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, netns
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD
from pyroute2.netlink.rtnl.ndmsg import states as ND_STATES

from .daemons import Daemon
from .procs import become_subreaper, reap_orphans, reap_pid
from .sniff import Sniffer
from .wait import wait_until

MARKER_DIR = Path("/run/vipdlab")
NS_PREFIX = "vl"
SUBNET4 = ipaddress.ip_network("192.0.2.0/24")
SUBNET6 = ipaddress.ip_network("2001:db8::/64")
ND_STATE_NAMES = {v: k for k, v in ND_STATES.items() if isinstance(v, int) and k != "none"}


@dataclass(frozen=True, repr=False)
class Node:
    """One host of the lab. ``ip4``/``ip6`` are its primary addresses (no prefix length)."""

    name: str
    ns: str
    ip4: str
    ip6: str
    mac: str
    ifname: str = "eth0"
    ifindex: int = 0

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.ip4} {self.mac} ns={self.ns}>"


@dataclass(frozen=True)
class Neighbour:
    ip: str
    lladdr: str | None
    state: str


# ---------------------------------------------------------------------------
# process-wide safety net: atexit and signals close every live lab
# ---------------------------------------------------------------------------
_LIVE: list[Lab] = []
_LIVE_LOCK = threading.Lock()
_hooks_installed = False
_OWNER_PID = os.getpid()


def _close_all() -> None:
    with _LIVE_LOCK:
        labs = list(_LIVE)
    for lab in reversed(labs):
        # pyroute2 forks helper children (IPRoute(netns=...), create_socket) that may run
        # atexit hooks when they exit: only the process that built a lab may tear it down.
        with contextlib.suppress(Exception):
            lab.close()


def _on_signal(signum: int, _frame: object) -> None:
    # Raising unwinds every ``with Lab()`` and ``finally``; atexit covers the rest.
    if os.getpid() != _OWNER_PID:
        os._exit(128 + signum)  # a forked helper child: never unwind the parent's state
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def install_safety_net() -> None:
    """atexit hook, and SIGTERM/SIGHUP handlers that unwind (only where still SIG_DFL).

    SIGINT keeps Python's default handler (KeyboardInterrupt), or pytest's.
    """
    global _hooks_installed, _OWNER_PID
    if _hooks_installed and os.getpid() == _OWNER_PID:
        return
    _OWNER_PID = os.getpid()
    atexit.register(_close_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_signal)
        if signal.getsignal(signal.SIGINT) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGINT, _on_signal)
    _hooks_installed = True


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while tearing down, so a second Ctrl-C can't cut cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _ns_inode(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except FileNotFoundError:
        return None


def pids_in_namespace(ns: str) -> list[int]:
    """Processes whose network namespace is ``ns``."""
    inode = _ns_inode(ns)
    if inode is None:
        return []
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}/ns/net").st_ino == inode:
                out.append(int(name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def _kill_and_reap(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        reap_pid(pid, timeout=1.0)


def _remove_namespace(ns: str) -> None:
    _kill_and_reap(pids_in_namespace(ns))
    with contextlib.suppress(FileNotFoundError, OSError):
        netns.remove(ns)


def sweep(only_dead_owners: bool = True) -> list[str]:
    """Remove the namespaces of labs listed in MARKER_DIR whose owner process is gone."""
    removed: list[str] = []
    if not MARKER_DIR.is_dir():
        return removed
    for marker in MARKER_DIR.glob(f"{NS_PREFIX}*.json"):
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        owner = int(info.get("pid", 0))
        if only_dead_owners and owner and Path(f"/proc/{owner}").exists():
            continue
        for ns in info.get("namespaces", []):
            if ns.startswith(info["prefix"] + "-") and ns in netns.listnetns():
                _remove_namespace(ns)
                removed.append(ns)
        marker.unlink(missing_ok=True)
    return removed


# ---------------------------------------------------------------------------
# the lab
# ---------------------------------------------------------------------------
class Lab:
    """Namespaces, veths, a bridge, daemons and a sniffer, all removed on close.

    ``routers`` is the number of routers (named r1..rN, addresses .1...N) or a
    list of names. The client is 192.0.2.10 / 2001:db8::10. The sniffer on the
    client starts with the lab (``lab.sniffer``).
    """

    CLIENT_HOST = 10

    def __init__(
        self,
        routers: int | Sequence[str] = 2,
        *,
        workdir: str | Path | None = None,
        sniff: bool = True,
        keep_workdir: bool = False,
    ) -> None:
        names = [f"r{i + 1}" for i in range(routers)] if isinstance(routers, int) else list(routers)
        if len(names) >= self.CLIENT_HOST:
            raise ValueError("at most 9 routers")
        self.prefix = NS_PREFIX + secrets.token_hex(3)
        self.sw_ns = f"{self.prefix}-sw"
        self._router_names = names
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.keep_workdir = keep_workdir
        self._sniff = sniff
        self.nodes: dict[str, Node] = {}
        self.sniffer: Sniffer | None = None
        self.daemons: list[Daemon] = []
        self._sniffers: list[Sniffer] = []
        self._ipr: dict[str, IPRoute] = {}
        self._namespaces: list[str] = []
        self._closed = False
        self._owner_pid = os.getpid()
        self._built = False
        self._failed = False

    # ------------------------------------------------------------------ build
    def __enter__(self) -> Lab:
        return self.build()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not issubclass(exc_type, (KeyboardInterrupt, SystemExit)):  # type: ignore[arg-type]
            self._failed = True  # keep the work directory (configs, logs) of a failed run
        self.close()

    @property
    def routers(self) -> list[Node]:
        return [self.nodes[n] for n in self._router_names]

    @property
    def client(self) -> Node:
        return self.nodes["client"]

    def __getattr__(self, name: str) -> Node:
        nodes = self.__dict__.get("nodes", {})
        if name in nodes:
            return nodes[name]
        raise AttributeError(name)

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def build(self) -> Lab:
        if self._built:
            return self
        install_safety_net()
        become_subreaper()
        with _LIVE_LOCK:
            _LIVE.append(self)
        try:
            self._build()
        except BaseException:
            self._failed = True
            self.close()
            raise
        self._built = True
        return self

    def _write_marker(self) -> None:
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        info = {"prefix": self.prefix, "pid": os.getpid(), "namespaces": self._namespaces, "time": time.time()}
        (MARKER_DIR / f"{self.prefix}.json").write_text(json.dumps(info))

    def _new_ns(self, ns: str) -> None:
        self._namespaces.append(ns)
        self._write_marker()  # before creating, so a crash right after leaves a record
        netns.create(ns)

    def _build(self) -> None:
        hosts: list[tuple[str, int]] = [(n, i + 1) for i, n in enumerate(self._router_names)]
        hosts.append(("client", self.CLIENT_HOST))
        self._new_ns(self.sw_ns)
        self.sysctl(self.sw_ns, "net/ipv6/conf/all/disable_ipv6", 1)
        self.sysctl(self.sw_ns, "net/ipv6/conf/default/disable_ipv6", 1)
        for name, _host in hosts:
            ns = f"{self.prefix}-{name}"
            self._new_ns(ns)
            for key, value in (
                ("net/ipv4/conf/all/rp_filter", 0),
                ("net/ipv4/conf/default/rp_filter", 0),
                ("net/ipv6/conf/all/accept_dad", 0),
                ("net/ipv6/conf/default/accept_dad", 0),
            ):
                self.sysctl(ns, key, value)

        ipr = self.ipr(self.sw_ns)
        ipr.link("add", ifname="br0", kind="bridge", br_stp_state=0, br_forward_delay=0, br_mcast_snooping=0)
        (br,) = ipr.link_lookup(ifname="br0")
        for name, host in hosts:
            ns = f"{self.prefix}-{name}"
            port = f"p-{name}"[:15]
            mac = f"02:76:6c:00:00:{host:02x}"  # 02 = locally administered; 76:6c = "vl"
            ipr.link("add", ifname=port, kind="veth", peer={"ifname": "eth0", "net_ns_fd": ns, "address": mac})
            (pidx,) = ipr.link_lookup(ifname=port)
            ipr.link("set", index=pidx, master=br, state="up")
            ip4, ip6 = str(SUBNET4[host]), str(SUBNET6[host])
            h = self.ipr(ns)
            h.link("set", index=1, state="up")
            (eth0,) = h.link_lookup(ifname="eth0")
            self.sysctl(ns, "net/ipv4/conf/eth0/rp_filter", 0)
            self.sysctl(ns, "net/ipv6/conf/eth0/accept_dad", 0)
            h.link("set", index=eth0, address=mac)
            h.link("set", index=eth0, state="up")
            h.addr("add", index=eth0, address=ip4, prefixlen=24, broadcast=str(SUBNET4.broadcast_address))
            h.addr("add", index=eth0, address=ip6, prefixlen=64, flags=IFA_F_NODAD)
            self.nodes[name] = Node(name=name, ns=ns, ip4=ip4, ip6=ip6, mac=mac, ifindex=eth0)
        ipr.link("set", index=br, state="up")
        # the bridge ports forward at once (forward delay 0, no STP); wait for carrier on every host
        for node in self.nodes.values():
            wait_until(lambda n=node: self._oper_up(n), 5.0, message=f"{node.name} eth0 up")
        if self._sniff:
            self.sniffer = self.start_sniffer(self.client)

    def _oper_up(self, node: Node) -> bool:
        (link,) = self.ipr(node.ns).get_links(node.ifindex)
        return link.get("operstate") == "UP"

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Stop daemons, close sockets, remove namespaces and files. Idempotent."""
        if self._closed or os.getpid() != self._owner_pid:
            return  # already closed, or called in a forked child that must not touch the lab
        self._closed = True
        with _signals_blocked():
            errors: list[str] = []
            running = [d for d in self.daemons if d.returncode is None]
            for d in running:
                with contextlib.suppress(ProcessLookupError):
                    d.send_signal(signal.SIGTERM)
            for d in running:
                try:
                    d.stop(timeout=3.0)
                except Exception as exc:
                    errors.append(f"stop {d.name}: {exc}")
            for s in self._sniffers:
                with contextlib.suppress(Exception):
                    s.stop()
            for ipr in self._ipr.values():
                with contextlib.suppress(Exception):
                    ipr.close()
            self._ipr.clear()
            for ns in reversed(self._namespaces):
                _remove_namespace(ns)
            left = [ns for ns in self._namespaces if ns in netns.listnetns()]
            if left:
                errors.append(f"namespaces still present: {left}")
            reap_orphans(exclude=[d.pid for d in self.daemons if d.returncode is None])
            (MARKER_DIR / f"{self.prefix}.json").unlink(missing_ok=True)
            if self._own_workdir and (not (self.keep_workdir or self._failed) or not any(self.workdir.iterdir())):
                shutil.rmtree(self.workdir, ignore_errors=True)
            elif self._own_workdir:
                print(f"vipdlab: kept {self.workdir} (configs, logs)", file=sys.stderr)
            with _LIVE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)
            if errors:
                raise RuntimeError("; ".join(errors))

    # ------------------------------------------------------------------ helpers
    def ipr(self, ns: str) -> IPRoute:
        """A netlink socket in ``ns`` (cached; closed by close())."""
        if ns not in self._ipr:
            self._ipr[ns] = IPRoute(netns=ns, flags=0)
        return self._ipr[ns]

    @staticmethod
    def sysctl(ns: str, key: str, value: int | str) -> None:
        netns.pushns(ns)
        try:
            with open(f"/proc/sys/{key}", "w") as f:
                f.write(str(value))
        finally:
            netns.popns()

    @staticmethod
    def read_proc(ns: str, path: str) -> str:
        netns.pushns(ns)
        try:
            with open(path) as f:
                return f.read()
        finally:
            netns.popns()

    def start_sniffer(self, node: Node) -> Sniffer:
        s = Sniffer(node.ns, node.ifname, label=node.name).start()
        self._sniffers.append(s)
        return s

    # addresses
    def addresses(self, node: Node) -> list[str]:
        """Every address in the node's namespace, as ``ip/prefixlen``."""
        out = []
        for msg in self.ipr(node.ns).get_addr():
            out.append(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
        return out

    def holds(self, node: Node, ip: str) -> bool:
        want = ipaddress.ip_address(ip.split("/")[0])
        return any(ipaddress.ip_address(a.split("/")[0]) == want for a in self.addresses(node))

    def holders(self, ip: str) -> list[Node]:
        """Routers that hold ``ip`` right now.

        Raises AssertionError if a daemon exited without being told to, so a wait on
        the holders fails at once, with the daemon's log, instead of at its deadline.
        """
        self.assert_running()
        return [n for n in self.routers if self.holds(n, ip)]

    def add_address(self, node: Node, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        kw = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
        self.ipr(node.ns).addr(
            "add", index=node.ifindex, address=str(iface.ip), prefixlen=iface.network.prefixlen, **kw
        )

    def del_address(self, node: Node, cidr: str) -> bool:
        """Remove ``cidr`` from the node's eth0 if present. Returns whether it was there."""
        iface = ipaddress.ip_interface(cidr)
        if not self.holds(node, str(iface.ip)):
            return False
        self.ipr(node.ns).addr("del", index=node.ifindex, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        return True

    # neighbours
    def neighbour(self, node: Node, ip: str) -> Neighbour | None:
        """The node's neighbour-table entry for ``ip`` on eth0, or None."""
        want = ipaddress.ip_address(ip.split("/")[0])
        for msg in self.ipr(node.ns).get_neighbours(ifindex=node.ifindex):
            dst = msg.get("NDA_DST")
            if dst is not None and ipaddress.ip_address(dst) == want:
                state = msg["state"]
                names = [name for bit, name in sorted(ND_STATE_NAMES.items()) if state & bit]
                return Neighbour(ip=str(want), lladdr=msg.get("NDA_LLADDR"), state="|".join(names) or str(state))
        return None

    def set_neighbour(self, node: Node, ip: str, mac: str, state: str = "stale") -> None:
        """Seed a neighbour entry (Linux updates but does not create entries on GARP with arp_accept=0)."""
        self.ipr(node.ns).neigh(
            "replace", dst=ip.split("/")[0], lladdr=mac, ifindex=node.ifindex, state=ND_STATES[state]
        )

    def del_neighbour(self, node: Node, ip: str) -> None:
        with contextlib.suppress(Exception):
            self.ipr(node.ns).neigh("del", dst=ip.split("/")[0], ifindex=node.ifindex)

    def vrrp_joined(self, node: Node, family: int = 4) -> bool:
        """Whether something in the node's namespace joined the VRRP group on eth0.

        Only the daemon joins 224.0.0.18 / ff02::12 in a router namespace, so this
        says its receive socket is open: a readiness signal that doesn't need adverts.
        """
        if family == 6:
            text = self.read_proc(node.ns, "/proc/net/igmp6")
            return any(
                line.split()[1] == node.ifname and line.split()[2] == "ff020000000000000000000000000012"
                for line in text.splitlines()
                if len(line.split()) > 2
            )
        text = self.read_proc(node.ns, "/proc/net/igmp")
        dev = None
        for line in text.splitlines()[1:]:
            if not line.startswith(("\t", " ")):
                parts = line.split()
                dev = parts[1] if len(parts) > 1 else None
                continue
            group = line.split()[0]
            if dev == node.ifname and group.upper() in ("120000E0", "E0000012"):
                return True
        return False

    # daemons
    def start_daemon(
        self,
        kind: str,
        node: Node,
        config: str,
        *,
        tag: str = "",
        same_file: bool = False,
        env: dict[str, str] | None = None,
    ) -> Daemon:
        """Write ``config`` and start ``kind`` ("vipd" or "keepalived") in the node's namespace.

        Logs go to ``<workdir>/<node>-<kind>.log``, appended across restarts. Each start
        writes a new file, unless ``same_file`` (one path per node and kind, as an
        operator's /etc/keepalived/keepalived.conf). ``env``: added to the daemon's environment.
        """
        n = sum(1 for d in self.daemons if d.node_name == node.name and d.kind == kind) + 1
        stem = f"{node.name}-{kind}"
        conf = self.workdir / (f"{stem}.conf" if same_file else f"{stem}-{n}{'-' + tag if tag else ''}.conf")
        conf.write_text(config)
        d = Daemon(kind, node.name, node.ns, conf, self.workdir / f"run-{stem}-{n}", self.workdir / f"{stem}.log", env)
        self.daemons.append(d)
        return d

    def start_vipd(self, node: Node, config: str, **kw: str) -> Daemon:
        return self.start_daemon("vipd", node, config, **kw)

    def start_keepalived(self, node: Node, config: str, **kw: str) -> Daemon:
        return self.start_daemon("keepalived", node, config, **kw)

    def assert_running(self) -> None:
        """Fail at once if a daemon exited without being told to (bad config, crash at start-up)."""
        dead = [d for d in self.daemons if d.died]
        if dead:
            d = dead[0]
            tail = "\n".join(d.log_text().splitlines()[-15:])
            raise AssertionError(f"{d.name} exited with status {d.popen.returncode} on its own:\n{tail}")

    def logs(self, tail: int = 80) -> str:
        """The last ``tail`` lines of every daemon log, for failure reports."""
        seen: set[Path] = set()
        parts = []
        for d in self.daemons:
            if d.log_path in seen:
                continue
            seen.add(d.log_path)
            lines = d.log_text().splitlines()[-tail:]
            parts.append(f"==> {d.log_path.name} <==\n" + "\n".join(lines))
        return "\n".join(parts)

    def nft(self, ns: str, script: str) -> None:
        """Load an nftables script in ``ns`` (nft has no pyroute2 equivalent worth using here)."""
        import subprocess

        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True)
