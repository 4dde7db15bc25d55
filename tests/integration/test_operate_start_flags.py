"""Start-up as a service sees it: keepalived's DAEMON_ARGS start, an endpoint that cannot bind stops the start.

vipd runs in r1's namespace with ``$NOTIFY_SOCKET`` pointing at a datagram socket the
test owns, so "started" means what systemd means: READY=1 arrived.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vipdlab import Instance, Lab, render
from vipdlab.lab.daemons import vipd_env

pytestmark = pytest.mark.netns

AI = 0.1  # seconds
# vipd's start: Python import (~1 s on a loaded CI machine), then sockets; READY follows
START_DEADLINE = 20.0


def _run_vipd(
    lab: Lab, tmp_path: Path, *flags: str, priority: int = 150
) -> tuple[subprocess.Popen[str], socket.socket]:
    conf = tmp_path / "vipd.conf"
    conf.write_text(render(Instance(priority=priority, advert_int=AI)))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(START_DEADLINE)
    env = {**vipd_env(), "NOTIFY_SOCKET": str(tmp_path / "notify")}
    argv = ["ip", "netns", "exec", lab.r1.ns, sys.executable, "-m", "vipd", "-f", str(conf), *flags]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, notify


def _datagrams(notify: socket.socket) -> list[bytes]:
    notify.setblocking(False)
    out = []
    try:
        while True:
            out.append(notify.recv(4096))
    except BlockingIOError:
        return out


def test_keepalived_daemon_args_start_and_reach_ready(lab: Lab, tmp_path: Path) -> None:
    """`vipd -d -S 0 -D -f FILE` (keepalived's DAEMON_ARGS) starts: READY=1, then a clean stop."""
    proc, notify = _run_vipd(lab, tmp_path, "-d", "-S", "0", "-D", "--control-socket", str(tmp_path / "ctl"))
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not notify.recv(4096).startswith(b"READY=1"):  # STATUS= lines may come first
            assert time.monotonic() < deadline, "no READY=1"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        notify.close()
    assert proc.returncode == 0, err[-3000:]
    assert "config:" in err  # -d: the normalised configuration was logged
    assert "cannot log to syslog" in err or not os.path.exists("/dev/log")


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (("--metrics-listen", "192.0.2.250:9650"), "cannot serve metrics on 192.0.2.250:9650"),
        (("--control-socket", "/proc/vipd-test/vipd.ctl"), "control socket /proc/vipd-test/vipd.ctl"),
    ],
    ids=["metrics-address-not-here", "control-socket-unwritable"],
)
def test_an_endpoint_that_cannot_bind_stops_the_start(
    lab: Lab, tmp_path: Path, flags: tuple[str, ...], why: str
) -> None:
    """Exit 1, one `cannot start:` line naming the endpoint, no READY=1, no VIP left behind."""
    extra = () if "--control-socket" in flags else ("--control-socket", str(tmp_path / "ctl"))
    proc, notify = _run_vipd(lab, tmp_path, *flags, *extra)
    try:
        _, err = proc.communicate(timeout=START_DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sent = _datagrams(notify)
    notify.close()
    assert proc.returncode == 1, err[-3000:]
    fatal = [line for line in err.splitlines() if "cannot start:" in line]
    assert len(fatal) == 1 and why in fatal[0], err[-3000:]
    assert not [d for d in sent if d.startswith(b"READY=1")]
    assert not lab.holds(lab.r1, "192.0.2.100")


def _start_and_stop(lab: Lab, tmp_path: Path, *flags: str, priority: int = 150) -> str:
    """Start vipd on tmp_path/vipd.conf until READY=1, stop it; returns its stderr."""
    proc, notify = _run_vipd(lab, tmp_path, "-l", "--control-socket", str(tmp_path / "ctl"), *flags, priority=priority)
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not notify.recv(4096).startswith(b"READY=1"):
            assert time.monotonic() < deadline, "no READY=1"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        notify.close()
        (tmp_path / "notify").unlink()
    return err


def test_a_restart_on_the_same_file_uses_the_plan_memo_and_an_edit_does_not(lab: Lab, tmp_path: Path) -> None:
    """Start-up plan memo (vipd.control.planmemo): same file and host -> kept plan; edited -> planned afresh."""
    memo = "from the start-up memo"
    fresh = "read and planned by the worker process"
    assert fresh in (first := _start_and_stop(lab, tmp_path)), first
    assert memo in (second := _start_and_stop(lab, tmp_path)), second
    assert fresh in (edited := _start_and_stop(lab, tmp_path, priority=140)), edited
    assert memo in (again := _start_and_stop(lab, tmp_path, priority=140)), again
    assert fresh in (strict := _start_and_stop(lab, tmp_path, "--strict", priority=140)), strict
    off = _start_and_stop(lab, tmp_path, "--no-plan-memo", priority=140)
    assert fresh in off and memo not in off, off
