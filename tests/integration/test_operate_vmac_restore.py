"""use_vmac after SIGKILL: the base interface's arp_ignore/arp_filter come back at the next start.

vipd writes the originals to /run/vipd/sysctl-NETNS-IFNAME.json before changing them
(``vipd.linux.vmac.SysctlState``); a killed run cannot restore them, so the next
start-up does, and logs it. VRRPv3, 0.1 s adverts; deadlines from the protocol timers.
"""

from __future__ import annotations

import pytest
from vipdlab import Instance, Lab, render, timing, wait_until

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 1.0
STARTUP = 10.0  # seconds for the interpreter to start and the daemon to create its VMAC


def base_sysctls(lab: Lab) -> tuple[str, str]:
    conf = "/proc/sys/net/ipv4/conf/eth0"
    return (
        lab.read_proc(lab.r1.ns, f"{conf}/arp_ignore").strip(),
        lab.read_proc(lab.r1.ns, f"{conf}/arp_filter").strip(),
    )


def test_sysctls_left_by_a_killed_vmac_run_are_restored_at_the_next_start(lab: Lab) -> None:
    assert base_sysctls(lab) == ("0", "0"), "the lab's default"
    inst = Instance(priority=150, advert_int=AI)
    d = lab.start_vipd(lab.r1, render(inst.with_(extra=("use_vmac",))))
    wait_until(lambda: base_sysctls(lab) == ("1", "1"), STARTUP, message=lambda: lab.logs(20))
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN)
    d.crash()
    assert base_sysctls(lab) == ("1", "1"), "SIGKILL: nothing restored them"

    # the next run (here without use_vmac) restores them from the state file at start-up and says so
    lab.start_vipd(lab.r1, render(inst))
    wait_until(lambda: base_sysctls(lab) == ("0", "0"), STARTUP, message=lambda: lab.logs(20))
    said = "an earlier run with use_vmac or promote_secondaries ended without restoring them"
    wait_until(lambda: said in lab.logs(40), MARGIN)
    assert "net.ipv4.conf.eth0.arp_ignore=0" in lab.logs(40)


def _has_link(lab: Lab, name: str) -> bool:
    import subprocess

    done = subprocess.run(["ip", "-n", lab.r1.ns, "link", "show", name], capture_output=True, check=False)
    return done.returncode == 0


def test_a_reload_that_drops_a_use_vmac_instance_removes_its_vmac(lab: Lab, ctl_sockets: object) -> None:
    """keepalived removes a removed instance's VMAC on reload; the other instance keeps its state."""
    from pathlib import Path

    from vipd.control.server import request

    vi1 = Instance(priority=150, advert_int=AI)
    vi2 = Instance(name="VI_2", vrid=52, priority=150, advert_int=AI, vips=("192.0.2.102/24",), extra=("use_vmac",))
    lab.start_vipd(lab.r1, render([vi1, vi2]))
    sock = Path(str(ctl_sockets)) / "r1.ctl"
    wait_until(lambda: _has_link(lab, "vrrp.52"), STARTUP, message=lambda: lab.logs(20))
    wait_until(lambda: lab.holders(VIP) == [lab.r1], timing.master_down_interval(3, 150, AI) + MARGIN + STARTUP)
    conf = next(p for p in sorted(Path(lab.workdir).glob("r1-vipd-*.conf")))
    conf.write_text(render(vi1))
    r = request(str(sock), {"cmd": "reload"})
    assert r["ok"], r
    assert not _has_link(lab, "vrrp.52"), "the dropped instance's VMAC stayed"  # removed before the answer
    assert lab.holders(VIP) == [lab.r1] and lab.holders("192.0.2.102") == []
