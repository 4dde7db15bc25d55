"""A simulated VRRP segment: pure ``VrrpMachine``s on a shared medium, driven by a discrete-event scheduler.

No sockets, no sleeps, no clock: simulated time is a float that jumps from one
event to the next, so a minute of 10 ms adverts runs in milliseconds.

Key classes:

- :class:`Wire`: the medium. One-way ``delay``, uniform ``jitter`` on top of it
  (jitter larger than the gap between two packets reorders them), ``loss``
  drawn from a seeded ``random.Random``, and cut links (partitions).
- :class:`Router`: one machine plus what it did: transitions, adverts sent,
  discards counted by reason, and every ``handle()`` call (for JSONL replay).
- :class:`Sim`: the scheduler. It calls ``handle(TimerExpired(), t)`` exactly at
  ``next_deadline()``, delivers each ``SendAdvert`` to every other live router
  after the wire's delay, and runs scheduled actions (crash, shutdown, cut, heal,
  priority change). At equal times: actions and deliveries first (in the order
  they were scheduled), then timers.

What it must not do: decide anything a machine decides. It only moves packets
and time.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from vipd.fsm import (
    AdvertReceived,
    Discard,
    Effect,
    Event,
    FaultChanged,
    Notify,
    Params,
    PriorityChanged,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    TimerExpired,
    VrrpMachine,
)
from vipd.wire.advert import Advert, IPAddress

VIPS: tuple[IPAddress, ...] = (IPv4Address("192.0.2.100"),)
MAX_STEPS = 5_000_000


def router_params(
    address: str, priority: int, *, version: int = 3, interval: float = 1.0, vrid: int = 51, **kw: object
) -> Params:
    """Params for one router on 192.0.2.0/24 sharing VRID 51 and one VIP; GARP repeats off unless asked."""
    kw.setdefault("garp_master_delay", 0.0)
    return Params(
        vrid=vrid,
        version=version,
        priority=priority,
        advertisement_interval=interval,
        primary_address=IPv4Address(address),
        addresses=VIPS,
        **kw,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Transition:
    t: float
    router: str
    old: State
    new: State
    reason: str


@dataclass(frozen=True, slots=True)
class Call:
    """One ``handle()`` call: the input and the output, for JSONL replay."""

    t: float
    router: str
    event: Event
    effects: tuple[Effect, ...]
    state: State
    next_deadline: float | None


@dataclass
class Router:
    name: str
    machine: VrrpMachine
    alive: bool = True
    died_at: float | None = None
    transitions: list[Transition] = field(default_factory=list)
    sent: list[tuple[float, Advert]] = field(default_factory=list)
    received: int = 0
    discards: Counter[str] = field(default_factory=Counter)

    @property
    def address(self) -> IPAddress:
        return self.machine.params.primary_address

    @property
    def state(self) -> State:
        return self.machine.state

    def state_at(self, t: float) -> State:
        """State just after every event at time ``t`` (INITIALIZE before the first transition)."""
        state = State.INITIALIZE
        for tr in self.transitions:
            if tr.t > t:
                break
            state = tr.new
        return state


class Wire:
    """The shared medium; parameters may be changed at any time (see ``Sim.at``)."""

    def __init__(self, *, delay: float = 0.001, jitter: float = 0.0, loss: float = 0.0, seed: int = 0) -> None:
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.rng = random.Random(seed)
        self._cut: set[tuple[str, str]] = set()
        self.drop: Callable[[float, str, str, Advert], bool] | None = None  # extra, scripted loss

    def cut(self, side_a: Iterable[str], side_b: Iterable[str]) -> None:
        """Partition: nothing crosses between the two sides, in either direction."""
        for a in side_a:
            for b in side_b:
                self._cut.update({(a, b), (b, a)})

    def heal(self) -> None:
        """Reconnect everything and make the medium perfect again (delay stays as it is)."""
        self._cut.clear()
        self.loss = 0.0
        self.jitter = 0.0
        self.drop = None

    def arrival(self, t: float, src: str, dst: str, advert: Advert) -> float | None:
        """Return when this copy arrives at ``dst``, or None if it is lost."""
        if (src, dst) in self._cut:
            return None
        if self.drop is not None and self.drop(t, src, dst, advert):
            return None
        # Draw for every copy, lost or not, so one parameter does not shift the others' random stream.
        lost = self.rng.random() < self.loss
        extra = self.rng.uniform(0.0, self.jitter) if self.jitter else 0.0
        return None if lost else t + self.delay + extra


class Sim:
    """Discrete-event scheduler over a :class:`Wire` and named :class:`Router`s."""

    def __init__(self, wire: Wire | None = None) -> None:
        self.wire = wire or Wire()
        self.routers: dict[str, Router] = {}
        self.now = 0.0
        self.calls: list[Call] = []
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self.observers: list[Callable[[str, list[Effect]], None]] = []
        """Called with ``(router, effects)`` after each ``feed`` (a sync-group coordinator listens here)."""

    # ------------------------------------------------------------ building

    def add(self, name: str, params: Params) -> Router:
        r = Router(name, VrrpMachine(params))
        self.routers[name] = r
        return r

    def at(self, t: float, action: Callable[[float], None]) -> None:
        """Run ``action(t)`` at simulated time ``t``."""
        heapq.heappush(self._queue, (t, next(self._seq), action))

    def start(self, name: str, t: float = 0.0) -> None:
        self.at(t, lambda now: self.feed(name, Startup(), now))

    def start_all(self, t: float = 0.0) -> None:
        for name in self.routers:
            self.start(name, t)

    def crash(self, name: str, t: float) -> None:
        """The router stops dead: no more adverts, no more input (packets already on the wire still arrive)."""

        def _crash(now: float) -> None:
            self.routers[name].alive = False
            self.routers[name].died_at = now

        self.at(t, _crash)

    def shutdown(self, name: str, t: float) -> None:
        self.at(t, lambda now: self.feed(name, Shutdown(), now))

    def set_priority(self, name: str, priority: int, t: float) -> None:
        self.at(t, lambda now: self.feed(name, PriorityChanged(priority), now))

    def set_fault(self, name: str, fault: bool, t: float) -> None:
        self.at(t, lambda now: self.feed(name, FaultChanged(fault, "sim"), now))

    def cut(self, side_a: Iterable[str], side_b: Iterable[str], t: float) -> None:
        a, b = list(side_a), list(side_b)
        self.at(t, lambda now: self.wire.cut(a, b))

    def heal(self, t: float) -> None:
        self.at(t, lambda now: self.wire.heal())

    # ------------------------------------------------------------ running

    def feed(self, name: str, event: Event, t: float) -> list[Effect]:
        """Hand one event to a live router at ``t`` and carry out its effects on the wire."""
        r = self.routers[name]
        if not r.alive:
            return []
        effects = r.machine.handle(event, t)
        self.calls.append(Call(t, name, event, tuple(effects), r.machine.state, r.machine.next_deadline()))
        for e in effects:
            if isinstance(e, SendAdvert):
                r.sent.append((t, e.advert))
                self._transmit(t, r, e.advert)
            elif isinstance(e, Notify):
                r.transitions.append(Transition(t, name, e.old, e.new, e.reason))
            elif isinstance(e, Discard):
                r.discards[e.reason] += 1
        if effects:
            for observe in self.observers:
                observe(name, effects)
        return effects

    def _transmit(self, t: float, src: Router, advert: Advert) -> None:
        for dst in self.routers.values():
            if dst is src:
                continue  # IP_MULTICAST_LOOP off: no copy of our own advert
            if dst.machine.params.vrid != advert.vrid:
                continue  # another virtual router on the same segment: the receiver's demux drops it
            when = self.wire.arrival(t, src.name, dst.name, advert)
            if when is not None:
                self.at(when, self._deliver_action(dst.name, src.address, advert))

    def _deliver_action(self, dst: str, src: IPAddress, advert: Advert) -> Callable[[float], None]:
        def _deliver(now: float) -> None:
            r = self.routers[dst]
            if r.alive:
                r.received += 1
                self.feed(dst, AdvertReceived(src, advert), now)

        return _deliver

    def _next_timer(self) -> tuple[float, str] | None:
        best: tuple[float, str] | None = None
        for r in self.routers.values():
            if not r.alive:
                continue
            due = r.machine.next_deadline()
            if due is not None and (best is None or due < best[0]):
                best = (due, r.name)
        return best

    def run(self, until: float) -> None:
        """Advance simulated time to ``until``, processing every event due up to and including it."""
        for _ in range(MAX_STEPS):
            timer = self._next_timer()
            t_action = self._queue[0][0] if self._queue else float("inf")
            t_timer = timer[0] if timer else float("inf")
            if min(t_action, t_timer) > until:
                self.now = until
                return
            if t_action <= t_timer:
                t, _, action = heapq.heappop(self._queue)
                self.now = t
                action(t)
            else:
                assert timer is not None
                self.now = t_timer
                before = timer[0]
                self.feed(timer[1], TimerExpired(), t_timer)
                after = self.routers[timer[1]].machine.next_deadline()
                assert after is None or after > before, f"{timer[1]}: deadline did not advance after firing"
        raise AssertionError(f"more than {MAX_STEPS} steps before t={until}")

    # ------------------------------------------------------------ observing

    def transitions(self) -> list[Transition]:
        return sorted((tr for r in self.routers.values() for tr in r.transitions), key=lambda tr: tr.t)

    def masters_at(self, t: float) -> list[str]:
        return [r.name for r in self.routers.values() if self._is_master_at(r, t)]

    @staticmethod
    def _is_master_at(r: Router, t: float) -> bool:
        return r.state_at(t) is State.MASTER and (r.died_at is None or t < r.died_at)

    def multi_master_windows(self, start: float = 0.0, end: float | None = None) -> list[tuple[float, float, int]]:
        """Return (from, to, count) for every stretch of [start, end] with two or more live masters."""
        end = self.now if end is None else end
        deaths = [r.died_at for r in self.routers.values() if r.died_at is not None]
        changes = [tr.t for tr in self.transitions()] + deaths
        points = sorted({start, end, *(t for t in changes if start <= t <= end)})
        windows: list[tuple[float, float, int]] = []
        for a, b in itertools.pairwise(points):
            n = len(self.masters_at(a))
            if n < 2:
                continue
            if windows and windows[-1][1] == a:
                prev = windows.pop()
                windows.append((prev[0], b, max(prev[2], n)))
            else:
                windows.append((a, b, n))
        return windows
