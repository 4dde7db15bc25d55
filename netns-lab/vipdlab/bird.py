"""BIRD 2 in lab namespaces: the routers announce vipd's routes by BGP to an upstream (the client).

Each router runs BIRD with a kernel protocol that learns the routes vipd
installs in kernel table ``VIPD_TABLE`` (keepalived ``virtual_routes ... table
100``) into a BIRD table of their own, and one eBGP session (AS ``ROUTER_AS``)
exporting that table to the upstream (AS ``UPSTREAM_AS``), ``next hop self``.
The upstream (the lab's client namespace) imports from every router and writes
the best routes into its main kernel table, where a test reads them with
``ip route``. Timers are short so that a session that dies is noticed fast:
hold 3 s, keepalive 1 s, connect retry 1 s. The configs are those of
docs/bgp.md.

BIRD runs in the foreground (``-f``) with its own control socket and pid file
in the lab's work directory, as a :class:`~vipdlab.lab.procs.Process`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .lab.procs import Process
from .lab.topo import Lab, Node

VIPD_TABLE = 100
"""The kernel table vipd's ``virtual_routes`` for BGP go to."""
ROUTER_AS = 65001
UPSTREAM_AS = 65000


def bird_available() -> str | None:
    """None when BIRD 2 can run here, else why not (for a skip reason)."""
    if shutil.which("bird") is None or shutil.which("birdc") is None:
        return "needs BIRD 2 (Debian package bird2)"
    return None


def router_config(node: Node, upstream: Node, table: int = VIPD_TABLE) -> str:
    """BIRD config of a VRRP router: learn kernel table ``table``, announce it to ``upstream``."""
    return f"""\
router id {node.ip4};
log stderr all;

protocol device {{ }}

ipv4 table vipd4;

# The routes vipd installs while master (virtual_routes ... table {table}).
protocol kernel vipd_routes {{
    ipv4 {{ table vipd4; import all; export none; }};
    kernel table {table};
    learn;               # routes BIRD did not write itself
    scan time 10;        # netlink notifications are immediate; the scan is a safety net
}}

protocol bgp upstream {{
    local {node.ip4} as {ROUTER_AS};
    neighbor {upstream.ip4} as {UPSTREAM_AS};
    hold time 3;
    keepalive time 1;
    connect retry time 1;
    ipv4 {{ table vipd4; import none; export all; next hop self; }};
}}
"""


def upstream_config(node: Node, routers: list[Node]) -> str:
    """BIRD config of the upstream router: eBGP with every VRRP router, best routes into the kernel."""
    sessions = "".join(
        f"""
protocol bgp {r.name} {{
    local {node.ip4} as {UPSTREAM_AS};
    neighbor {r.ip4} as {ROUTER_AS};
    hold time 3;
    keepalive time 1;
    connect retry time 1;
    ipv4 {{ import all; export none; }};
}}
"""
        for r in routers
    )
    return f"""\
router id {node.ip4};
log stderr all;

protocol device {{ }}

protocol kernel {{
    ipv4 {{ import none; export all; }};
}}
{sessions}"""


def start_bird(lab: Lab, node: Node, config: str) -> Process:
    """Start BIRD in ``node`` with ``config`` (files in the lab's work directory)."""
    n = len(list(Path(lab.workdir).glob(f"{node.name}-bird-*.conf"))) + 1
    stem = Path(lab.workdir) / f"{node.name}-bird-{n}"
    conf = stem.with_suffix(".conf")
    conf.write_text(config)
    argv = ["bird", "-f", "-c", str(conf), "-s", f"{stem}.ctl", "-P", f"{stem}.pid"]
    return Process(f"bird@{node.name}", node.ns, argv, Path(lab.workdir) / f"{node.name}-bird.log")


def routes(node: Node, prefix: str, table: int | str = "main") -> str:
    """``ip route show PREFIX table TABLE`` in ``node`` (the main table by default)."""
    argv = ["ip", "-n", node.ns, "route", "show", prefix, "table", str(table)]
    out = subprocess.run(argv, capture_output=True, text=True)
    return out.stdout.strip()
