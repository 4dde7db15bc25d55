"""Whatever the input, the loader returns a LoadResult or raises ConfigError: nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipd.config import ConfigError, load_config, load_config_string

_WORDS = [
    "vrrp_instance",
    "VI_1",
    "global_defs",
    "{",
    "}",
    "interface",
    "eth0",
    "virtual_router_id",
    "51",
    "priority",
    "300",
    "state",
    "MASTER",
    "BACKUP",
    "advert_int",
    "0.5",
    "version",
    "3",
    "virtual_ipaddress",
    "192.0.2.1/24",
    "fe80::1",
    "dev",
    "label",
    "unicast_peer",
    "authentication",
    "auth_type",
    "PASS",
    "auth_pass",
    "nopreempt",
    "#",
    "!",
    '"',
    "'",
    "@high",
    "@^low",
    "$X=1",
    "${X}",
    "$X",
    "\\",
    "include",
    "virtual_server",
    "vrrp_script",
    "script",
    "weight",
    "-300",
    "reverse",
    "track_script",
    "track_interface",
    "track_file",
    "track_process",
    "vrrp_track_process",
    "process",
    "vrrp_sync_group",
    "group",
    "notify_master",
    '"/bin/x a"',
    "virtual_routes",
    "virtual_rules",
    "via",
    "to",
    "10.0.0./8",
    "static_rules",
    "vrrp_strict",
    "use_vmac",
    "init_file",
    "\n",
    "\n",
    "\n",
]


def _load_text(text: str) -> None:
    try:
        load_config_string(text, config_id="high")
    except ConfigError as err:
        assert err.errors
        for d in err.diagnostics:
            assert str(d).startswith(f"{d.file}:{d.line}: ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_random_text_never_raises_anything_but_config_error(text: str) -> None:
    _load_text(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=80).map(" ".join))
def test_random_keyword_soup_never_raises_anything_but_config_error(text: str) -> None:
    _load_text(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "k.conf"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as err:
        assert err.errors


def test_binary_file_is_refused_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\n\xff\xfe garbage\n" * 50)
    try:
        load_config(path)
    except ConfigError as err:
        assert err.errors[0].line == 1
        assert len(err.errors) <= 25  # capped, not one per line of a huge binary
    else:  # pragma: no cover
        raise AssertionError("binary accepted")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    try:
        load_config(tmp_path / "nope.conf")
    except ConfigError as err:
        assert err.errors[0].line == 0
        assert "cannot read" in err.errors[0].message
    else:  # pragma: no cover
        raise AssertionError("missing file accepted")


def test_deep_nesting_is_handled() -> None:
    text = "vrrp_instance VI_1 {\n" + "a {\n" * 2000 + "}\n" * 2001
    try:
        load_config_string(text)
    except ConfigError as err:
        assert err.errors


_FORBIDDEN = ("asyncio", "socket", "subprocess", "pyroute2", "prometheus_client", "scapy")
_FORBIDDEN_VIPD = ("vipd.linux", "vipd.runtime", "vipd.obs", "vipd.control")


def test_config_package_imports_nothing_forbidden() -> None:
    """vipd.config's own imports (read from its source) stay in the pure layer (DESIGN.md)."""
    import ast

    import vipd.config

    root = Path(vipd.config.__file__).parent
    found: list[str] = []
    for source in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in _FORBIDDEN or name.startswith(_FORBIDDEN_VIPD):
                    found.append(f"{source.name}: {name}")
    assert found == []


def test_config_package_loads_no_io_layer() -> None:
    """Importing vipd.config pulls in no I/O layer (pydantic itself imports asyncio, so not that)."""
    code = (
        "import sys, vipd.config\n"
        "bad = {'pyroute2', 'prometheus_client', 'scapy', 'vipd.linux', 'vipd.runtime', 'vipd.obs',\n"
        "       'vipd.control'}\n"
        "print(sorted(bad & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
