"""The one script runner, with real processes: identity, umask, pidfd wait, output, timeout, leftovers."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vipd.health.identity import RunAs, script_run_as
from vipd.linux import spawn
from vipd.linux.spawn import RunOutcome, run

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def resolve_user(user: str, group: str | None = None) -> RunAs:
    return script_run_as(user, group, (None, None))


def _run(argv: list[str], **kw: object) -> RunOutcome:
    kw.setdefault("timeout", 5.0)
    return asyncio.run(run(argv, **kw))  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as dead)."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def dies(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@contextlib.contextmanager
def reaped(pidfile: Path) -> Iterator[None]:
    """Kill the background process whose pid the test's script wrote, whatever the test's outcome."""
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


def test_exit_status_and_combined_output() -> None:
    out = _run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (out.returncode, out.output, out.result, out.timed_out) == (3, "out\nerr\n", "failed", False)


def test_missing_program_is_an_error_outcome() -> None:
    out = _run(["/nonexistent/cmd"])
    assert out.returncode is None and out.result == "error" and "cannot run /nonexistent/cmd" in out.error


def test_stdin_is_dev_null_and_signals_are_default() -> None:
    out = _run(["sh", "-c", "readlink /proc/self/fd/0; grep -E '^Sig(Ign|Blk)' /proc/self/status"])
    lines = dict(line.split(":\t") for line in out.output.splitlines()[1:])
    assert out.output.splitlines()[0] == "/dev/null"
    assert int(lines["SigBlk"], 16) == 0
    ignored = int(lines["SigIgn"], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), "Python ignores SIGPIPE; a script must not inherit that"
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


def test_umask_is_022_whatever_the_daemons_umask_is() -> None:
    """Review: the control server holds umask 0177 across an await; scripts must not inherit it."""
    old = os.umask(0o177)
    try:
        out = _run(["sh", "-c", "umask"])
        assert os.umask(0o177) == 0o177, "the daemon's own umask is restored after the spawn"
    finally:
        os.umask(old)
    assert out.output.strip() == "0022"


def test_loader_overrides_are_removed_from_the_environment() -> None:
    """keepalived system_call_script unsets IFS, LD_PRELOAD and LD_LIBRARY_PATH before exec."""
    env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": "/nonexistent.so", "IFS": "x", "KEEP": "1"}
    out = _run(["sh", "-c", 'echo "${LD_PRELOAD-unset} ${KEEP}"'], env=env)
    assert out.output.strip() == "unset 1"


def test_output_is_limited_and_a_chatty_script_never_blocks() -> None:
    out = _run(["sh", "-c", "head -c 1000000 /dev/zero && echo tail >&2"], output_limit=100)
    assert out.returncode == 0, "every write succeeded: the script's end of the pipe blocks, it never gets EAGAIN"
    assert len(out.output) == 100


def test_a_hanging_script_is_killed_with_its_group_at_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    script = f"trap '' TERM; sleep 30 & echo $! > {pidfile}; echo oops; wait"
    with reaped(pidfile):
        t0 = time.monotonic()
        out = _run(["sh", "-c", script], timeout=0.3, grace=0.2)
        took = time.monotonic() - t0
        assert out.timed_out and out.returncode == -signal.SIGKILL and out.result == "timeout"
        assert out.output == "oops\n"
        assert 0.3 <= took < 0.3 + 0.2 + 0.5, took
        assert dies(int(pidfile.read_text())), "the group's background child must die at a timeout"


def test_a_script_that_honours_sigterm_ends_before_the_grace() -> None:
    t0 = time.monotonic()
    out = _run(["sleep", "30"], timeout=0.2, grace=5.0)
    assert out.timed_out and out.returncode == -signal.SIGTERM
    assert time.monotonic() - t0 < 0.2 + 1.0


def test_background_child_does_not_delay_completion_and_survives(tmp_path: Path) -> None:
    """`helper & exit 0`: done at once (wait on the process, not the pipe), the helper is not killed."""
    pidfile = tmp_path / "child"
    with reaped(pidfile):
        t0 = time.monotonic()
        out = _run(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; echo started"])
        took = time.monotonic() - t0
        child = int(pidfile.read_text())
        assert (out.result, out.output, out.left_running) == ("ok", "started\n", True)
        assert took < 0.5, f"completion waited {took:.2f}s for the pipe"
        time.sleep(0.2)  # give a wrong implementation the chance to kill it
        assert alive(child)


def test_a_background_child_may_write_after_the_script_exited(tmp_path: Path) -> None:
    """Its pipe stays drained (sink): no SIGPIPE kills the helper, nothing blocks."""
    done = tmp_path / "done"
    script = f"(sleep 0.3; echo late; echo late >&2; touch {done}) & echo now"

    async def scenario() -> RunOutcome:
        out = await run(["sh", "-c", script], timeout=5.0)
        deadline = time.monotonic() + 3
        while not done.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return out

    out = asyncio.run(scenario())
    assert out.output == "now\n" and done.exists()


def test_sinks_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn, "SINK_MAX", 2)

    async def scenario() -> int:
        pids = []
        for _ in range(4):
            out = await run(["sh", "-c", "sleep 300 & echo $!"], timeout=5.0)
            pids.append(int(out.output))
        n = len(spawn._Output.sinks)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return n

    assert asyncio.run(scenario()) == 2


def test_cancel_kills_the_group_and_the_pid_is_still_reaped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"

    async def scenario() -> int:
        script = f"sleep 30 & echo $$ $! > {pidfile}; wait"
        task = asyncio.ensure_future(run(["sh", "-c", script], timeout=30.0))
        deadline = time.monotonic() + 3
        while not pidfile.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # the pidfd callback reaps after the SIGKILL
        return len(asyncio.get_running_loop()._selector.get_map())  # type: ignore[attr-defined]

    before = sorted(os.listdir("/proc/self/fd"))
    registered = asyncio.run(scenario())
    leader, child = (int(p) for p in pidfile.read_text().split())
    assert registered == 1, "only the loop's self-pipe: the pidfd and the pipe are gone"
    assert sorted(os.listdir("/proc/self/fd")) == before, "no fd leaked"
    assert not Path(f"/proc/{leader}").exists(), "the leader was killed and reaped (not a zombie)"
    assert dies(child)


def test_no_thread_is_started() -> None:
    async def main() -> int:
        before = threading.active_count()
        await asyncio.gather(*(run(["true"], timeout=2.0) for _ in range(5)))
        return threading.active_count() - before

    assert asyncio.run(main()) == 0


@needs_root
def test_runs_as_the_user_with_its_group_and_no_supplementary_groups() -> None:
    nobody = resolve_user("nobody")
    out = _run(["sh", "-c", "id -u; id -g; grep -E '^(Groups|CapEff)' /proc/self/status"], run_as=nobody)
    uid, gid, groups, capeff = out.output.splitlines()
    assert (int(uid), int(gid)) == (nobody.uid, nobody.gid) == (pwd.getpwnam("nobody").pw_uid, nobody.gid)
    assert groups.split(":")[1].strip() == "", "keepalived clears supplementary groups unless told otherwise"
    assert int(capeff.split()[1], 16) == 0


@needs_root
def test_per_script_group_and_explicit_supplementary_groups() -> None:
    group = grp.getgrgid(0).gr_name  # any group that exists: root's
    who = resolve_user("nobody", group)
    assert who.gid == 0
    out = _run(["sh", "-c", "id -g"], run_as=who)
    assert out.output.strip() == "0"
    extra = RunAs("nobody", who.uid, who.gid, (1, 2))
    out = _run(["sh", "-c", "grep ^Groups /proc/self/status"], run_as=extra)
    assert sorted(int(g) for g in out.output.split(":")[1].split()) == [1, 2]


@needs_root
def test_a_program_the_user_cannot_run_is_an_error(tmp_path: Path) -> None:
    out = _run([str(tmp_path / "nope")], run_as=resolve_user("nobody"))
    assert out.result == "error" and "as nobody" in out.error


@needs_root
def test_without_setpriv_the_user_switch_still_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fallback: subprocess.Popen(user=..., group=..., extra_groups=...) forks (slower for the loop)."""
    monkeypatch.setattr(spawn, "_setpriv", [None])
    old = os.umask(0o177)
    try:
        out = _run(["sh", "-c", "id -u; umask"], run_as=resolve_user("nobody"))
    finally:
        os.umask(old)
    assert out.output.split() == [str(pwd.getpwnam("nobody").pw_uid), "0022"]


def test_unknown_user_or_group_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="script user 'no-such-user-xyz' does not exist"):
        resolve_user("no-such-user-xyz")
    with pytest.raises(LookupError, match="script group 'no-such-group-xyz' does not exist"):
        resolve_user("nobody", "no-such-group-xyz")


def test_the_daemons_own_identity_needs_no_switch() -> None:
    assert not spawn.switches(RunAs(None, 0, 0)) and not spawn.switches(None)
    assert script_run_as(None, None, (None, None)).user is None
    assert spawn.switches(RunAs("nobody", 65534, 65534)) == (os.geteuid() != 65534)


def test_a_sink_left_by_an_earlier_loop_is_closed_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn, "SINK_MAX", 1)
    pids = []
    for _ in range(2):  # the second run evicts the first loop's sink; its loop is closed by then
        out = _run(["sh", "-c", "sleep 300 & echo $!"])
        pids.append(int(out.output))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert len(spawn._Output.sinks) == 1
