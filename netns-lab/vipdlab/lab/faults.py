"""Helpers for the fault suite and the hostile-input tests: control socket, RSS, nftables, counters.

The paced injection of hostile frames and its per-category check are in
:mod:`vipdlab.inject.paced`.

Nothing here sleeps to synchronise: callers wait on observable state with
:func:`vipdlab.wait_until` and deadlines from the protocol timers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import daemons
from .daemons import Daemon
from .topo import Lab, Node
from .wait import wait_until

Status = dict[str, Any]


def control_socket(lab: Lab, node: Node | str) -> Path:
    """Where a vipd started under :func:`vipd_with_control` listens for ``vipctl``."""
    name = node if isinstance(node, str) else node.name
    return lab.workdir / f"{name}.ctl"


@contextmanager
def vipd_with_control(lab: Lab, extra: Callable[[str], list[str]] | None = None) -> Iterator[None]:
    """Within the block, every vipd the lab starts gets ``--control-socket <workdir>/<node>.ctl``.

    ``extra(node_name)`` adds more flags (``--notify-timeout``...). The lab names a
    config ``<node>-vipd-<n>.conf``, which is how the node is recognised.
    """
    orig = daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        node = config.name.split("-")[0]
        more = extra(node) if extra else []
        return [*orig(config, pid_file), "--control-socket", str(control_socket(lab, node)), *more]

    daemons.vipd_argv = argv
    try:
        yield
    finally:
        daemons.vipd_argv = orig


def status(lab: Lab, node: Node | str, timeout: float = 5.0) -> Status:
    """``vipctl status --json`` over the control socket, in-process (no Python start-up per call)."""
    from vipd.control.server import request

    reply: Status = request(str(control_socket(lab, node)), {"cmd": "status"}, timeout=timeout)
    if not reply.get("ok"):
        raise AssertionError(f"status from {node}: {reply}")
    return reply


def ready(lab: Lab, node: Node | str) -> bool:
    """The daemon answers on its control socket (its instances exist)."""
    path = control_socket(lab, node)
    if not path.exists():
        return False
    try:
        status(lab, node, timeout=1.0)
    except (OSError, AssertionError, ValueError):
        return False
    return True


def instance(st: Status, name: str = "VI_1") -> Status:
    for inst in st["instances"]:
        if inst["name"] == name:
            return dict(inst)
    raise KeyError(f"no instance {name} in status")


def transitions(st: Status) -> dict[str, dict[str, int]]:
    """Transition counters per instance: ``{"VI_1": {"BACKUP->MASTER:master_down_timer": 1}}``."""
    return {i["name"]: dict(i["stats"]["transitions"]) for i in st["instances"]}


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def stop_process(d: Daemon) -> float:
    """SIGSTOP the daemon's main process (not a crash: ``resume`` continues it). Returns the time."""
    t = time.monotonic()
    os.kill(d.pid, signal.SIGSTOP)
    return t


def resume_process(d: Daemon) -> float:
    t = time.monotonic()
    os.kill(d.pid, signal.SIGCONT)
    return t


# --------------------------------------------------------------------------- nftables
def nft_table(lab: Lab, ns: str, family: str, name: str, rules: str, hook: str = "forward") -> None:
    """Add ``table FAMILY NAME`` with one filter chain on ``hook`` holding ``rules``."""
    lab.nft(
        ns,
        f"""
table {family} {name} {{
  chain c {{
    type filter hook {hook} priority 0; policy accept;
    {rules}
  }}
}}
""",
    )


def nft_delete(lab: Lab, ns: str, family: str, name: str) -> None:
    lab.nft(ns, f"delete table {family} {name}")


def nft_counter(lab: Lab, ns: str, family: str, name: str) -> tuple[int, int]:
    """(packets, bytes) of the first ``counter`` in table ``name``'s chain ``c``."""
    import json
    import subprocess

    out = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "-j", "list", "chain", family, name, "c"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        for expr in rule.get("expr", []):
            if "counter" in expr:
                c = expr["counter"]
                return int(c["packets"]), int(c["bytes"])
    raise AssertionError(f"no counter in {family} {name}")


# --------------------------------------------------------------------------- kernel counters
def snmp(lab: Lab, node: Node) -> dict[str, int]:
    """The node's kernel counters from ``/proc/net/snmp`` and ``/proc/net/netstat``, named
    ``Ip.InHdrErrors``, ``IpExt.InCsumErrors``, ``IpExt.InTruncatedPkts``..."""
    out: dict[str, int] = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = [ln.split() for ln in lab.read_proc(node.ns, path).splitlines()]
        for head, vals in zip(lines[::2], lines[1::2], strict=False):
            if head and vals and head[0] == vals[0]:
                proto = head[0].rstrip(":")
                for k, v in zip(head[1:], vals[1:], strict=True):
                    out[f"{proto}.{k}"] = int(v)
    return out


def snmp6(lab: Lab, node: Node) -> dict[str, int]:
    """The node's IPv6 kernel counters from ``/proc/net/snmp6`` (``Ip6InHdrErrors``, ``Ip6InTruncatedPkts``...)."""
    out: dict[str, int] = {}
    for line in lab.read_proc(node.ns, "/proc/net/snmp6").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


@dataclass(frozen=True)
class RawSocket:
    """One line of /proc/net/raw: local address, bytes queued for reading, receive drops."""

    local: str
    rx_queue: int
    drops: int


def raw_sockets(lab: Lab, node: Node, proto: int = 112, family: int = 4) -> list[RawSocket]:
    """The node's IPv4 (``family`` 6: IPv6) raw sockets of ``proto``. vipd's receive socket is bound to
    0.0.0.0 / ::, its transmit socket to the primary (IPv6: link-local) address."""
    import socket
    import struct

    out = []
    for line in lab.read_proc(node.ns, "/proc/net/raw" if family == 4 else "/proc/net/raw6").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 13:
            continue
        addr, port = parts[1].split(":")
        if int(port, 16) != proto:
            continue
        if family == 4:
            local = socket.inet_ntoa(struct.pack("<I", int(addr, 16)))
        else:  # four host-order 32-bit words
            words = [int(addr[i : i + 8], 16) for i in range(0, 32, 8)]
            local = socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))
        rx_queue = int(parts[4].split(":")[1], 16)
        out.append(RawSocket(local, rx_queue, int(parts[-1])))
    return out


def raw_socket_drops(lab: Lab, node: Node, proto: int = 112, family: int = 4) -> int:
    """Receive-buffer overflows of the node's unbound (receiving) raw sockets of ``proto``."""
    unbound = "0.0.0.0" if family == 4 else "::"
    return sum(s.drops for s in raw_sockets(lab, node, proto, family) if s.local == unbound)


@dataclass
class Counters:
    """What one daemon counted, flattened: port-level drops, instance discards, accepted adverts."""

    rx_packets: int = 0
    rx_errors: dict[str, int] = field(default_factory=dict)
    discards: dict[tuple[str, str], int] = field(default_factory=dict)  # (instance, reason)
    received: dict[str, int] = field(default_factory=dict)  # instance -> adverts_received
    states: dict[str, str] = field(default_factory=dict)
    transitions: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, st: Status, family: int = 4) -> Counters:
        """Port-level counters of the ``family`` receive sockets; every instance's discards."""
        c = cls()
        for i in st["interfaces"]:
            if i["family"] == family:
                c.rx_packets += i["rx_packets"]
                for k, v in i["rx_errors"].items():
                    c.rx_errors[k] = c.rx_errors.get(k, 0) + v
        for inst in st["instances"]:
            for k, v in inst["stats"]["discards"].items():
                c.discards[(inst["name"], k)] = v
            c.received[inst["name"]] = inst["stats"]["advert_rcvd"]
            c.states[inst["name"]] = inst["state"]
        c.transitions = transitions(st)
        return c

    def minus(self, base: Counters) -> Counters:
        def d(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
            return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b) if a.get(k, 0) != b.get(k, 0)}

        return Counters(
            rx_packets=self.rx_packets - base.rx_packets,
            rx_errors=d(self.rx_errors, base.rx_errors),
            discards=d(self.discards, base.discards),
            received=d(self.received, base.received),
            states=dict(self.states),
            transitions=self.transitions,
        )


def counters(lab: Lab, node: Node | str, family: int = 4) -> Counters:
    """The daemon's :class:`Counters` for its ``family`` receive sockets."""
    return Counters.of(status(lab, node), family=family)


def kernel_counters(lab: Lab, node: Node, family: int = 4) -> dict[str, int]:
    """The node's kernel counters: :func:`snmp` (IPv4) or :func:`snmp6`."""
    return snmp(lab, node) if family == 4 else snmp6(lab, node)


def start_with_control(lab: Lab, configs: Iterable[tuple[Node, str]], timeout: float) -> dict[str, Daemon]:
    """Start vipd on each node with its config under :func:`vipd_with_control`; wait (``timeout`` each)
    until every one answers on its control socket. Returns the daemons by node name."""
    configs = list(configs)
    with vipd_with_control(lab):
        started = {node.name: lab.start_vipd(node, config) for node, config in configs}
        for node, _config in configs:
            wait_until(lambda node=node: ready(lab, node), timeout, message=f"{node} answers")
    return started
