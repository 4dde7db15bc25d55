"""The flight recorder: a bounded ring of what happened, and the adverts around each transition.

One :class:`FlightRecorder` per daemon holds the last ``size`` events (vipd
keyword ``vipd_recorder_size`` in ``global_defs``, default
:data:`DEFAULT_SIZE`): transitions with their cause, priority changes, tracker
results that changed, VIP adds/removes/repairs, GARP bursts, reloads, hook runs
with their exit status. Each instance writes through its
:class:`InstanceRecorder`, which also keeps

- the last :data:`ADVERTS_BEFORE` adverts received and sent (a ``deque``), copied
  into each transition event, and the next :data:`ADVERTS_AFTER` appended to it;
- the last advert heard from each source (``vipctl explain``'s "master last heard");
- the last discard per reason with its source.

Cost per advert (the hot path): one tuple and one ``deque.append``, plus a dict
store for a received one; measured by ``vipdlab.bench.recorder`` (see
docs/operations.md). Nothing here does I/O; times are ``time.monotonic()``
seconds (asyncio's loop clock), turned into wall-clock time only when read.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vipd.wire.advert import Advert, IPAddress

DEFAULT_SIZE = 1000
"""Events kept when ``vipd_recorder_size`` is not set."""

ADVERTS_BEFORE = 10
"""Adverts (received and sent) before a transition copied into its event."""

ADVERTS_AFTER = 5
"""Adverts after a transition appended to its event."""

MAX_SOURCES = 16
"""Sources remembered per instance for "last heard" (a flood of spoofed sources cannot grow it)."""

RX, TX = "rx", "tx"

AdvertRecord = tuple[float, str, IPAddress, Advert, str]
"""``(monotonic seconds, "rx"|"tx", source address, advert, checksum kind "pseudo"|"plain")``."""


@dataclass(slots=True)
class Event:
    """One entry of the ring.

    Attributes:
        seq: increasing number, unique per daemon run (``vipctl events --follow`` asks for newer ones).
        at: ``time.monotonic()`` seconds.
        instance: the instance name, or "" for daemon-wide events (reload).
        kind: ``transition``, ``priority``, ``tracker``, ``vip``, ``garp``, ``reload``, ``hook``,
            ``maintenance``, ``handover``.
        text: one human sentence.
        data: machine-readable details (JSON-able).
        adverts: for transitions: the adverts before it, then up to :data:`ADVERTS_AFTER` after.
    """

    seq: int
    at: float
    instance: str
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    adverts: list[AdvertRecord] | None = None

    def to_json(self, wall_offset: float) -> dict[str, Any]:
        """A JSON-able dict; ``wall_offset`` = ``time.time() - time.monotonic()``."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "time": round(self.at + wall_offset, 6),
            "instance": self.instance,
            "kind": self.kind,
            "text": self.text,
            **self.data,
        }
        if self.adverts is not None:
            out["adverts"] = [advert_json(a, wall_offset) for a in self.adverts]
        return out


def advert_json(rec: AdvertRecord, wall_offset: float) -> dict[str, Any]:
    """One advert record as a dict (time, direction, source, priority, interval, checksum, addresses)."""
    at, direction, src, adv, checksum = rec
    return {
        "time": round(at + wall_offset, 6),
        "dir": direction,
        "src": str(src),
        "vrid": adv.vrid,
        "version": adv.version,
        "priority": adv.priority,
        "interval": adv.max_adver_int,
        "checksum": checksum,
        "addresses": [str(a) for a in adv.addresses],
    }


class FlightRecorder:
    """The daemon's ring of :class:`Event`.

    Args:
        size: events kept, at least 1 (``vipd_recorder_size``).
    Raises:
        ValueError: ``size`` below 1.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"recorder size must be at least 1, got {size}")
        self.events: collections.deque[Event] = collections.deque(maxlen=size)
        self.seq = 0
        self.instances: dict[str, InstanceRecorder] = {}

    def instance(self, name: str) -> InstanceRecorder:
        """The recorder of instance ``name`` (kept across reloads, so its adverts and peers survive)."""
        rec = self.instances.get(name)
        if rec is None:
            rec = self.instances[name] = InstanceRecorder(name, self)
        return rec

    def add(self, instance: str, kind: str, text: str, at: float | None = None, **data: Any) -> Event:
        """Append one event (``at``: monotonic seconds, default now) and return it."""
        self.seq += 1
        ev = Event(self.seq, time.monotonic() if at is None else at, instance, kind, text, data)
        self.events.append(ev)
        return ev

    def select(self, *, after_seq: int = 0, since: float | None = None, instance: str | None = None) -> list[Event]:
        """Events with ``seq > after_seq``, at or after wall-clock ``since`` (epoch seconds), of ``instance``."""
        offset = time.time() - time.monotonic()
        out = []
        for ev in self.events:
            if ev.seq <= after_seq:
                continue
            if since is not None and ev.at + offset < since:
                continue
            if instance is not None and ev.instance not in (instance, ""):
                continue
            out.append(ev)
        return out

    def transitions(self, instance: str | None = None) -> list[Event]:
        """The transition events still in the ring (they carry adverts), oldest first."""
        return [e for e in self.events if e.kind == "transition" and instance in (None, e.instance)]


class InstanceRecorder:
    """What one instance writes into the :class:`FlightRecorder` (see the module docstring).

    Attributes:
        recent: the last :data:`ADVERTS_BEFORE` adverts, received and sent.
        heard: source address -> its last accepted advert record (at most :data:`MAX_SOURCES`).
        discards: reason -> ``(monotonic seconds, source or "")`` of the last discard.
        tx_checksum: checksum kind of sent adverts, set by the runtime from the plan.
    """

    __slots__ = ("_after", "_after_left", "_heard", "_last_rx", "discards", "name", "recent", "ring", "tx_checksum")

    def __init__(self, name: str, ring: FlightRecorder) -> None:
        self.name = name
        self.ring = ring
        self.recent: collections.deque[AdvertRecord] = collections.deque(maxlen=ADVERTS_BEFORE)
        self._heard: dict[IPAddress, AdvertRecord] = {}
        self._last_rx: AdvertRecord | None = None  # filed into _heard when another source speaks
        self.discards: dict[str, tuple[float, str]] = {}
        self._after: list[AdvertRecord] | None = None
        self._after_left = 0
        self.tx_checksum = "pseudo"
        """Checksum kind of the adverts this instance sends (``plain`` for v2 and ``v3_checksum_as_v2``)."""

    def advert(self, at: float, direction: str, src: IPAddress, advert: Advert, checksum: str) -> None:
        """Record one advert received (``direction`` :data:`RX`) or sent (:data:`TX`). The hot path."""
        rec = (at, direction, src, advert, checksum)
        self.recent.append(rec)
        if direction == RX:
            # Hashing an ipaddress object costs ~1 µs in Python: file the previous record only when the
            # source changes (the codec hands out the same address object for the same sender).
            last = self._last_rx
            if last is not None and last[2] is not src:
                self._file(last)
            self._last_rx = rec
        if self._after is not None:
            self._after.append(rec)
            self._after_left -= 1
            if self._after_left <= 0:
                self._after = None

    def _file(self, rec: AdvertRecord) -> None:
        src = rec[2]
        if src in self._heard or len(self._heard) < MAX_SOURCES:
            self._heard[src] = rec

    @property
    def heard(self) -> dict[IPAddress, AdvertRecord]:
        """Source address -> its last received advert record (at most :data:`MAX_SOURCES` sources)."""
        if self._last_rx is not None:
            self._file(self._last_rx)
        return self._heard

    def transition(self, at: float, old: str, new: str, reason: str, detail: str, priority: int) -> Event:
        """Record a state change with its cause; copies the recent adverts and collects the next ones."""
        why = f"{reason}: {detail}" if detail else reason
        ev = self.ring.add(
            self.name,
            "transition",
            f"{old} -> {new} ({why}), priority {priority}",
            at,
            old=old,
            new=new,
            reason=reason,
            detail=detail,
            priority=priority,
        )
        ev.adverts = list(self.recent)
        self._after = ev.adverts
        self._after_left = ADVERTS_AFTER
        return ev

    def discard(self, at: float, reason: str, src: object = "") -> None:
        """Remember the last discard of ``reason`` and where it came from (``src``: address or "")."""
        self.discards[reason] = (at, str(src) if src else "")

    def note(self, kind: str, text: str, at: float | None = None, **data: Any) -> None:
        """Append an event of this instance (priority, tracker, vip, garp, hook...)."""
        self.ring.add(self.name, kind, text, at, **data)

    def adverts_around(self) -> Iterable[AdvertRecord]:
        """Every advert kept in this instance's transition events, in time order, without duplicates."""
        seen: set[tuple[float, str]] = set()
        out: list[AdvertRecord] = []
        for ev in self.ring.transitions(self.name):
            for rec in ev.adverts or ():
                key = (rec[0], rec[1])
                if key not in seen:
                    seen.add(key)
                    out.append(rec)
        out.sort(key=lambda r: r[0])
        return out
