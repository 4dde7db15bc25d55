"""``process``: keepalived's ``vrrp_track_process`` — how many processes match, against a quorum.

Options (from ``vrrp_track_process``): ``process`` (name, required), ``args``
(list), ``param_match`` (``None`` exact, ``initial``: the configured arguments
are the first ones of the process, ``partial``: as ``initial`` and the last
configured one may be a prefix of the process's), ``full_command`` (match
``process`` against the whole ``argv[0]`` rather than the process name),
``quorum`` (default 1), ``quorum_max`` (default none), ``delay``,
``terminate_delay``, ``fork_delay`` (seconds a change must persist before it is
reported: ``terminate_delay`` for losing the quorum, ``fork_delay`` for gaining
it; each defaults to ``delay``).

The name is matched against ``/proc/PID/comm`` (15 characters, as the kernel
keeps it) or the basename of ``argv[0]``.

Event-driven, as keepalived: one scan of ``/proc`` when the check starts, then
the kernel's process connector (:mod:`vipd.linux.procevents`) keeps the set of
matching processes: a fork of a matching process adds the child, an exec or a
``comm`` change re-reads that one process, an exit removes it. A verdict change
is reported from the event's reader callback, so it reaches the instance in the
same loop iteration; no ``/proc`` scan runs on the advert loop (only a rescan
after the kernel reports lost events). Threads (pid != tgid) are not processes
and are ignored. Where the connector cannot be had (no CAP_NET_ADMIN, another
PID namespace, no ``CONFIG_PROC_EVENTS``), the check logs why and scans
``/proc`` every ``spec.interval`` seconds instead, yielding to the loop every
few entries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence

from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd.linux.procevents import (
    PROC_EVENT_COMM,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
    RESYNC,
    ProcEvent,
    ProcEvents,
)

from ._options import flag, integer, text

log = logging.getLogger("vipd")

YIELD_EVERY = 32
"""/proc entries read between two yields to the loop."""


def matches(
    argv: Sequence[str], comm: str, name: str, args: Sequence[str], param_match: str | None, full_command: bool
) -> bool:
    """Whether one process (its ``argv`` and ``comm``) matches the configured name/arguments."""
    if full_command:
        if not argv or argv[0] != name:
            return False
    elif comm != name[:15] and not (argv and os.path.basename(argv[0]) == name):
        return False
    if not args and param_match is None:
        return True
    actual = list(argv[1:])
    if param_match is None:
        return actual == list(args)
    if len(actual) < len(args):
        return False
    head = actual[: len(args)]
    if param_match == "initial":
        return head == list(args)
    return head[:-1] == list(args[:-1]) and head[-1].startswith(args[-1])


def read_process(pid: int) -> tuple[list[str], str] | None:
    """``(argv, comm)`` of process ``pid`` from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
        with open(f"/proc/{pid}/comm", "rb") as f:
            comm = f.read().decode(errors="replace").rstrip("\n")
    except OSError:
        return None
    return argv, comm


_last_read: list[tuple[tuple[int, float], tuple[list[str], str] | None]] = []
"""The /proc read of the event being dispatched: ten process trackers read an exec's process once."""


def read_for_event(ev: ProcEvent) -> tuple[list[str], str] | None:
    """:func:`read_process` of ``ev.tgid``, shared by every check that sees the same event."""
    key = (ev.tgid, ev.timestamp)
    if _last_read and _last_read[0][0] == key:
        return _last_read[0][1]
    proc = read_process(ev.tgid)
    _last_read[:] = [(key, proc)]
    return proc


class ProcessCheck:
    """Keeps the set of matching processes from process events and reports the quorum verdict.

    Attributes:
        pids: the matching processes (tgids) now.
        mode: ``"events"`` (process connector) or ``"scan"`` (fallback), for status and tests.

    Raises (constructor):
        ValueError: bad options.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        self.name = text(spec, "process")
        raw_args = spec.options.get("args") or []
        self.args = [str(a) for a in raw_args] if isinstance(raw_args, list | tuple) else str(raw_args).split()
        pm = spec.options.get("param_match")
        self.param_match = str(pm) if pm else None
        if self.param_match not in (None, "initial", "partial"):
            raise ValueError(f"process check {spec.name}: param_match must be initial or partial")
        self.full_command = flag(spec, "full_command", False)
        self.quorum = integer(spec, "quorum", 1, hi=65535)
        qmax = spec.options.get("quorum_max")
        self.quorum_max = integer(spec, "quorum_max", hi=65535) if qmax is not None else None
        delay = float(str(spec.options.get("delay") or 0))
        td, fd = spec.options.get("terminate_delay"), spec.options.get("fork_delay")
        self.terminate_delay = float(str(td)) if td is not None else delay
        self.fork_delay = float(str(fd)) if fd is not None else delay
        self.interval = spec.interval if spec.interval > 0 else 1.0
        self.pids: set[int] = set()
        self.mode = "starting"
        self._scan_set: set[int] | None = None
        self._reported: bool | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._report: Callable[[CheckResult], None] | None = None
        self._rescan: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ matching

    def _matches(self, pid: int, proc: tuple[list[str], str] | None = None) -> bool:
        if proc is None:
            proc = read_process(pid)
        return proc is not None and matches(proc[0], proc[1], self.name, self.args, self.param_match, self.full_command)

    async def scan(self) -> set[int]:
        """The matching processes now, from a full /proc scan (yielding to the loop every few entries).

        Events that arrive while the scan yields are applied to the result too,
        so a process that exits during the scan is not counted.
        """
        found: set[int] = set()
        self._scan_set = found
        try:
            for i, entry in enumerate(os.scandir("/proc")):
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)
                if entry.name.isdigit() and self._matches(int(entry.name)):
                    found.add(int(entry.name))
        finally:
            self._scan_set = None
        return found

    async def count(self) -> int:
        """Number of processes matching now (one /proc scan)."""
        return len(await self.scan())

    # ------------------------------------------------------------------ verdict

    def _have(self) -> bool:
        n = len(self.pids)
        return n >= self.quorum and (self.quorum_max is None or n <= self.quorum_max)

    def _result(self, pending: float | None = None) -> CheckResult:
        assert self._reported is not None
        detail = f"{len(self.pids)} process(es) {self.name!r}, quorum {self.quorum}" + (
            f"..{self.quorum_max}" if self.quorum_max is not None else ""
        )
        if pending is not None:
            detail += f" (change pending for {pending:g}s)"
        return CheckResult(self._reported, detail)

    def _evaluate(self) -> None:
        """Report the verdict now, or after fork_delay/terminate_delay if it changed and a delay is set."""
        have = self._have()
        if self._reported is None or have == self._reported:
            self._reported = have
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            self._emit(self._result())
            return
        delay = self.fork_delay if have else self.terminate_delay
        if delay <= 0:
            self._reported = have
            self._emit(self._result())
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(delay, self._settle)
            self._emit(self._result(delay))

    def _settle(self) -> None:
        self._pending = None
        self._reported = self._have()
        self._emit(self._result())

    def _emit(self, result: CheckResult) -> None:
        if self._report is not None:
            self._report(result)

    # ------------------------------------------------------------------ events

    def _on_event(self, ev: ProcEvent) -> None:
        """Apply one connector event (runs in the loop's reader callback)."""
        if ev.what == RESYNC:
            if self._rescan is None or self._rescan.done():
                self._rescan = asyncio.get_running_loop().create_task(self._resync())
            return
        if ev.pid != ev.tgid:  # a thread, not a process
            return
        views = [self.pids] if self._scan_set is None else [self.pids, self._scan_set]
        before = len(self.pids)
        if ev.what == PROC_EVENT_EXIT:
            for v in views:
                v.discard(ev.tgid)
        elif ev.what == PROC_EVENT_FORK:
            # a new process is a copy of its parent until it execs
            for v in views:
                if ev.parent_tgid in v:
                    v.add(ev.tgid)
        elif ev.what in (PROC_EVENT_EXEC, PROC_EVENT_COMM):
            proc = read_for_event(ev)  # this one process's cmdline and comm, read once per event
            hit = proc is not None and self._matches(ev.tgid, proc)
            for v in views:
                if hit:
                    v.add(ev.tgid)
                else:
                    v.discard(ev.tgid)
        if len(self.pids) != before and self._scan_set is None:
            self._evaluate()

    async def _resync(self) -> None:
        self.pids = await self.scan()
        self._evaluate()

    async def run(self) -> CheckResult:
        """One scan and the quorum verdict without delays (for one-off use; the tracker uses :meth:`watch`)."""
        t0 = time.monotonic()
        self.pids = await self.scan()
        self._reported = self._have()
        return CheckResult(self._reported, self._result().output, time.monotonic() - t0)

    async def watch(self, report: Callable[[CheckResult], None]) -> None:
        """Scan once and report, then report every verdict change from process events, until cancelled."""
        self._report = report
        try:
            hub: ProcEvents | None = ProcEvents.acquire(self._on_event)
            self.mode = "events"
        except OSError as e:
            hub = None
            self.mode = "scan"
            log.warning(
                "process %s: no process connector (%s); scanning /proc every %gs", self.spec.name, e, self.interval
            )
        try:
            self.pids = await self.scan()  # subscribed first: nothing that happens during the scan is lost
            self._evaluate()
            while True:
                if hub is not None:
                    await asyncio.get_running_loop().create_future()  # until cancelled
                await asyncio.sleep(self.interval)
                self.pids = await self.scan()
                self._evaluate()
        finally:
            self._report = None
            if self._pending is not None:
                self._pending.cancel()
            if self._rescan is not None:
                self._rescan.cancel()
            if hub is not None:
                hub.release(self._on_event)
