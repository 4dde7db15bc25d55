"""Raw IP protocol 112 sockets for VRRP adverts, IPv4 and IPv6 (libs.md §2).

One receive socket and one transmit socket per (interface, family), shared by
every instance on that interface. The receive socket is bound to the device,
joins the VRRP group on that ifindex only (``IP_MULTICAST_ALL=0``) and is never
bound to an address (a raw socket bound to a unicast address gets no multicast).
The transmit socket sets TTL / hop limit 255 (the multicast default is 1),
disables multicast loopback and is bound to our primary address.

Received datagrams are read with a non-blocking ``recvmsg`` from
``loop.add_reader`` (asyncio has no ``sock_recvmsg``) and handed to a callback
as raw bytes plus metadata; decoding is the codec's job.

Receive coalescing (issue 18). A backup of 255 VRIDs at 0.1 s hears 2,550 adverts
a second, and woken for each one the loop spent most of its time waking up (epoll,
a loop turn, the ``recvmsg`` that says EAGAIN), not handling them. Like a NIC's
interrupt moderation, an ``AdvertReader`` whose socket received at least two
datagrams per ``max_delay()`` over the last ``COALESCE_WINDOW`` stops watching
the socket and drains it every ``max_delay()`` seconds instead (at most
``COALESCE_MAX``; asyncio's timer can add up to 1 ms), until the rate falls to
one per ``max_delay()``. What it changes and what it does not:

* every datagram is still read, in arrival order, with the kernel's receive time
  (``SO_TIMESTAMPNS``): the protocol's timers count from when it arrived, not
  from when it was read;
* the wait is bounded by the caller: the daemon allows an eighth of the smallest
  Skew_Time of the socket's instances (``vipd.runtime.daemon.COALESCE_SKEW_SHARE``),
  so a priority-0 advert is read long before the Skew_Time it starts has run out
  and the takeover happens at the same instant; a bound under ``COALESCE_MIN``
  (high priorities at short intervals) turns coalescing off;
* a Backup about to take over asks ``pending()`` first, and a datagram waiting
  is then read on the loop's next turn, not at the next drain: coalescing never
  lets a Master_Down_Timer fire over an advert that has arrived;
* what it can delay is a reaction to an advert: a master stepping down for a
  higher priority, or answering a lower one, by at most the bound;
* one VRID at 0.1 s (10 a second) never reaches the rate: single-instance
  timings (``lab.py bench-takeover``) are unchanged.

Bursts. A master of many VRIDs sends its adverts in bursts (vipd's ``TimerQueue``
sends every advert due within its slack from one wake-up; 255 VRIDs at 0.1 s: one
burst of 255 every 0.1 s), so most drains every ``max_delay()`` found the socket
empty: 1,406 of 3,000 drains in the running backup, ~95 us of CPU each (a wake-up
of a process whose caches went cold in the wait, and the EAGAIN exception), plus the
loop's own wake-up: ~5 us per advert received. A drain that reads nothing therefore
watches the socket again, and the first datagram to arrive starts the next
``max_delay()`` wait instead of being read at once (so the burst behind it is read
in one drain). A datagram still waits at most ``max_delay()`` after it arrived plus
the loop's wake-up, as before; ``pending()`` reads a waiting datagram on the loop's
next turn in this state too. Traffic spread evenly keeps finding datagrams at each
drain and is drained on the timer as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from vipd.wire.advert import IPPROTO_VRRP, VRRP_MCAST4, VRRP_MCAST6, VRRP_TTL, IPAddress

IP_PKTINFO = 8
IP_MULTICAST_ALL = 49
SO_TIMESTAMPNS = 35  # SCM_TIMESTAMPNS: struct timespec, CLOCK_REALTIME
IPTOS_PREC_INTERNETCONTROL = 0xC0
RECV_BUFSIZE = 65535
SO_RCVBUF_BYTES = 4 << 20
"""Receive buffer of a VRRP socket (the kernel doubles it for its bookkeeping). 255 VRIDs at 0.1 s
queue 2,550 adverts a second (~1 KiB of buffer each on a veth): 1 MiB held ~0.8 s, so a backup
frozen longer lost the newest adverts and took over on the old ones (bench-receive --stall 1.5:
1,304 drops, 2 transitions; keepalived none); 4 MiB holds ~3 s. Set with SO_RCVBUFFORCE where
CAP_NET_ADMIN allows (net.core.rmem_max is 208 KiB on a stock kernel), else SO_RCVBUF."""
SO_RCVBUFFORCE = 33
RX_BATCH = 32  # datagrams per wake-up: ~1 ms of decoding at most before timers get their turn
COALESCE_MAX = 0.010  # seconds: longest wait between drains while coalescing (see the module docstring)
COALESCE_MIN = 0.001  # seconds: a shorter bound is not worth coalescing for
COALESCE_WINDOW = 0.25  # seconds over which the receive rate is counted
SO_ATTACH_FILTER = 26
_SOL_SOCKET = int(socket.SOL_SOCKET)
_TRUNCATED = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)  # a plain int: MsgFlag arithmetic costs µs per packet
_TIMESPEC = struct.Struct("@qq")
_PKTINFO4 = struct.Struct("@i4s4s")
_PKTINFO6 = struct.Struct("@16sI")
_HOPLIMIT = struct.Struct("@i")
_BPF_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # one classic BPF insn: BPF_RET | BPF_K, 0 (keep 0 bytes)


def _never_receive(s: socket.socket) -> None:
    """Make a transmit-only raw socket drop whatever the kernel would queue on it.

    A raw socket bound to our address receives every unicast VRRP datagram sent to
    it (peers' unicast adverts, a flood from anyone); vipd never reads the transmit
    socket, so without this its queue fills to the receive buffer size and stays full.
    """
    prog = ctypes.create_string_buffer(_BPF_DROP_ALL, len(_BPF_DROP_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HP", 1, ctypes.addressof(prog)))


@dataclass(slots=True)
class RxPacket:
    """One datagram read from a VRRP receive socket (read-only by convention).

    Not ``frozen``: one is built per packet, and a frozen dataclass's ``__init__`` costs
    ~0.8 µs more (``object.__setattr__`` per field); nothing mutates it.

    Attributes:
        data: IPv4: IP header + VRRP message; IPv6: the VRRP message only.
        src: source address (IPv6: from recvmsg; IPv4: also inside ``data``).
        dst: IPv6: destination address from IPV6_PKTINFO, or None if the kernel gave none;
            IPv4: None (the destination is in the IP header, where the codec reads it).
        ttl: IPv6 hop limit from IPV6_HOPLIMIT (IPv4: -1, the codec reads the header).
        ifindex: IPv6: ingress interface index from IPV6_PKTINFO; 0 if unknown and for IPv4
            (the receive socket is bound to its device).
        truncated: the kernel cut the packet or its ancillary data (MSG_TRUNC/MSG_CTRUNC).
        rx_time: when the kernel received it (SO_TIMESTAMPNS), in ``loop.time()`` seconds;
            the protocol's timers count from here, not from when Python got round to it.
    """

    data: bytes
    src: IPAddress
    dst: IPAddress | None
    ttl: int
    ifindex: int
    truncated: bool
    rx_time: float


def _ip_mreqn(group: str, ifindex: int, local: str = "0.0.0.0") -> bytes:
    return socket.inet_aton(group) + socket.inet_aton(local) + struct.pack("@i", ifindex)


def open_rx(family: int, ifname: str, ifindex: int, *, multicast: bool = True) -> socket.socket:
    """Open the receive socket for ``family`` (4 or 6) on ``ifname``.

    Raises:
        OSError: the kernel refused (no CAP_NET_RAW, no such device...).
    """
    if family == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            if multicast:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _ip_mreqn(str(VRRP_MCAST4), ifindex))
            # No IP_PKTINFO: the IP header the socket returns has the destination (the codec reads
            # it), and SO_BINDTODEVICE fixes the interface; one control message less per datagram.
        except OSError:
            s.close()
            raise
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            if multicast:
                mreq = socket.inet_pton(socket.AF_INET6, str(VRRP_MCAST6)) + struct.pack("@I", ifindex)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
            # No IPV6_CHECKSUM on receive: the kernel would drop bad checksums silently and
            # we want to count them (libs.md §2.3). The codec verifies.
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        except OSError:
            s.close()
            raise
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SO_RCVBUF_BYTES)
    except OSError:
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SO_RCVBUF_BYTES)
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setblocking(False)
    return s


def open_tx(family: int, ifname: str, ifindex: int, src: IPAddress) -> socket.socket:
    """Open the transmit socket: TTL/hop limit 255, no loopback, bound to ``src``.

    For IPv6 ``src`` is our link-local address; the kernel computes the checksum
    (``IPV6_CHECKSUM`` = 6, RFC 5798 §5.2.8).

    Raises:
        OSError: e.g. EADDRNOTAVAIL while an IPv6 link-local address is still tentative.
    """
    if family == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            _never_receive(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _ip_mreqn("0.0.0.0", ifindex))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, IPTOS_PREC_INTERNETCONTROL)
            s.bind((str(src), 0))
        except OSError:
            s.close()
            raise
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            _never_receive(s)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 6)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, IPTOS_PREC_INTERNETCONTROL)
            s.bind((str(src), 0, 0, ifindex))
        except OSError:
            s.close()
            raise
    s.setblocking(False)
    return s


_ipv4 = functools.lru_cache(maxsize=256)(IPv4Address)  # packet destinations: a few per host
_ipv6 = functools.lru_cache(maxsize=256)(IPv6Address)


def _parse_ancillary(family: int, anc: list[tuple[int, int, bytes]]) -> tuple[IPAddress | None, int, int, int | None]:
    """Return (dst, ttl or -1, ifindex or 0, kernel receive time in CLOCK_REALTIME ns or None)."""
    dst: IPAddress | None = None
    ttl = -1
    ifindex = 0
    stamp: int | None = None
    for level, typ, c in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(c) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(c)
            stamp = sec * 1_000_000_000 + nsec
        elif family == 4 and level == socket.IPPROTO_IP and typ == IP_PKTINFO and len(c) >= 12:
            ifindex, _spec, raw_dst = _PKTINFO4.unpack_from(c)
            dst = _ipv4(raw_dst)
        elif family == 6 and level == socket.IPPROTO_IPV6:
            if typ == socket.IPV6_HOPLIMIT and len(c) >= 4:
                ttl = _HOPLIMIT.unpack_from(c)[0]
            elif typ == socket.IPV6_PKTINFO and len(c) >= 20:
                raw6, ifindex = _PKTINFO6.unpack_from(c)
                dst = _ipv6(raw6)
    return dst, ttl, ifindex, stamp


@functools.lru_cache(maxsize=4096)
def _source(text: str) -> IPAddress:
    """The sender's address from ``recvmsg``'s text form (``fe80::1%eth0`` loses its scope), parsed once per sender."""
    return ip_address(text.split("%", 1)[0])


class RxClock:
    """Receive times on the loop's monotonic clock from kernel stamps, immune to wall-clock steps.

    ``SO_TIMESTAMPNS`` stamps are CLOCK_REALTIME. Each wake-up maps them with one
    offset (wall minus loop time) taken at the wake-up, so a wall-clock step between
    a packet's arrival and the wake-up would make it look up to the step older (or
    newer), and a 0.1 s backup take over on a fresh advert (review "Lower severity").
    Three guards, all on the monotonic clock:

    - **Step detection.** If the offset moved by more than :data:`STEP` since the
      previous wake-up, the wall clock stepped (NTP slews at most 0.5 ms/s): the
      stamps of everything queued now are ignored and the wake-up's loop time used,
      until the socket has been drained once.
    - **Floor.** A packet still queued arrived after the last wake-up that drained
      the socket (its ``recvmsg`` returned EAGAIN after that wake-up's loop time),
      so no receive time is older than that, nor than :data:`MAX_AGE`.
    - **Ceiling.** None is later than the wake-up.

    So a receive time is always within [last drain, wake-up]: a step in either
    direction can only make a packet look as new as the wake-up, never older than
    it really is. Times are float seconds of ``loop.time()``.
    """

    STEP = 0.005  # seconds of offset change between wake-ups taken as a wall-clock step
    MAX_AGE = 1.0  # seconds: no stamp is trusted further back than this

    def __init__(self, now: float) -> None:
        self._now = now
        self._floor = now
        self._offset_ns: int | None = None
        self._trusted = True
        self.last = float("-inf")
        """The receive time (loop seconds) :meth:`rx_time` returned last: how far a drain has read."""

    def wake(self, now: float, wall_ns: int) -> None:
        """Start a wake-up at loop time ``now`` (seconds) with wall time ``wall_ns`` (CLOCK_REALTIME ns)."""
        offset = wall_ns - int(now * 1e9)
        if self._offset_ns is not None and abs(offset - self._offset_ns) > self.STEP * 1e9:
            self._trusted = False
        self._offset_ns = offset
        self._now = now

    def rx_time(self, stamp_ns: int | None) -> float:
        """Loop time (seconds) at which a packet stamped ``stamp_ns`` (or None: no stamp) arrived."""
        now = self._now
        if stamp_ns is None or not self._trusted or self._offset_ns is None:
            self.last = now
            return now
        mapped = (stamp_ns - self._offset_ns) / 1e9
        t = self.last = min(now, max(mapped, self._floor, now - self.MAX_AGE))
        return t

    def bounds(self) -> tuple[float, int, float] | None:
        """What :meth:`rx_time` maps with until the next :meth:`wake` or :meth:`drained`; None: stamps not trusted.

        Returns ``(now, offset_ns, lo)``: a stamp ``s`` (CLOCK_REALTIME ns) arrived at
        ``(s - offset_ns) / 1e9`` loop seconds, clamped to ``[lo, now]`` (``lo <= now``), so a
        caller mapping a batch of stamps inline gets exactly :meth:`rx_time`'s result (and sets
        :attr:`last` itself)."""
        if not self._trusted or self._offset_ns is None:
            return None
        now = self._now
        return now, self._offset_ns, max(self._floor, now - self.MAX_AGE)

    def drained(self) -> None:
        """The socket had nothing more to read in this wake-up (EAGAIN)."""
        self._floor = self._now
        self._trusted = True


class AdvertReader:
    """Drain a receive socket from the event loop and call ``on_packet`` for each datagram.

    ``on_packet`` runs synchronously in the loop; it must not raise (exceptions are
    passed to ``on_error`` and the reader carries on).

    Receive coalescing (see the module docstring): while the socket's receive rate is
    high, the reader stops watching it and drains it every ``max_delay()`` seconds
    instead, so one wake-up of the loop reads a batch. ``max_delay`` is called at most
    once per ``COALESCE_WINDOW``; a result below ``COALESCE_MIN`` (or no ``max_delay``)
    keeps the reader watching the socket, woken per datagram.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        family: int,
        on_packet: Callable[[RxPacket], None],
        on_error: Callable[[BaseException], None],
        wall_ns: Callable[[], int] = time.time_ns,
        max_delay: Callable[[], float] | None = None,
    ) -> None:
        self._loop = loop
        self._wall_ns = wall_ns
        self._clock = RxClock(loop.time())
        self._sock = sock
        self._fd = sock.fileno()
        self._family = family
        self._on_packet = on_packet
        self._on_error = on_error
        self._ancsize = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16) + 64
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._max_delay = max_delay
        self._delay = 0.0  # seconds between drains while coalescing; 0: watching the socket
        self._tick: asyncio.TimerHandle | asyncio.Handle | None = None
        self._watching = False  # coalescing, the last drain read nothing: the next datagram starts the wait
        self._window_start = loop.time()
        self._window_count = 0
        loop.add_reader(self._fd, self._ready)

    @property
    def coalescing(self) -> float:
        """Seconds between drains while coalescing, 0.0 while woken per datagram."""
        return self._delay

    def pending(self) -> bool:
        """True if a datagram waits to be read (a zero-timeout poll; never blocks).

        While coalescing, a datagram found waiting is read on the loop's next turn
        instead of at the next drain: a Backup about to take over asks this so that
        the master's advert, if it is the one waiting, is read first."""
        if not self._poll.poll(0):
            return False
        if self._delay and (self._tick is not None or self._watching):
            self._unwatch()
            if self._tick is not None:
                self._tick.cancel()
            self._tick = self._loop.call_soon(self._drain_tick)
        return True

    def drain(self, until: float) -> None:
        """Read and hand on, now, every queued datagram the kernel received before ``until`` (loop seconds).

        For a Backup whose Master_Down_Timer is found overdue (the loop fell behind): an
        advert already in the socket's queue was received before the expiry was seen and
        must be handled first (RFC 5798 §6.4.2 resets the timer on every advert received),
        whatever other work the loop has queued. Bounded by arrival, not by count: it stops
        at EAGAIN or once a batch reaches a datagram received at or after ``until``, so a
        flood cannot hold the caller for longer than the queue it found.
        """
        clock = self._clock
        clock.last = float("-inf")
        while clock.last < until and self.pending():
            before = clock.last
            self._ready()
            if clock.last == before:  # a receive error: nothing was read
                return

    def _ready(self) -> None:
        self._drain()

    def _drain_tick(self) -> None:
        self._tick = None
        self._drain()

    def _arrived(self) -> None:
        """Coalescing, watching after an empty drain: a datagram arrived; read it and what follows it in one drain.

        If the rate window ran out while watching, the rate is counted first: a datagram after a
        quiet spell ends coalescing and is read at once, as while woken per datagram."""
        self._unwatch()
        now = self._loop.time()
        if now - self._window_start >= COALESCE_WINDOW:
            self._retune(now)
        if not self._delay:
            self._drain()
        elif self._tick is None:
            self._tick = self._loop.call_at(now + self._delay, self._drain_tick)

    def _watch(self) -> None:
        if not self._watching:
            self._watching = True
            self._loop.add_reader(self._fd, self._arrived)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fd)

    def _drain(self) -> None:
        clock = self._clock
        loop = self._loop
        now = loop.time()
        # Kernel receive stamps are CLOCK_REALTIME; RxClock maps them onto the loop's monotonic clock.
        clock.wake(now, self._wall_ns())
        recvmsg = self._sock.recvmsg
        ancsize = self._ancsize
        on_packet = self._on_packet
        rx_time = clock.rx_time
        family = self._family
        # RxClock.rx_time inlined for IPv4 (~0.4 us a datagram at 255 VRIDs): the mapping is fixed until drained().
        mapping = clock.bounds()
        trusted = mapping is not None
        hi, offset_ns, lo = mapping if mapping is not None else (now, 0, now)
        n = 0  # datagrams read
        drained = False
        for _ in range(RX_BATCH):  # bounded per wake-up so a flood cannot delay a due advert
            try:
                data, anc, flags, addr = recvmsg(RECV_BUFSIZE, ancsize)
            except (BlockingIOError, InterruptedError):
                clock.drained()
                drained = True
                break
            except OSError as e:
                self._on_error(e)
                drained = True
                break
            n += 1
            try:
                if family == 4:
                    # IPv4 asks for the receive stamp only (no IP_PKTINFO: see open_rx).
                    at = hi
                    for level, typ, c in anc:
                        if typ == SO_TIMESTAMPNS and level == _SOL_SOCKET and len(c) >= 16 and trusted:
                            sec, nsec = _TIMESPEC.unpack_from(c)
                            at = (sec * 1_000_000_000 + nsec - offset_ns) / 1e9
                            if at > hi:
                                at = hi
                            elif at < lo:
                                at = lo
                    clock.last = at
                    pkt = RxPacket(data, _source(addr[0]), None, -1, 0, bool(flags & _TRUNCATED), at)
                else:
                    dst, ttl, ifindex, stamp = _parse_ancillary(family, anc)
                    pkt = RxPacket(data, _source(addr[0]), dst, ttl, ifindex, bool(flags & _TRUNCATED), rx_time(stamp))
                on_packet(pkt)
            except Exception as e:  # never let one packet stop the reader
                self._on_error(e)
        self._window_count += n
        if now - self._window_start >= COALESCE_WINDOW:
            self._retune(now)
        if self._delay:
            if self._tick is not None:  # drained early (drain(), pending()): one tick chain only
                self._tick.cancel()
                self._tick = None
            if not drained:  # a full batch: more is waiting; read it on the next turn, after due timers
                self._unwatch()
                self._tick = loop.call_soon(self._drain_tick)
            elif n:
                self._unwatch()
                self._tick = loop.call_at(now + self._delay, self._drain_tick)
            else:  # nothing came in the wait: sleep until something does (see "Bursts" above)
                self._watch()

    def _retune(self, now: float) -> None:
        """End of a rate window: start or stop coalescing for the next one."""
        rate = self._window_count / (now - self._window_start)
        self._window_start = now
        self._window_count = 0
        delay = 0.0
        if self._max_delay is not None:
            limit = min(COALESCE_MAX, self._max_delay())
            # Worth it only if a drain would carry two datagrams on average (one to stop).
            if limit >= COALESCE_MIN and rate * limit >= (1.0 if self._delay else 2.0):
                delay = limit
        if delay and not self._delay:
            self._loop.remove_reader(self._fd)
        elif self._delay and not delay:
            if self._tick is not None:
                self._tick.cancel()
                self._tick = None
            self._watching = False
            self._loop.add_reader(self._fd, self._ready)  # replaces _arrived if it was watching
        self._delay = delay

    def close(self) -> None:
        """Stop reading and close the socket."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._watching = False
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        self._sock.close()


def sockaddr(dst: IPAddress, ifindex: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """The ``sendto`` address of a VRRP destination (the kernel adds the IP header).

    IPv4: ``(addr, 0)``; IPv6: ``(addr, 0, 0, ifindex)``, the scope naming the link
    (needed for ff02::12 and link-local peers). Sending raises OSError (ENOBUFS,
    ENETDOWN...), BlockingIOError if the queue is full.
    """
    if isinstance(dst, IPv4Address):
        return (str(dst), 0)
    return (str(dst), 0, 0, ifindex)
