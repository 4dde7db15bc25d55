"""vipd next to Debian's keepalived on one VRID: modes, configs, a pcap capture and log checks.

Used by ``tests/interop/`` (and usable from a REPL). A *mode* is one column of
the interop matrix in ``docs/interop.md``:

=============  =====================================================  ========
mode           wire                                                   interval
=============  =====================================================  ========
``v2``         VRRPv2, IPv4 multicast, ``auth_type PASS``             1 s
``v3``         VRRPv3, IPv4 multicast 224.0.0.18                      0.1 s
``v3-unicast`` VRRPv3, IPv4 unicast across two subnets (RoutedLab)    0.1 s
``v3-ipv6``    VRRPv3, IPv6 multicast ff02::12 from link-local        0.1 s
=============  =====================================================  ========

Timings come from the lab sniffer (kernel receive stamps on the monotonic
clock), never from sleeps.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .conf import Instance
from .daemons import Daemon
from .procs import Process
from .routed import RoutedLab
from .topo import Lab, Node
from .wait import wait_until

NFT_TABLE = "vipd_interop"


@dataclass(frozen=True)
class Mode:
    """One wire configuration both daemons are given.

    Attributes:
        name: matrix column (``v2``, ``v3``, ``v3-unicast``, ``v3-ipv6``).
        version: VRRP version.
        family: 4 or 6.
        unicast: adverts by unicast to the peer across a gateway (RoutedLab).
        advert_int: seconds.
        vip: the virtual address with its prefix.
        auth_pass: VRRPv2 ``auth_type PASS`` password, or None.
    """

    name: str
    version: int
    family: int
    unicast: bool
    advert_int: float
    vip: str
    auth_pass: str | None = None

    @property
    def vip_address(self) -> str:
        return self.vip.split("/")[0]


MODES: dict[str, Mode] = {
    "v2": Mode("v2", 2, 4, False, 1.0, "192.0.2.100/24", auth_pass="vipd1234"),
    "v3": Mode("v3", 3, 4, False, 0.1, "192.0.2.100/24"),
    "v3-unicast": Mode("v3-unicast", 3, 4, True, 0.1, "192.0.2.100/32"),
    "v3-ipv6": Mode("v3-ipv6", 3, 6, False, 0.1, "2001:db8::100/64"),
}


def make_lab(mode: Mode) -> Lab:
    """A bridged lab (r1, r2, client) or, for unicast, the routed one (r1 | gw | r2)."""
    return RoutedLab() if mode.unicast else Lab()


def link_local(mac: str) -> str:
    """The EUI-64 link-local address the kernel derives from ``mac`` (RFC 4291 appendix A)."""
    b = bytearray(bytes.fromhex(mac.replace(":", "")))
    b[0] ^= 0x02
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def advert_source(mode: Mode, node: Node) -> str:
    """The IP source of ``node``'s adverts in ``mode`` (IPv6: its link-local address)."""
    return link_local(node.mac) if mode.family == 6 else node.ip4


def instance(mode: Mode, lab: Lab, node: Node, priority: int, *, extra: tuple[str, ...] = (), **kw: object) -> Instance:
    """The ``vrrp_instance`` both daemons run on ``node`` for ``mode`` (``extra``: more lines)."""
    lines: list[str] = list(extra)
    if mode.unicast:
        (peer,) = [n for n in lab.routers if n.name != node.name]
        lines += [f"unicast_src_ip {node.ip4}", "unicast_peer {", f"    {peer.ip4}", "}"]
    return Instance(
        priority=priority,
        version=mode.version,
        advert_int=mode.advert_int,
        vips=(mode.vip,),
        auth_pass=mode.auth_pass,
        extra=tuple(lines),
        **kw,  # type: ignore[arg-type]
    )


def partition(lab: Lab, nodes: list[Node]) -> None:
    """Drop every incoming VRRP packet (IPv4 and IPv6, protocol 112) on ``nodes`` with nftables."""
    for node in nodes:
        lab.nft(
            node.ns,
            f"table inet {NFT_TABLE} {{\n  chain in {{\n    type filter hook input priority 0;\n"
            "    meta l4proto 112 drop\n  }\n}\n",
        )


def heal(lab: Lab, nodes: list[Node]) -> None:
    """Undo :func:`partition`."""
    for node in nodes:
        lab.nft(node.ns, f"delete table inet {NFT_TABLE}\n")


# ---------------------------------------------------------------------------
# packet capture and tshark
# ---------------------------------------------------------------------------
def tshark_available() -> bool:
    return shutil.which("tshark") is not None and shutil.which("dumpcap") is not None


class Capture:
    """dumpcap on one lab interface, VRRP only, into a pcapng file; read back with tshark."""

    def __init__(self, lab: Lab, node: Node, name: str = "vrrp") -> None:
        self.path = lab.workdir / f"{name}-{node.name}.pcapng"
        self._proc = Process(
            f"dumpcap@{node.name}",
            node.ns,
            ["dumpcap", "-i", node.ifname, "-f", "ip proto 112 or ip6 proto 112", "-w", str(self.path)],
            lab.workdir / f"{name}-{node.name}.dumpcap.log",
        )
        wait_until(lambda: "Capturing on" in self._proc.log_text(), 10.0, message="dumpcap started")

    def stop(self) -> None:
        """Stop dumpcap (SIGTERM flushes the file). Idempotent."""
        self._proc.stop(signal.SIGTERM, timeout=5.0)

    def adverts(self, src: str) -> list[dict[str, str]]:
        """Every VRRP packet from ``src`` as tshark dissects it (fields by name).

        The VRRPv3/IPv4 checksum is verified with the pseudo-header
        (``vrrp.v3_checksum_as_in_v2: FALSE``, tshark's default, as keepalived sends).
        """
        fields = [
            "frame.number",
            "ip.src",
            "ipv6.src",
            "vrrp.version",
            "vrrp.virt_rtr_id",
            "vrrp.prio",
            "vrrp.checksum.status",
            "_ws.malformed",
            "_ws.expert.message",
            "ip.ttl",
            "ipv6.hlim",
        ]
        argv = ["tshark", "-n", "-r", str(self.path), "-o", "vrrp.v3_checksum_as_in_v2:FALSE", "-Y", "vrrp"]
        argv += ["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
        for f in fields:
            argv += ["-e", f]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
        rows = []
        want = ipaddress.ip_address(src)
        for line in out.splitlines():
            row = dict(zip(fields, line.split("|"), strict=False))
            addr = row.get("ip.src") or row.get("ipv6.src") or ""
            if addr and ipaddress.ip_address(addr) == want:
                rows.append(row)
        return rows


# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------
# What each daemon says when it rejects a packet (keepalived 2.2.7 vrrp.c wording,
# vipd's daemon/driver wording).
KEEPALIVED_PACKET_ERRORS = re.compile(
    r"\b(invalid|wrong version|too (short|long)|checksum|mismatch|bogus|unknown|passwd|auth|ttl|"
    r"not present in|ip number count|interval|not a (unicast )?peer)",
    re.IGNORECASE,
)
_PATHS = re.compile(r"\S*/\S*")  # file names (random temp dirs once contained "ttl")
VIPD_PACKET_ERRORS = re.compile(r"dropped VRRP packet|dropped advert", re.IGNORECASE)


def packet_errors(text: str, kind: str) -> list[str]:
    """Lines of a daemon log that report a rejected VRRP packet."""
    pattern = KEEPALIVED_PACKET_ERRORS if kind == "keepalived" else VIPD_PACKET_ERRORS
    out = []
    for line in text.splitlines():
        if line.startswith("---"):
            continue  # the lab's own start/exit markers (command lines contain file names)
        if kind == "keepalived" and ("Command line" in line or line.lstrip().startswith("'")):
            continue
        if pattern.search(_PATHS.sub("", line)):
            out.append(line)
    return out


_STATE_LINE = re.compile(r"Entering (BACKUP|MASTER) STATE")


def ready(daemon: Daemon) -> bool:
    """Whether ``daemon`` (vipd or keepalived) has entered its first state since its last start.

    Both daemons log ``Entering BACKUP STATE`` / ``Entering MASTER STATE``; by then
    their receive sockets are open. The log is appended across restarts, so only
    the text after the lab's last ``--- ... start:`` marker counts.
    """
    text = daemon.log_text()
    at = text.rfind("--- ")
    while at > 0 and " start: " not in text[at : text.find("\n", at)]:
        at = text.rfind("--- ", 0, at)
    return daemon.running and bool(_STATE_LINE.search(text[max(at, 0) :]))


def log_of(lab: Lab, kind: str) -> str:
    """All log text of every ``kind`` daemon in ``lab``."""
    seen: set[Path] = set()
    parts = []
    for d in lab.daemons:
        if d.kind == kind and d.log_path not in seen:
            seen.add(d.log_path)
            parts.append(d.log_text())
    return "\n".join(parts)
