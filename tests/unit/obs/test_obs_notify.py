"""Notify hooks: order and coalescing across fast transitions, identity, background helpers, timeout, keepalived's
arguments and FIFO line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

import pytest

from vipd.config.model import Script
from vipd.fsm import LowerPriorityHeard, Notify, PriorityNotice, State
from vipd.linux.spawn import run
from vipd.obs.notify import Hook, Hooks, NotifyRunner, fifo_line, hooks_from_config


def script(tmp: Path, name: str, body: str) -> tuple[str, ...]:
    p = tmp / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return (str(p),)


async def _until(path: Path, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.01)


def test_hooks_run_in_transition_order_even_when_the_first_is_slow(tmp_path: Path) -> None:
    """A transition queued while a slow hook runs waits for it: keepalived would run both at once."""
    log = tmp_path / "log"
    started = tmp_path / "started"
    hooks = Hooks(
        backup=script(tmp_path, "b", f"touch {started}; sleep 0.3; echo backup >> {log}\n"),
        master=script(tmp_path, "m", f"echo master >> {log}\n"),
        generic=script(tmp_path, "g", f'echo "notify $*" >> {log}\n'),
    )

    async def scenario() -> None:
        prio = [100]
        r = NotifyRunner("VI_1", hooks, lambda: prio[0], timeout=5)
        r(Notify(State.INITIALIZE, State.BACKUP, "startup"))
        await _until(started)
        prio[0] = 150
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        await r.close()

    asyncio.run(scenario())
    assert log.read_text().splitlines() == [
        "backup",
        "notify INSTANCE VI_1 BACKUP 100",
        "master",
        "notify INSTANCE VI_1 MASTER 150",
    ]


def test_queued_hooks_made_stale_by_a_newer_transition_are_skipped_but_the_fifo_gets_every_line(
    tmp_path: Path,
) -> None:
    """B (slow, running) then M then B queued: M's scripts are stale; the last state's hooks run, in order."""
    log = tmp_path / "log"
    started = tmp_path / "started"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hooks = Hooks(
        backup=script(tmp_path, "b", f"touch {started}; sleep 0.3; echo backup >> {log}\n"),
        master=script(tmp_path, "m", f"echo master >> {log}\n"),
        generic=script(tmp_path, "g", f'echo "notify $*" >> {log}\n'),
        fifo=str(fifo),
    )

    async def scenario() -> tuple[bytes, NotifyRunner]:
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            prio = [100]
            r = NotifyRunner("VI_1", hooks, lambda: prio[0], timeout=5)
            r(Notify(State.INITIALIZE, State.BACKUP, "startup"))
            await _until(started)
            prio[0] = 150
            r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
            r(LowerPriorityHeard(IPv4Address("192.0.2.2"), 100))
            prio[0] = 90
            r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
            assert r.pending == 3
            await r.close()
            return os.read(rfd, 4096), r
        finally:
            os.close(rfd)

    lines, r = asyncio.run(scenario())
    assert log.read_text().splitlines() == [
        "backup",
        "notify INSTANCE VI_1 BACKUP 100",
        "backup",
        "notify INSTANCE VI_1 BACKUP 90",
    ]
    assert lines.decode().splitlines() == [
        'INSTANCE "VI_1" BACKUP 100',
        'INSTANCE "VI_1" MASTER 150',
        'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150',
        'INSTANCE "VI_1" BACKUP 90',
    ]
    runs = r.stats.notify_runs
    assert (runs["notify_master:skipped"], runs["notify:skipped"], runs["notify_backup:ok"]) == (1, 1, 2)


def test_a_hanging_script_is_killed_with_its_process_group_at_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    log = tmp_path / "log"
    hooks = Hooks(
        master=script(tmp_path, "hang", f"trap '' TERM; sleep 30 & echo $! > {pidfile}; echo oops >&2; wait\n"),
        backup=script(tmp_path, "b", f"echo backup >> {log}\n"),
    )

    async def scenario() -> tuple[float, NotifyRunner]:
        t = time.monotonic()
        r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=0.3)
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        await _until(pidfile)
        r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
        await r.close()
        return time.monotonic() - t, r

    took, r = asyncio.run(scenario())
    assert r.stats.notify_runs["notify_master:timeout"] == 1
    assert log.read_text() == "backup\n", "the next hook runs once the hung one is killed"
    assert took < 0.3 + 1.0 + 1.0  # timeout + KILL_GRACE + slack
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
    hooks = Hooks(master=script(tmp_path, "x", "exit 3\n"), backup=(str(tmp_path / "nope"),))

    async def scenario() -> NotifyRunner:
        r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=5)
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        await r.close()
        r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
        await r.close()
        return r

    runs = asyncio.run(scenario()).stats.notify_runs
    assert (runs["notify_master:failed"], runs["notify_backup:error"]) == (1, 1)


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
            for n in (
                LowerPriorityHeard(IPv4Address("192.0.2.2"), 100),
                Notify(State.MASTER, State.INITIALIZE, "shutdown"),
                Notify(State.MASTER, State.INITIALIZE, "deleted"),
            ):
                r(n)
                await r.close()  # one at a time: queued together, the earlier ones would be stale
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


def test_a_hook_that_starts_a_background_helper_returns_at_once_and_the_helper_survives(tmp_path: Path) -> None:
    """Review finding 5: `sleep 300 &` then exit 0 is ok at once, the sleep lives on, the next hook runs within 1 s."""
    pidfile = tmp_path / "helper"
    log = tmp_path / "log"
    hooks = Hooks(
        master=script(tmp_path, "m", f"sleep 300 & echo $! > {pidfile}\nexit 0\n"),
        backup=script(tmp_path, "b", f"echo backup >> {log}\n"),
    )

    async def scenario() -> tuple[float, NotifyRunner]:
        r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=30)
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        await _until(pidfile)
        t0 = time.monotonic()
        r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
        await _until(log)
        took = time.monotonic() - t0
        await r.close()
        return took, r

    try:
        took, r = asyncio.run(scenario())
        helper = int(pidfile.read_text())
        assert r.stats.notify_runs["notify_master:ok"] == 1 and r.stats.notify_runs["notify_master:timeout"] == 0
        assert took < 1.0, f"notify_backup ran {took:.2f}s after the transition"
        assert _alive(helper), "the helper a notify hook started in the background must survive"
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory a non-root script can use (pytest's tmp_path is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="vipd-notify-"))
    d.chmod(0o1777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _config_script(path: str, user: str | None = None, group: str | None = None) -> Script:
    return Script(command=path, argv=[path], user=user, group=group)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_notify_master_runs_as_script_user_and_per_script_user_and_group(shared_dir: Path) -> None:
    """Review finding 1: `script_user nobody` -> `id -u` is 65534; `notify_backup CMD USER GROUP` wins."""
    out = shared_dir / "out"
    body = script(shared_dir, "id", f'echo "$1 $(id -u) $(id -g) $(umask)" >> {out}\n')[0]
    os.chmod(shared_dir / "id", 0o755)
    inst = SimpleNamespace(
        notify_master=_config_script(body),
        notify_backup=_config_script(body, "nobody", "root"),
        notify_fault=_config_script(body, "root"),
    )
    hooks = hooks_from_config(inst, None, ("nobody", None))  # global_defs { script_user nobody }
    assert hooks.master is not None and hooks.master.run_as is not None and hooks.master.run_as.user == "nobody"
    nobody = pwd.getpwnam("nobody")

    async def scenario() -> None:
        old = os.umask(0o177)  # what the control server holds for a moment
        try:
            r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=5)
            r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
            await r.close()
            r(Notify(State.MASTER, State.BACKUP, "higher_priority_advert"))
            await r.close()
            r(Notify(State.BACKUP, State.FAULT, "fault"))
            await r.close()
        finally:
            os.umask(old)

    asyncio.run(scenario())
    assert out.read_text().splitlines() == [
        f" {nobody.pw_uid} {nobody.pw_gid} 0022",
        f" {nobody.pw_uid} 0 0022",
        " 0 0 0022",
    ]


def test_a_hook_whose_user_does_not_exist_is_an_error_and_never_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    path = script(tmp_path, "m", f"touch {ran}\n")[0]
    inst = SimpleNamespace(notify_master=_config_script(path, "no-such-user-xyz"))
    hooks = hooks_from_config(inst, None, (None, None))
    assert hooks.master is not None and "no-such-user-xyz" in hooks.master.error

    async def scenario() -> NotifyRunner:
        r = NotifyRunner("VI_1", hooks, lambda: 100, timeout=5)
        r(Notify(State.BACKUP, State.MASTER, "master_down_timer"))
        await r.close()
        return r

    assert asyncio.run(scenario()).stats.notify_runs["notify_master:error"] == 1
    assert not ran.exists()


def test_the_runner_used_by_notify_is_the_one_runner() -> None:
    import vipd.obs.notify as notify

    assert notify.run is run


def test_notify_priority_changes_writes_master_and_backup_priority_to_the_fifo_only(tmp_path: Path) -> None:
    """keepalived ``notify_priority_changes``: ``INSTANCE "VI_1" MASTER_PRIORITY 90`` on the FIFO, no script run."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    log = tmp_path / "log"
    script = tmp_path / "generic.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(0o755)
    hooks = Hooks(fifo=str(fifo), generic=Hook((str(script),)))

    async def scenario() -> bytes:
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            r = NotifyRunner("VI_1", hooks, lambda: 100)
            r(PriorityNotice(90, master=True))
            r(PriorityNotice(120, master=False))
            await r.close()
            return os.read(rfd, 4096)
        finally:
            os.close(rfd)

    assert asyncio.run(scenario()) == b'INSTANCE "VI_1" MASTER_PRIORITY 90\nINSTANCE "VI_1" BACKUP_PRIORITY 120\n'
    assert not log.exists()
