"""Processes the lab starts: daemons in namespaces, stopped with signals, always reaped.

The lab process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
so when a daemon's parent dies first its children are re-parented to us rather
than to PID 1 (which does not reap in this sandbox), and we reap them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36

# If the lab process itself is SIGKILLed, its daemons get SIGTERM (the parent-death
# signal survives the execs of setpriv and `ip netns exec`); `lab.py sweep` then
# removes the namespaces. setpriv is util-linux; without it that safety net is absent.
_PDEATHSIG = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []

_subreaper_done = False


def become_subreaper() -> None:
    global _subreaper_done
    if _subreaper_done:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    _subreaper_done = True


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2])


def _all_stats() -> dict[int, tuple[str, int, int]]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, parents before children (BFS)."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (_state, ppid, _pgid) in stats.items():
        children.setdefault(ppid, []).append(pid)
    order, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        if pid in stats or pid == root:
            order.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return order


def group_members(pgid: int) -> list[int]:
    return sorted(pid for pid, (_s, _pp, pg) in _all_stats().items() if pg == pgid)


def reap_pid(pid: int, timeout: float = 5.0) -> int | None:
    """waitpid() a process that is (or is about to become) our child. Returns its raw status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None  # not ours (its own parent reaped it) or already reaped
        if got == pid:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


def reap_orphans(exclude: Sequence[int] = ()) -> list[int]:
    """Reap zombie children of this process that nobody else is waiting for."""
    me = os.getpid()
    reaped = []
    for pid, (state, ppid, _pg) in _all_stats().items():
        if ppid == me and state == "Z" and pid not in exclude:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
                reaped.append(pid)
    return reaped


class Process:
    """A process started in a lab namespace, in its own session and process group.

    ``argv`` runs as ``[setpriv --pdeathsig TERM] ip netns exec NS argv...``; both
    exec the next program, so ``pid`` is the command's pid. stdout and stderr go to ``log_path``.
    """

    def __init__(
        self,
        name: str,
        ns: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        become_subreaper()
        self.name = name
        self.ns = ns
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed in _closed()
        self._log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
        self.started_at = time.monotonic()
        try:
            self.popen = subprocess.Popen(
                [*_PDEATHSIG, "ip", "netns", "exec", ns, *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            self._log.close()
            raise
        self.pid = self.popen.pid
        self.returncode: int | None = None
        self.stopped_at: float | None = None
        self.expect_exit = False  # set once the lab signals it; an exit before that is a failure

    # state ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def died(self) -> bool:
        """Exited although nobody asked it to."""
        return not self.expect_exit and self.popen.poll() is not None

    def poll(self) -> int | None:
        rc = self.popen.poll()
        if rc is not None:
            self._finish(rc)
        return rc

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _finish(self, rc: int) -> None:
        if self.returncode is None:
            self.returncode = rc
            with contextlib.suppress(ValueError, OSError):
                self._log.write(f"--- {time.strftime('%H:%M:%S')} exit status {rc}\n".encode())
        if not self._log.closed:
            self._log.close()

    # stopping -------------------------------------------------------------
    def send_signal(self, sig: int) -> float:
        """Send ``sig`` to the main process only. Returns the monotonic time just before sending."""
        t = time.monotonic()
        self.expect_exit = True
        if self.popen.poll() is None:
            os.kill(self.pid, sig)
        return t

    def wait(self, timeout: float) -> int:
        """Wait for the main process to exit; raises subprocess.TimeoutExpired."""
        rc = self.popen.wait(timeout=timeout)
        self._reap_tree()
        self._finish(rc)
        self.stopped_at = self.stopped_at or time.monotonic()
        return rc

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Graceful stop: ``sig`` to the main process, wait, then crash() if it hangs."""
        if self.returncode is not None:
            return self.returncode
        self.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.crash()
            assert self.returncode is not None
            return self.returncode

    def crash(self) -> float:
        """Freeze then SIGKILL every process of this instance; reap them all.

        Everything is SIGSTOPped first (the whole process group at once, then
        any descendant that left the group), so no process can react to
        another's death (keepalived's VRRP child leaves gracefully when only its
        parent dies, and its parent respawns a dead child). Returns the
        monotonic time at which the processes were frozen.
        """
        self.expect_exit = True
        if self.popen.poll() is not None:
            self._reap_tree()
            self._finish(self.popen.returncode)
            return time.monotonic()
        t = time.monotonic()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGSTOP)
        tree = process_tree(self.pid)
        members = set(tree) | set(group_members(self.pid))
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        rc = self.popen.wait()
        self._reap_pids(tree)
        self._finish(rc)
        self.stopped_at = t
        return t

    def _reap_tree(self) -> None:
        self._reap_pids(self._leftover())

    def _leftover(self) -> list[int]:
        """Processes of this instance's group re-parented to us after the main process died."""
        me = os.getpid()
        return [
            pid for pid, (_s, ppid, pgid) in _all_stats().items() if ppid == me and pgid == self.pid and pid != self.pid
        ]

    def _reap_pids(self, pids: Sequence[int]) -> None:
        for pid in pids:
            if pid == self.pid:
                continue
            reap_pid(pid, timeout=2.0)
        # grandchildren may have been re-parented while we waited
        for pid in self._leftover():
            if pid != self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                reap_pid(pid, timeout=2.0)
