"""Notify hooks: keepalived's ``notify_*`` scripts and ``notify_fifo``, run in transition order.

keepalived forks notify scripts and forgets them, so a slow ``notify_backup`` can
finish after a later ``notify_master`` (keepalived-user-pain.md row 3). vipd runs
the hooks of one instance from one queue: a later transition's script never
starts before the earlier one has exited or been killed at its timeout. The
queue is fed from the instance's effect worker after the transition's address
changes, so a script sees the VIPs already added or removed, and a script never
delays an advert or a timer (scripts run beside the state machine, not in it).

Per transition, in keepalived's order: the state's own script
(``notify_master``/``notify_backup``/``notify_fault``/``notify_stop``), then the
generic ``notify`` with the arguments ``INSTANCE NAME STATE PRIORITY`` appended
(``GROUP NAME STATE PRIORITY`` for a sync group), then one line to the
``notify_fifo`` (``INSTANCE "NAME" STATE PRIORITY``).

Each script runs without a shell (argv as split by the config parser; keepalived's
``</path`` form through ``/bin/sh -c``), stdin from /dev/null, stdout discarded,
stderr captured (first 4 KiB logged), in its own process group. At its timeout
(default :data:`DEFAULT_TIMEOUT` seconds) the whole group gets SIGTERM, then
SIGKILL after :data:`KILL_GRACE` seconds. The exit status is logged and counted
(``vipd_notify_runs_total{kind,result}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vipd.fsm import LowerPriorityHeard, Notify, State
from vipd.obs.log import RateLimiter
from vipd.obs.stats import InstanceStats

log = logging.getLogger("vipd")

DEFAULT_TIMEOUT = 30.0
"""Seconds a notify script may run before its process group is killed (keepalived has no limit)."""

KILL_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL to a timed-out script's process group."""

STDERR_LOG_BYTES = 4096
"""How much of a script's stderr is logged."""

STATE_WORD: dict[State, str] = {
    State.MASTER: "MASTER",
    State.BACKUP: "BACKUP",
    State.FAULT: "FAULT",
    State.INITIALIZE: "STOP",
}
"""The state word keepalived passes to ``notify`` and writes to the FIFO (INIT after shutdown is STOP)."""


class ScriptLike(Protocol):
    """What the notify runner needs from the config model's ``Script``."""

    @property
    def command(self) -> str: ...

    @property
    def argv(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Hooks:
    """The notify commands of one instance (or sync group), as argv lists.

    Attributes:
        master, backup, fault, stop: keepalived ``notify_master`` ... ``notify_stop``.
        generic: keepalived ``notify``; gets ``KIND NAME STATE PRIORITY`` appended.
        fifo: keepalived ``notify_fifo`` path (global), or None.
        deleted: keepalived ``notify_deleted``: run instead of ``notify_stop`` when a
            reload removes the instance; ``notify`` and the FIFO then say DELETED.
        rx_lower_pri: keepalived ``notify_master_rx_lower_pri``: run when the master
            hears a lower-priority advert (at most once a second); the FIFO gets
            ``MASTER_RX_LOWER_PRI``; the generic ``notify`` is not run (keepalived
            ``send_event_notify``).
    """

    master: tuple[str, ...] | None = None
    backup: tuple[str, ...] | None = None
    fault: tuple[str, ...] | None = None
    stop: tuple[str, ...] | None = None
    generic: tuple[str, ...] | None = None
    fifo: str | None = None
    deleted: tuple[str, ...] | None = None
    rx_lower_pri: tuple[str, ...] | None = None

    def any(self) -> bool:
        """True if there is anything to run or write."""
        return any(
            (self.master, self.backup, self.fault, self.stop, self.generic, self.fifo, self.deleted, self.rx_lower_pri)
        )

    def for_state(self, state: State) -> tuple[str, ...] | None:
        """Return the state-specific command for ``state``, or None."""
        return {
            State.MASTER: self.master,
            State.BACKUP: self.backup,
            State.FAULT: self.fault,
            State.INITIALIZE: self.stop,
        }[state]


def script_argv(script: ScriptLike | None) -> tuple[str, ...] | None:
    """Return the argv to execute for a config ``Script``; keepalived's ``</path`` form goes through ``/bin/sh``."""
    if script is None:
        return None
    if script.command.lstrip().startswith("<"):
        return ("/bin/sh", "-c", script.command)
    return tuple(script.argv)


def hooks_from_config(inst: Any, fifo: str | None = None) -> Hooks:
    """Return the ``Hooks`` of a ``VrrpInstance`` or ``SyncGroup`` (missing keywords count as unset)."""

    def get(name: str) -> tuple[str, ...] | None:
        return script_argv(getattr(inst, name, None))

    return Hooks(
        master=get("notify_master"),
        backup=get("notify_backup"),
        fault=get("notify_fault"),
        stop=get("notify_stop"),
        generic=get("notify"),
        fifo=fifo,
        deleted=get("notify_deleted"),
        rx_lower_pri=get("notify_master_rx_lower_pri"),
    )


def fifo_line(kind: str, name: str, state: State | str, priority: int) -> str:
    """Return keepalived's ``notify_fifo`` line, e.g. ``INSTANCE "VI_1" MASTER 150\\n``.

    ``state`` is a ``State`` or one of keepalived's event words (``DELETED``, ``MASTER_RX_LOWER_PRI``).
    """
    word = state if isinstance(state, str) else STATE_WORD[state]
    return f'{kind} "{name}" {word} {priority}\n'


@dataclass(frozen=True, slots=True)
class RunResult:
    """Outcome of one script run.

    Attributes:
        returncode: exit status (negative: killed by that signal), None if it never started.
        timed_out: it was killed at its timeout.
        stderr: the first bytes of its stderr.
        duration: seconds from start to exit.
        error: why it could not start (``OSError`` text), else "".
    """

    returncode: int | None
    timed_out: bool
    stderr: bytes
    duration: float
    error: str = ""

    @property
    def result(self) -> str:
        """``ok``, ``failed`` (non-zero exit), ``timeout`` or ``error`` (could not start)."""
        if self.error:
            return "error"
        if self.timed_out:
            return "timeout"
        return "ok" if self.returncode == 0 else "failed"


async def run_script(argv: Sequence[str], timeout: float, grace: float = KILL_GRACE) -> RunResult:
    """Run ``argv`` in its own process group; kill the group at ``timeout`` seconds.

    Never raises for the script's own failures: they are in the result.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        return RunResult(None, False, b"", 0.0, e.strerror or str(e))
    assert proc.stderr is not None
    reader = asyncio.ensure_future(proc.stderr.read(STDERR_LOG_BYTES))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                await asyncio.wait_for(proc.wait(), wait)
                break
            except TimeoutError:
                continue
    await proc.wait()
    # A background grandchild may hold stderr open: do not wait for EOF beyond a moment.
    err = b""
    try:
        err = await asyncio.wait_for(asyncio.shield(reader), 0.2)
    except TimeoutError:
        reader.cancel()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers that left the leader
    return RunResult(proc.returncode, timed_out, err, loop.time() - start)


def write_fifo(path: str, line: str) -> str | None:
    """Write one line to the FIFO at ``path`` without blocking; create it (0600) if missing.

    Returns:
        None when written, else why not (no reader, pipe full, not a FIFO...).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISFIFO(st.st_mode):
            return f"{path} is not a FIFO"
    except FileNotFoundError:
        try:
            os.mkfifo(path, 0o600)
        except OSError as e:
            return f"cannot create {path}: {e.strerror}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return "no reader on the FIFO" if e.errno == errno.ENXIO else f"cannot open {path}: {e.strerror}"
    try:
        os.write(fd, line.encode())
    except BlockingIOError:
        return "FIFO full: reader too slow"
    except OSError as e:
        return f"write to {path} failed: {e.strerror}"
    finally:
        os.close(fd)
    return None


@dataclass(frozen=True, slots=True)
class _Job:
    new: State
    priority: int
    reason: str
    event: str | None = None  # keepalived event word instead of a state (MASTER_RX_LOWER_PRI)


class NotifyRunner:
    """One instance's (or sync group's) ordered notify queue.

    Call the runner with each ``Notify`` (it is the ``InstanceDriver.notifier``);
    it records the effective priority at that moment and returns at once.

    Args:
        name: instance or group name.
        hooks: what to run.
        priority: callable returning the current effective priority.
        kind: ``"INSTANCE"`` or ``"GROUP"`` (keepalived's first argument to ``notify``).
        timeout: seconds per script (default :data:`DEFAULT_TIMEOUT`).
        stats: counters (``notify_runs`` by ``kind:result``).
    """

    def __init__(
        self,
        name: str,
        hooks: Hooks,
        priority: Any,
        *,
        kind: str = "INSTANCE",
        timeout: float = DEFAULT_TIMEOUT,
        stats: InstanceStats | None = None,
    ) -> None:
        self.name = name
        self.hooks = hooks
        self.kind = kind
        self.timeout = timeout
        self.stats = stats or InstanceStats()
        self.priority = priority
        """Callable returning the effective priority (replaced on reload)."""
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._limiter = RateLimiter()

    def __call__(self, n: Notify | LowerPriorityHeard) -> None:
        """Queue the hooks of transition ``n``, or of keepalived's MASTER_RX_LOWER_PRI event (non-blocking)."""
        if isinstance(n, LowerPriorityHeard):
            if not (self.hooks.rx_lower_pri or self.hooks.fifo):
                return
            job = _Job(State.MASTER, int(self.priority()), "lower_priority_heard", "MASTER_RX_LOWER_PRI")
        else:
            if not self.hooks.any():
                return
            job = _Job(n.new, int(self.priority()), n.reason)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name=f"vipd-notify-{self.name}")
        self._queue.put_nowait(job)

    @property
    def pending(self) -> int:
        """Transitions queued and not yet finished."""
        return self._queue.qsize()

    async def close(self, timeout: float | None = None) -> None:
        """Let queued hooks finish (each bounded by its own timeout), then stop.

        Args:
            timeout: overall seconds to wait before cancelling (default: no extra bound).
        """
        if self._task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            log.error("(%s) notify scripts still running at shutdown; abandoned", self.name)
        self._task = None

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            try:
                await self._run_job(job)
            except Exception:  # a bug here must not stop later notifications
                log.exception("(%s) notify failed", self.name)

    async def _run_job(self, job: _Job) -> None:
        word = STATE_WORD[job.new]
        specific = self.hooks.for_state(job.new)
        kind = f"notify_{word.lower()}"
        generic = self.hooks.generic
        if job.event is not None:  # keepalived send_event_notify: the event's script and the FIFO only
            word, specific, kind, generic = job.event, self.hooks.rx_lower_pri, "notify_master_rx_lower_pri", None
        elif job.new is State.INITIALIZE and job.reason == "deleted" and self.hooks.deleted:
            word, specific, kind = "DELETED", self.hooks.deleted, "notify_deleted"
        if specific:
            await self._run(kind, specific)
        if generic:
            await self._run("notify", (*generic, self.kind, self.name, word, str(job.priority)))
        if self.hooks.fifo:
            why = write_fifo(self.hooks.fifo, fifo_line(self.kind, self.name, word, job.priority))
            self.stats.notify_runs[f"fifo:{'ok' if why is None else 'error'}"] += 1
            if why is not None:
                now = asyncio.get_running_loop().time()
                ok, suppressed = self._limiter.allow("fifo", now)
                if ok:
                    more = f" ({suppressed} similar suppressed)" if suppressed else ""
                    log.warning("(%s) notify_fifo %s: %s%s", self.name, self.hooks.fifo, why, more)

    async def _run(self, kind: str, argv: Sequence[str]) -> None:
        r = await run_script(argv, self.timeout)
        self.stats.notify_runs[f"{kind}:{r.result}"] += 1
        cmd = " ".join(argv)
        err = r.stderr.decode(errors="replace").strip()
        tail = f"; stderr: {err}" if err else ""
        if r.error:
            log.error("(%s) %s cannot run %r: %s", self.name, kind, cmd, r.error)
        elif r.timed_out:
            log.error(
                "(%s) %s %r timed out after %.1fs; process group killed%s", self.name, kind, cmd, self.timeout, tail
            )
        elif r.returncode != 0:
            log.warning(
                "(%s) %s %r exited with status %s in %.3fs%s", self.name, kind, cmd, r.returncode, r.duration, tail
            )
        else:
            log.info("(%s) %s %r exited 0 in %.3fs%s", self.name, kind, cmd, r.duration, tail)
