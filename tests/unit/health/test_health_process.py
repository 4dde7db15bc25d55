"""run_command: exit status, output, timeout kills the whole process group; what an exited check left runs on."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

from vipd.health.process import KILL_GRACE, ensure_child_watcher, run_command


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def dies(pid: int, within: float = 1.0) -> bool:
    """SIGKILL is asynchronous: the process leaves /proc (or turns zombie) a moment later."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def run(coro):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        ensure_child_watcher()
        return await coro

    return asyncio.run(main())


def test_exit_status_and_output() -> None:
    out = run(run_command(["sh", "-c", "echo hello; exit 3"], 5.0))
    assert (out.returncode, out.output, out.timed_out) == (3, "hello\n", False)


def test_missing_program_is_an_error_not_an_exception() -> None:
    out = run(run_command(["/nonexistent/check"], 1.0))
    assert out.returncode is None and "cannot run /nonexistent/check" in out.error


def test_hanging_script_is_killed_at_its_timeout_with_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    # The script traps SIGTERM and has a child: only SIGKILL of the group ends both.
    script = f"trap '' TERM; sleep 30 & echo $! > {pidfile}; wait"
    t0 = time.monotonic()
    out = run(run_command(["sh", "-c", script], 0.3))
    took = time.monotonic() - t0
    assert out.timed_out and out.returncode == -9
    assert 0.3 <= took < 0.3 + KILL_GRACE + 0.5, took  # timeout + KILL_GRACE + slack
    assert dies(int(pidfile.read_text()))


def test_background_child_holding_the_pipe_does_not_delay_the_result_and_survives(tmp_path: Path) -> None:
    """libs.md §6.2 pitfall: `sleep 30 & echo done` exits at once but its child keeps stdout open."""
    pidfile = tmp_path / "child"
    t0 = time.monotonic()
    out = run(run_command(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo done"], 5.0))
    took = time.monotonic() - t0
    child = int(pidfile.read_text())
    try:
        assert (out.returncode, out.timed_out, out.left_running) == (0, False, True)
        assert out.output.startswith("done")
        assert took < 1.0, f"the result waited {took:.2f}s for the grandchild"
        # keepalived (vrrp_script_child_thread) signals a check's group only at a timeout: the child runs on.
        assert alive(child), "a check that exited in time must not have its background child killed"
    finally:
        os.kill(child, signal.SIGKILL)
    assert dies(child)


def test_no_thread_is_started_per_child() -> None:
    async def main() -> int:
        ensure_child_watcher()
        before = threading.active_count()
        await asyncio.gather(*(run_command(["true"], 2.0) for _ in range(5)))
        return threading.active_count() - before

    assert asyncio.run(main()) == 0
