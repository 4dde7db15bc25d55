"""The one script runner in a running daemon: hooks run as ``script_user``; a hook's background helper survives.

Review findings 1 and 5 (docs/operations.md, "How scripts run"). VRRPv3 with 0.1 s
adverts; r1 alone, a higher-priority advert injected from the client moves it to
BACKUP. Waits have deadlines from the protocol timers plus a stated margin.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest
from pyroute2 import netns
from vipdlab import Instance, Lab, render, timing, wait_until

from vipd.control.server import request
from vipd.wire.advert import VRRP_MCAST4, VRRP_TTL, Advert
from vipd.wire.codec import encode_advert

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0


@pytest.fixture
def script_dir() -> Iterator[Path]:
    """Root-owned 0755 directory for the hooks (``nobody`` can run them) with a 1777 ``out`` for their output."""
    d = Path(tempfile.mkdtemp(prefix="vipd-runner-"))
    d.chmod(0o755)
    (d / "out").mkdir()
    (d / "out").chmod(0o1777)
    try:
        yield d
    finally:
        pids = d / "out" / "helpers"
        if pids.exists():
            for pid in pids.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def hook(d: Path, name: str, body: str) -> str:
    p = d / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


def inject_higher(lab: Lab, vrid: int, priority: int) -> float:
    """One valid VRRPv3 advert for ``vrid`` from the client (TTL 255); returns the monotonic time just before."""
    t = time.monotonic()
    netns.pushns(lab.client.ns)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    finally:
        netns.popns()
    with s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        adv = Advert(version=3, vrid=vrid, priority=priority, max_adver_int=AI, addresses=(ip_address(VIP),))
        s.sendto(
            encode_advert(adv, src=ip_address(lab.client.ip4), dst=VRRP_MCAST4, pseudo_header=True),
            (str(VRRP_MCAST4), 0),
        )
    return t


def _lines(path: Path) -> list[str]:
    """The complete lines of ``path`` (none if it does not exist yet)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_notify_master_runs_as_script_user_and_its_background_helper_survives_a_quick_backup(
    lab: Lab, script_dir: Path, ctl_sockets: Path
) -> None:
    out = script_dir / "out"
    master = hook(
        script_dir,
        "master",
        f"id -u > {out}/uid\nsleep 300 &\necho $! >> {out}/helpers\nexit 0\n",
    )
    backup = hook(script_dir, "backup", f"date +%s.%N >> {out}/backup\n")
    config = "global_defs {\n    script_user nobody\n}\n" + render(
        Instance(priority=150, advert_int=AI, extra=(f"notify_master {master}", f"notify_backup {backup}"))
    )
    lab.start_vipd(lab.r1, config)
    wait_until(lambda: lab.holders(VIP) == [lab.r1], 10.0 + timing.master_down_interval(3, 150, AI))
    wait_until(lambda: _lines(out / "helpers"), MARGIN, message=lambda: lab.logs(20))
    assert (out / "uid").read_text().strip() == str(pwd.getpwnam("nobody").pw_uid)
    helper = int(_lines(out / "helpers")[0])
    assert alive(helper)
    assert Path(f"/proc/{helper}/status").read_text().count(f"\t{pwd.getpwnam('nobody').pw_uid}\t") >= 1

    # A higher priority heard: r1 goes BACKUP at once; notify_backup must not wait behind notify_master's helper.
    before = len(_lines(out / "backup"))  # notify_backup ran once at start-up
    t0 = inject_higher(lab, 51, 200)
    wait_until(lambda: len(_lines(out / "backup")) > before, MARGIN, message=lambda: lab.logs(20))
    took = float(_lines(out / "backup")[before]) - (time.time() - (time.monotonic() - t0))
    assert took < 1.0, f"notify_backup ran {took:.2f}s after the transition"
    assert alive(helper), "the helper notify_master started in the background must survive"
    assert "notify_master" in lab.logs(80) and "timed out" not in lab.logs(80)

    # Reload with a new notify_master: it runs as script_user too (review finding 1: reload included).
    master2 = hook(script_dir, "master2", f"id -u > {out}/uid2\n")
    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    conf.write_text(conf.read_text().replace(f"notify_master {master}", f"notify_master {master2}"))
    r = request(str(ctl_sockets / "r1.ctl"), {"cmd": "reload"})
    assert r["ok"], r
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    inject_higher(lab, 51, 200)  # BACKUP, then MASTER again once the injected master falls silent
    wait_until(lambda: _lines(out / "uid2"), timing.master_down_interval(3, 150, AI) + MARGIN + 1.0)
    assert _lines(out / "uid2") == [str(pwd.getpwnam("nobody").pw_uid)]


def test_vipd_t_refuses_an_unknown_script_user_with_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        render(Instance(priority=150, advert_int=AI, extra=("notify_master /bin/true no-such-user-xyz",)))
        + "vrrp_script chk {\n    script /bin/true\n    user no-such-user-xyz\n}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "vipd", "-t", "-f", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0
    text = r.stdout + r.stderr
    lines = conf.read_text().splitlines()
    want = [i + 1 for i, ln in enumerate(lines) if "no-such-user-xyz" in ln]
    for n in want:
        assert f"{conf}:{n}" in text, text
    assert "script user 'no-such-user-xyz' does not exist" in text, text
