"""track_file by inotify and track_process by the process connector: changes arrive without a poll.

Every check here is built with a poll interval of an hour, so a change that is
reported within the test's deadline was reported from the event, not from a
poll. The deadlines are generous (seconds): these tests check behaviour; the
event-to-report latency is measured by ``netns-lab/vipdlab/bench/trackers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from vipd.health.api import CheckContext, CheckResult, CheckSpec, WatchingCheck
from vipd.linux import procevents
from vipd_checks.file import FileCheck, fs_type, needs_polling
from vipd_checks.process import ProcessCheck

HOUR = 3600.0
DEADLINE = 5.0
"""Seconds a test waits for an event-driven report (a poll would take an hour)."""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the process connector needs CAP_NET_ADMIN (root)")


def file_check(path: Path, interval: float = HOUR) -> FileCheck:
    return FileCheck(CheckSpec("f", "file", interval, 1.0, {"file": str(path)}), CheckContext())


def process_check(**options: Any) -> ProcessCheck:
    return ProcessCheck(CheckSpec("p", "process", HOUR, 5.0, options), CheckContext())


class Seen:
    """The results a watcher reported, with a condition wait."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.changed = asyncio.Event()

    def __call__(self, r: CheckResult) -> None:
        self.results.append(r)
        self.changed.set()

    @property
    def last(self) -> CheckResult:
        return self.results[-1]

    async def until(self, pred: Callable[[CheckResult], bool], what: str) -> CheckResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not (self.results and pred(self.last)):
            self.changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no report of {what} within {DEADLINE}s; last {self.results[-1:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return self.last


def watching(check: WatchingCheck, body: Callable[[Seen], Awaitable[None]]) -> Seen:
    seen = Seen()

    async def main() -> None:
        task = asyncio.ensure_future(check.watch(seen))
        try:
            await seen.until(lambda r: True, "a first result")
            await body(seen)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return seen


# ---------------------------------------------------------------------------------------- track_file


def test_file_changes_arrive_by_inotify(tmp_path: Path) -> None:
    f = tmp_path / "prio"
    check = file_check(f)
    assert isinstance(check, WatchingCheck)

    async def body(seen: Seen) -> None:
        assert seen.last.value == 0, "a missing file is 0"
        assert check.mode == "inotify"
        f.write_text("10\n")  # create + close-write
        await seen.until(lambda r: r.value == 10, "the new file's 10")
        with open(f, "w") as w:  # truncate, write, close: no transient 0 reported after the 10
            w.write("-20")
        await seen.until(lambda r: r.value == -20, "-20")
        tmp = tmp_path / "prio.tmp"
        tmp.write_text("0x10")
        tmp.rename(f)  # atomic replace
        await seen.until(lambda r: r.value == 16, "16 from a rename")
        f.unlink()
        await seen.until(lambda r: r.value == 0, "0 after rm")
        subprocess.run(["sh", "-c", f"echo 7 > {f}"], check=True)
        await seen.until(lambda r: r.value == 7, "7 from the shell")

    seen = watching(check, body)
    values = [r.value for r in seen.results]
    assert values.index(10) < values.index(-20) < values.index(16) < values.index(0, values.index(16)) < values.index(7)
    after_ten = values[values.index(10) : values.index(-20)]
    assert 0 not in after_ten, f"a truncate before the write must not be reported: {values}"


def test_file_in_a_missing_directory_is_followed_once_it_appears(tmp_path: Path) -> None:
    d = tmp_path / "later"
    f = d / "prio"
    check = file_check(f, interval=0.05)

    async def body(seen: Seen) -> None:
        assert check.mode == "poll" and "does not exist" in check.why_polling
        d.mkdir()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while check.mode != "inotify":
            assert loop.time() < deadline, "switched to inotify once the directory exists"
            await asyncio.sleep(0.01)
        check.interval = HOUR  # from now on a poll would be too late
        f.write_text("5")
        await seen.until(lambda r: r.value == 5, "5")

    watching(check, body)


def test_file_directory_removed_and_recreated(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    f = d / "prio"
    f.write_text("3")
    check = file_check(f, interval=0.05)

    async def body(seen: Seen) -> None:
        assert seen.last.value == 3 and check.mode == "inotify"
        f.unlink()
        d.rmdir()
        await seen.until(lambda r: r.value == 0, "0 after the directory went")
        d.mkdir()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while check.mode != "inotify":
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        check.interval = HOUR
        f.write_text("4")
        await seen.until(lambda r: r.value == 4, "4 in the new directory")

    watching(check, body)


def test_file_on_a_remote_file_system_is_polled(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /srv/share rw,relatime shared:2 - nfs4 server:/export rw\n"
        "41 22 0:36 / /mnt/ssh rw - fuse.sshfs host: rw\n"
    )
    assert fs_type("/srv/share/flags", str(mountinfo)) == "nfs4"
    assert fs_type("/srv/shared", str(mountinfo)) == "ext4", "a prefix that is not a path component"
    assert fs_type("/mnt/ssh/x", str(mountinfo)) == "fuse.sshfs"
    assert needs_polling("nfs4") and needs_polling("fuse.sshfs") and needs_polling("proc")
    assert not needs_polling("ext4") and not needs_polling("tmpfs") and not needs_polling(None)


# ---------------------------------------------------------------------------------------- track_process


def _sleeper(tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", tag])


@needs_root
def test_process_start_and_kill_arrive_by_events() -> None:
    tag = f"{3000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    check = process_check(process="sleep", args=[tag])
    procs: list[subprocess.Popen[bytes]] = []

    async def body(seen: Seen) -> None:
        assert check.mode == "events"
        assert not seen.last.ok, "no such process yet"
        procs.append(_sleeper(tag))
        await seen.until(lambda r: r.ok, "the process started")
        procs[0].kill()
        await seen.until(lambda r: not r.ok, "the process killed")

    try:
        watching(check, body)
    finally:
        for p in procs:
            p.kill()
            p.wait()


@needs_root
def test_process_quorum_counts_forks_and_exits() -> None:
    # A parent that forks two children which keep its command line (no exec): three matching processes.
    tag = f"vipd-fork-{uuid.uuid4().hex[:8]}"
    code = "import os,sys,time\nfor _ in range(2):\n    if os.fork()==0: time.sleep(3600)\ntime.sleep(3600)"
    check = process_check(process=os.path.basename(sys.executable), args=["-c", code, tag], quorum=3)
    procs: list[subprocess.Popen[bytes]] = []

    async def body(seen: Seen) -> None:
        assert not seen.last.ok
        procs.append(subprocess.Popen([sys.executable, "-c", code, tag], start_new_session=True))
        await seen.until(lambda r: r.ok, "three processes (one exec, two forks)")
        assert len(check.pids) == 3
        children = sorted(check.pids - {procs[0].pid})
        os.kill(children[0], 9)
        await seen.until(lambda r: not r.ok, "a child gone: below quorum")
        assert len(check.pids) == 2

    try:
        watching(check, body)
    finally:
        for p in procs:
            os.killpg(p.pid, 9)
            p.wait()


@needs_root
def test_process_terminate_delay_holds_the_verdict() -> None:
    tag = f"{4000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    proc = _sleeper(tag)
    delay = 0.3
    check = process_check(process="sleep", args=[tag], terminate_delay=delay)

    async def body(seen: Seen) -> None:
        await seen.until(lambda r: r.ok, "the process (it may still be in exec at the first scan)")
        t0 = time.monotonic()
        proc.kill()
        await seen.until(lambda r: "pending" in r.output, "the pending loss")
        assert seen.last.ok, "still up during terminate_delay"
        await seen.until(lambda r: not r.ok, "the loss after the delay")
        assert time.monotonic() - t0 >= delay

    try:
        watching(check, body)
    finally:
        proc.kill()
        proc.wait()


@needs_root
def test_process_events_from_another_network_namespace(tmp_path: Path) -> None:
    """The connector lives in the initial netns only: vipd in a namespace still gets events."""
    from pyroute2 import netns

    name = f"vipdt-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "probe.py"
    script.write_text(
        "import asyncio, os\n"
        "from vipd.linux.procevents import ProcEvents, PROC_EVENT_EXIT\n"
        "async def main():\n"
        "    got = asyncio.get_running_loop().create_future()\n"
        "    def on(ev):\n"
        "        if ev.what == PROC_EVENT_EXIT and ev.tgid == pid and not got.done(): got.set_result(1)\n"
        "    hub = ProcEvents.acquire(on)\n"
        "    pid = os.fork()\n"
        "    if pid == 0: os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    await asyncio.wait_for(got, 5)\n"
        "    hub.release(on)\n"
        "    print('exit seen')\n"
        "asyncio.run(main())\n"
    )
    netns.create(name)
    try:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
        out = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, str(script)], env=env, capture_output=True, timeout=30
        )
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout.decode().strip() == "exit seen"
    finally:
        netns.remove(name)


def test_process_connector_parse() -> None:
    import struct

    head = struct.pack("=IHHII", 76, 3, 0, 0, 0) + struct.pack("=IIIIHH", 1, 1, 0, 0, 40, 0)
    exit_ev = (
        head
        + struct.pack("=IIQ", procevents.PROC_EVENT_EXIT, 0, 2_500_000_000)
        + struct.pack("=IIIIII", 7, 7, 0, 9, 1, 1)
    )
    assert procevents.parse(exit_ev) == procevents.ProcEvent(procevents.PROC_EVENT_EXIT, 7, 7, 0, 2.5)
    fork = head + struct.pack("=IIQ", procevents.PROC_EVENT_FORK, 0, 0) + struct.pack("=IIII", 1, 1, 8, 8)
    assert procevents.parse(fork) == procevents.ProcEvent(procevents.PROC_EVENT_FORK, 8, 8, 1, 0.0)
    uid = head + struct.pack("=IIQ", 0x4, 0, 0) + struct.pack("=IIII", 1, 1, 0, 0)
    assert procevents.parse(uid) is None
    assert procevents.parse(b"short") is None


# ---------------------------------------------------------------------------------------- through the tracker


@needs_root
def test_tracker_moves_priority_on_file_and_process_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """touch/rm of a track_file and the death of a tracked process reach the instance as PriorityChanged."""
    from vipd.config import load_config_string
    from vipd.fsm import PriorityChanged
    from vipd.plan import plan_config, trackers
    from vipd.runtime import tracking

    monkeypatch.setattr(trackers, "FILE_INTERVAL", HOUR)
    monkeypatch.setattr(trackers, "PROCESS_INTERVAL", HOUR)
    tag = f"{5000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    flag = tmp_path / "flag"
    text = f"""
track_file flag {{
    file {flag}
    weight -10
}}
vrrp_track_process svc {{
    process sleep {tag}
    weight -40
}}
vrrp_instance VI_1 {{
    interface lo
    virtual_router_id 51
    priority 200
    advert_int 0.1
    version 3
    dont_track_primary
    virtual_ipaddress {{ 192.0.2.51/24 }}
    track_file {{
        flag
    }}
    track_process {{
        svc
    }}
}}
"""
    config = load_config_string(text).config
    assert config is not None
    fed: list[tuple[float, int]] = []

    class Driver:
        name = "VI_1"

        def feed(self, event: Any) -> None:
            if isinstance(event, PriorityChanged):
                fed.append((time.monotonic(), event.priority))

    proc = _sleeper(tag)

    async def until_priority(p: int) -> float:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not (fed and fed[-1][1] == p):
            assert loop.time() < deadline, f"priority {p} not fed; fed {fed}"
            await asyncio.sleep(0.001)
        return fed[-1][0]

    latencies: list[float] = []

    async def main() -> None:
        planned = plan_config(config).plan
        assert planned is not None
        tracker = tracking.Tracker(planned, {"VI_1": Driver()}, links=None)
        tracker.build()
        await tracker.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while (ev := tracker.evaluation("VI_1")) is None or ev.priority != 200:
                assert loop.time() < deadline, f"file missing (0 * -10), process present: {ev}"
                await asyncio.sleep(0.001)
            t0 = time.monotonic()
            flag.write_text("1")  # track_file: value * weight
            latencies.append(await until_priority(190) - t0)
            t0 = time.monotonic()
            flag.unlink()
            latencies.append(await until_priority(200) - t0)
            t0 = time.monotonic()
            proc.kill()
            latencies.append(await until_priority(160) - t0)
        finally:
            await tracker.stop()

    try:
        asyncio.run(main())
    finally:
        proc.kill()
        proc.wait()
    print("event -> PriorityChanged (ms):", [round(x * 1e3, 2) for x in latencies])


def test_file_behind_a_symlink_is_followed_like_keepalived(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (tmp_path / "link").symlink_to(real_dir / "prio")
    check = file_check(tmp_path / "link")

    async def body(seen: Seen) -> None:
        assert check.directory == str(real_dir) and check.name == "prio"
        (real_dir / "prio").write_text("9")
        await seen.until(lambda r: r.value == 9, "9 written to the link's target")

    watching(check, body)


def test_file_checks_share_one_inotify_instance(tmp_path: Path) -> None:
    """Two files in one directory, one check cancelled: the other still hears its file (one watch, two users)."""
    from vipd_checks.file import SharedInotify

    a, b = file_check(tmp_path / "a"), file_check(tmp_path / "b")
    seen_a, seen_b = Seen(), Seen()

    async def main() -> None:
        ta = asyncio.ensure_future(a.watch(seen_a))
        tb = asyncio.ensure_future(b.watch(seen_b))
        await seen_a.until(lambda r: True, "a's first result")
        await seen_b.until(lambda r: True, "b's first result")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not (a.mode == b.mode == "inotify"):
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        hub = SharedInotify._by_loop[asyncio.get_running_loop()]
        assert hub.users == 2 and len(hub.watches) == 1, "one instance, one watch of the directory"
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
        (tmp_path / "b").write_text("3")
        await seen_b.until(lambda r: r.value == 3, "b's 3 after a left")
        tb.cancel()
        await asyncio.gather(tb, return_exceptions=True)
        assert asyncio.get_running_loop() not in SharedInotify._by_loop, "closed with its last user"

    asyncio.run(main())
