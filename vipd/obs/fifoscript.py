"""keepalived's FIFO readers and reload states: ``notify_fifo_script``, ``vrrp_notify_fifo_script``,
``fifo_write_vrrp_states_on_reload``.

keepalived (``notify.c`` ``fifo_open``/``fifo_close``), followed here:

* at start, each configured FIFO (``notify_fifo``, ``vrrp_notify_fifo``) is created
  if missing; if it has a script, the script is started with the FIFO's path as
  its last argument, as its user (``notify_fifo_script CMD [USER [GROUP]]``, else
  the default script user), and runs until vipd stops; then the daemon keeps the
  FIFO open read-write itself, so writes never fail for want of a reader and the
  script sees end-of-file only when the daemon closes it;
* at stop, a FIFO vipd created is unlinked first (a script that reopens it in a
  loop cannot find it again), the daemon's descriptor closed (the script reads
  EOF), and the script given :data:`EXIT_GRACE` seconds to leave before its
  process group is killed (keepalived's scripts get SIGTERM as its children);
* ``fifo_write_vrrp_states_on_reload``: after a reload every instance (and sync
  group) writes its current state line, ``INSTANCE "VI_1" MASTER 150``.

Writing the lines is :func:`vipd.obs.notify.write_fifo`'s job; this module only
owns the readers' lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vipd.fsm import State
from vipd.health.identity import RunAs, script_run_as
from vipd.linux.spawn import run
from vipd.obs.notify import fifo_line, write_fifo

if TYPE_CHECKING:
    from vipd.config.model import GlobalDefs, Script

log = logging.getLogger("vipd")

EXIT_GRACE = 2.0
"""Seconds a FIFO script has to exit after end-of-file at shutdown before its group is killed."""

FOREVER = 10.0 * 365 * 86400
"""keepalived runs FIFO scripts with TIMER_NEVER: "never" is ten years here."""


@dataclass
class _Reader:
    path: str
    created: bool
    fd: int | None
    task: asyncio.Task[object] | None


def fifo_pairs(g: GlobalDefs) -> list[tuple[str, Script | None]]:
    """The configured FIFOs with their reader scripts: (``notify_fifo``, ``notify_fifo_script``) and
    (``vrrp_notify_fifo``, ``vrrp_notify_fifo_script``); a script without its FIFO is dropped (keepalived too)."""
    out: list[tuple[str, Script | None]] = []
    for path, script in ((g.notify_fifo, g.notify_fifo_script), (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script)):
        if path:
            out.append((path, script))
    return out


class FifoScripts:
    """The FIFOs vipd writes to and the scripts that read them, from start to stop.

    Use ``fs = FifoScripts(); fs.start(global_defs, default_user)`` once the daemon
    runs and ``await fs.close()`` after the last notify is written. Never raises:
    every failure is logged (a FIFO reader is not worth refusing failover for).
    """

    def __init__(self) -> None:
        self._readers: list[_Reader] = []

    def start(self, g: GlobalDefs, default: tuple[str | None, str | None] = (None, None)) -> None:
        """Create the FIFOs, start their scripts, hold each FIFO open (keepalived ``fifo_open``).

        Args:
            g: the ``global_defs`` block.
            default: the plan's default script identity (``script_user``...).
        """
        loop = asyncio.get_running_loop()
        for path, script in fifo_pairs(g):
            created = False
            try:
                os.mkfifo(path, 0o600)
                created = True
            except FileExistsError:
                pass
            except OSError as e:
                log.error("cannot create notify FIFO %s: %s", path, e.strerror)
                continue
            task = None
            if script is not None:
                try:
                    who = script_run_as(script.user, script.group, default, supplementary=g.set_supplementary_groups)
                except LookupError as e:
                    log.error("notify FIFO script %s for %s cannot run: %s", script.command, path, e)
                else:
                    argv = [*(["/bin/sh", "-c", script.command] if script.needs_shell else script.argv), path]
                    run_as = who if who.user is not None else None
                    task = loop.create_task(self._watch(argv, run_as), name=f"vipd-fifo-script-{path}")
            fd = self._open(path)
            self._readers.append(_Reader(path, created, fd, task))

    @staticmethod
    def _open(path: str) -> int | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as e:
            log.error("cannot open notify FIFO %s: %s", path, e.strerror)
            return None
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            log.error("notify FIFO %s is not a FIFO: not used", path)
            os.close(fd)
            return None
        return fd

    @staticmethod
    async def _watch(argv: list[str], run_as: RunAs | None) -> object:
        log.info("started notify FIFO script %s", " ".join(argv))
        out = await run(argv, timeout=FOREVER, run_as=run_as)
        if out.error:
            log.error("notify FIFO script %s: %s", argv[0], out.error)
        else:
            log.info("notify FIFO script %s exited with status %s", argv[0], out.returncode)
        return out

    async def close(self) -> None:
        """Unlink the FIFOs vipd created, close them (EOF to the scripts), wait, then kill what is left."""
        for r in self._readers:
            if r.created:
                with contextlib.suppress(OSError):
                    os.unlink(r.path)
            if r.fd is not None:
                os.close(r.fd)
                r.fd = None
        tasks = [r.task for r in self._readers if r.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=EXIT_GRACE)
            for t in pending:
                log.warning(
                    "notify FIFO script still running %.0fs after end-of-file: process group killed", EXIT_GRACE
                )
                t.cancel()  # spawn.run kills the process group with SIGKILL and reaps it
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        self._readers.clear()


def write_states(g: GlobalDefs, rows: Iterable[tuple[str, str, State | str, int]]) -> int:
    """keepalived ``fifo_write_vrrp_states_on_reload``: write each ``(kind, name, STATE, priority)`` row
    (``("INSTANCE", "VI_1", "MASTER", 150)``) to every configured FIFO. Returns the lines written."""
    written = 0
    for path, _ in fifo_pairs(g):
        for kind, name, word, priority in rows:
            why = write_fifo(path, fifo_line(kind, name, word, priority))
            if why is None:
                written += 1
            else:
                log.warning("notify FIFO %s: %s", path, why)
    return written
