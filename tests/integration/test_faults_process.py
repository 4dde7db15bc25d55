"""Fault suite, the daemon's process and host: SIGSTOP, VIP deleted behind its back, hanging scripts,
restart after SIGKILL with the VIP still on the interface.

VRRPv3, 0.1 s adverts; r1 at priority 150, r2 at 100. MARGIN = 50 ms past a
protocol deadline, as in test_faults_crash.py (vipd's measured overhead is
2-9 ms; an extra advert interval fails). Waits for a process to start use
STARTUP_ALLOWANCE (CPython start-up), never a sleep.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vipdlab import Instance, Lab, hold, pids_in_namespace, render, timing, wait_until
from vipdlab.lab.faults import instance, ready, resume_process, status, stop_process, vipd_with_control
from vipdlab.lab.scenario import STARTUP_ALLOWANCE, converge, crash_takeover

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.050
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
MDI_R2 = timing.master_down_interval(3, 100, AI)
MDI_R1 = timing.master_down_interval(3, 150, AI)
NOTIFY_TIMEOUT = 1.0  # --notify-timeout; then SIGTERM to the group and SIGKILL 1 s later (vipd.obs.notify)
NOTIFY_KILL_GRACE = 1.0


@pytest.fixture
def ctl(lab: Lab, routers: Any) -> Iterator[None]:
    if routers.kind != "vipd":
        pytest.skip("reads vipd's control socket")
    with vipd_with_control(lab, lambda _node: ["--notify-timeout", str(NOTIFY_TIMEOUT)]):
        yield


def _start(lab: Lab, routers: Any, node: Any, cfg: Instance) -> Any:
    d = routers.start(node, cfg)
    wait_until(lambda: ready(lab, node), STARTUP_ALLOWANCE, message=f"{node}'s control socket answers")
    return d


def _max_gap(lab: Lab, src: str, since: float, until: float) -> float:
    assert lab.sniffer is not None
    ts = [a.t for a in lab.sniffer.adverts(src=src, since=since, until=until) if a.priority > 0]
    assert len(ts) >= 2, f"fewer than two adverts from {src} in the window"
    return max(b - a for a, b in itertools.pairwise(ts))


def _others_in_namespace(lab: Lab, node: Any, daemon: Any) -> list[str]:
    """Command lines of the processes in the node's namespace other than the daemon itself."""
    out = []
    for pid in pids_in_namespace(node.ns):
        if pid == daemon.pid:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":  # a zombie is dead (reaped by its parent later)
            out.append(f"{pid} {cmd}")
    return out


# --------------------------------------------------------------------------- SIGSTOP
def test_sigstop_longer_than_master_down_interval_then_sigcont(lab: Lab, routers: Any) -> None:
    assert lab.sniffer is not None
    d1 = routers.start(lab.r1, BASE.with_(priority=150))
    routers.start(lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    lab.set_neighbour(lab.client, VIP, lab.r1.mac)

    t_stop = stop_process(d1)
    try:
        garp2 = lab.sniffer.wait_announcement(VIP, MDI_R2 + AI + MARGIN, mac=lab.r2.mac, since=t_stop)
        # a frozen master cannot drop its VIP: two holders until it runs again (stopped 1 s, > 2 * MDI)
        hold(
            lambda: lab.holders(VIP) == [lab.r1, lab.r2],
            max(0.0, t_stop + 1.0 - time.monotonic()),
            interval=0.02,
            message="r2 master, r1 frozen",
        )
    finally:
        t_cont = resume_process(d1)
    # r1 wakes with an overdue advert timer and a queue of r2's lower-priority adverts: it
    # advertises at once, r2 yields, and r1 (hearing a lower priority) announces again
    wait_until(
        lambda: lab.holders(VIP) == [lab.r1],
        AI + MARGIN,
        message=lambda: f"one master within one interval of SIGCONT (holders {lab.holders(VIP)})",
    )
    t_one = time.monotonic() - t_cont
    garp1 = lab.sniffer.wait_announcement(VIP, AI + MARGIN, mac=lab.r1.mac, since=t_cont)
    print(
        f"\nSIGSTOP -> r2 GARP {1000 * (garp2.t - t_stop):.0f} ms; SIGCONT -> one holder {t_one * 1000:.0f} ms, "
        f"r1 GARP {1000 * (garp1.t - t_cont):.0f} ms"
    )
    wait_until(
        lambda: (e := lab.neighbour(lab.client, VIP)) is not None and e.lladdr == lab.r1.mac,
        MARGIN,
        message="client's entry back on r1",
    )
    hold(lambda: lab.holders(VIP) == [lab.r1], 3 * MDI_R2, interval=0.02, message="r1 stays the only master")


# --------------------------------------------------------------------------- VIP deleted
def test_vip_deleted_behind_vipds_back_is_repaired_within_an_interval(lab: Lab, routers: Any, ctl: None) -> None:
    assert lab.sniffer is not None
    _start(lab, routers, lab.r1, BASE.with_(priority=150))
    _start(lab, routers, lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    before = instance(status(lab, lab.r1))["stats"]
    t0 = time.monotonic()
    took = []
    for n in range(1, 11):
        assert lab.del_address(lab.r1, f"{VIP}/24")
        t_del = time.monotonic()
        wait_until(lambda: lab.holds(lab.r1, VIP), 1.0, interval=0.001, message="VIP re-added")
        took.append(time.monotonic() - t_del)
        assert took[-1] < AI, f"deletion {n}: VIP back after {took[-1] * 1000:.1f} ms, over one interval"
        wait_until(
            lambda n=n: instance(status(lab, lab.r1))["stats"]["vip_repairs"] == before["vip_repairs"] + n,
            AI + MARGIN,
            message=f"repair {n} counted",
        )
    after = instance(status(lab, lab.r1))
    print(f"\n10 VIP deletions repaired in {min(took) * 1000:.1f}..{max(took) * 1000:.1f} ms")
    assert after["state"] == "MASTER" and after["stats"]["transitions"] == before["transitions"]
    wait_until(lambda: len(lab.sniffer.adverts(src=lab.r1.ip4, since=t0)) >= 3, 3 * AI + MARGIN)  # type: ignore[union-attr]
    assert _max_gap(lab, lab.r1.ip4, t0, time.monotonic()) < 1.5 * AI
    assert not lab.sniffer.adverts(src=lab.r2.ip4, since=t0), "r2 must not take over while r1 repairs"
    assert lab.holders(VIP) == [lab.r1]


# --------------------------------------------------------------------------- hanging scripts
def test_hanging_notify_script_is_killed_and_never_delays_adverts(
    lab: Lab, routers: Any, ctl: None, tmp_path: Path
) -> None:
    assert lab.sniffer is not None
    log = tmp_path / "notify.log"
    hang = tmp_path / "hang_master.sh"
    hang.write_text(f"#!/bin/sh\necho master-start >> {log}\nsleep 300 &\nsleep 300\n")
    backup = tmp_path / "backup.sh"
    backup.write_text(f"#!/bin/sh\necho backup >> {log}\n")
    for p in (hang, backup):
        p.chmod(0o755)
    cfg = BASE.with_(priority=150, extra=(f'notify_master "{hang}"', f'notify_backup "{backup}"'))
    d1 = _start(lab, routers, lab.r1, cfg)
    wait_until(lambda: lab.holds(lab.r1, VIP), MDI_R1 + MARGIN + AI, message="r1 master (alone)")
    t_master = time.monotonic()
    wait_until(lambda: log.exists() and "master-start" in log.read_text(), 1.0, message="notify_master started")
    # while it hangs, adverts keep their cadence
    wait_until(
        lambda: not _others_in_namespace(lab, lab.r1, d1),
        NOTIFY_TIMEOUT + NOTIFY_KILL_GRACE + 1.0,
        message=lambda: f"hung notify group killed at its timeout: {_others_in_namespace(lab, lab.r1, d1)}",
    )
    t_killed = time.monotonic()
    gap = _max_gap(lab, lab.r1.ip4, t_master, t_killed)
    assert gap < 1.5 * AI, f"advert gap {gap * 1000:.1f} ms while notify_master hung"
    wait_until(
        lambda: instance(status(lab, lab.r1))["stats"]["notify_runs"].get("notify_master:timeout") == 1,
        1.0,
        message=lambda: f"timeout counted: {instance(status(lab, lab.r1))['stats']['notify_runs']}",
    )
    # the queue is not stuck: r2 at a higher priority preempts, and r1's notify_backup runs
    _start(lab, routers, lab.r2, BASE.with_(priority=200))
    wait_until(lambda: lab.holders(VIP) == [lab.r2], timing.master_down_interval(3, 200, AI) + AI + MARGIN)
    wait_until(lambda: "backup" in log.read_text().split(), 1.0, message="notify_backup ran after the hung one")
    print(
        f"\nhung notify_master killed {1000 * (t_killed - t_master):.0f} ms after mastership; max advert gap "
        f"{gap * 1000:.1f} ms"
    )


def test_hanging_check_script_is_killed_and_counts_as_failure(
    lab: Lab, routers: Any, ctl: None, tmp_path: Path
) -> None:
    assert lab.sniffer is not None
    flag = tmp_path / "hang"
    chk = tmp_path / "chk.sh"
    chk.write_text(f"#!/bin/sh\n[ -e {flag} ] || exit 0\nsleep 300 &\nsleep 300\n")
    chk.chmod(0o755)
    interval, timeout, fall = 0.2, 0.3, 2
    script = (
        f'vrrp_script chk {{\n    script "{chk}"\n    interval {interval}\n    timeout {timeout}\n'
        f"    fall {fall}\n    rise 1\n    weight -100\n}}\n"
    )
    track = ("track_script {\n        chk\n    }",)
    d1 = lab.start_vipd(lab.r1, script + render(BASE.with_(priority=150, extra=track)))
    wait_until(lambda: ready(lab, lab.r1), STARTUP_ALLOWANCE)
    _start(lab, routers, lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)

    t_hang = time.monotonic()
    flag.touch()
    # each run hangs until killed at `timeout`; after `fall` of them r1's priority is 150 - 100 = 50 and
    # r2 (100, preempting) takes over one MDI after it last heard priority >= 100
    bound = fall * (interval + timeout) + 0.5 + MDI_R2 + AI + MARGIN  # + the check's kill grace (0.5 s)
    wait_until(lambda: lab.holders(VIP) == [lab.r2], bound, message=lambda: f"r2 takes over ({lab.holders(VIP)})")
    t_over = time.monotonic()
    low = [a for a in lab.sniffer.adverts(src=lab.r1.ip4, since=t_hang) if a.priority == 50]
    assert low, "r1 must advertise its lowered priority"
    gap = _max_gap(lab, lab.r1.ip4, t_hang, low[0].t)
    assert gap < 1.5 * AI, f"r1's advert gap {gap * 1000:.1f} ms while its check hung"
    st = instance(status(lab, lab.r1))
    assert st["priority"]["effective"] == 50, st["priority"]

    flag.unlink()
    # the hung runs are killed, none is left behind; the next run succeeds and r1 preempts back
    wait_until(
        lambda: not _others_in_namespace(lab, lab.r1, d1),
        timeout + 0.5 + 1.0,
        message=lambda: f"hung check processes killed: {_others_in_namespace(lab, lab.r1, d1)}",
    )
    wait_until(lambda: lab.holders(VIP) == [lab.r1], interval + timeout + 0.5 + MDI_R1 + AI + MARGIN + 1.0)
    print(f"\nhanging check -> r2 master after {1000 * (t_over - t_hang):.0f} ms (bound {bound * 1000:.0f} ms)")


# --------------------------------------------------------------------------- restart
def test_restart_after_sigkill_with_the_vip_still_on_the_interface(lab: Lab, routers: Any, ctl: None) -> None:
    cfg1 = BASE.with_(priority=150)
    # 1. alone: the restarted daemon ends up master again with exactly one copy of the VIP
    d1 = _start(lab, routers, lab.r1, cfg1)
    wait_until(lambda: lab.holders(VIP) == [lab.r1], MDI_R1 + AI + MARGIN)
    d1.crash()
    assert lab.holders(VIP) == [lab.r1]
    d1 = _start(lab, routers, lab.r1, cfg1)
    wait_until(lambda: instance(status(lab, lab.r1))["state"] == "MASTER", MDI_R1 + AI + MARGIN)
    assert [a for a in lab.addresses(lab.r1) if a.startswith(VIP + "/")] == [f"{VIP}/24"]
    st = instance(status(lab, lab.r1))
    assert st["stats"]["address_errors"] == 0, st["stats"]

    # 2. with a peer: r1 killed, r2 takes over; r1 restarts at the higher priority, drops the stale
    #    VIP at start-up (it starts as backup), then preempts
    _start(lab, routers, lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    crash_takeover(lab, d1, lab.r1, lab.r2, VIP, backup_priority=100, interval=AI)
    assert lab.holders(VIP) == [lab.r1, lab.r2]
    t_start = time.monotonic()
    lab.start_vipd(lab.r1, render(cfg1))
    wait_until(
        lambda: lab.holders(VIP) == [lab.r2],
        STARTUP_ALLOWANCE,
        message=lambda: f"stale VIP removed at start-up ({lab.holders(VIP)})",
    )
    wait_until(lambda: lab.holders(VIP) == [lab.r1], STARTUP_ALLOWANCE + MDI_R1 + AI + MARGIN)
    print(f"\nrestart at priority 150 -> master again after {time.monotonic() - t_start:.2f} s")
    wait_until(lambda: ready(lab, lab.r1), STARTUP_ALLOWANCE)
    st = instance(status(lab, lab.r1))
    assert st["state"] == "MASTER" and st["stats"]["address_errors"] == 0, st
    hold(lambda: lab.holders(VIP) == [lab.r1], 2 * MDI_R1, interval=0.02, message="r1 stays the only holder")
