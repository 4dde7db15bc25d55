"""Run the walk-through of docs/operations.md ("Seeing and steering a pair") in the lab; print each output.

``python -m vipdlab.operations_demo`` (root). r1 priority 150 and r2 priority 100
with a ``vrrp_script`` of weight -20, VRRPv3 at 0.1 s. The commands are the ones
the document shows, run with ``vipctl -s`` against each node's socket; the
output printed here is what the document quotes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import vipdlab.lab.daemons
from vipdlab import Instance, Lab, render, timing, wait_until

AI = 0.1
VIP = "192.0.2.100"
TRACKER = """vrrp_script chk_web {{
    script "/usr/bin/test -e {flag}"
    interval 0.1
    weight -20
}}
"""


def main() -> None:
    """Run the scenario and print each command and its output."""
    tmp = Path(tempfile.mkdtemp(prefix="vipd-ops-"))
    orig = vipdlab.lab.daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        node = config.name.split("-")[0]
        return [*orig(config, pid_file), "--control-socket", str(tmp / f"{node}.ctl"), "--state-dir", str(tmp / node)]

    vipdlab.lab.daemons.vipd_argv = argv  # type: ignore[assignment]

    def ctl(node: str, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "vipd.control.vipctl", "-s", str(tmp / f"{node}.ctl"), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=vipdlab.lab.daemons.vipd_env(),
        )
        if show:
            print(f"\n{node}$ vipctl {' '.join(args)}")
            print((r.stdout + r.stderr).rstrip())
            print(f"(exit {r.returncode})")
        return r

    with Lab(workdir=tmp) as lab:
        flag = tmp / "flag"
        flag.touch()
        inst = Instance(advert_int=AI, extra=("track_script {\n        chk_web\n    }",))
        r1 = lab.start_vipd(lab.r1, TRACKER.format(flag=flag) + render(inst.with_(priority=150)))
        r2 = lab.start_vipd(lab.r2, TRACKER.format(flag=flag) + render(inst.with_(priority=100)))
        down = timing.master_down_interval(3, 100, AI)
        wait_until(lambda: all(ctl(n, "status", show=False).returncode == 0 for n in ("r1", "r2")), 10)
        wait_until(lambda: lab.holders(VIP) == [lab.r1], down + 1)
        wait_until(lambda: '"master_address": "192.0.2.1"' in ctl("r2", "status", "--json", show=False).stdout, 2)
        ctl("r1", "status")
        ctl("r1", "check", "--expect", "master")
        ctl("r2", "check", "--expect", "master")
        ctl("r2", "check", "--expect", "backup")
        ctl("r2", "explain")
        ctl("r1", "explain")
        print("\n# r1 crashes (SIGKILL)")
        r1.crash()
        wait_until(lambda: lab.holds(lab.r2, VIP), down + 1)
        wait_until(lambda: ctl("r2", "events", "--json", show=False).stdout.count('"dir": "tx"') >= 5, 2)
        ctl("r2", "events")
        r = ctl("r2", "events", "--json", show=False)
        print("\nr2$ vipctl events --json | grep transition | tail -1   (abridged)")
        print([line for line in r.stdout.splitlines() if '"transition"' in line][-1][:600] + " ...")
        pcap = tmp / "takeover.pcap"
        ctl("r2", "capture", "-w", str(pcap))
        tshark = shutil.which("tshark")
        if tshark:
            out = subprocess.run([tshark, "-r", str(pcap)], capture_output=True, text=True, timeout=60).stdout
            print(f"\n$ tshark -r {pcap.name}\n{out.rstrip()}")
        print("\n# r1 restarts with its VIP cleaned up and preempts")
        lab.del_address(lab.r1, f"{VIP}/24")
        (tmp / "r1.ctl").unlink(missing_ok=True)
        r1 = lab.start_vipd(lab.r1, TRACKER.format(flag=flag) + render(inst.with_(priority=150)))
        wait_until(lambda: (tmp / "r1.ctl").exists() and ctl("r1", "status", show=False).returncode == 0, 10)
        wait_until(lambda: lab.holders(VIP) == [lab.r1], 2 * down + 1)
        wait_until(lambda: '"master_address": "192.0.2.1"' in ctl("r2", "status", "--json", show=False).stdout, 2)
        ctl("r1", "maintenance", "on")
        ctl("r1", "status")
        ctl("r1", "check")
        ctl("r1", "explain")
        print("\n# r1 restarted while in maintenance")
        r1.stop()
        (tmp / "r1.ctl").unlink(missing_ok=True)
        r1 = lab.start_vipd(lab.r1, TRACKER.format(flag=flag) + render(inst.with_(priority=150)))
        wait_until(lambda: (tmp / "r1.ctl").exists() and ctl("r1", "status", show=False).returncode == 0, 10)
        wait_until(lambda: '"master_address": "192.0.2.2"' in ctl("r1", "status", "--json", show=False).stdout, 2)
        ctl("r1", "status")
        ctl("r1", "maintenance", "off")
        wait_until(lambda: lab.holders(VIP) == [lab.r1], down + 1)
        wait_until(lambda: '"master_address": "192.0.2.1"' in ctl("r2", "status", "--json", show=False).stdout, 2)
        ctl("r1", "handover", "VI_1")
        wait_until(lambda: lab.holders(VIP) == [lab.r2], 1)
        ctl("r1", "status")
        print("\n# r2 stops; r1 takes over, then maintenance is refused")
        r2.stop()
        wait_until(lambda: lab.holders(VIP) == [lab.r1], down + 1)
        ctl("r1", "maintenance", "on")
        ctl("r1", "events", "--since", "5s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
