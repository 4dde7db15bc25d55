"""Script security at config load (keepalived check_script_secure) and plugin validation, via `vipd -t`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vipd.config import load_config_string
from vipd.config.model import Script
from vipd.linux.host import LiveHost
from vipd.plan import plan_config
from vipd.plan.scripts import RunAs
from vipd.plan.scripts import check_script as _check_script
from vipd.plan.scripts import unsafe_component as _unsafe_component

HOST = LiveHost({})


def check_script(script: Script, who: RunAs, security: bool) -> list[tuple[str, str]]:
    return _check_script(script, who, security, HOST)


def unsafe_component(path: str) -> str | None:
    return _unsafe_component(path, HOST)


def preflight(config: object, locs: object) -> list:  # type: ignore[type-arg]
    """The planner's verdict with the host's files and users (what preflight used to be)."""
    return [d for d in plan_config(config, locs, HOST).diagnostics]  # type: ignore[arg-type]


ROOT = RunAs("root", 0, 0)
NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown to build unsafe paths")


def script(path: Path | str) -> Script:
    return Script(command=str(path), argv=[str(path)])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp_path/d/chk.sh, root-owned and 0755, reachable through a root-owned sticky or 0755 path."""
    base = tmp_path / "safe"
    d = base / "d"
    d.mkdir(parents=True)
    f = d / "chk.sh"
    f.write_text("#!/bin/sh\nexit 0\n")
    f.chmod(0o755)
    # pytest's tmp dirs are 0700 root-owned under a root-owned /tmp (sticky): safe
    return f


@needs_root
def test_safe_script_passes(tree: Path) -> None:
    assert unsafe_component(str(tree)) is None
    assert check_script(script(tree), ROOT, security=True) == []


@needs_root
@pytest.mark.parametrize(
    ("target", "change", "expected"),
    [
        ("dir", lambda p: os.chown(p, NOBODY, -1), "is owned by user nobody (uid 65534)"),
        ("file", lambda p: os.chown(p, NOBODY, -1), "is owned by user nobody (uid 65534)"),
        ("dir", lambda p: (os.chown(p, -1, NOBODY), p.chmod(0o775)), "is writable by group nogroup (gid 65534)"),
        ("file", lambda p: p.chmod(0o757), "is writable by every user"),
        ("dir", lambda p: p.chmod(0o777), "is writable by every user"),
    ],
)
def test_unsafe_component_is_named(tree: Path, target: str, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    p = tree.parent if target == "dir" else tree
    change(p)
    [(severity, message)] = check_script(script(tree), ROOT, security=True)
    assert severity == "error"
    assert f"{p} {expected}" in message, message
    [(severity, _)] = check_script(script(tree), ROOT, security=False)
    assert severity == "warning"


@needs_root
def test_sticky_world_writable_directory_is_fine(tree: Path) -> None:
    tree.parent.chmod(0o1777)
    assert check_script(script(tree), ROOT, security=True) == []


@needs_root
def test_symlink_target_is_checked_too(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.sh"
    link.symlink_to(tree)
    tree.parent.chmod(0o777)
    [(severity, message)] = check_script(script(link), ROOT, security=True)
    assert severity == "error" and f"{tree.parent} is writable by every user" in message


def test_script_not_run_as_root_is_not_path_checked(tree: Path) -> None:
    tree.parent.chmod(0o777)
    assert check_script(script(tree), RunAs("nobody", NOBODY, NOBODY), security=True) == []


def test_missing_and_not_executable(tmp_path: Path) -> None:
    assert check_script(script(tmp_path / "nope"), ROOT, True)[0][1].endswith("No such file or directory")
    f = tmp_path / "noexec"
    f.write_text("x")
    f.chmod(0o644)
    assert "not executable by user root" in check_script(script(f), ROOT, True)[0][1]
    assert check_script(Script(command="</dev/tcp/127.0.0.1/80", argv=["</dev/tcp/127.0.0.1/80"]), ROOT, True) == []
    assert (
        "not found in PATH"
        in check_script(Script(command="no-such-cmd-xyz", argv=["no-such-cmd-xyz"]), ROOT, True)[0][1]
    )


def test_preflight_reports_file_line_and_plugins(tmp_path: Path) -> None:
    text = f"""global_defs {{
    enable_script_security
}}
vrrp_script chk {{
    script "{tmp_path}/nope"
}}
vrrp_check plug {{
    type no-such-plugin
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 5
    virtual_ipaddress {{ 192.0.2.1/24 }}
    track_script {{
        chk
        plug
    }}
}}
"""
    r = load_config_string(text)
    found = [(d.line, d.keyword, d.severity) for d in preflight(r.config, r.locs)]
    assert (2, "enable_script_security", "error") in found  # no script_user and no keepalived_script user
    assert (5, "script", "error") in found
    assert (7, "vrrp_check", "error") in found


@needs_root
def test_vipd_t_refuses_an_unsafe_script_naming_component_and_user(tree: Path, tmp_path: Path) -> None:
    os.chown(tree.parent, NOBODY, -1)
    conf = tmp_path / "k.conf"
    conf.write_text(
        "global_defs {\n    enable_script_security\n    script_user root\n}\n"
        f'vrrp_script chk {{\n    script "{tree}"\n}}\n'
        "vrrp_instance VI_1 {\n    interface lo\n    virtual_router_id 5\n"
        "    virtual_ipaddress { 192.0.2.1/24 }\n    track_script { chk }\n}\n"
    )
    r = subprocess.run([sys.executable, "-m", "vipd", "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert f"{conf}:6: script: {tree} runs as root but {tree.parent} is owned by user nobody" in r.stderr
    assert stat.S_ISDIR(tree.parent.stat().st_mode)
