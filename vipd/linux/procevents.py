"""The kernel's process connector (``CN_PROC``): fork, exec, comm and exit events for ``track_process``.

keepalived's ``vrrp_track_process`` learns about processes from this netlink
connector instead of scanning ``/proc``; vipd does the same. One socket per
event loop is shared by every subscriber (:meth:`ProcEvents.acquire`), so ten
process trackers parse each kernel event once.

The socket is a plain ``AF_NETLINK``/``NETLINK_CONNECTOR`` datagram socket read
from the loop's reader callback, and the few fields vipd needs are unpacked with
``struct``. pyroute2's ``ProcEventSocket`` is not used: in pyroute2 0.9 it is a
synchronous socket that runs requests on an event loop of its own (inside the
daemon's running loop ``bind()`` raises "This event loop is already running";
checked with 0.9.7), and its generic message objects cost
tens of microseconds per event, where a busy host sends thousands of events a
second (every fork and exec on the machine).

Facts that shape the code (kernel ``drivers/connector/cn_proc.c``):

* the connector exists only in the initial network namespace: a socket made in
  another one is refused (``ECONNREFUSED``) when it subscribes. vipd in a
  namespace (the lab, a container sharing the host's PID namespace) makes the
  socket in a short-lived thread that enters the network namespace of PID 1,
  or failing that of its nearest ancestor in another namespace, first
  (``setns`` is per thread: the daemon's own thread never changes namespace);
* subscribing needs ``CAP_NET_ADMIN`` and the initial PID and user namespaces;
* Linux 6.6 and later filter events per socket (``struct proc_input``): vipd
  asks for fork, exec, comm and exit only; older kernels get the 4-byte
  subscription and every event;
* a full receive buffer drops events (``ENOBUFS``): subscribers are then told
  to re-synchronise (:attr:`ProcEvent.what` = :data:`RESYNC`).

Errors: :meth:`ProcEvents.acquire` raises ``OSError`` when the connector cannot
be had (no privilege, another PID namespace, a kernel without
``CONFIG_PROC_EVENTS``); callers fall back to scanning.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("vipd")

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
NLMSG_DONE = 3

PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_EXIT = 0x80000000
RESYNC = 0
"""Pseudo event: events were lost; a subscriber must rebuild its view from ``/proc``."""
WANTED = PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_COMM | PROC_EVENT_EXIT

CLONE_NEWNET = 0x40000000
RCVBUF = 4 << 20
"""Bytes of receive buffer asked for (with SO_RCVBUFFORCE as root): ~50k events of slack."""
BATCH = 512
"""Datagrams read per reader callback before yielding to the loop."""

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp_ns (offset 36)
_FOUR = struct.Struct("=IIII")  # the first four u32 of the event data (offset 52)
_HEAD_OFF = _NLMSGHDR.size + _CN_MSG.size  # 36
_DATA_OFF = _HEAD_OFF + _EVENT_HEAD.size  # 52


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One process event, as much of it as ``track_process`` needs.

    Attributes:
        what: ``PROC_EVENT_FORK``, ``_EXEC``, ``_COMM``, ``_EXIT`` or :data:`RESYNC`.
        pid, tgid: the thread and its process (for a fork: the child's).
        parent_tgid: the forking process (fork events only, else 0).
        timestamp: when the kernel saw it, seconds of CLOCK_MONOTONIC (the clock
            of ``loop.time()``); 0.0 for :data:`RESYNC`.
    """

    what: int
    pid: int = 0
    tgid: int = 0
    parent_tgid: int = 0
    timestamp: float = 0.0


Subscriber = Callable[[ProcEvent], None]


def _kernel_filters() -> bool:
    """Linux 6.6+ accepts ``struct proc_input`` (an event mask per socket)."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 6)


def _control(sock: socket.socket, op: int, mask: int | None) -> None:
    payload = struct.pack("=II", op, mask) if mask is not None else struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, 0) + cn)


def _open_here() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
    try:
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
                break
        sock.bind((0, CN_IDX_PROC))
        _control(sock, PROC_CN_MCAST_LISTEN, WANTED if _kernel_filters() else None)
    except BaseException:
        sock.close()
        raise
    return sock


def _ancestors() -> list[int]:
    """PID 1, then our parent, its parent...: processes that may sit in the initial network namespace."""
    out, pid = [1], os.getppid()
    while pid > 1 and pid not in out and len(out) < 64:
        out.append(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _open_in(ns_path: str) -> socket.socket:
    """Make the socket from a short-lived thread that has entered the network namespace ``ns_path``."""
    libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own symbols, libc's among them
    box: list[socket.socket | BaseException] = []

    def work() -> None:
        try:
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns({ns_path}): {os.strerror(e)}")
            finally:
                os.close(fd)
            box.append(_open_here())
        except BaseException as e:
            box.append(e)

    t = threading.Thread(target=work, name="vipd-cn-proc-open")
    t.start()
    t.join()
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _open_in_initial_netns(first: OSError) -> socket.socket:
    """Try the network namespaces of PID 1 and of our ancestors; raise ``first`` if none has the connector."""
    mine = os.stat("/proc/self/ns/net").st_ino
    tried: set[int] = {mine}
    for pid in _ancestors():
        path = f"/proc/{pid}/ns/net"
        try:
            ino = os.stat(path).st_ino
        except OSError:
            continue
        if ino in tried:
            continue
        tried.add(ino)
        try:
            return _open_in(path)
        except OSError:
            continue
    raise first


def open_socket() -> socket.socket:
    """A non-blocking connector socket subscribed to process events.

    Raises:
        OSError: the connector cannot be had here (see the module's notes).
    """
    try:
        sock = _open_here()
    except ConnectionRefusedError as e:
        # Not the initial network namespace: the connector lives only there.
        sock = _open_in_initial_netns(e)
    sock.setblocking(False)
    return sock


def parse(data: bytes | memoryview) -> ProcEvent | None:
    """Decode one connector datagram; None for events vipd does not follow.

    Shapes (``cn_proc.h``): nlmsghdr (16) + cn_msg (20) + what/cpu/timestamp
    (16) + the event's data at offset 52.
    """
    if len(data) < _DATA_OFF + 8:
        return None
    what, _cpu, ns = _EVENT_HEAD.unpack_from(data, _HEAD_OFF)
    if what == PROC_EVENT_FORK and len(data) >= _DATA_OFF + 16:
        _ppid, ptgid, pid, tgid = _FOUR.unpack_from(data, _DATA_OFF)
        return ProcEvent(what, pid, tgid, ptgid, ns / 1e9)
    if what in (PROC_EVENT_EXEC, PROC_EVENT_COMM, PROC_EVENT_EXIT):
        pid, tgid = struct.unpack_from("=II", data, _DATA_OFF)
        return ProcEvent(what, pid, tgid, 0, ns / 1e9)
    return None


class ProcEvents:
    """One connector socket on one event loop, shared by its subscribers.

    Use ``hub = ProcEvents.acquire(callback)`` and ``hub.release(callback)``;
    the socket closes with the last subscriber.
    """

    _by_loop: dict[asyncio.AbstractEventLoop, ProcEvents] = {}  # noqa: RUF012

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.subscribers: list[Subscriber] = []
        self.events = 0
        """Datagrams read so far (all kinds)."""
        self.resyncs = 0
        self._buf = bytearray(256)
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def acquire(cls, subscriber: Subscriber) -> ProcEvents:
        """Subscribe ``subscriber`` to the running loop's hub, opening it if needed.

        Raises:
            OSError: the connector cannot be had.
            RuntimeError: no running loop.
        """
        loop = asyncio.get_running_loop()
        hub = cls._by_loop.get(loop)
        if hub is None:
            hub = cls(loop, open_socket())
            cls._by_loop[loop] = hub
        hub.subscribers.append(subscriber)
        return hub

    def release(self, subscriber: Subscriber) -> None:
        """Unsubscribe; the last one closes the socket."""
        with contextlib.suppress(ValueError):
            self.subscribers.remove(subscriber)
        if not self.subscribers:
            self._by_loop.pop(self.loop, None)
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.sock.fileno())
            with contextlib.suppress(OSError):
                _control(self.sock, PROC_CN_MCAST_IGNORE, WANTED if _kernel_filters() else None)
            self.sock.close()

    def _dispatch(self, event: ProcEvent) -> None:
        for sub in list(self.subscribers):
            try:
                sub(event)
            except Exception:
                log.exception("process events: subscriber failed")

    def _readable(self) -> None:
        buf, view = self._buf, memoryview(self._buf)
        for _ in range(BATCH):
            try:
                n = self.sock.recv_into(buf)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.resyncs += 1
                    log.warning("process events: kernel dropped events (receive buffer full); rescanning /proc")
                    self._dispatch(ProcEvent(RESYNC))
                    continue
                log.error("process events: %s", e)
                return
            self.events += 1
            event = parse(view[:n])
            if event is not None:
                self._dispatch(event)
