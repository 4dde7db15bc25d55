"""The one script runner: notify hooks and check scripts start, are waited on and are killed here.

How a command runs (:func:`run`):

* **Start without forking the daemon.** ``posix_spawn`` (glibc: ``clone(CLONE_VM|CLONE_VFORK)``,
  no copy of our page tables). A script that runs as another user is started
  through ``setpriv`` (util-linux) as a trampoline: ``posix_spawn(setpriv
  --reuid U --regid G --clear-groups|--groups L -- argv)``; setpriv switches
  real, effective and saved ids, drops the capabilities and execs the script in
  the same pid. ``subprocess.Popen(user=..., group=..., extra_groups=...)``
  would do it in one step, but CPython 3.11 gives up vfork when ids change and
  forks: measured with the daemon's ~85 MiB RSS on the 2-core lab machine, the
  loop is held p50 4.6 ms / p99 15 ms per spawn, against 0.28 ms / 5.5 ms for
  posix_spawn of setpriv and 0.24 ms / 5.9 ms for posix_spawn as root
  (docs/operations.md, "How scripts run"). ``Popen`` stays only as the fallback
  when no setpriv is installed.
* **Identity and environment** as keepalived's ``system_call_script``: own
  session and process group (``setsid``: its pid is the group id, so a kill
  reaches its children), stdin ``/dev/null``, every fd above 2 closed (ours are
  O_CLOEXEC), SIGPIPE/SIGXFSZ back to default (Python ignores them), an empty
  signal mask, ``IFS``/``LD_PRELOAD``/``LD_LIBRARY_PATH`` removed from the
  environment, uid/gid/supplementary groups from :class:`~vipd.plan.scripts.RunAs`.
* **umask 022, always.** keepalived lets scripts inherit its own umask (0177 by
  default, ``umask`` keyword); vipd sets 022 around the spawn so a script creates
  files as it does when the operator runs it from a shell, whatever umask the
  daemon has at that moment (the control server holds 0177 across an await).
* **Wait on the process, not on its pipes.** A pidfd (``os.pidfd_open``) is
  watched with ``loop.add_reader``; its callback reaps the pid with
  ``waitpid(WNOHANG)``, even if the awaiting coroutine was cancelled. No
  asyncio child watcher, no thread.
* **Output**: stdout and stderr share one pipe; the first ``output_limit`` bytes
  are kept, the rest is read and dropped (a chatty script never blocks on a full
  pipe). When the process exits, what is in the pipe is read at once and the
  run completes: a background child still holding the pipe never delays it.
  That child keeps a *sink* (the read end, drained and discarded by the loop)
  so its own writes neither block nor raise SIGPIPE, until it closes the pipe,
  has written :data:`SINK_BYTES`, or :data:`SINK_MAX` newer sinks exist; then
  the read end is closed and further writes get EPIPE.
* **Timeout**: only at a real timeout the group gets SIGTERM, then SIGKILL
  :data:`KILL_GRACE` seconds later (keepalived: ``kill(-pid, SIGTERM)``, SIGKILL
  2 s later, ``vrrp_script_child_thread``). A command that exited in time is
  never killed, nor is anything it left running (``RunOutcome.left_running``
  says whether its group still has members): keepalived does not kill what a
  ``vrrp_script`` leaves behind either, and a ``notify_master`` that starts
  ``helper &`` means it to stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from vipd.plan.scripts import RunAs

OUTPUT_LIMIT = 4096
"""Bytes of stdout+stderr kept per run."""
KILL_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL of a timed-out group."""
SCRIPT_UMASK = 0o022
"""The umask every script starts with."""
SINK_BYTES = 1 << 20
"""Bytes a background child may write to the output pipe after the script exited before the pipe is closed."""
SINK_MAX = 64
"""Pipes kept open for background children; the oldest is closed beyond this."""
SETPRIV_PATHS = "/usr/bin:/bin:/usr/sbin:/sbin"
"""Where the setpriv trampoline is looked for (never the daemon's PATH)."""
_DROP_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")
_TRAMPOLINE_FAILED = (126, 127)  # setpriv: cannot exec / cannot switch ids


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one command.

    Attributes:
        returncode: exit status; negative = killed by that signal; None if it could not be started.
        output: its stdout+stderr (at most ``output_limit`` bytes), decoded (invalid UTF-8 replaced).
        timed_out: it was killed with its group at the timeout.
        error: why it could not be started (``OSError`` text, setpriv's message), else "".
        duration: seconds from start to exit (monotonic).
        left_running: it exited in time but processes of its group still run (started in the background).
    """

    returncode: int | None
    output: str = ""
    timed_out: bool = False
    error: str = ""
    duration: float = 0.0
    left_running: bool = False

    @property
    def result(self) -> str:
        """``ok``, ``failed`` (non-zero exit or killed by a signal), ``timeout`` or ``error`` (could not start)."""
        if self.error:
            return "error"
        if self.timed_out:
            return "timeout"
        return "ok" if self.returncode == 0 else "failed"


def script_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a script gets: ``env`` (default: ours) without ``IFS``, ``LD_PRELOAD``, ``LD_LIBRARY_PATH``."""
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if k not in _DROP_ENV}


_setpriv: list[str | None] = []


def setpriv_path() -> str | None:
    """Path of util-linux ``setpriv`` (the user-switch trampoline), or None if not installed (looked up once)."""
    if not _setpriv:
        import shutil  # on first use: it imports bz2 and lzma (~4 ms of start-up)

        _setpriv.append(shutil.which("setpriv", path=SETPRIV_PATHS))
    return _setpriv[0]


def switches(run_as: RunAs | None) -> bool:
    """True when running as ``run_as`` needs a user/group switch in the child (``user`` None never does)."""
    if run_as is None or run_as.user is None:
        return False
    same = run_as.uid == os.geteuid() and run_as.gid == os.getegid()
    return not (same and set(run_as.groups) == set(os.getgroups()))


def setpriv_argv(setpriv: str, who: RunAs, argv: Sequence[str]) -> list[str]:
    """The trampoline's argv: switch to ``who`` (uid, gid, exactly its supplementary groups), then exec ``argv``."""
    groups = "--clear-groups" if not who.groups else "--groups=" + ",".join(str(g) for g in who.groups)
    return [setpriv, f"--reuid={who.uid}", f"--regid={who.gid}", groups, "--", *argv]


# ---------------------------------------------------------------- output pipe


class _Output:
    """The read end of the script's stdout/stderr pipe, drained by the loop."""

    sinks: ClassVar[deque[_Output]] = deque()
    """Pipes kept for background children after their script exited (oldest first)."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.data = bytearray()
        self.after_exit = 0  # bytes read once the script exited
        self.sink = False  # the script exited; a background child still holds the pipe
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(fd, self._readable)

    def _read(self) -> bool:
        """Read what is there; False at EOF (or error)."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if self.sink:
                self.after_exit += len(chunk)
                if self.after_exit >= SINK_BYTES:
                    return False
            if len(chunk) < 65536:
                return True

    def _readable(self) -> None:
        if not self._read():
            self.close()

    def finish(self) -> bytes:
        """The script exited: take what is in the pipe now; keep a sink if someone still holds the pipe."""
        if not self.closed and self._read():
            self.sink = True
            _Output.sinks.append(self)
            while len(_Output.sinks) > SINK_MAX:
                _Output.sinks.popleft().close()
        elif not self.closed:
            self.close()
        return bytes(self.data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sink:
            with contextlib.suppress(ValueError):
                _Output.sinks.remove(self)
        if not self.loop.is_closed():  # a sink can outlive its loop (tests run one loop each)
            self.loop.remove_reader(self.fd)
        os.close(self.fd)


# ---------------------------------------------------------------- the process


class _Process:
    """A started command: its pid (= its process group id) and a future of its exit status.

    The pidfd callback reaps the pid whatever happens to the coroutine waiting for it.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = self.loop.create_future()
        self.pidfd = os.pidfd_open(pid)
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

    def killpg(self, sig: int) -> bool:
        """Signal the whole group; False if it has no member left."""
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def _spawn(argv: Sequence[str], run_as: RunAs | None, wfd: int, env: dict[str, str]) -> int:
    """Start ``argv`` (synchronously, no await) and return its pid.

    Raises:
        OSError: it cannot be started (ENOENT, EACCES...).
    """
    switch = switches(run_as)
    setpriv = setpriv_path() if switch else None
    if switch and setpriv is None:
        assert run_as is not None
        # No trampoline: CPython forks (not vforks) to switch ids. Slower for the loop, same result.
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=wfd,
            stderr=wfd,
            env=env,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=list(run_as.groups),
            start_new_session=True,
            umask=SCRIPT_UMASK,
        )
        proc.returncode = 0  # we reap it ourselves (pidfd): keep Popen's destructor quiet
        return proc.pid
    if setpriv is not None:
        assert run_as is not None
        path, args = setpriv, setpriv_argv(setpriv, run_as, argv)
        spawn = os.posix_spawn
    else:
        path, args = argv[0], list(argv)
        spawn = os.posix_spawnp if "/" not in argv[0] else os.posix_spawn
    old = os.umask(SCRIPT_UMASK)  # inherited through the spawn; restored before anything else runs
    try:
        return spawn(
            path,
            args,
            env,
            setsid=True,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            setsigmask=(),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, wfd, 1),
                (os.POSIX_SPAWN_DUP2, wfd, 2),
            ],
        )
    finally:
        os.umask(old)


async def run(
    argv: Sequence[str],
    *,
    timeout: float,
    run_as: RunAs | None = None,
    grace: float = KILL_GRACE,
    output_limit: int = OUTPUT_LIMIT,
    env: Mapping[str, str] | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell) as ``run_as`` in a new session; wait at most ``timeout`` seconds.

    Args:
        argv: program and arguments; ``argv[0]`` is looked up in PATH if it has no '/'.
        timeout: seconds; then the group gets SIGTERM and, ``grace`` seconds later, SIGKILL.
        run_as: identity (:func:`vipd.health.identity.script_run_as`); None or ``user`` None = the daemon's own.
        grace: seconds between SIGTERM and SIGKILL.
        output_limit: bytes of stdout+stderr kept.
        env: environment (default: the daemon's), minus ``IFS``/``LD_PRELOAD``/``LD_LIBRARY_PATH``.
    Returns:
        a :class:`RunOutcome`; never raises for the command's own failures.
    Raises:
        asyncio.CancelledError: if cancelled; the group is killed with SIGKILL first (and the pid
            is still reaped by the loop).
    """
    if not argv:
        return RunOutcome(None, error="empty command")
    start = time.monotonic()
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(rfd, False)  # ours only: a script's writes to a full pipe must block, not fail with EAGAIN
    try:
        pid = _spawn(argv, run_as, wfd, script_env(env))
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        os.close(rfd)
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return RunOutcome(None, error=f"cannot run {argv[0]}: {why}", duration=time.monotonic() - start)
    finally:
        os.close(wfd)
    output = _Output(rfd, output_limit)
    proc = _Process(pid)
    timed_out = False
    try:
        try:
            await asyncio.wait_for(asyncio.shield(proc.exited), timeout)
        except TimeoutError:
            timed_out = True
            proc.killpg(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.exited), grace)
            proc.killpg(signal.SIGKILL)  # the leader if it ignored SIGTERM, and whatever is left in its group
        returncode = await asyncio.shield(proc.exited)
    except asyncio.CancelledError:
        proc.killpg(signal.SIGKILL)
        output.close()
        raise
    duration = time.monotonic() - start
    left = not timed_out and proc.killpg(0)
    data = output.finish().decode(errors="replace")
    trampoline = switches(run_as) and setpriv_path() is not None
    if trampoline and returncode in _TRAMPOLINE_FAILED and data.startswith("setpriv: "):
        assert run_as is not None
        why = data.strip().removeprefix("setpriv: ")
        return RunOutcome(None, data, error=f"cannot run {argv[0]} as {run_as.describe()}: {why}", duration=duration)
    return RunOutcome(returncode, data, timed_out, "", duration, left)
