"""Talk to a lab vipd over its control socket, the way an operator's ``vipctl`` does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .daemons import vipd_env


def vipctl(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``vipctl -s SOCK ARGS...`` (a real client process) and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "vipd.control.vipctl", "-s", str(sock), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=vipd_env(),
    )


def instances(sock: Path) -> dict[str, dict[str, object]]:
    """``vipctl status --json``: every instance's status by name. Raises AssertionError if vipctl fails."""
    r = vipctl(sock, "status", "--json")
    assert r.returncode == 0, r.stderr
    return {i["name"]: i for i in json.loads(r.stdout)["instances"]}
