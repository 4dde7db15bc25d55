"""The planner (issue 12): one verdict for ``vipd -t``, start-up and reload, every error at FILE:LINE.

Each case is judged by :func:`vipd.plan.check_file` (what ``-t`` and start-up call), by the
reload worker (:func:`vipd.control.planworker.plan_in_worker`, what SIGHUP and ``vipctl
reload`` use), and by ``vipd -t`` and ``vipd -f`` as processes: the same FILE:LINE each time.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vipd.config import load_config_string
from vipd.control.planworker import plan_in_worker
from vipd.linux.host import LiveHost
from vipd.plan import check_file, diff_plans, plan_config
from vipd.plan.host import LinkFacts

HEAD = "vrrp_instance VI_1 {\n    interface lo\n    virtual_router_id 51\n    priority 150\n"
TAIL = "    virtual_ipaddress {\n        192.0.2.100/32\n    }\n}\n"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (scripts owned by root, as keepalived requires)")


def _host() -> LiveHost:
    return asyncio.run(LiveHost.gather())


def _same_verdict_everywhere(conf: Path, needle: str, line: int) -> None:
    """-t in process, -t as a process, start-up (vipd -f) and the reload worker all refuse at ``conf:line``."""
    where = f"{conf}:{line}:"
    verdict = check_file(conf, host=_host())
    assert verdict.plan is None
    assert any(str(d).startswith(where) and needle in str(d) for d in verdict.errors), verdict.lines()
    reload = asyncio.run(plan_in_worker(str(conf), None))
    assert [str(d) for d in reload.errors] == [str(d) for d in verdict.errors]
    for flags in (["-t"], []):
        r = subprocess.run(
            [sys.executable, "-m", "vipd", *flags, "-f", str(conf), "--control-socket", ""],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1, (flags, r.stderr)
        assert any(ln.startswith(where) and needle in ln for ln in r.stderr.splitlines()), (flags, r.stderr)


def test_auth_type_ah_is_refused_at_its_line(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    auth = "    authentication {\n        auth_type AH\n        auth_pass secret\n    }\n"
    conf.write_text(HEAD + "    version 2\n" + auth + TAIL)
    _same_verdict_everywhere(conf, "auth_type AH is not implemented by vipd", 7)


def test_route_words_vipd_cannot_install_are_refused(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(HEAD + "    virtual_routes {\n        198.51.100.0/24 dev lo mtu 1400\n    }\n" + TAIL)
    _same_verdict_everywhere(conf, "'mtu' is not supported in virtual_routes", 6)


def test_multicast_and_unicast_on_one_vrid_are_refused(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    second = (
        "vrrp_instance VI_2 {\n    interface lo\n    virtual_router_id 51\n"
        "    unicast_peer {\n        127.0.0.2\n    }\n" + TAIL
    )
    conf.write_text(HEAD + TAIL + second)
    _same_verdict_everywhere(conf, "is also used by vrrp_instance VI_1", 11)


def test_unknown_check_type_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(
        "vrrp_check chk {\n    type no_such_plugin\n}\n" + HEAD + "    track_script {\n        chk\n    }\n" + TAIL
    )
    _same_verdict_everywhere(conf, "no check plugin of type 'no_such_plugin'", 1)


def test_missing_notify_script_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(HEAD + f"    notify_master {tmp_path}/nope.sh\n" + TAIL)
    _same_verdict_everywhere(conf, "No such file or directory", 5)


@needs_root
def test_world_writable_notify_script_is_refused_with_script_security(tmp_path: Path) -> None:
    top = Path("/tmp") / f"vipd-plan-{os.getpid()}"
    top.mkdir(mode=0o755, exist_ok=True)
    try:
        os.chmod(top, 0o755)
        hook = top / "hook.sh"
        hook.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(hook, 0o777)
        conf = tmp_path / "k.conf"
        conf.write_text("global_defs {\n    enable_script_security\n}\n" + HEAD + f"    notify_master {hook}\n" + TAIL)
        _same_verdict_everywhere(conf, "is writable by every user", 8)
    finally:
        for p in top.iterdir():
            p.unlink()
        top.rmdir()


def test_unknown_script_user_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(HEAD + "    notify_master /bin/true no_such_user_xyz\n" + TAIL)
    _same_verdict_everywhere(conf, "script user 'no_such_user_xyz' does not exist", 5)


def test_no_host_checks_the_file_alone_and_says_so(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(HEAD.replace("lo", "eth_nowhere") + TAIL)
    r = subprocess.run(
        [sys.executable, "-m", "vipd", "-t", "--no-host", "-f", str(conf)], capture_output=True, text=True
    )
    assert r.returncode == 0 and "host checks skipped (--no-host)" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "vipd", "-t", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and f"{conf}:2: interface: interface 'eth_nowhere' does not exist" in r.stderr, r.stderr


class FakeHost(LiveHost):
    """A host with eth0 holding 192.0.2.1 (files and users are the real ones)."""

    def __init__(self) -> None:
        from ipaddress import ip_address

        super().__init__({"eth0": LinkFacts("eth0", 2, (ip_address("192.0.2.1"),))})


def test_unicast_src_ip_must_be_local() -> None:
    text = (
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 5\n    unicast_src_ip 192.0.2.9\n"
        "    unicast_peer {\n        192.0.2.2\n    }\n    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n"
    )
    r = load_config_string(text)
    result = plan_config(r.config, r.locs, FakeHost())
    assert [(d.line, d.message) for d in result.errors] == [
        (4, "192.0.2.9 is not an address of this host: adverts cannot be sent from it")
    ]


def _plan(text: str):  # type: ignore[no-untyped-def]
    r = load_config_string(text)
    result = plan_config(r.config, r.locs)
    assert result.plan is not None, result.diagnostics
    return result.plan


BASE = (
    "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id 51\n    priority {prio}\n"
    "    version {version}\n    advert_int 1\n{extra}    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n"
)


def _inst(name: str = "VI_1", prio: int = 150, version: int = 3, extra: str = "") -> str:
    return BASE.format(name=name, prio=prio, version=version, extra=extra)


def test_diff_matches_by_interface_vrid_family_not_by_name() -> None:
    d = diff_plans(_plan(_inst()), _plan(_inst(name="VI_new")))
    assert d.summary()["renamed"] == ["VI_1->VI_new"] and d.summary()["unchanged"] == ["VI_new"]
    assert not d.added and not d.removed and not d.changed and not d.restarted


def test_diff_in_place_restart_add_remove() -> None:
    old = _plan(_inst() + _inst(name="VI_2").replace("51", "52"))
    assert diff_plans(old, _plan(_inst(prio=90) + _inst(name="VI_2").replace("51", "52"))).summary()["changed"] == [
        "VI_1"
    ]
    d = diff_plans(old, _plan(_inst(version=2) + _inst(name="VI_2").replace("51", "52")))
    assert [p.new.name for p in d.restarted] == ["VI_1"] and not d.changed
    d = diff_plans(old, _plan(_inst(extra="    unicast_peer {\n        192.0.2.2\n    }\n")))
    assert [p.new.name for p in d.restarted] == ["VI_1"] and [p.name for p in d.removed] == ["VI_2"]
    d = diff_plans(old, _plan(_inst() + _inst(name="VI_2").replace("51", "53")))
    assert [p.name for p in d.added] == ["VI_2"] and [p.name for p in d.removed] == ["VI_2"]


def test_notify_hooks_carry_the_identity_they_run_as() -> None:
    text = "global_defs {\n    script_user nobody\n}\n" + _inst(
        extra="    notify_master /bin/true\n    notify_backup /bin/true root root\n"
    )
    plan = _plan(text)
    hooks = plan.instances["VI_1"].hooks
    assert (hooks["notify_master"].user, hooks["notify_master"].group) == ("nobody", None)
    assert (hooks["notify_backup"].user, hooks["notify_backup"].group) == ("root", "root")


def test_hooks_only_change_is_unchanged_for_the_instance() -> None:
    d = diff_plans(_plan(_inst()), _plan(_inst(extra="    notify_master /bin/true\n")))
    assert d.summary()["unchanged"] == ["VI_1"]


def test_planner_imports_no_io() -> None:
    """The planner module runs without touching the network: planning with no host reads nothing."""
    plan = _plan(_inst())
    p = plan.instances["VI_1"]
    assert (p.key.interface, p.key.vrid, p.key.family, p.tx_interface, p.ttl) == ("eth0", 51, 4, "eth0", 255)
    assert stat.S_ISREG(os.stat(__file__).st_mode)  # (the test itself may)
