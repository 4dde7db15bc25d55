"""Stand-in services for health-check scenarios: a TCP listener in a node's namespace.

The listener is a tiny Python process (accepts and closes every connection, so
its backlog never fills); stopping it is how a test makes a ``tcp`` check fail.
Lab.close() kills it with everything else in the namespace.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .procs import Process
from .topo import Lab, Node
from .wait import wait_until

_LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(128)
print("accept" + "ing", flush=True)  # not spelled out: the log header holds this source
while True:
    c, _ = s.accept()
    c.close()
"""


def tcp_listener(lab: Lab, node: Node, port: int, host: str = "127.0.0.1", *, timeout: float = 5.0) -> Process:
    """Start a TCP listener on host:port in ``node``'s namespace; return once it accepts."""
    n = len(list(Path(lab.workdir).glob(f"{node.name}-listener-{port}-*.log"))) + 1
    log = Path(lab.workdir) / f"{node.name}-listener-{port}-{n}.log"  # fresh file: "listening" is this one's
    proc = Process(f"listener-{node.name}-{port}", node.ns, [sys.executable, "-c", _LISTENER, host, str(port)], log)
    wait_until(lambda: "\naccepting" in proc.log_text() or proc.died, timeout, message=f"listener on {node}:{port}")
    assert not proc.died, proc.log_text()
    return proc
