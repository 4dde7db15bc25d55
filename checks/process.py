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
keeps it) or the basename of ``argv[0]``. keepalived learns about processes
from the kernel's proc connector; vipd scans ``/proc`` every ``spec.interval``
seconds, yielding to the event loop every few entries so that a scan never
holds an advert back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import flag, integer, text

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


class ProcessCheck:
    """Counts matching processes once per ``run()``.

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
        self._reported: bool | None = None
        self._pending_since: float | None = None

    async def count(self) -> int:
        """Number of processes matching now (reads /proc, yielding to the loop)."""
        n = 0
        for i, entry in enumerate(os.scandir("/proc")):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
                with open(f"/proc/{entry.name}/comm", "rb") as f:
                    comm = f.read().decode(errors="replace").rstrip("\n")
            except OSError:
                continue
            if matches(argv, comm, self.name, self.args, self.param_match, self.full_command):
                n += 1
        return n

    async def run(self) -> CheckResult:
        """OK while the count is within quorum..quorum_max (after the configured delays)."""
        t0 = time.monotonic()
        n = await self.count()
        have = n >= self.quorum and (self.quorum_max is None or n <= self.quorum_max)
        now = time.monotonic()
        detail = f"{n} process(es) {self.name!r}, quorum {self.quorum}" + (
            f"..{self.quorum_max}" if self.quorum_max is not None else ""
        )
        if self._reported is None or have == self._reported:
            self._reported, self._pending_since = have, None
        else:
            delay = self.fork_delay if have else self.terminate_delay
            if self._pending_since is None:
                self._pending_since = now
            if now - self._pending_since >= delay:
                self._reported, self._pending_since = have, None
            else:
                detail += f" (change pending for {delay:g}s)"
        return CheckResult(self._reported, detail, now - t0)
