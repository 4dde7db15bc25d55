"""Notify hooks: order across fast transitions, timeout kills the group, keepalived's arguments and FIFO line."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from ipaddress import IPv4Address
from pathlib import Path

from vipd.fsm import LowerPriorityHeard, Notify, State
from vipd.obs.notify import Hooks, NotifyRunner, fifo_line, run_script


def script(tmp: Path, name: str, body: str) -> tuple[str, ...]:
    p = tmp / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return (str(p),)


def test_hooks_run_in_transition_order_even_when_the_first_is_slow(tmp_path: Path) -> None:
    log = tmp_path / "log"
    hooks = Hooks(
        backup=script(tmp_path, "b", f"sleep 0.3; echo backup >> {log}\n"),
        master=script(tmp_path, "m", f"echo master >> {log}\n"),
        generic=script(tmp_path, "g", f'echo "notify $*" >> {log}\n'),
    )

    async def scenario() -> None:
        prio = [100]
        r = NotifyRunner("VI_1", hooks, lambda: prio[0], timeout=5)
        r(Notify(State.INITIALIZE, State.BACKUP, "startup"))
        prio[0] = 150
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
        await r.close()

    asyncio.run(scenario())
    assert log.read_text().splitlines() == [
        "backup",
        "notify INSTANCE VI_1 BACKUP 100",
        "master",
        "notify INSTANCE VI_1 MASTER 150",
        "backup",
        "notify INSTANCE VI_1 BACKUP 150",
    ]


def test_a_hanging_script_is_killed_with_its_process_group_at_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    argv = script(tmp_path, "hang", f"trap '' TERM; sleep 30 & echo $! > {pidfile}; echo oops >&2; wait\n")

    async def scenario() -> tuple[float, object]:
        t = time.monotonic()
        res = await run_script(argv, timeout=0.3, grace=0.2)
        return time.monotonic() - t, res

    took, res = asyncio.run(scenario())
    assert res.timed_out and res.result == "timeout"  # type: ignore[attr-defined]
    assert res.stderr == b"oops\n"  # type: ignore[attr-defined]
    assert took < 0.3 + 0.2 + 0.2 + 0.5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if not _alive(child):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the script's background child survived")


def _alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie counts as dead (its orphan is reaped by PID 1, or not at all here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_exit_status_and_missing_script_are_reported(tmp_path: Path) -> None:
    async def scenario() -> tuple[object, object]:
        bad = await run_script(script(tmp_path, "x", "exit 3\n"), 5)
        missing = await run_script((str(tmp_path / "nope"),), 5)
        return bad, missing

    bad, missing = asyncio.run(scenario())
    assert bad.returncode == 3 and bad.result == "failed"  # type: ignore[attr-defined]
    assert missing.result == "error"  # type: ignore[attr-defined]


def test_fifo_line_is_keepalived_format() -> None:
    assert fifo_line("INSTANCE", "VI_1", State.MASTER, 150) == 'INSTANCE "VI_1" MASTER 150\n'
    assert fifo_line("INSTANCE", "VI_1", State.INITIALIZE, 0) == 'INSTANCE "VI_1" STOP 0\n'


def test_fifo_gets_one_line_per_transition(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def scenario() -> bytes:
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            r = NotifyRunner("VI_1", Hooks(fifo=str(fifo)), lambda: 100)
            r(Notify(State.INITIALIZE, State.BACKUP, "startup"))
            r(Notify(State.BACKUP, State.FAULT, "fault"))
            await r.close()
            return os.read(rfd, 4096)
        finally:
            os.close(rfd)

    assert asyncio.run(scenario()) == b'INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" FAULT 100\n'


def test_notify_master_rx_lower_pri_and_notify_deleted_keepalived_words(tmp_path: Path) -> None:
    """keepalived send_event_notify(VRRP_EVENT_MASTER_RX_LOWER_PRI): its script and a FIFO line, no generic notify;
    notify_deleted replaces notify_stop for an instance a reload removed, and notify/FIFO say DELETED."""
    log = tmp_path / "log"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hooks = Hooks(
        stop=script(tmp_path, "s", f"echo stop >> {log}\n"),
        deleted=script(tmp_path, "d", f"echo deleted >> {log}\n"),
        rx_lower_pri=script(tmp_path, "l", f"echo lower >> {log}\n"),
        generic=script(tmp_path, "g", f'echo "notify $*" >> {log}\n'),
        fifo=str(fifo),
    )

    async def scenario() -> bytes:
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            r = NotifyRunner("VI_1", hooks, lambda: 150, timeout=5)
            r(LowerPriorityHeard(IPv4Address("192.0.2.2"), 100))
            r(Notify(State.MASTER, State.INITIALIZE, "shutdown"))
            r(Notify(State.MASTER, State.INITIALIZE, "deleted"))
            await r.close()
            return os.read(rfd, 4096)
        finally:
            os.close(rfd)

    lines = asyncio.run(scenario())
    assert log.read_text().splitlines() == [
        "lower",
        "stop",
        "notify INSTANCE VI_1 STOP 150",
        "deleted",
        "notify INSTANCE VI_1 DELETED 150",
    ]
    assert lines == (
        b'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\nINSTANCE "VI_1" STOP 150\nINSTANCE "VI_1" DELETED 150\n'
    )


def test_without_notify_deleted_a_removed_instance_says_stop(tmp_path: Path) -> None:
    log = tmp_path / "log"
    hooks = Hooks(stop=script(tmp_path, "s", f"echo stop >> {log}\n"))

    async def scenario() -> None:
        r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=5)
        r(Notify(State.BACKUP, State.INITIALIZE, "deleted"))
        r(LowerPriorityHeard(IPv4Address("192.0.2.2"), 100))  # nothing to run for it
        await r.close()

    asyncio.run(scenario())
    assert log.read_text().splitlines() == ["stop"]
