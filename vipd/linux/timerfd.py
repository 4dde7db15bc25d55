"""Precise timers for the event loop with a Linux timerfd.

asyncio waits in ``epoll_wait`` with a timeout rounded *up* to whole milliseconds
(``selectors.EpollSelector``), so a ``loop.call_at`` fires 0-1 ms late (measured:
p50 1.2 ms at 10 ms periods, failover-timing.md §8). A timerfd armed at an
absolute CLOCK_MONOTONIC deadline (the clock behind ``loop.time()``) makes epoll
return on time, and its reader callback runs the timer's work directly: no
``call_at`` handle and no pass through asyncio's timer heap (~40 µs saved on a
cold takeover path).

``TimerQueue`` puts many timers on one timerfd: the runtime's instances share one, so
that adverts falling due together leave from one wake-up of the loop.

Python 3.13 has ``os.timerfd_create``; on 3.11/3.12 libc is called through ctypes.
Where neither works, ``Waker.create`` returns None and timers keep asyncio's
millisecond resolution.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ctypes
import math
import os
import struct
import time
import weakref
from collections.abc import Callable

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
STALE_SLACK = 64  # stale TimerQueue entries tolerated before they may be dropped all at once


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    try:
        # dlopen(NULL): the interpreter's own symbols, libc's among them; no find_library
        # (which imports tempfile and runs ldconfig: ~3 ms of start-up)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        )
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()
# A second function object for the hot path, without argtypes: ctypes then passes the int fd and
# flags and the byref() spec as they are, ~0.6 µs a call instead of ~1.2 µs with argtypes' checks.
_SETTIME = _LIBC["timerfd_settime"] if _LIBC is not None else None
_ITIMERSPEC = struct.Struct("@qqqq")  # struct itimerspec: it_interval (sec, nsec), it_value (sec, nsec)
if ctypes.sizeof(_Itimerspec) != _ITIMERSPEC.size:  # a 32-bit time_t: keep ctypes' own field writes
    _ITIMERSPEC = None  # type: ignore[assignment]


class Waker:
    """One timerfd registered with the loop: ``set(deadline)`` makes the loop call ``on_expiry()`` then.

    ``deadline`` is float seconds in ``loop.time()``'s clock, which must be
    ``time.monotonic`` (CLOCK_MONOTONIC): ``create`` checks it. The timerfd never
    expires before the deadline; ``on_expiry`` runs from the loop's reader callback,
    after the expiry count is read, and may call ``set`` again.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, on_expiry: Callable[[], None]) -> None:
        self._loop = loop
        self._fd = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)  # built once: set() runs for every advert a Backup hears
        self._value = self._spec.it_value  # a view into _spec, also built once
        self._on_expiry = on_expiry
        loop.add_reader(fd, self._expired)

    @classmethod
    def create(cls, loop: asyncio.AbstractEventLoop, on_expiry: Callable[[], None]) -> Waker | None:
        """Return a timer, or None when timerfd is unavailable or the loop's clock is not CLOCK_MONOTONIC."""
        if _LIBC is None or abs(loop.time() - time.monotonic()) > 0.01:
            return None
        fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            return None
        return cls(loop, fd, on_expiry)

    def set(self, deadline: float | None, slack: float = 0.0) -> None:
        """Arm the timer at absolute ``deadline`` (seconds, monotonic); None disarms it.

        One ``timerfd_settime`` system call (kept to ~1 µs: no argtypes conversion, one
        ``pack_into``). ``slack`` is accepted for :class:`QueuedTimer`'s signature and
        ignored: a lone timerfd has no other timer to share a wake-up with."""
        assert _SETTIME is not None
        if deadline is None:
            sec = nsec = 0
        else:
            sec, nsec = divmod(max(1, math.ceil(deadline * 1e9)), 1_000_000_000)
        if _ITIMERSPEC is not None:
            _ITIMERSPEC.pack_into(self._spec, 0, 0, 0, sec, nsec)
        else:
            value = self._value
            value.tv_sec, value.tv_nsec = sec, nsec
        _SETTIME(self._fd, TFD_TIMER_ABSTIME, self._spec_ref, None)

    def _expired(self) -> None:
        try:
            os.read(self._fd, 8)
        except (BlockingIOError, InterruptedError):
            return  # re-armed after it became readable: not expired
        self._on_expiry()

    def close(self) -> None:
        """Unregister and close the timerfd."""
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)


class QueuedTimer:
    """One timer of a :class:`TimerQueue`; the same ``set``/``close`` contract as :class:`Waker`.

    ``set(deadline, slack)``: float seconds on the loop's (monotonic) clock, None disarms;
    the callback never runs before the deadline, and at most ``slack`` seconds after it
    (scheduling delays aside). Made by :meth:`TimerQueue.timer`.
    """

    __slots__ = ("_entry", "_on_expiry", "_queue", "_slack")

    def __init__(self, queue: TimerQueue, on_expiry: Callable[[], None]) -> None:
        self._queue: TimerQueue | None = queue
        self._on_expiry = on_expiry
        self._entry: tuple[float, int, QueuedTimer] | None = None
        self._slack = 0.0

    def set(self, deadline: float | None, slack: float = 0.0) -> None:
        """Arm at absolute ``deadline`` (seconds, monotonic), replacing any earlier setting; None disarms.

        ``slack`` (seconds, >= 0): how late the callback may run so that it shares a wake-up
        with timers due just after it (0: at the deadline).
        """
        if self._queue is not None:
            self._slack = slack
            self._queue._set(self, deadline)

    def close(self) -> None:
        """Disarm for good; the queue's timerfd is closed with its last timer."""
        queue, self._queue = self._queue, None
        if queue is not None:
            queue._set(self, None)
            queue._release()


class TimerQueue:
    """Many timers on one timerfd: every timer due at a wake-up runs in that one pass of the loop.

    With one :class:`Waker` per instance, each advert of 255 masters at 0.1 s costs its own
    wake-up of the loop (``epoll_wait``, a context switch, asyncio's loop turn), an expiry
    ``read`` and a ``timerfd_settime``, and a Backup re-arms its timerfd on every advert it
    hears. Here the timers live in one list sorted by deadline and share one timerfd:

    * a wake-up runs, in deadline order, every timer due by the time it gets to it;
    * the timerfd is armed at the latest deadline that keeps every timer within its slack
      (the earliest deadline when no timer has any), so a master whose advert falls due
      within the slack of another's sends both from one wake-up; a lone timer, or one
      without slack, runs at its deadline;
    * it is re-armed only when a timer needs an earlier wake-up than the armed one, or at
      the end of a pass: a timer moved later (a Backup hearing its master) costs no system
      call, and a wake-up that finds nothing due re-arms for the earliest timer;
    * moving a timer leaves its old entry in the list, stale (``entry is not timer._entry``),
      and files the new one, at the end when it is the latest (a Backup re-armed from the
      receive stamp of the advert it just heard: one comparison and an append, not two
      binary searches and two list shifts of tuple comparisons; ~3 us of the ~24 us a
      received advert cost at 255 VRIDs, issue 18). Stale entries never run, never set
      the wake-up time, and are dropped when they reach the head or, if they outnumber the
      live ones, all at once.

    Timers set again to a past deadline from inside a pass run on the next pass (after the
    loop has polled its other file descriptors), so a callback cannot hold the loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._value = self._spec.it_value
        self._queue: list[tuple[float, int, QueuedTimer]] = []  # sorted by (deadline, sequence number)
        self._stale = 0  # entries in _queue that are no longer their timer's (see the class docstring)
        self._seq = 0
        self._armed: float | None = None  # when the timerfd expires next (None: disarmed or expired)
        self._in_pass = False  # running due timers: arm once at the end, not on every set()
        self._timers = 0
        loop.add_reader(fd, self._expired)

    @classmethod
    def create(cls, loop: asyncio.AbstractEventLoop) -> TimerQueue | None:
        """Return a queue, or None when timerfd is unavailable or the loop's clock is not CLOCK_MONOTONIC."""
        if _LIBC is None or abs(loop.time() - time.monotonic()) > 0.01:
            return None
        fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            return None
        return cls(loop, fd)

    def timer(self, on_expiry: Callable[[], None]) -> QueuedTimer:
        """A new timer calling ``on_expiry()`` from the loop when it is due (a ``TimerFactory``)."""
        self._timers += 1
        return QueuedTimer(self, on_expiry)

    def _set(self, timer: QueuedTimer, deadline: float | None) -> None:
        queue = self._queue
        if timer._entry is not None:  # left in place, stale: dropped when it reaches the head
            timer._entry = None
            self._stale += 1
            if self._stale > STALE_SLACK and self._stale * 2 > len(queue):
                self._compact()
        if deadline is None:
            return  # the timerfd may stay armed: a wake-up with nothing due re-arms it
        self._seq += 1
        entry = (deadline, self._seq, timer)
        # Sequence numbers grow, so the new entry sorts after every entry with the same deadline.
        if not queue or queue[-1][0] <= deadline:
            queue.append(entry)
        else:
            bisect.insort(queue, entry)  # sequence numbers are unique: never compares timers
        timer._entry = entry
        if self._in_pass:
            return
        armed = self._armed
        if armed is None or deadline + timer._slack < armed:
            at = self._wake_time()
            if at is not None:
                self._arm(at)

    def _compact(self) -> None:
        """Drop every stale entry (the list stays sorted)."""
        self._queue[:] = [e for e in self._queue if e[2]._entry is e]
        self._stale = 0

    def _wake_time(self) -> float | None:
        """When to wake: the latest deadline that keeps every timer within its slack; None if no timer is set."""
        queue = self._queue
        head = 0
        for entry in queue:  # stale entries at the head go now
            if entry[2]._entry is entry:
                break
            head += 1
        if head:
            del queue[:head]
            self._stale -= head
        if not queue:
            return None
        latest = queue[0][0] + queue[0][2]._slack  # no timer may run later than its deadline + slack
        at = queue[0][0]
        for entry in queue:
            deadline, _, timer = entry
            if deadline > latest:
                break
            if timer._entry is not entry:
                continue  # stale
            at = deadline
            if deadline + timer._slack < latest:
                latest = deadline + timer._slack
        return at

    def _arm(self, at: float) -> None:
        assert _LIBC is not None
        value = self._value
        ns = max(1, math.ceil(at * 1e9))
        value.tv_sec, value.tv_nsec = divmod(ns, 1_000_000_000)
        _LIBC.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, self._spec_ref, None)
        self._armed = at

    def _expired(self) -> None:
        try:
            os.read(self._fd, 8)
        except (BlockingIOError, InterruptedError):
            return  # re-armed after it became readable: not expired
        self._armed = None
        queue = self._queue
        left = len(queue) - self._stale  # a timer re-armed in the past during this pass waits for the next one
        monotonic = time.monotonic
        self._in_pass = True
        try:
            while left and queue and queue[0][0] <= monotonic():
                entry = queue.pop(0)
                timer = entry[2]
                if timer._entry is not entry:
                    self._stale -= 1
                    continue
                left -= 1
                timer._entry = None
                try:
                    timer._on_expiry()
                except Exception as e:  # one instance's failure must not stop the others' timers
                    self._loop.call_exception_handler({"message": "timer callback failed", "exception": e})
        finally:
            self._in_pass = False
            at = self._wake_time() if queue else None
            if at is not None:
                self._arm(at)

    def _release(self) -> None:
        self._timers -= 1
        if self._timers <= 0:
            self.close()

    def close(self) -> None:
        """Unregister and close the timerfd (its timers stop calling back)."""
        self._queue.clear()
        self._stale = 0
        if _QUEUES.get(self._loop) is self:
            del _QUEUES[self._loop]
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)


_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TimerQueue] = weakref.WeakKeyDictionary()


def shared_timer(loop: asyncio.AbstractEventLoop, on_expiry: Callable[[], None]) -> QueuedTimer | None:
    """A timer on ``loop``'s one :class:`TimerQueue` (created with the first timer, closed with the last).

    ``functools.partial(shared_timer, loop)`` is the runtime's ``TimerFactory``. None where
    timerfd is unavailable (the caller falls back to ``loop.call_at``).
    """
    queue = _QUEUES.get(loop)
    if queue is None:
        queue = TimerQueue.create(loop)
        if queue is None:
            return None
        _QUEUES[loop] = queue
    return queue.timer(on_expiry)
