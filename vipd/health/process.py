"""Run a command for a check: the plugin-facing face of :mod:`vipd.linux.spawn`, the one script runner.

Notify hooks and check scripts go through the same runner (own session and
process group, posix_spawn, pidfd wait, umask 022, the configured user; see
:mod:`vipd.linux.spawn`). What a check script leaves running in the background
when it exits is NOT killed: keepalived's ``vrrp_script_child_thread`` only
signals the group at a timeout, and so does vipd. At its timeout the group gets
SIGTERM, then SIGKILL :data:`KILL_GRACE` seconds later, and the run counts as a
failure.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Mapping, Sequence

from vipd.health.identity import RunAs, script_run_as
from vipd.linux.spawn import KILL_GRACE, OUTPUT_LIMIT, RunOutcome, run

__all__ = ["KILL_GRACE", "OUTPUT_LIMIT", "RunOutcome", "ensure_child_watcher", "run_command"]


def ensure_child_watcher() -> None:
    """Make asyncio wait for children with pidfds instead of a thread per child (Python < 3.12).

    vipd's own runner needs no watcher (it reaps through pidfds itself); this is for
    plugins that use ``asyncio.create_subprocess_exec``. Call from the running loop. A
    no-op on 3.12+ (pidfd is the default there) or when the kernel lacks pidfd_open.
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


async def run_command(
    argv: Sequence[str],
    timeout: float,
    *,
    run_as: RunAs | None = None,
    user: str | None = None,
    group: str | None = None,
    env: Mapping[str, str] | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell) in a new process group and wait at most ``timeout`` seconds.

    Args:
        argv: program and arguments; ``argv[0]`` is looked up in PATH if it has no '/'.
        timeout: seconds; then the group gets SIGTERM and, ``KILL_GRACE`` later, SIGKILL.
        run_as: the identity (:func:`vipd.health.identity.script_run_as`); wins over ``user``.
        user, group: names to look up when ``run_as`` is not given; None = the daemon's own.
        env: environment, or None to inherit ours.
    Returns:
        a :class:`~vipd.linux.spawn.RunOutcome` (``text`` is the output decoded); never raises for
        the command's own failures (an unknown user is an ``error`` outcome).
    Raises:
        asyncio.CancelledError: if cancelled; the group is killed first.
    """
    if run_as is None and (user is not None or group is not None):
        try:
            run_as = script_run_as(user, group, (None, None))
        except LookupError as e:
            return RunOutcome(None, error=f"cannot run {argv[0] if argv else ''}: {e}")
    return await run(argv, timeout=timeout, run_as=run_as, env=env)
