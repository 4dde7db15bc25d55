"""Check scripts in a real daemon: a hung script is killed at its timeout and counts as failed;
a script whose background child keeps the output pipe open completes at once and, as in keepalived
(``vrrp_script_child_thread`` signals the group only at a timeout), its child is left running; a check
plugin registered through entry points is used from a config file."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from vipdlab import Instance, Lab, pids_in_namespace, render, timing, wait_until
from vipdlab.lab.scenario import STARTUP_ALLOWANCE, converge, takeover_garp

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.100
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))


def comms(lab: Lab, node: Any) -> list[str]:
    out = []
    for pid in pids_in_namespace(node.ns):
        with contextlib.suppress(OSError):
            out.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return out


def test_hung_script_is_killed_at_timeout_and_fails(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("checks the process tree vipd leaves")
    wd = lab.workdir
    hang = wd / "hang.sh"
    # hangs only while the "hang" flag exists; its child `sleep` inherits the group
    hang.write_text(f"#!/bin/sh\nif [ -e {wd}/hang ]; then sleep 300; fi\nexit 0\n")
    hang.chmod(0o755)
    checks = f'vrrp_script chk {{\n    script "{hang}"\n    interval 0.2\n    timeout 0.3\n}}\n'
    track = ("track_script {\n        chk\n    }",)
    lab.start_vipd(lab.r1, checks + render(BASE.with_(priority=150, extra=track)))
    lab.start_vipd(lab.r2, render(BASE.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)

    t = time.monotonic()
    (wd / "hang").touch()
    # next run within 0.2 s, killed (failed) at 0.3 s (+ 0.5 s SIGTERM grace: sh ignores nothing, dies at once)
    bound = 0.2 + 0.3 + timing.skew_time(3, 100, AI)
    _, garp = takeover_garp(lab, lab.r2, VIP, t, bound + 0.5 + MARGIN + 1.0)
    print(f"script hangs -> backup GARP after {(garp.t - t) * 1000:.1f} ms (bound {bound * 1000:.1f} ms)")
    assert garp.t - t <= bound + 0.5 + MARGIN
    log = (wd / "r1-vipd.log").read_text()
    assert "script chk: FAILED (timed out after 0.3s, killed with its process group" in log, log[-1500:]
    # every hung run was killed with its child: at most the current run's sleep is alive
    assert comms(lab, lab.r1).count("sleep") <= 1
    (wd / "hang").unlink()
    wait_until(lambda: lab.holders(VIP) == [lab.r1], 2.0 + timing.master_down_interval(3, 150, AI))
    wait_until(lambda: "sleep" not in comms(lab, lab.r1), 1.0, message="no sleep left behind")


def test_background_child_keeping_the_pipe_neither_delays_the_check_nor_is_killed(lab: Lab, routers: Any) -> None:
    if routers.kind != "vipd":
        pytest.skip("checks the process tree vipd leaves")
    wd = lab.workdir
    bg = wd / "bg.sh"
    bg.write_text(f"#!/bin/sh\nsleep 300 &\necho $! >> {wd}/bg.pids\necho started\nexit 0\n")
    bg.chmod(0o755)
    checks = f'vrrp_script chk {{\n    script "{bg}"\n    interval 0.2\n    timeout 1\n    fall 1\n}}\n'
    try:
        lab.start_vipd(lab.r1, checks + render(BASE.with_(priority=150, extra=("track_script {\n        chk\n    }",))))
        lab.start_vipd(lab.r2, render(BASE.with_(priority=100)))
        converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
        # the check keeps passing (the pipe held by `sleep` does not make it time out) ...
        log = (wd / "r1-vipd.log").read_text()
        assert "FAILED" not in log and "script chk: OK (exit 0: started" in log, log[-1500:]
        # ... and, as keepalived, the children of runs that exited in time are not killed: one per run
        wait_until(lambda: comms(lab, lab.r1).count("sleep") >= 3, 1.0, message=lambda: f"{comms(lab, lab.r1)}")
        assert "left processes running in the background" in (wd / "r1-vipd.log").read_text()
    finally:
        with contextlib.suppress(FileNotFoundError):
            for pid in (wd / "bg.pids").read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)


PLUGIN = '''
from vipd.health.api import CheckResult


class FlagCheck:
    """Test plugin: OK while the file named by `option path` exists."""

    def __init__(self, spec, context):
        self.path = spec.options["path"]

    async def run(self):
        import os
        return CheckResult(os.path.exists(self.path), self.path)
'''


def test_plugin_registered_through_entry_points_is_used_from_config(
    lab: Lab, routers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if routers.kind != "vipd":
        pytest.skip("vrrp_check is vipd's")
    site = tmp_path / "site"
    (site / "vipd_flagcheck").mkdir(parents=True)
    (site / "vipd_flagcheck" / "__init__.py").write_text(PLUGIN)
    dist = site / "vipd_flagcheck-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vipd-flagcheck\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vipd.checks]\nflag = vipd_flagcheck:FlagCheck\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p))

    flag = lab.workdir / "up"
    flag.touch()
    checks = f"vrrp_check up {{\n    type flag\n    option path {flag}\n    interval 0.1\n}}\n"
    lab.start_vipd(lab.r1, checks + render(BASE.with_(priority=150, extra=("track_script {\n        up\n    }",))))
    lab.start_vipd(lab.r2, render(BASE.with_(priority=100)))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI, timeout=STARTUP_ALLOWANCE)
    t = time.monotonic()
    flag.unlink()
    _, garp = takeover_garp(lab, lab.r2, VIP, t, 0.1 + timing.skew_time(3, 100, AI) + MARGIN + 1.0)
    assert garp.t - t <= 0.1 + timing.skew_time(3, 100, AI) + MARGIN
    assert "flag up: FAILED" in (lab.workdir / "r1-vipd.log").read_text()
