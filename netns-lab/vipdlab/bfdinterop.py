"""BFD peers for the interop tests: FRR's bfdd and keepalived's BFD process in lab namespaces.

Each runs with directories of its own under the lab's workdir (``/run`` is shared
between namespaces): bfdd with its own vty socket, control socket and pid file, as
the ``frr`` user (FRR refuses root outside the ``frrvty`` group); keepalived with
its own pid files and without ``--vrrp`` so its BFD child starts.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .lab.procs import Process
from .lab.topo import Lab, Node

BFDD = Path("/usr/lib/frr/bfdd")


def frr_available() -> bool:
    """FRR's bfdd and vtysh are installed (Debian package ``frr``) and the ``frr`` user exists."""
    try:
        pwd.getpwnam("frr")
    except KeyError:
        return False
    return BFDD.exists() and shutil.which("vtysh") is not None


@dataclass(frozen=True)
class FrrPeer:
    """One ``peer`` of bfdd's config; times in milliseconds as FRR writes them."""

    peer: str
    local: str
    tx_ms: int = 300
    rx_ms: int = 300
    mult: int = 3
    passive: bool = False
    multihop: bool = False


class Bfdd:
    """FRR's bfdd on one lab node."""

    def __init__(self, lab: Lab, node: Node, peers: list[FrrPeer], tag: str = "bfdd") -> None:
        self.node = node
        # Not under the lab's workdir: pytest's and mkdtemp's directories are 0700 and bfdd runs as frr.
        self.dir = Path(tempfile.mkdtemp(prefix=f"vipd-{lab.prefix}-{node.name}-{tag}-"))
        atexit.register(shutil.rmtree, self.dir, True)
        lines = ["bfd"]
        for p in peers:
            lines += [
                f" peer {p.peer}{' multihop' if p.multihop else ''} local-address {p.local}",
                f"  receive-interval {p.rx_ms}",
                f"  transmit-interval {p.tx_ms}",
                f"  detect-multiplier {p.mult}",
            ]
            if p.passive:
                lines.append("  passive-mode")
            lines.append(" !")
        lines.append("!")
        conf = self.dir / "bfdd.conf"
        conf.write_text("\n".join(lines) + "\n")
        frr = pwd.getpwnam("frr")
        for path in (self.dir, conf):
            os.chown(path, frr.pw_uid, frr.pw_gid)
        argv = [
            str(BFDD),
            "-f", str(conf),
            "-i", str(self.dir / "bfdd.pid"),
            "--vty_socket", str(self.dir),
            "--bfdctl", str(self.dir / "bfdd.sock"),
            "-u", "frr", "-g", "frr",
            "-P", "0",
            "--log", "stdout",
            "--log-level", "info",
        ]  # fmt: skip
        self.process = Process(f"bfdd@{node.name}", node.ns, argv, lab.workdir / f"{node.name}-{tag}.log", cwd=self.dir)
        self.process.kind = "bfdd"  # type: ignore[attr-defined]  # what the lab reads of its daemons
        self.process.node_name = node.name  # type: ignore[attr-defined]
        lab.daemons.append(self.process)  # type: ignore[arg-type]

    def vtysh(self, command: str) -> str:
        """Run one vtysh command against this bfdd; returns its output ("" if bfdd is not up yet)."""
        r = subprocess.run(
            ["ip", "netns", "exec", self.node.ns, "vtysh", "--vty_socket", str(self.dir), "-c", command],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return r.stdout if r.returncode == 0 else ""

    def peers(self) -> dict[str, dict[str, object]]:
        """``show bfd peers json`` by peer address (empty while bfdd starts; multihop and single-hop alike)."""
        text = self.vtysh("show bfd peers json")
        try:
            return {str(p["peer"]): p for p in json.loads(text or "[]")}
        except ValueError:
            return {}

    def status(self, peer: str) -> str | None:
        """The session's status ("up", "down", "init", "shutdown"), or None if unknown."""
        p = self.peers().get(peer)
        return None if p is None else str(p.get("status"))


_KA_STATE = re.compile(r"\((?P<name>[^)]+)\) Entering (?P<state>\w+) state\b")


class KeepalivedBfd:
    """keepalived with only ``bfd_instance`` blocks (its BFD child) on one lab node."""

    def __init__(self, lab: Lab, node: Node, config: str, tag: str = "keepalived-bfd") -> None:
        self.dir = lab.workdir / f"{node.name}-{tag}"
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "keepalived.conf"
        conf.write_text(config)
        argv = [
            "keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
            "-f", str(conf),
            "-p", str(self.dir / "keepalived.pid"),
            "-r", str(self.dir / "vrrp.pid"),
            "-c", str(self.dir / "checkers.pid"),
            "-b", str(self.dir / "bfd.pid"),
        ]  # fmt: skip
        self.process = Process(f"keepalived-bfd@{node.name}", node.ns, argv, lab.workdir / f"{node.name}-{tag}.log")
        self.process.kind = "keepalived-bfd"  # type: ignore[attr-defined]
        self.process.node_name = node.name  # type: ignore[attr-defined]
        lab.daemons.append(self.process)  # type: ignore[arg-type]

    def states(self, name: str) -> list[str]:
        """Every state keepalived logged entering for ``bfd_instance`` ``name``, in order (upper case)."""
        return [m["state"].upper() for m in _KA_STATE.finditer(self.process.log_text()) if m["name"] == name]

    def state(self, name: str) -> str | None:
        """The last state logged for ``name``, or None."""
        s = self.states(name)
        return s[-1] if s else None


def cut(lab: Lab, node: Node) -> None:
    """Drop every BFD Control packet in and out of ``node`` (UDP 3784/4784) with nftables."""
    lab.nft(
        node.ns,
        "table inet bfdcut {\n"
        " chain in { type filter hook input priority 0; udp dport { 3784, 4784 } drop; }\n"
        " chain out { type filter hook output priority 0; udp dport { 3784, 4784 } drop; }\n"
        "}\n",
    )


def heal(lab: Lab, node: Node) -> None:
    """Undo :func:`cut`."""
    lab.nft(node.ns, "delete table inet bfdcut\n")
