"""vipd.wire is pure: importing it pulls in no sockets, no asyncio, no scapy, no third-party code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

FORBIDDEN = (
    "asyncio",
    "socket",
    "select",
    "selectors",
    "scapy",
    "pyroute2",
    "prometheus_client",
    "pydantic",
    "vipd.linux",
    "vipd.runtime",
    "vipd.obs",
)


def test_importing_vipd_wire_loads_nothing_forbidden():
    # a fresh interpreter: this test process has scapy loaded already
    probe = "import sys, json, vipd.wire; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    out = done.stdout
    loaded = set(json.loads(out))
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []


def test_every_public_name_is_documented():
    import vipd.wire

    for name in vipd.wire.__all__:
        obj = getattr(vipd.wire, name)
        if callable(obj) and not isinstance(obj, type(int | str)):
            assert obj.__doc__, f"vipd.wire.{name} has no docstring"
