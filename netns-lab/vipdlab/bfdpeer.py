"""Run vipd's BFD runtime alone in a namespace and print every state change as a JSON line.

The BFD half of vipd (``vipd.runtime.bfd``) without VRRP: used by the interop
tests against FRR's bfdd and keepalived's BFD, and by the runtime's own lab test.

    python -m vipdlab.bfdpeer NAME=NEIGHBOR[,src=IP][,tx=MS][,rx=MS][,mult=N][,passive][,multihop] ...

Each line on stdout: ``{"t": <loop.time()>, "name": ..., "up": bool, "diag": int}``;
a first line ``{"ready": true}`` once the sockets are open. SIGTERM stops it
(every session sends AdminDown first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from ipaddress import ip_address
from typing import TYPE_CHECKING

from vipd.runtime.bfd import BfdConfig, BfdRuntime

from .lab.daemons import REPO_ROOT, vipd_env
from .lab.procs import Process

if TYPE_CHECKING:
    from .lab.topo import Lab, Node


def parse(arg: str) -> BfdConfig:
    """``NAME=NEIGHBOR[,key=value|flag]...`` -> BfdConfig (times in ms on the command line)."""
    name, _, rest = arg.partition("=")
    parts = rest.split(",")
    kw: dict[str, object] = {"name": name, "neighbor_ip": ip_address(parts[0])}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k == "src":
            kw["source_ip"] = ip_address(v)
        elif k == "tx":
            kw["min_tx"] = float(v) / 1000
        elif k == "rx":
            kw["min_rx"] = float(v) / 1000
        elif k == "idle":
            kw["idle_tx"] = float(v) / 1000
        elif k == "mult":
            kw["multiplier"] = int(v)
        elif k in ("passive", "multihop"):
            kw[k] = True
        elif k == "ttl":
            kw["ttl"] = int(v)
        elif k == "max_hops":
            kw["max_hops"] = int(v)
        else:
            raise SystemExit(f"unknown option {k!r}")
    return BfdConfig(**kw)  # type: ignore[arg-type]


async def main(argv: list[str]) -> int:
    loop = asyncio.get_running_loop()
    rt = BfdRuntime([parse(a) for a in argv])
    rt.start(loop)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    for name in rt.sessions:

        def cb(up: bool, diag: int, name: str = name) -> None:
            print(json.dumps({"t": loop.time(), "name": name, "up": up, "diag": diag}), flush=True)

        rt.subscribe(name, cb)
    print(json.dumps({"ready": True, "t": loop.time()}), flush=True)
    await stop.wait()
    print(json.dumps({"status": rt.status()}), flush=True)
    rt.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))


def start(lab: Lab, node: Node, *sessions: str, tag: str = "bfdpeer") -> Process:
    """Start this runner in ``node``'s namespace with ``sessions`` (the command-line syntax above).

    Its JSON lines go to ``<workdir>/<node>-<tag>.log``; read them with :func:`events`.
    """
    env = vipd_env()
    env["PYTHONPATH"] = os.pathsep.join((str(REPO_ROOT / "netns-lab"), env["PYTHONPATH"]))
    p = Process(
        f"{node.name}-{tag}",
        node.ns,
        [sys.executable, "-m", "vipdlab.bfdpeer", *sessions],
        lab.workdir / f"{node.name}-{tag}.log",
        env=env,
    )
    p.kind = "bfdpeer"  # type: ignore[attr-defined]  # what the lab reads of its daemons
    p.node_name = node.name  # type: ignore[attr-defined]
    lab.daemons.append(p)  # type: ignore[arg-type]  # stopped and reaped with the lab's daemons
    return p


def events(p: Process) -> list[dict[str, object]]:
    """Every JSON line the runner printed so far (state changes, ``ready``, the final status)."""
    out = []
    for line in p.log_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def is_up(p: Process, name: str) -> bool | None:
    """The last reported state of session ``name`` (None before any report)."""
    last = [e for e in events(p) if e.get("name") == name]
    return bool(last[-1]["up"]) if last else None


def ready(p: Process) -> bool:
    """The runner has opened its sockets (its Python start-up is over)."""
    return any(e.get("ready") for e in events(p))
