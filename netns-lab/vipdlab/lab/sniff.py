"""The lab's one packet tap, and a frame recorder on it: VRRP adverts, ARP and IPv6 neighbour discovery.

:class:`Tap` is the only capture code of the lab: the tests' :class:`Sniffer` and the
benchmarks' lean ``vipdlab.bench.common.AdvertTap`` both record through it, so every
frame time in tests and benchmarks is taken the same way. The AF_PACKET socket is
created inside the host's namespace with ``pyroute2.netns.create_socket`` while this
process stays where it is, and is read from a daemon thread. Each frame is stamped with
the kernel's receive time (SO_TIMESTAMPNS), mapped onto ``time.monotonic()``, so the
timestamps compare directly with ``time.monotonic()`` values taken by the test (for
example the moment it sent SIGKILL) and don't include the thread's own scheduling delay.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from pyroute2 import netns

from .wait import wait_until

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
IPPROTO_VRRP = 112
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_RCVBUFFORCE = 33
PACKET_OUTGOING = 4  # sll_pkttype of a host's own frames (socket.PACKET_OUTGOING)
TAP_DRAIN_EVERY = 0.1  # s between two reads of a tap's socket (frames keep their kernel times meanwhile)
CLOCK_READ_MAX = 50e-6  # a realtime->monotonic offset read over a longer span is not trusted


class Tap:
    """An AF_PACKET capture on ``ifname`` in namespace ``ns``, handing each frame to ``on_frame``.

    ``on_frame(data, t, outgoing)`` runs in the tap's thread: ``data`` the frame (at most
    ``snaplen`` octets), ``t`` the kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME)
    on the ``time.monotonic()`` clock in seconds, ``outgoing`` True for the host's own
    frames (``sll_pkttype == PACKET_OUTGOING``, stamped when they reached the device).

    The thread is not woken by each frame: it reads the socket every ``TAP_DRAIN_EVERY``
    seconds, and at once on :meth:`sync`. A thread woken by the advert it records runs
    right after the daemon's ``sendto`` and can push the daemon off its CPU (seen with
    ftrace: the CPU then went to another process until the next tick, delaying
    keepalived's re-arm). The frames' kernel times do not depend on when they are read;
    readers call :meth:`sync` before looking, so they never miss a frame already received.

    The realtime -> monotonic offset is read as monotonic, realtime, monotonic and kept
    only if the three reads took under ``CLOCK_READ_MAX`` (else the previous offset is
    reused), so a preemption between the reads cannot shift the frames' times.
    ``clock_reads_retried`` counts the discarded reads.

    Use as a context manager, or :meth:`start` / :meth:`stop`. The socket is always
    closed on stop: an open socket would keep the namespace alive.
    """

    def __init__(
        self,
        ns: str,
        ifname: str,
        on_frame: Callable[[bytes, float, bool], None],
        *,
        snaplen: int = 4096,
        label: str = "",
    ) -> None:
        self.ns = ns
        self.ifname = ifname
        self.label = label or ns
        self.clock_reads_retried = 0
        self._on_frame = on_frame
        self._snaplen = snaplen
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pipe = (-1, -1)
        self._cond = threading.Condition()
        self._requests = 0  # sync() calls made
        self._served = 0  # sync() calls whose frames have all been handed on

    def start(self) -> Tap:
        if self._sock is not None:
            return self
        sock = netns.create_socket(self.ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL), flags=0)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:  # root: past net.core.rmem_max, so a drain period of frames fits
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            sock.bind((self.ifname, ETH_P_ALL))  # the name resolves in the socket's namespace
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._pipe = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"tap-{self.label}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._pipe[1], b"x")
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for fd in self._pipe:
            if fd >= 0:
                os.close(fd)
        self._pipe = (-1, -1)

    def __enter__(self) -> Tap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sync(self, timeout: float = 2.0) -> None:
        """Return once every frame the kernel had queued when this was called has gone to ``on_frame``."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        with self._cond:
            self._requests += 1
            want = self._requests
        os.write(self._pipe[1], b"d")
        with self._cond:
            self._cond.wait_for(lambda: self._served >= want or not thread.is_alive(), timeout)

    def _run(self) -> None:
        assert self._sock is not None
        poller = select.poll()
        poller.register(self._pipe[0], select.POLLIN)  # not the socket: see the class docstring
        offset: float | None = None  # CLOCK_REALTIME - CLOCK_MONOTONIC
        while True:
            stop = False
            if poller.poll(int(TAP_DRAIN_EVERY * 1000)):
                stop = b"x" in os.read(self._pipe[0], 64)
            with self._cond:
                seen = self._requests  # read after the pipe: a later request leaves its byte for the next round
            m1 = time.monotonic()
            wall = time.time()
            m2 = time.monotonic()
            if offset is None or m2 - m1 < CLOCK_READ_MAX:
                offset = wall - (m1 + m2) / 2
            else:
                self.clock_reads_retried += 1
            ok = self._drain(self._sock, offset, m2)
            with self._cond:
                self._served = seen
                self._cond.notify_all()
            if stop or not ok:
                return

    def _drain(self, sock: socket.socket, offset: float, now: float) -> bool:
        """Hand on every frame queued on the socket; False once the socket is gone."""
        anc = socket.CMSG_SPACE(16)
        while True:
            try:
                data, ancdata, _flags, addr = sock.recvmsg(self._snaplen, anc)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            t = now
            for level, typ, cdata in ancdata:
                if level == socket.SOL_SOCKET and typ == SCM_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("@qq", cdata[:16])
                    t = sec + nsec / 1e9 - offset
            self._on_frame(data, t, addr[2] == PACKET_OUTGOING)


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


@dataclass(frozen=True)
class Frame:
    t: float  # kernel rx time, on the time.monotonic() clock
    src_mac: str
    outgoing: bool  # sent by the sniffing host itself


@dataclass(frozen=True)
class Advert(Frame):
    src: str
    dst: str
    version: int
    vrid: int
    priority: int
    interval: float  # seconds (v2: whole seconds on the wire; v3: centiseconds on the wire)
    addrs: tuple[str, ...]
    ttl: int


@dataclass(frozen=True)
class Arp(Frame):
    op: int  # 1 request, 2 reply
    sha: str
    spa: str
    tha: str
    tpa: str

    @property
    def gratuitous(self) -> bool:
        return self.spa == self.tpa


@dataclass(frozen=True)
class NeighAdvert(Frame):
    src: str
    dst: str
    target: str
    lladdr: str | None  # target link-layer address option
    router: bool
    solicited: bool
    override: bool


@dataclass(frozen=True)
class NeighSolicit(Frame):
    src: str
    dst: str
    target: str


E = TypeVar("E", bound=Frame)


def parse_frame(data: bytes, t: float, outgoing: bool) -> Frame | None:
    """Decode the frames the lab cares about; return None for anything else."""
    if len(data) < 14:
        return None
    src_mac = _mac(data[6:12])
    (etype,) = struct.unpack_from("!H", data, 12)
    off = 14
    if etype == ETH_P_8021Q and len(data) >= 18:
        (etype,) = struct.unpack_from("!H", data, 16)
        off = 18
    try:
        if etype == ETH_P_ARP:
            return _parse_arp(data, off, t, src_mac, outgoing)
        if etype == ETH_P_IP:
            return _parse_ip4(data, off, t, src_mac, outgoing)
        if etype == ETH_P_IPV6:
            return _parse_ip6(data, off, t, src_mac, outgoing)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _parse_arp(data: bytes, off: int, t: float, src_mac: str, outgoing: bool) -> Arp | None:
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data, off)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    p = off + 8
    sha, spa = data[p : p + 6], data[p + 6 : p + 10]
    tha, tpa = data[p + 10 : p + 16], data[p + 16 : p + 20]
    if len(tpa) != 4:
        return None
    return Arp(
        t=t,
        src_mac=src_mac,
        outgoing=outgoing,
        op=op,
        sha=_mac(sha),
        spa=socket.inet_ntoa(spa),
        tha=_mac(tha),
        tpa=socket.inet_ntoa(tpa),
    )


def _vrrp(
    body: bytes, family: int, t: float, src_mac: str, outgoing: bool, src: str, dst: str, ttl: int
) -> Advert | None:
    if len(body) < 8:
        return None
    version, vrid, priority, count = body[0] >> 4, body[1], body[2], body[3]
    if version == 2:
        interval = float(body[5])
    elif version == 3:
        interval = (((body[4] & 0x0F) << 8) | body[5]) / 100.0
    else:
        return None
    size = 4 if family == socket.AF_INET else 16
    raw = body[8 : 8 + count * size]
    addrs = tuple(socket.inet_ntop(family, raw[i : i + size]) for i in range(0, len(raw) - size + 1, size))
    return Advert(
        t=t,
        src_mac=src_mac,
        outgoing=outgoing,
        src=src,
        dst=dst,
        version=version,
        vrid=vrid,
        priority=priority,
        interval=interval,
        addrs=addrs,
        ttl=ttl,
    )


def _parse_ip4(data: bytes, off: int, t: float, src_mac: str, outgoing: bool) -> Frame | None:
    ihl = (data[off] & 0x0F) * 4
    if data[off] >> 4 != 4 or data[off + 9] != IPPROTO_VRRP:
        return None
    src = socket.inet_ntoa(data[off + 12 : off + 16])
    dst = socket.inet_ntoa(data[off + 16 : off + 20])
    (tot_len,) = struct.unpack_from("!H", data, off + 2)
    body = data[off + ihl : off + tot_len]
    return _vrrp(body, socket.AF_INET, t, src_mac, outgoing, src, dst, data[off + 8])


def _parse_ip6(data: bytes, off: int, t: float, src_mac: str, outgoing: bool) -> Frame | None:
    nh, hlim = data[off + 6], data[off + 7]
    src = socket.inet_ntop(socket.AF_INET6, data[off + 8 : off + 24])
    dst = socket.inet_ntop(socket.AF_INET6, data[off + 24 : off + 40])
    (plen,) = struct.unpack_from("!H", data, off + 4)
    body = data[off + 40 : off + 40 + plen]
    if nh == IPPROTO_VRRP:
        return _vrrp(body, socket.AF_INET6, t, src_mac, outgoing, src, dst, hlim)
    if nh != socket.IPPROTO_ICMPV6 or len(body) < 24:
        return None
    icmp_type = body[0]
    target = socket.inet_ntop(socket.AF_INET6, body[8:24])
    if icmp_type == 135:
        return NeighSolicit(t=t, src_mac=src_mac, outgoing=outgoing, src=src, dst=dst, target=target)
    if icmp_type != 136:
        return None
    (flags,) = struct.unpack_from("!I", body, 4)
    lladdr = None
    p = 24
    while p + 2 <= len(body):
        opt_type, opt_len = body[p], body[p + 1] * 8
        if opt_len == 0:
            break
        if opt_type == 2 and opt_len >= 8:
            lladdr = _mac(body[p + 2 : p + 8])
        p += opt_len
    return NeighAdvert(
        t=t,
        src_mac=src_mac,
        outgoing=outgoing,
        src=src,
        dst=dst,
        target=target,
        lladdr=lladdr,
        router=bool(flags & 0x80000000),
        solicited=bool(flags & 0x40000000),
        override=bool(flags & 0x20000000),
    )


def _same_ip(a: str, b: str) -> bool:
    return ipaddress.ip_address(a) == ipaddress.ip_address(b.split("/")[0])


class Sniffer:
    """Records the frames seen on ``ifname`` in namespace ``ns`` (both directions), through a :class:`Tap`.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Every query first
    syncs the tap, so it sees every frame received before it was called.
    """

    def __init__(self, ns: str, ifname: str = "eth0", label: str = "") -> None:
        self.ns = ns
        self.ifname = ifname
        self.label = label or ns
        self._frames: list[Frame] = []
        self._lock = threading.Lock()
        self._tap = Tap(ns, ifname, self._record, label=f"sniffer-{self.label}")
        self.dropped = 0

    # lifecycle -----------------------------------------------------------
    def start(self) -> Sniffer:
        self._tap.start()
        return self

    def stop(self) -> None:
        self._tap.stop()

    def __enter__(self) -> Sniffer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, data: bytes, t: float, outgoing: bool) -> None:
        frame = parse_frame(data, t, outgoing=outgoing)
        if frame is not None:
            with self._lock:
                self._frames.append(frame)

    # queries -------------------------------------------------------------
    def frames(self, since: float | None = None, until: float | None = None) -> list[Frame]:
        """Every recorded frame with ``since <= t <= until`` (monotonic seconds), in arrival order."""
        self._tap.sync()
        with self._lock:
            frames = list(self._frames)
        return [f for f in frames if (since is None or f.t >= since) and (until is None or f.t <= until)]

    def find(
        self,
        cls: type[E],
        *,
        since: float | None = None,
        until: float | None = None,
        where: Callable[[E], bool] | None = None,
        **attrs: Any,
    ) -> list[E]:
        """Frames of type ``cls`` in [since, until] whose attributes equal ``attrs``."""
        names = {f.name for f in fields(cls)}
        unknown = set(attrs) - names - {"gratuitous"}
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        out = []
        for f in self.frames(since, until):
            if not isinstance(f, cls):
                continue
            if any(getattr(f, k) != v for k, v in attrs.items()):
                continue
            if where is not None and not where(f):
                continue
            out.append(f)
        return out

    def adverts(self, **kw: Any) -> list[Advert]:
        return self.find(Advert, **kw)

    def announcements(
        self, ip: str, *, mac: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Frame]:
        """Gratuitous ARPs (sender IP == target IP == ip) or unsolicited NAs for ``ip``.

        ``mac`` filters on the announced link-layer address (ARP sha / NA TLLA).
        """
        out: list[Frame] = []
        for f in self.frames(since, until):
            if f.outgoing:
                continue
            if isinstance(f, Arp) and f.gratuitous and _same_ip(f.spa, ip):
                if mac is None or f.sha == mac:
                    out.append(f)
            elif isinstance(f, NeighAdvert) and not f.solicited and _same_ip(f.target, ip):  # noqa: SIM102
                if mac is None or f.lladdr == mac:
                    out.append(f)
        return out

    def requests_for(self, ip: str, *, since: float | None = None) -> list[Frame]:
        """ARP requests / neighbour solicitations this host itself sent asking for ``ip``."""
        out: list[Frame] = []
        for f in self.frames(since):
            if not f.outgoing:
                continue
            if (isinstance(f, Arp) and f.op == 1 and not f.gratuitous and _same_ip(f.tpa, ip)) or (
                isinstance(f, NeighSolicit) and _same_ip(f.target, ip)
            ):
                out.append(f)
        return out

    def wait_for(
        self,
        cls: type[E],
        timeout: float,
        *,
        since: float | None = None,
        where: Callable[[E], bool] | None = None,
        message: str = "",
        **attrs: Any,
    ) -> E:
        """The first matching frame (at or after ``since``), waiting up to ``timeout`` seconds."""

        def first() -> E | None:
            found = self.find(cls, since=since, where=where, **attrs)
            return found[0] if found else None

        return wait_until(first, timeout, message=message or f"{cls.__name__} matching {attrs} on {self.label}")

    def wait_announcement(
        self, ip: str, timeout: float, *, mac: str | None = None, since: float | None = None
    ) -> Frame:
        def first() -> Frame | None:
            found = self.announcements(ip, mac=mac, since=since)
            return found[0] if found else None

        return wait_until(first, timeout, message=f"GARP/NA for {ip} from {mac or 'anyone'} on {self.label}")

    def summary(self, since: float | None = None, limit: int = 60) -> str:
        """A readable tail of what was seen, for failure messages."""
        lines = []
        for f in self.frames(since)[-limit:]:
            if isinstance(f, Advert):
                lines.append(f"{f.t:.4f} VRRPv{f.version} {f.src} vrid {f.vrid} prio {f.priority} int {f.interval}")
            elif isinstance(f, Arp):
                lines.append(f"{f.t:.4f} ARP op {f.op} {f.sha} {f.spa} -> {f.tpa}{' (out)' if f.outgoing else ''}")
            elif isinstance(f, NeighAdvert):
                lines.append(f"{f.t:.4f} NA {f.src} target {f.target} lladdr {f.lladdr}")
            elif isinstance(f, NeighSolicit):
                lines.append(f"{f.t:.4f} NS {f.src} target {f.target}{' (out)' if f.outgoing else ''}")
        return "\n".join(lines)
