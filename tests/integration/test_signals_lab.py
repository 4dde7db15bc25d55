"""keepalived's signals on a running pair: a planted FIFO cannot block SIGUSR1, SIGJSON and stray signals are
not fatal, SIGTERM still exits at once (issue 13, review finding 8).

A FIFO at keepalived's path (and at the temporary path vipd's first version opened)
blocked the loop for good: no adverts, so the backup took over while the master kept
its VIP. Here the link directory plays /tmp (sticky, world-writable), the FIFOs are
made by uid 65534, and the backup's log must show no transition for the whole time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import vipdlab.lab.daemons
from vipdlab import Instance, Lab, render, timing, wait_until

from vipd.control.signals import SIGJSON, SIGSTATS_CLEAR

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0  # seconds of slack for process start-up and scheduling on a loaded CI host


@pytest.fixture
def links() -> Iterator[Path]:
    """A sticky world-writable directory standing in for /tmp (the machine's /tmp stays untouched)."""
    d = Path(tempfile.mkdtemp(prefix="vipd-links-", dir="/tmp"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_fifo_at_the_dump_path_sigjson_and_stray_signals(
    lab: Lab, links: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dump = tmp_path / "dump"
    orig = vipdlab.lab.daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        extra = ["--dump-dir", str(dump), "--keepalived-links", str(links)] if config.name.startswith("r1") else []
        return orig(config, pid_file) + extra

    monkeypatch.setattr(vipdlab.lab.daemons, "vipd_argv", argv)
    inst = Instance(name="VI_1", vrid=51, advert_int=AI, version=3, vips=(f"{VIP}/24",))
    d1 = lab.start_daemon("vipd", lab.r1, render([inst.with_(priority=150)]))
    wait_until(
        lambda: lab.holds(lab.r1, VIP), timing.master_down_interval(3, 100, AI) + MARGIN + 3, message="r1 MASTER"
    )
    lab.start_daemon("vipd", lab.r2, render([inst.with_(priority=100)]))
    log2 = lab.workdir / "r2-vipd.log"
    wait_until(lambda: "Entering BACKUP" in log2.read_text(), 10, message="r2 BACKUP")
    # r2 is BACKUP from here on: any later "Entering" line is a failure

    for name in ("keepalived.data", f"keepalived.data.{d1.pid}.tmp", "keepalived.json"):
        subprocess.run(["mkfifo", str(links / name)], check=True, user=65534, group=65534)
    os.kill(d1.pid, signal.SIGUSR1)
    wait_until(lambda: (links / "keepalived.data").is_symlink(), 2, message="keepalived.data linked")
    assert os.readlink(links / "keepalived.data") == str(dump / "keepalived.data")
    assert "VRRP Instance = VI_1" in (links / "keepalived.data").read_text()

    os.kill(d1.pid, SIGJSON)
    wait_until(lambda: (dump / "keepalived.json").exists(), 2, message="keepalived.json written")
    doc = json.loads((links / "keepalived.json").read_text())
    data, stats = doc[0]["data"], doc[0]["stats"]
    assert (data["iname"], data["state"], data["vrid"], data["ifp_ifname"]) == ("VI_1", 2, 51, "eth0")
    assert data["vips"] == [f"{VIP}/24 dev eth0 scope global"]
    assert stats["advert_sent"] > 0 and "auth_failure" in stats

    os.kill(d1.pid, SIGSTATS_CLEAR)
    wait_until(lambda: (dump / "keepalived.stats").exists(), 2, message="keepalived.stats written")
    for sig in (signal.SIGRTMIN + 5, signal.SIGPIPE, signal.SIGALRM, signal.SIGRTMAX - 3):
        os.kill(d1.pid, sig)
    # ten advert intervals later r1 still runs, holds the VIP, and r2 never left BACKUP
    t_end = time.monotonic() + 10 * AI + MARGIN
    while time.monotonic() < t_end:
        lab.assert_running()
        time.sleep(AI)
    assert lab.holds(lab.r1, VIP) and not lab.holds(lab.r2, VIP)
    assert log2.read_text().count("Entering ") == 1, "r2 left BACKUP while r1 handled the signals"

    t0 = d1.send_signal(signal.SIGTERM)
    d1.wait(timeout=2.0)
    assert time.monotonic() - t0 < 2.0
