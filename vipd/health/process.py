"""Run a command for a check: own process group, timeout, whole group killed.

Commands are started with ``posix_spawn`` and reaped through a pidfd on the
event loop (asyncio's subprocess machinery is used only to switch user/group):
forking a 70 MB Python process copies its page tables and holds the loop for a
millisecond or more, which would show up as advert lateness with many scripts.

libs.md §6.2: the command gets its own session (``start_new_session``), so its
pid is its process group id and ``os.killpg`` reaches its children too. At the
timeout the group gets SIGTERM, then SIGKILL after a grace period. When the
command itself exits, whatever it left in its group is killed at once: a
background child that keeps the output pipe open would otherwise make the read
wait until the timeout.

No threads: on Python 3.11 asyncio's default child watcher starts a thread per
child, so :func:`ensure_child_watcher` installs the pidfd watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

OUTPUT_LIMIT = 4096
"""Bytes of output kept per run."""
KILL_GRACE = 0.5
"""Seconds between SIGTERM and SIGKILL of a timed-out group."""
_DRAIN = 0.2
"""Seconds to wait for the pipe to close once the group is dead."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one command.

    Attributes:
        returncode: exit status; negative = killed by that signal; None if it
            could not be started.
        output: its stdout+stderr (at most ``OUTPUT_LIMIT`` bytes), decoded.
        timed_out: it was killed at the timeout.
        error: why it could not be started, else "".
    """

    returncode: int | None
    output: str
    timed_out: bool = False
    error: str = ""


def ensure_child_watcher() -> None:
    """Make asyncio wait for children with pidfds instead of a thread per child (Python < 3.12).

    Call from the running loop. A no-op on 3.12+ (pidfd is the default there)
    or when the kernel lacks pidfd_open (the default watcher stays).
    """
    import sys

    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        current = asyncio.get_child_watcher()
        if isinstance(current, asyncio.PidfdChildWatcher):
            return
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:
            return
        watcher = asyncio.PidfdChildWatcher()
        asyncio.set_child_watcher(watcher)
        watcher.attach_loop(asyncio.get_running_loop())


class _PipeReader:
    """Collects up to ``OUTPUT_LIMIT`` bytes from a non-blocking fd with ``loop.add_reader``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.loop = asyncio.get_running_loop()
        self.eof: asyncio.Future[None] = self.loop.create_future()
        self.loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.loop.remove_reader(self.fd)
            if not self.eof.done():
                self.eof.set_result(None)
            return
        room = OUTPUT_LIMIT - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def close(self) -> None:
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        if not self.eof.done():
            self.eof.cancel()


class _Child:
    """A started command: its pid (= process group id) and a future of its exit status."""

    pid: int
    exited: asyncio.Future[int]


class _PosixSpawned(_Child):
    """``posix_spawn`` (vfork-like: no copy of our page tables, so the loop is not held for
    milliseconds as a fork of a big process would) and a pidfd watched by the loop."""

    def __init__(self, argv: Sequence[str], wfd: int, env: dict[str, str] | None) -> None:
        self.pid = os.posix_spawnp(
            argv[0],
            list(argv),
            env if env is not None else os.environ,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, wfd, 1),
                (os.POSIX_SPAWN_DUP2, wfd, 2),
            ],
        )
        self.loop = asyncio.get_running_loop()
        self.exited = self.loop.create_future()
        self.pidfd = os.pidfd_open(self.pid)
        self.loop.add_reader(self.pidfd, self._reap)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        self.loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        if not self.exited.done():
            self.exited.set_result(os.waitstatus_to_exitcode(status))


class _AsyncioChild(_Child):
    """asyncio's subprocess (needed to switch user/group)."""

    @classmethod
    async def start(
        cls, argv: Sequence[str], wfd: int, user: str | None, group: str | None, env: dict[str, str] | None
    ) -> _AsyncioChild:
        self = cls()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=wfd,
            stderr=wfd,
            start_new_session=True,
            user=user,
            group=group,
            env=env,
        )
        self.pid = proc.pid
        self.exited = asyncio.ensure_future(proc.wait())
        return self


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def run_command(
    argv: Sequence[str],
    timeout: float,
    *,
    user: str | None = None,
    group: str | None = None,
    env: dict[str, str] | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell) in a new process group and wait at most ``timeout`` seconds.

    Args:
        argv: program and arguments; ``argv[0]`` is looked up in PATH if it has no '/'.
        timeout: seconds; then the group gets SIGTERM and, ``KILL_GRACE`` later, SIGKILL.
        user, group: run as this user/group (names), or None for ours.
        env: environment, or None to inherit.
    Returns:
        a :class:`RunOutcome`; never raises for the command's own failures.
    Raises:
        asyncio.CancelledError: if cancelled; the group is killed first.
    """
    # Our own pipe, not asyncio's: asyncio's Process.wait() only returns once every
    # pipe it manages is closed, which a background grandchild can delay forever.
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(rfd, False)
    try:
        if user is None and group is None and hasattr(os, "pidfd_open"):
            child: _Child = _PosixSpawned(argv, wfd, env)
        else:
            child = await _AsyncioChild.start(argv, wfd, user, group, env)
    except (OSError, ValueError, KeyError) as e:  # ENOENT, EACCES, unknown user/group
        os.close(rfd)
        return RunOutcome(None, "", error=f"cannot run {argv[0]}: {e}")
    finally:
        os.close(wfd)
    output = _PipeReader(rfd)
    timed_out = False
    try:
        try:
            await asyncio.wait_for(asyncio.shield(child.exited), timeout)
        except TimeoutError:
            timed_out = True
            _killpg(child.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(child.exited), KILL_GRACE)
        # Anything left in the group (a background child holding the pipe, or the
        # leader itself after the grace period) dies now.
        _killpg(child.pid, signal.SIGKILL)
        returncode = await asyncio.shield(child.exited)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(output.eof), _DRAIN)
    except asyncio.CancelledError:
        _killpg(child.pid, signal.SIGKILL)
        raise
    finally:
        output.close()
    data = bytes(output.data)
    return RunOutcome(returncode, data.decode(errors="replace"), timed_out)
