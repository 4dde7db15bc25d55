"""Every signal keepalived's users send, with keepalived's meaning, installed from one place.

keepalived's numbers (lib/signals.h, ``keepalived --signum=NAME``):

======================  ==============  ==============================================
signal                  number (glibc)  vipd, as keepalived
======================  ==============  ==============================================
SIGHUP                  1               RELOAD: re-read the config, apply the diff
SIGINT, SIGTERM         2, 15           STOP: priority 0 where master, remove VIPs, exit
SIGUSR1                 10              DATA: write keepalived.data
SIGUSR2                 12              STATS: write keepalived.stats
SIGJSON = SIGRTMIN+2    36              JSON: write keepalived.json (exporters' JSON mode)
SIGSTATS_CLEAR          63              STATS_CLEAR: write keepalived.stats, then zero
  = SIGRTMAX-1                          every instance's counters
SIGTDUMP = SIGRTMAX     64              TDUMP: log the daemon's asyncio tasks
======================  ==============  ==============================================

Any other real-time signal, and SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO,
SIGPWR, SIGSTKFLT, SIGXCPU, SIGXFSZ (whose default action would kill vipd) are
caught and logged, never fatal. They get a handler, not ``SIG_IGN``, so scripts
started by vipd get the default dispositions back at ``exec``. SIGQUIT, SIGABRT
and the fault signals keep their default: an operator sending SIGQUIT means it.
SIGCHLD keeps asyncio's handling.

The handlers only schedule work on the loop (``loop.add_signal_handler``); the
work itself (reload, dump files) is the caller's, passed as :class:`Actions`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vipd.obs.dumpfiles import DATA, JSON, STATS, DumpWriter

if TYPE_CHECKING:
    from vipd.obs.status import Snapshot

log = logging.getLogger("vipd")

SIGJSON = signal.SIGRTMIN + 2
"""keepalived's SIGJSON (36 with glibc): write the JSON dump."""
SIGSTATS_CLEAR = signal.SIGRTMAX - 1
"""keepalived's STATS_CLEAR (63 with glibc): write the stats file, then clear the counters."""
SIGTDUMP = signal.SIGRTMAX
"""keepalived's TDUMP (64 with glibc): keepalived dumps its threads; vipd logs its tasks."""

CAUGHT_AND_LOGGED: tuple[int, ...] = tuple(
    s
    for s in (
        signal.SIGPIPE,
        signal.SIGALRM,
        signal.SIGVTALRM,
        signal.SIGPROF,
        signal.SIGIO,
        signal.SIGPWR,
        signal.SIGSTKFLT,
        signal.SIGXCPU,
        signal.SIGXFSZ,
    )
)
"""Signals whose default action would terminate vipd and that mean nothing to it: logged, ignored."""

KEEPALIVED_NAMES: dict[str, int] = {
    "STOP": signal.SIGTERM,
    "RELOAD": signal.SIGHUP,
    "DATA": signal.SIGUSR1,
    "STATS": signal.SIGUSR2,
    "STATS_CLEAR": SIGSTATS_CLEAR,
    "JSON": SIGJSON,
    "TDUMP": SIGTDUMP,
}
"""``keepalived --signum=NAME`` answers (keepalived lib/signals.c ``get_signum``)."""


def signum(name: str) -> int:
    """The signal number ``keepalived --signum=NAME`` prints (e.g. ``JSON`` -> 36).

    Raises:
        KeyError: unknown name.
    """
    return KEEPALIVED_NAMES[name.upper()]


@dataclass(frozen=True, slots=True)
class Actions:
    """What each signal does; every callable runs on the loop and must not raise.

    Attributes:
        reload: SIGHUP.
        write_data / write_stats / write_json: SIGUSR1 / SIGUSR2 / SIGJSON.
        clear_stats: STATS_CLEAR: write the stats file, then zero the counters.
        stop: SIGTERM/SIGINT, or None to leave them to their current owner.
    """

    reload: Callable[[], None]
    write_data: Callable[[], None]
    write_stats: Callable[[], None]
    write_json: Callable[[], None]
    clear_stats: Callable[[], None]
    stop: Callable[[int], None] | None = None


def _guard(name: str, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # a handler's bug must never take the daemon down
            log.exception("handling %s failed", name)

    return run


def _stats_clear(actions: Actions) -> None:
    log.info("received STATS_CLEAR: writing the stats file and clearing the counters")
    actions.clear_stats()


def _tdump() -> None:
    tasks = sorted(t.get_name() for t in asyncio.all_tasks())
    log.info("received TDUMP: %d asyncio task(s): %s", len(tasks), ", ".join(tasks))


def _ignored(sig: int) -> None:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"SIGRTMIN+{sig - signal.SIGRTMIN}"
    log.info("received %s (%d): nothing to do, ignored", name, sig)


def handlers(actions: Actions) -> dict[int, Callable[[], None]]:
    """The full table: signal number -> handler (what :func:`install` installs)."""
    table: dict[int, Callable[[], None]] = {}
    for sig in (*CAUGHT_AND_LOGGED, *range(signal.SIGRTMIN, signal.SIGRTMAX + 1)):
        table[sig] = _guard(str(sig), functools.partial(_ignored, sig))
    table[signal.SIGHUP] = _guard("SIGHUP", actions.reload)
    table[signal.SIGUSR1] = _guard("SIGUSR1", actions.write_data)
    table[signal.SIGUSR2] = _guard("SIGUSR2", actions.write_stats)
    table[SIGJSON] = _guard("SIGJSON", actions.write_json)
    table[SIGSTATS_CLEAR] = _guard("STATS_CLEAR", lambda: _stats_clear(actions))
    table[SIGTDUMP] = _guard("TDUMP", _tdump)
    if actions.stop is not None:
        stop = actions.stop
        for sig in (signal.SIGTERM, signal.SIGINT):
            table[sig] = _guard(signal.Signals(sig).name, functools.partial(stop, sig))
    return table


Installed = dict[int, Any]
"""Signal number -> the disposition it had before :func:`install` (what :func:`uninstall` restores)."""


def install(loop: asyncio.AbstractEventLoop, actions: Actions) -> Installed:
    """Install every handler of :func:`handlers` on ``loop``; return what was replaced.

    A signal the platform refuses (``ValueError``/``RuntimeError`` from
    ``add_signal_handler``) is skipped with a debug line.
    """
    done: Installed = {}
    for sig, fn in handlers(actions).items():
        before = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, fn)
        except (ValueError, RuntimeError, OSError) as e:
            log.debug("cannot handle signal %d: %s", sig, e)
            continue
        done[sig] = before
    return done


def uninstall(loop: asyncio.AbstractEventLoop, installed: Installed) -> None:
    """Remove the handlers :func:`install` put on ``loop`` and restore the previous dispositions.

    (asyncio alone would leave ``SIG_DFL``: SIGPIPE, which Python ignores, would then kill
    the process at the first write to a closed pipe during shutdown.)
    """
    for sig, before in installed.items():
        loop.remove_signal_handler(sig)
        if before is not None:
            signal.signal(sig, before)


def dump_actions(
    *,
    snapshot: Callable[[], Snapshot],
    writer: DumpWriter,
    reload: Callable[[], None],
    json_version: int = 1,
    stop: Callable[[int], None] | None = None,
) -> Actions:
    """keepalived's actions over a daemon's :class:`~vipd.obs.status.Snapshot` and a :class:`DumpWriter`.

    Args:
        snapshot: the current snapshot (its rows share the live counters, which
            STATS_CLEAR zeroes in place).
        writer: where the files go.
        reload: starts a reload (SIGHUP).
        json_version: keepalived ``json_version`` (1 or 2).
        stop: SIGTERM/SIGINT, or None.
    """

    # the renderers load on the first signal that needs them, not at start-up
    @_coalesced
    def data() -> None:
        from vipd.obs.status import render_data_file

        _logged(writer.write(DATA, render_data_file(snapshot().instances)))

    def stats_now() -> None:
        from vipd.obs.status import render_stats_file

        _logged(writer.write(STATS, render_stats_file(snapshot().instances)))

    stats = _coalesced(stats_now)

    @_coalesced
    def json_dump() -> None:
        from vipd.obs.kajson import render_json_file

        _logged(writer.write(JSON, render_json_file(snapshot().instances, version=json_version)))

    @_coalesced
    def clear() -> None:
        stats_now()  # keepalived vrrp_print_stats(clear): print, then zero
        for row in snapshot().instances:
            row.stats.clear()

    return Actions(
        reload=reload, write_data=data, write_stats=stats, write_json=json_dump, clear_stats=clear, stop=stop
    )


MIN_DUMP_INTERVAL = 1.0
"""Seconds between two writes of the same dump file: a burst of signals (real-time ones queue)
gives one write now and at most one more at the end of the interval, so rendering 255
instances (~10-50 ms each) cannot be repeated back to back on the loop."""


def _coalesced(fn: Callable[[], None]) -> Callable[[], None]:
    last = float("-inf")
    pending: asyncio.TimerHandle | None = None

    def run() -> None:
        nonlocal last, pending
        pending = None
        last = asyncio.get_running_loop().time()
        fn()

    def request() -> None:
        nonlocal pending
        if pending is not None:
            return  # a write is already due: this signal is served by it
        loop = asyncio.get_running_loop()
        wait = last + MIN_DUMP_INTERVAL - loop.time()
        if wait <= 0:
            run()
        else:
            pending = loop.call_later(wait, run)

    return request


def _logged(path: str | None) -> None:
    if path is not None:
        log.info("wrote %s", path)
