"""The asyncio shell of BFD: one driver per ``bfd_instance``, shared receive sockets, demultiplexing.

Per session: feed events into the pure :class:`~vipd.bfd.session.BfdSession`,
execute its effects in order, and re-arm one timer from ``next_deadline()``
(a timerfd, ``vipd.linux.timerfd``, like the instances' advert timers;
``loop.call_at`` where there is none). Received datagrams are read once per
(family, port) socket, decoded, checked for TTL (RFC 5881 §5 / RFC 5883 §2,
keepalived ``ttl`` and ``max_hops``) and handed to the session their Your
Discriminator names, or, while it is zero, the session of their source and
destination addresses (RFC 5880 §6.8.6, RFC 5881 §3).

Consumers (the tracker's ``bfd`` check, BFD master-down) subscribe to a
session by name and are called with ``(up, diag)`` on every state change. The
daemon's side (config, reload, master-down) is :mod:`vipd.runtime.bfd_service`.

Longer than ~400 lines on purpose: the session driver and the runtime that
demultiplexes datagrams to it share their state (discriminators, sockets, timers).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Protocol

from vipd.bfd import (
    BfdDecodeError,
    BfdSession,
    ControlPacket,
    Diag,
    Discard,
    Effect,
    PacketReceived,
    SendControl,
    SessionParams,
    SessionState,
    Start,
    StateChanged,
    Stop,
    TimerExpired,
    decode,
    encode,
)
from vipd.linux.bfd import BFD_MULTIHOP_PORT, BFD_PORT, BfdDatagram, BfdReader, open_rx, open_tx
from vipd.wire.advert import IPAddress

log = logging.getLogger("vipd")


class Timer(Protocol):
    """A one-shot timer (``vipd.linux.timerfd.Waker``): ``set(deadline)`` in loop seconds, None disarms."""

    def set(self, deadline: float | None) -> None: ...

    def close(self) -> None: ...


TimerFactory = Callable[[Callable[[], None]], "Timer | None"]

SessionCallback = Callable[[bool, int], None]
"""Called with (up, diag) whenever a subscribed session changes state."""


@dataclass(frozen=True, slots=True)
class BfdConfig:
    """One keepalived ``bfd_instance``, resolved for the runtime (times in float seconds).

    Attributes:
        name: the instance name.
        neighbor_ip: ``neighbor_ip``.
        source_ip: ``source_ip`` or None.
        min_rx, min_tx, idle_tx: seconds (keepalived gives milliseconds; defaults 10, 10, 1000 ms).
        multiplier: ``multiplier`` (default 5).
        passive: ``passive``.
        ttl: TTL / hop limit sent (default 255, RFC 5881 §5).
        max_hops: accepted reduction of the received TTL (default 0: exactly ``ttl``); 255 or -1 = no check.
        multihop: RFC 5883, port 4784 (keepalived ``multihop``, newer than 2.2.7).
    """

    name: str
    neighbor_ip: IPAddress
    source_ip: IPAddress | None = None
    min_rx: float = 0.010
    min_tx: float = 0.010
    idle_tx: float = 1.0
    multiplier: int = 5
    passive: bool = False
    ttl: int = 255
    max_hops: int = 0
    multihop: bool = False

    @property
    def family(self) -> int:
        """4 or 6."""
        return 4 if isinstance(self.neighbor_ip, IPv4Address) else 6

    @property
    def port(self) -> int:
        """3784 single hop (RFC 5881 §4), 4784 multihop (RFC 5883 §5)."""
        return BFD_MULTIHOP_PORT if self.multihop else BFD_PORT

    def ttl_ok(self, ttl: int) -> bool:
        """RFC 5881 §5 ("MUST ... discard ... unless the TTL/Hop Limit is 255") generalised as keepalived's
        ``max_hops``: accept a received TTL of at least ``ttl - max_hops``; an unknown TTL (-1) is refused."""
        if self.max_hops < 0 or self.max_hops >= 255:
            return True
        return ttl >= 0 and ttl >= self.ttl - self.max_hops


@dataclass(slots=True)
class BfdStats:
    """Counters of one session (exported as ``vipd_bfd_*``)."""

    tx: int = 0
    tx_errors: int = 0
    rx: int = 0
    discards: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    detect_expiries: int = 0


class BfdSessionDriver:
    """Runs one :class:`BfdSession`: its transmit socket, its timer, its subscribers.

    Args:
        loop: the running loop.
        config: the session's configuration.
        local_discr: ``bfd.LocalDiscr``, unique in the daemon.
        rng: jitter source in [0, 1) (RFC 5880 §6.8.7).
        timer: makes the session's timerfd (``functools.partial(Waker.create, loop)``), or None for ``call_at``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        config: BfdConfig,
        local_discr: int,
        rng: Callable[[], float] = random.random,
        timer: TimerFactory | None = None,
    ) -> None:
        self.loop = loop
        self.config = config
        self.session = BfdSession(
            SessionParams(
                local_discr=local_discr,
                desired_min_tx=config.min_tx,
                required_min_rx=config.min_rx,
                detect_mult=config.multiplier,
                idle_tx=max(config.idle_tx, 1.0),
                passive=config.passive,
            ),
            rng,
        )
        self.stats = BfdStats()
        self.subscribers: list[SessionCallback] = []
        self._sock: socket.socket | None = None
        self._waker = timer(self._on_wake) if timer is not None else None
        self._handle: asyncio.TimerHandle | None = None
        self._deadline: float | None = None

    @property
    def name(self) -> str:
        """The ``bfd_instance`` name."""
        return self.config.name

    @property
    def up(self) -> bool:
        """True while the session is Up."""
        return self.session.up

    def start(self) -> None:
        """Open the transmit socket and start the session (RFC 5880 §6.8.16 "enable").

        Raises:
            OSError: the source address is not ours, no source port is free.
        """
        c = self.config
        self._sock = open_tx(c.source_ip, c.neighbor_ip, port=c.port, ttl=c.ttl)
        self._run(self.session.handle(Start(), self.loop.time()))

    def stop(self) -> None:
        """Send AdminDown once (RFC 5880 §6.8.16) and close everything; no callback is made."""
        if self._sock is None:
            return
        subs, self.subscribers = self.subscribers, []
        self._run(self.session.handle(Stop(), self.loop.time()), arm=False)
        self.subscribers = subs
        self._set_timer(None)
        if self._waker is not None:
            self._waker.close()
        self._sock.close()
        self._sock = None

    def reconfigure(self, config: BfdConfig) -> None:
        """New timers (and ``max_hops``) for a running session: a Poll Sequence, no state change (RFC 5880 §6.8.3)."""
        self.config = config
        p = self.session.params
        params = SessionParams(
            local_discr=p.local_discr,
            desired_min_tx=config.min_tx,
            required_min_rx=config.min_rx,
            detect_mult=config.multiplier,
            idle_tx=max(config.idle_tx, 1.0),
            passive=config.passive,
        )
        if params != p:
            self._run(self.session.reconfigure(params, self.loop.time()))

    def receive(self, packet: ControlPacket, now: float) -> None:
        """A decoded packet the runtime demultiplexed to this session and whose TTL passed."""
        self._run(self.session.handle(PacketReceived(packet), now))

    # ------------------------------------------------------------------ effects and timer

    def _run(self, effects: list[Effect], arm: bool = True) -> None:
        for e in effects:
            if isinstance(e, SendControl):
                self._send(e)
            elif isinstance(e, StateChanged):
                self._changed(e)
            elif isinstance(e, Discard):
                self.stats.discards[e.reason] += 1
        if arm:
            self._set_timer(self.session.next_deadline())

    def _send(self, e: SendControl) -> None:
        if self._sock is None:
            return
        try:
            self._sock.send(encode(e.packet))
            self.stats.tx += 1
        except OSError as err:  # ECONNREFUSED after an ICMP port unreachable, ENETUNREACH, ENOBUFS
            self.stats.tx_errors += 1
            log.debug("bfd %s: send failed: %s", self.name, err)

    def _changed(self, e: StateChanged) -> None:
        self.stats.transitions[(e.old.name.lower(), e.new.name.lower())] += 1
        if e.diag == Diag.CONTROL_DETECTION_TIME_EXPIRED:
            self.stats.detect_expiries += 1
        level = logging.WARNING if e.old is SessionState.UP else logging.INFO
        log.log(level, "bfd %s: %s -> %s (diag %s)", self.name, e.old.name, e.new.name, _diag_name(e.diag))
        up = e.new is SessionState.UP
        for cb in list(self.subscribers):
            try:
                cb(up, e.diag)
            except Exception:  # a consumer's bug never stops BFD
                log.exception("bfd %s: subscriber failed", self.name)

    def _set_timer(self, deadline: float | None) -> None:
        if deadline == self._deadline and (self._waker is not None or self._handle is not None or deadline is None):
            return
        self._deadline = deadline
        if self._waker is not None:
            self._waker.set(deadline)
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if deadline is not None:
            self._handle = self.loop.call_at(deadline, self._on_wake)

    def _on_wake(self) -> None:
        self._handle = None
        deadline = self._deadline
        self._deadline = None
        if deadline is None:
            return
        now = max(self.loop.time(), deadline)  # call_at may run a hair early
        self._run(self.session.handle(TimerExpired(), now))


def _identity(c: BfdConfig) -> tuple[object, ...]:
    """What a reload cannot change in a running session (its sockets and role)."""
    return (c.neighbor_ip, c.source_ip, c.multihop, c.ttl, c.passive)


def _diag_name(diag: int) -> str:
    try:
        return Diag(diag).name.lower()
    except ValueError:
        return str(diag)


class BfdRuntime:
    """Every BFD session of the daemon and the shared receive sockets.

    Use: ``rt = BfdRuntime(configs); rt.start()``; ``rt.subscribe(name, cb)``; ``rt.stop()``.

    Args:
        configs: the ``bfd_instance`` blocks.
        rng: a ``random.Random`` for discriminators, source ports and jitter (tests pass a seeded one).
        timer: as for :class:`BfdSessionDriver`.
    """

    def __init__(
        self,
        configs: Iterable[BfdConfig],
        *,
        rng: random.Random | None = None,
        timer: TimerFactory | None = None,
    ) -> None:
        self.configs = {c.name: c for c in configs}
        self._rng = rng or random.SystemRandom()
        self._timer = timer
        self.sessions: dict[str, BfdSessionDriver] = {}
        self._by_discr: dict[int, BfdSessionDriver] = {}
        self._readers: dict[tuple[int, int], BfdReader] = {}
        self.unmatched: Counter[str] = Counter()
        """Datagrams no session took, by reason (``decode`` reasons, ``no_session``)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer_factory: TimerFactory | None = timer

    def _discr(self) -> int:
        while True:
            d = self._rng.randint(1, 0xFFFFFFFF)
            if d not in self._by_discr:
                return d

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Open the receive sockets, then start every session.

        Raises:
            OSError: a socket cannot be opened (port taken by another BFD daemon, address not ours);
                whatever was opened is closed again.
        """
        loop = loop or asyncio.get_running_loop()
        timer = self._timer
        if timer is None:
            from vipd.linux.timerfd import Waker

            timer = functools.partial(Waker.create, loop)
        try:
            self._open_readers(loop)
            for c in self.configs.values():
                self._add(loop, c, timer)
            for d in self.sessions.values():
                d.start()
        except BaseException:
            self.stop()
            raise
        self._loop = loop
        self._timer_factory = timer

    def _open_readers(self, loop: asyncio.AbstractEventLoop) -> None:
        for family, port in sorted({(c.family, c.port) for c in self.configs.values()} - set(self._readers)):
            sock = open_rx(family, port)
            cb = functools.partial(self._on_datagram, port)
            self._readers[(family, port)] = BfdReader(loop, sock, family, cb, self._on_error)

    def _add(self, loop: asyncio.AbstractEventLoop, c: BfdConfig, timer: TimerFactory | None) -> BfdSessionDriver:
        d = BfdSessionDriver(loop, c, self._discr(), self._rng.random, timer)
        self.sessions[c.name] = d
        self._by_discr[d.session.params.local_discr] = d
        return d

    def apply(self, configs: Iterable[BfdConfig]) -> None:
        """Reload: keep each session whose identity (neighbour, source, multihop, TTL, passive) is unchanged
        and change its timers with a Poll Sequence (RFC 5880 §6.8.3), so it stays Up; stop the others
        (AdminDown, §6.8.16) and start the new ones from Down.

        Raises:
            OSError: a new receive socket or session socket cannot be opened (what already changed stays).
            RuntimeError: called before :meth:`start`.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("BfdRuntime.apply before start")
        new = {c.name: c for c in configs}
        for name in list(self.sessions):
            d = self.sessions[name]
            c = new.get(name)
            if c is None or _identity(c) != _identity(d.config):
                del self.sessions[name]
                self._by_discr.pop(d.session.params.local_discr, None)
                d.stop()
        self.configs = new
        self._open_readers(loop)
        for name, c in new.items():
            if name in self.sessions:
                self.sessions[name].reconfigure(c)
            else:
                self._add(loop, c, self._timer_factory).start()
        for key in set(self._readers) - {(c.family, c.port) for c in new.values()}:
            self._readers.pop(key).close()

    def stop(self) -> None:
        """AdminDown every session, close every socket."""
        for d in self.sessions.values():
            d.stop()
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    def session_up(self, name: str) -> bool | None:
        """True Up, False not Up, None no such session."""
        d = self.sessions.get(name)
        return None if d is None else d.up

    def subscribe(self, name: str, callback: SessionCallback) -> Callable[[], None]:
        """Call ``callback(up, diag)`` on every state change of session ``name``; returns the unsubscribe function.

        Raises:
            KeyError: no such session.
        """
        d = self.sessions[name]
        d.subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in d.subscribers:
                d.subscribers.remove(callback)

        return unsubscribe

    def status(self) -> list[dict[str, object]]:
        """One dict per session for status and metrics (state, timers in seconds, counters)."""
        out: list[dict[str, object]] = []
        for d in self.sessions.values():
            s = d.session
            out.append(
                {
                    "name": d.name,
                    "neighbor": str(d.config.neighbor_ip),
                    "state": s.session_state.name.lower(),
                    "state_number": int(s.session_state),
                    "remote_state": s.remote_session_state.name.lower(),
                    "local_diag": _diag_name(s.local_diag),
                    "local_discr": s.params.local_discr,
                    "remote_discr": s.remote_discr,
                    "tx_interval": s.tx_interval(),
                    "detection_time": s.detection_time(),
                    "tx": d.stats.tx,
                    "tx_errors": d.stats.tx_errors,
                    "rx": d.stats.rx,
                    "discards": dict(d.stats.discards),
                    "transitions": {f"{a}->{b}": n for (a, b), n in d.stats.transitions.items()},
                    "detect_expiries": d.stats.detect_expiries,
                }
            )
        return out

    # ------------------------------------------------------------------ receive path

    def _on_error(self, e: BaseException) -> None:
        log.warning("bfd: receive error: %s", e)

    def _on_datagram(self, port: int, dg: BfdDatagram) -> None:
        try:
            pkt = decode(dg.data)
        except BfdDecodeError as e:
            self.unmatched[e.reason] += 1
            return
        d: BfdSessionDriver | None
        if pkt.your_discriminator:
            # RFC 5880 §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used to select
            # the session with which this BFD packet is associated. If no session is found, the packet
            # MUST be discarded."
            d = self._by_discr.get(pkt.your_discriminator)
        else:
            # "If the Your Discriminator field is zero, the session MUST be selected based on some
            # combination of other fields": RFC 5881 §3, the source and destination addresses.
            d = self._by_addresses(dg.src, dg.dst, port)
        if d is None or d.config.port != port:
            self.unmatched["no_session"] += 1
            return
        if dg.src != d.config.neighbor_ip:
            d.stats.discards["source"] += 1
            return
        if not d.config.ttl_ok(dg.ttl):
            d.stats.discards["ttl"] += 1  # RFC 5881 §5, RFC 5883 §2
            return
        d.stats.rx += 1
        d.receive(pkt, dg.rx_time)

    def _by_addresses(self, src: IPAddress, dst: IPAddress | None, port: int) -> BfdSessionDriver | None:
        for d in self.sessions.values():
            c = d.config
            if c.neighbor_ip == src and c.port == port and (c.source_ip is None or dst is None or c.source_ip == dst):
                return d
        return None
