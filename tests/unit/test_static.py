"""Static checks that CI must enforce: ruff, mypy --strict, and DESIGN.md's dependency rule."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_LAYERS = ("vipd.wire", "vipd.fsm", "vipd.config", "vipd.plan", "vipd.bfd")
FORBIDDEN = (
    "asyncio",
    "socket",
    "subprocess",
    "pyroute2",
    "prometheus_client",
    "scapy",
    "vipd.linux",
    "vipd.runtime",
    "vipd.obs",
    "vipd.control",
)


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return [found]


def test_ruff_check_passes() -> None:
    r = subprocess.run(
        [*_tool("ruff"), "check", "vipd", "checks", "tests", "netns-lab"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_passes() -> None:
    r = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layers_import_no_io(layer: str) -> None:
    """DESIGN.md dependency rule: wire, fsm and config import no I/O, asyncio or outer layer.

    Checked on the source (direct imports), since pydantic itself pulls in asyncio and socket.
    """
    bad = []
    for path in sorted((ROOT / layer.replace(".", "/")).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_scapy_stays_out_of_the_daemon() -> None:
    hits = [
        str(p)
        for d in ("vipd", "checks")
        for p in (ROOT / d).rglob("*.py")
        if "import scapy" in p.read_text() or "from scapy" in p.read_text()
    ]
    assert hits == []
