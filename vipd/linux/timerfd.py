"""Precise timers for the event loop with a Linux timerfd.

asyncio waits in ``epoll_wait`` with a timeout rounded *up* to whole milliseconds
(``selectors.EpollSelector``), so a ``loop.call_at`` fires 0-1 ms late (measured:
p50 1.2 ms at 10 ms periods, failover-timing.md §8). A timerfd armed at an
absolute CLOCK_MONOTONIC deadline (the clock behind ``loop.time()``) makes epoll
return on time, and its reader callback runs the timer's work directly: no
``call_at`` handle and no pass through asyncio's timer heap (~40 µs saved on a
cold takeover path).

Python 3.13 has ``os.timerfd_create``; on 3.11/3.12 libc is called through ctypes.
Where neither works, ``Waker.create`` returns None and timers keep asyncio's
millisecond resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import math
import os
import struct
import time
from collections.abc import Callable

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
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

    def set(self, deadline: float | None) -> None:
        """Arm the timer at absolute ``deadline`` (seconds, monotonic); None disarms it.

        One ``timerfd_settime`` system call (a Backup calls this for every advert it
        accepts, so it is kept to ~1 µs: no argtypes conversion, one ``pack_into``)."""
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
