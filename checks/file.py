"""``file``: keepalived's ``track_file`` — the integer in a file, times the weight.

Options: ``file`` (path, required). The value is parsed like keepalived's
``strtol(buf, NULL, 0)``: leading blanks, an optional sign, decimal, ``0x`` hex
or leading-``0`` octal digits; anything unreadable (missing file, no digits) is
0. Every result is OK and carries ``value``; :func:`vipd.health.rules.file_status`
applies the weight.

Event-driven, as keepalived: an inotify watch (the ``inotify_simple`` package)
on the file's directory re-reads the file when a writer closes it
(``IN_CLOSE_WRITE``), when it is created, deleted, or renamed in or out
(``IN_CREATE``, ``IN_DELETE``, ``IN_MOVED_FROM``/``IN_MOVED_TO``), so ``echo 10 >
f``, ``touch f``, ``rm f`` and an atomic ``mv tmp f`` are each seen within a
loop iteration. ``IN_MODIFY`` is not watched: a shell's ``>`` truncates before
it writes, and reading then would report a transient 0 (keepalived does the
same). The directory, not the file, is watched, so a file that does not exist
yet or is replaced by a rename is still followed.

One inotify instance per event loop serves every ``track_file``
(:class:`SharedInotify`), as keepalived uses one. Polling every
``spec.interval`` seconds remains only where inotify cannot see the changes:
the directory lives on a file system whose changes come from elsewhere (NFS,
CIFS/SMB, 9p, FUSE, Ceph, cluster file systems, /proc, /sys), the kernel
refuses an inotify instance or watch (limits reached), or the directory does
not exist yet (then the watch is set up as soon as it appears).
As keepalived, a symbolic link is resolved (``realpath``) when the watch is
set up, so the target's directory is watched; a link re-pointed later is seen
only if the old target's directory reports a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable

from inotify_simple import Event, INotify
from inotify_simple import flags as in_flags

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import text

log = logging.getLogger("vipd")

_STRTOL = re.compile(rb"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")

WATCH_MASK = (
    in_flags.CLOSE_WRITE
    | in_flags.CREATE
    | in_flags.DELETE
    | in_flags.MOVED_FROM
    | in_flags.MOVED_TO
    | in_flags.DELETE_SELF
    | in_flags.MOVE_SELF
    | in_flags.ONLYDIR
)
"""What the directory watch asks for (keepalived: close-write, delete, moves)."""

POLLED_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "afs", "lustre", "gfs2", "ocfs2", "glusterfs"}
    | {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "configfs"}
)
"""File-system types whose changes inotify does not (all) report; ``fuse.*`` counts too."""


def strtol(data: bytes) -> int:
    """C ``strtol(data, NULL, 0)`` as keepalived uses it: the leading integer, 0 if none."""
    m = _STRTOL.match(data)
    if not m:
        return 0
    sign, digits = m.group(1), m.group(2).decode()
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 8) if digits.startswith("0") else int(digits)
    return -value if sign == b"-" else value


def fs_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The file-system type of the mount holding ``path`` (an existing directory), or None if unknown.

    Reads ``/proc/self/mountinfo`` (field after `` - ``) and picks the longest
    mount point that is a prefix of ``realpath(path)``.
    """
    real = os.path.realpath(path)
    best, kind = -1, None
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mnt = fields[4].replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= best:
                    best, kind = len(mnt), right.split()[0]
    except OSError:
        return None
    return kind


def needs_polling(fstype: str | None) -> bool:
    """Whether changes on a file system of this type can escape inotify."""
    return fstype is not None and (fstype in POLLED_FS or fstype.startswith("fuse"))


class FileCheck:
    """Reports the file's value at once and whenever it may have changed.

    Attributes:
        mode: ``"inotify"`` or ``"poll"`` (with the reason in ``why_polling``), for status and tests.

    Raises (constructor):
        ValueError: no ``file`` option.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        self.path = text(spec, "file")
        self.directory, self.name = self._resolve()
        self.interval = spec.interval if spec.interval > 0 else 0.5
        self.mode = "starting"
        self.why_polling = ""

    def _resolve(self) -> tuple[str, str]:
        """(directory, file name) to watch: symbolic links resolved, as keepalived does (``realpath``)."""
        real = os.path.realpath(self.path)
        return os.path.dirname(real), os.path.basename(real)

    def read(self) -> CheckResult:
        """Read the file now; ``value`` is its integer (0 if missing or unreadable)."""
        t0 = time.monotonic()
        try:
            with open(self.path, "rb") as f:
                data = f.read(127)
        except OSError as e:
            return CheckResult(True, f"{self.path}: {e.strerror}; value 0", time.monotonic() - t0, value=0)
        value = strtol(data)
        return CheckResult(True, f"{self.path}: {value}", time.monotonic() - t0, value=value)

    async def run(self) -> CheckResult:
        """One read (for one-off use; the tracker uses :meth:`watch`)."""
        return self.read()

    async def watch(self, report: Callable[[CheckResult], None]) -> None:
        """Report now, then after every change of the file, until cancelled."""
        report(self.read())
        while True:
            self.directory, self.name = self._resolve()
            fstype = fs_type(self.directory) if os.path.isdir(self.directory) else None
            if not os.path.isdir(self.directory):
                self._polling(f"directory {self.directory} does not exist (yet)")
                await self._poll_until(report, lambda: os.path.isdir(self.directory))
                continue
            if needs_polling(fstype):
                self._polling(f"{self.directory} is on {fstype}, whose changes inotify may miss")
                await self._poll_until(report, lambda: False)
            try:
                await self._inotify(report)
            except OSError as e:
                self._polling(f"inotify: {e.strerror or e}")
                await self._poll_until(report, lambda: False)
            report(self.read())  # the watch ended (directory removed or moved): read, then set up again

    def _polling(self, why: str) -> None:
        if self.why_polling != why:
            log.warning("file %s: polling every %gs: %s", self.path, self.interval, why)
        self.mode, self.why_polling = "poll", why

    async def _poll_until(self, report: Callable[[CheckResult], None], done: Callable[[], bool]) -> None:
        while not done():
            await asyncio.sleep(self.interval)
            report(self.read())

    async def _inotify(self, report: Callable[[CheckResult], None]) -> None:
        """Watch the directory until the watch goes away; raises OSError if inotify is refused."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(ev: Event) -> None:
            if ev.mask & (in_flags.IGNORED | in_flags.DELETE_SELF | in_flags.MOVE_SELF):
                if not ended.done():
                    ended.set_result(None)
            elif ev.mask & in_flags.Q_OVERFLOW or ev.name == self.name:
                report(self.read())

        hub = SharedInotify.acquire()
        try:
            wd = hub.watch(self.directory, on_event)
        except OSError:
            hub.release()
            raise
        self.mode, self.why_polling = "inotify", ""
        try:
            report(self.read())  # a change between the first read and the watch is not lost
            await ended
        finally:
            hub.unwatch(wd, on_event)
            hub.release()


class SharedInotify:
    """One inotify instance per event loop, shared by every ``FileCheck`` (keepalived uses one too).

    The kernel limits inotify instances per user (``fs.inotify.max_user_instances``,
    often 128), not watches: fifty track_files cost one instance. Watches of the
    same directory share a watch descriptor; it is removed with its last user.
    Use ``hub = SharedInotify.acquire()`` ... ``hub.release()``.
    """

    _by_loop: dict[asyncio.AbstractEventLoop, SharedInotify] = {}  # noqa: RUF012

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ino = INotify(nonblocking=True)
        self.users = 0
        self.watches: dict[int, list[Callable[[Event], None]]] = {}
        loop.add_reader(self.ino.fileno(), self._readable)

    @classmethod
    def acquire(cls) -> SharedInotify:
        """The running loop's instance, made on first use.

        Raises:
            OSError: the kernel refuses an inotify instance (EMFILE: limit reached).
        """
        loop = asyncio.get_running_loop()
        hub = cls._by_loop.get(loop)
        if hub is None:
            hub = cls._by_loop[loop] = cls(loop)
        hub.users += 1
        return hub

    def release(self) -> None:
        """Drop one user; the last closes the instance."""
        self.users -= 1
        if self.users <= 0:
            self._by_loop.pop(self.loop, None)
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.ino.fileno())
            self.ino.close()

    def watch(self, directory: str, callback: Callable[[Event], None]) -> int:
        """Call ``callback(event)`` for every event of ``directory`` (and queue overflows); returns the wd.

        Raises:
            OSError: the watch is refused (ENOSPC: watch limit; ENOENT, ENOTDIR).
        """
        wd: int = self.ino.add_watch(directory, WATCH_MASK)
        self.watches.setdefault(wd, []).append(callback)
        return wd

    def unwatch(self, wd: int, callback: Callable[[Event], None]) -> None:
        """Stop calling ``callback``; the watch goes with its last callback. Never raises."""
        users = self.watches.get(wd)
        if users is None:
            return  # already gone (IN_IGNORED)
        with contextlib.suppress(ValueError):
            users.remove(callback)
        if not users:
            del self.watches[wd]
            with contextlib.suppress(OSError):
                self.ino.rm_watch(wd)

    def _readable(self) -> None:
        try:
            events = self.ino.read(timeout=0)
        except OSError as e:
            log.error("inotify: %s", e)
            return
        for ev in events:
            if ev.mask & in_flags.Q_OVERFLOW:
                targets = [cb for cbs in self.watches.values() for cb in cbs]
            else:
                targets = list(self.watches.get(ev.wd, ()))
            for cb in targets:
                try:
                    cb(ev)
                except Exception:
                    log.exception("inotify: callback failed")
            if ev.mask & in_flags.IGNORED:
                self.watches.pop(ev.wd, None)
