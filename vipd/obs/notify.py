"""Notify hooks: keepalived's ``notify_*`` scripts and ``notify_fifo``, run in transition order.

(A little over 400 lines: the queue, its coalescing rule and the rule's reasoning belong together.)

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

**Coalescing.** When a transition is queued, every entry still waiting in the
queue (not the one running) becomes stale: its scripts (state-specific and
generic ``notify``) are skipped, logged and counted with result ``skipped``;
its FIFO line is still written, in order. So after B->M->B while a slow hook
runs, the queue runs ``notify_backup`` next, not a ``notify_master`` that would
start services on a node that is already backup again. The rule keeps what
keepalived guarantees and users rely on: the hooks of the state the instance is
in run, once per entry into it, after everything earlier (keepalived runs every
hook, at once and unordered; an ordered queue that ran stale hooks would make the
last state's hook up to 30 s late per stale entry, review finding 5). The
generic ``notify`` is coalesced like the state's own script because it is
mostly a dispatcher on ``$3`` doing the same work; the FIFO line is never
dropped: it is written without blocking and its readers keep a transition log.
A ``notify_master_rx_lower_pri`` event is made stale by any later transition
(the node is no longer the master that heard it); events never make transitions
stale.

Each script runs through the one runner, :func:`vipd.linux.spawn.run`: without a
shell (keepalived's ``</path`` form through ``/bin/sh -c``), as the user and
group the config names (``notify_* CMD USER [GROUP]``, else ``script_user``,
else ``keepalived_script`` if it exists, else root: :mod:`vipd.plan.scripts`,
the resolution ``vipd -t`` checks with, applied by :mod:`vipd.health.identity`), stdin /dev/null, stdout+stderr captured
(first 4 KiB logged), umask 022, in its own process group, waited on as a
process (pidfd), not through its pipes: a hook that starts ``helper &`` returns
at once and the helper keeps running. At its timeout (default
:data:`DEFAULT_TIMEOUT` seconds) the whole group gets SIGTERM, then SIGKILL
after :data:`KILL_GRACE` seconds. The exit status is logged and counted
(``vipd_notify_runs_total{kind,result}``, result ``ok``/``failed``/``timeout``/
``error``/``skipped``). A hook whose user does not exist (a reload without
preflight) is never run as anyone else: it is an ``error``.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vipd.fsm import LowerPriorityHeard, Notify, PriorityNotice, State
from vipd.health.identity import script_run_as
from vipd.linux.spawn import KILL_GRACE, RunOutcome, run
from vipd.obs.log import RateLimiter
from vipd.obs.recorder import InstanceRecorder
from vipd.obs.stats import InstanceStats
from vipd.plan.model import HookPlan
from vipd.plan.scripts import RunAs, resolve_identity

__all__ = [
    "DEFAULT_TIMEOUT",
    "KILL_GRACE",
    "Hook",
    "Hooks",
    "NotifyRunner",
    "fifo_line",
    "hooks_from_config",
    "hooks_from_plan",
]

log = logging.getLogger("vipd")

DEFAULT_TIMEOUT = 30.0
"""Seconds a notify script may run before its process group is killed (keepalived has no limit)."""

STDERR_LOG_BYTES = 4096
"""How much of a script's output is logged."""

STATE_WORD: dict[State, str] = {
    State.MASTER: "MASTER",
    State.BACKUP: "BACKUP",
    State.FAULT: "FAULT",
    State.INITIALIZE: "STOP",
}
"""The state word keepalived passes to ``notify`` and writes to the FIFO (INIT after shutdown is STOP)."""


@dataclass(frozen=True, slots=True)
class Hook:
    """One notify command and who runs it.

    Attributes:
        argv: the command (no shell).
        run_as: the identity (None = the daemon's own).
        error: why it cannot run (its user or group does not exist), else "": it is then
            reported as an ``error`` at each run and never run as anyone else.
    """

    argv: tuple[str, ...]
    run_as: RunAs | None = None
    error: str = ""


def _hook(value: Hook | Sequence[str] | None) -> Hook | None:
    if value is None or isinstance(value, Hook):
        return value
    return Hook(tuple(value))


@dataclass(frozen=True, slots=True)
class Hooks:
    """The notify commands of one instance (or sync group).

    Each command is a :class:`Hook`; a bare argv tuple is accepted and means "run as the daemon".

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

    master: Hook | None = None
    backup: Hook | None = None
    fault: Hook | None = None
    stop: Hook | None = None
    generic: Hook | None = None
    fifo: str | None = None
    deleted: Hook | None = None
    rx_lower_pri: Hook | None = None

    def __post_init__(self) -> None:
        for name in ("master", "backup", "fault", "stop", "generic", "deleted", "rx_lower_pri"):
            object.__setattr__(self, name, _hook(getattr(self, name)))

    def any(self) -> bool:
        """True if there is anything to run or write."""
        return any(
            (self.master, self.backup, self.fault, self.stop, self.generic, self.fifo, self.deleted, self.rx_lower_pri)
        )

    def for_state(self, state: State) -> Hook | None:
        """Return the state-specific hook for ``state``, or None."""
        return {
            State.MASTER: self.master,
            State.BACKUP: self.backup,
            State.FAULT: self.fault,
            State.INITIALIZE: self.stop,
        }[state]


_KEYWORDS = {
    "master": "notify_master",
    "backup": "notify_backup",
    "fault": "notify_fault",
    "stop": "notify_stop",
    "generic": "notify",
    "deleted": "notify_deleted",
    "rx_lower_pri": "notify_master_rx_lower_pri",
}
"""``Hooks`` field -> keepalived keyword."""


def _resolved(h: HookPlan) -> Hook:
    argv = ("/bin/sh", "-c", h.command) if h.shell else tuple(h.argv)
    try:
        # names already chosen by the planner's rule
        who = script_run_as(h.user, h.group, (None, None), supplementary=h.supplementary_groups)
    except LookupError as e:
        return Hook(argv, None, str(e))
    return Hook(argv, who if who.user is not None else None)


def hooks_from_plan(hooks: Mapping[str, HookPlan], fifo: str | None = None) -> Hooks:
    """Return the ``Hooks`` of an ``InstancePlan``/``SyncGroupPlan`` (``plan.hooks``: keyword -> HookPlan).

    Each hook runs as the user and group the planner chose for it, looked up now
    (:func:`vipd.health.identity.script_run_as`, the lookup the planner checked with); a
    user or group that has disappeared since gives a hook with ``error`` that never runs.
    keepalived's ``</path`` form runs through ``/bin/sh -c``.
    """
    fields = {f: _resolved(hooks[k]) for f, k in _KEYWORDS.items() if k in hooks}
    return Hooks(fifo=fifo, **fields)


def hooks_from_config(
    inst: Any, fifo: str | None = None, default: tuple[str | None, str | None] = (None, None)
) -> Hooks:
    """Return the ``Hooks`` of a ``VrrpInstance`` or ``SyncGroup`` model (missing keywords count as unset).

    Args:
        inst: the instance or sync group (its ``notify_*`` ``Script`` values, with ``user``/``group``).
        fifo: the global ``notify_fifo``.
        default: keepalived's default script identity (``Plan.script_default``); (None, None) = the daemon's.
    """
    plans: dict[str, HookPlan] = {}
    for keyword in _KEYWORDS.values():
        script = getattr(inst, keyword, None)
        if script is None:
            continue
        user, group = resolve_identity(script.user, script.group, default)
        shell = script.command.lstrip().startswith("<")
        plans[keyword] = HookPlan(tuple(script.argv), script.command, shell, user, group)
    return hooks_from_plan(plans, fifo)


PRIORITY_EVENTS = frozenset({"MASTER_PRIORITY", "BACKUP_PRIORITY"})
"""keepalived's FIFO words for a priority change (``notify_priority_changes``); no script runs for them."""


def fifo_line(kind: str, name: str, state: State | str, priority: int) -> str:
    """Return keepalived's ``notify_fifo`` line, e.g. ``INSTANCE "VI_1" MASTER 150\\n``.

    ``state`` is a ``State`` or one of keepalived's event words (``DELETED``, ``MASTER_RX_LOWER_PRI``).
    """
    word = state if isinstance(state, str) else STATE_WORD[state]
    return f'{kind} "{name}" {word} {priority}\n'


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


@dataclass(slots=True)
class _Job:
    new: State
    priority: int
    reason: str
    event: str | None = None  # keepalived event word instead of a state (MASTER_RX_LOWER_PRI)
    stale: bool = False  # a newer transition was queued before this one started: scripts skipped
    superseded_by: str = field(default="", repr=False)


class NotifyRunner:
    """One instance's (or sync group's) ordered notify queue, with stale entries coalesced.

    Call the runner with each ``Notify`` (it is the ``InstanceDriver.notifier``);
    it records the effective priority at that moment and returns at once. See the
    module docstring for the coalescing rule.

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
        self._queue: collections.deque[_Job | None] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._limiter = RateLimiter()
        self.recorder: InstanceRecorder | None = None
        """The instance's flight recorder (``vipd.obs.recorder``): each run is an event."""

    def __call__(self, n: Notify | LowerPriorityHeard | PriorityNotice) -> None:
        """Queue the hooks of transition ``n``, or of keepalived's MASTER_RX_LOWER_PRI event, or the FIFO
        line of a priority change (keepalived ``notify_priority_changes``: MASTER/BACKUP_PRIORITY); non-blocking."""
        if isinstance(n, PriorityNotice):
            if not self.hooks.fifo:
                return
            word = "MASTER_PRIORITY" if n.master else "BACKUP_PRIORITY"
            job = _Job(State.MASTER if n.master else State.BACKUP, n.priority, "priority_change", word)
        elif isinstance(n, LowerPriorityHeard):
            if not (self.hooks.rx_lower_pri or self.hooks.fifo):
                return
            job = _Job(State.MASTER, int(self.priority()), "lower_priority_heard", "MASTER_RX_LOWER_PRI")
        else:
            if not self.hooks.any():
                return
            job = _Job(n.new, int(self.priority()), n.reason)
            for queued in self._queue:  # not started yet: a newer transition makes them stale
                if queued is not None and not queued.stale:
                    queued.stale, queued.superseded_by = True, STATE_WORD[n.new]
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name=f"vipd-notify-{self.name}")
        self._queue.append(job)
        self._wake.set()

    @property
    def pending(self) -> int:
        """Transitions queued and not yet started."""
        return sum(1 for j in self._queue if j is not None)

    async def close(self, timeout: float | None = None) -> None:
        """Let queued hooks finish (each bounded by its own timeout), then stop.

        Args:
            timeout: overall seconds to wait before cancelling (default: no extra bound).
        """
        if self._task is None:
            return
        self._queue.append(None)
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            log.error("(%s) notify scripts still running at shutdown; abandoned", self.name)
        self._task = None

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            job = self._queue.popleft()
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
        if job.event in PRIORITY_EVENTS:  # keepalived send_instance_priority_notifies: the FIFO only
            word, specific, generic = job.event, None, None
        elif job.event is not None:  # keepalived send_event_notify: the event's script and the FIFO only
            word, specific, kind, generic = job.event, self.hooks.rx_lower_pri, "notify_master_rx_lower_pri", None
        elif job.new is State.INITIALIZE and job.reason == "deleted" and self.hooks.deleted:
            word, specific, kind = "DELETED", self.hooks.deleted, "notify_deleted"
        if job.stale:
            skipped = [k for k, h in ((kind, specific), ("notify", generic)) if h is not None]
            for k in skipped:
                self.stats.notify_runs[f"{k}:skipped"] += 1
            if skipped:
                log.info(
                    "(%s) %s for %s skipped: superseded by a later transition to %s",
                    self.name,
                    " and ".join(skipped),
                    word,
                    job.superseded_by,
                )
        else:
            if specific:
                await self._run(kind, specific)
            if generic:
                args = (*generic.argv, self.kind, self.name, word, str(job.priority))
                await self._run("notify", Hook(args, generic.run_as, generic.error))
        if self.hooks.fifo:
            why = write_fifo(self.hooks.fifo, fifo_line(self.kind, self.name, word, job.priority))
            self.stats.notify_runs[f"fifo:{'ok' if why is None else 'error'}"] += 1
            if why is not None:
                now = asyncio.get_running_loop().time()
                ok, suppressed = self._limiter.allow("fifo", now)
                if ok:
                    more = f" ({suppressed} similar suppressed)" if suppressed else ""
                    log.warning("(%s) notify_fifo %s: %s%s", self.name, self.hooks.fifo, why, more)

    async def _run(self, kind: str, hook: Hook) -> None:
        cmd = " ".join(hook.argv)
        if hook.error:
            r = RunOutcome(None, error=hook.error)
        else:
            r = await run(hook.argv, timeout=self.timeout, run_as=hook.run_as, output_limit=STDERR_LOG_BYTES)
        self.stats.notify_runs[f"{kind}:{r.result}"] += 1
        if self.recorder is not None:
            self.recorder.note(
                "hook",
                f"{kind} {r.result}" + (f" (exit {r.returncode})" if r.returncode is not None else ""),
                hook=kind,
                result=r.result,
                exit_status=r.returncode,
                duration=round(r.duration, 6),
            )
        who = f" as {hook.run_as.user}" if hook.run_as is not None else ""
        err = r.output.strip()
        tail = f"; output: {err}" if err else ""
        if r.error:
            log.error("(%s) %s cannot run %r%s: %s", self.name, kind, cmd, who, r.error)
        elif r.timed_out:
            log.error(
                "(%s) %s %r%s timed out after %.1fs; process group killed%s",
                self.name,
                kind,
                cmd,
                who,
                self.timeout,
                tail,
            )
        elif r.returncode != 0:
            log.warning(
                "(%s) %s %r%s exited with status %s in %.3fs%s",
                self.name,
                kind,
                cmd,
                who,
                r.returncode,
                r.duration,
                tail,
            )
        else:
            bg = "; left processes running in the background" if r.left_running else ""
            log.info("(%s) %s %r%s exited 0 in %.3fs%s%s", self.name, kind, cmd, who, r.duration, bg, tail)
