"""The asyncio shell around one ``VrrpMachine``: events in, effects executed in order.

Per instance: one timer re-armed from ``machine.next_deadline()`` after every
step (a timerfd, ``vipd.linux.timerfd``; ``loop.call_at`` where there is none),
and one ordered worker for the effects that need netlink or may be slow
(addresses, announcements, notify). Adverts are sent synchronously from the
timer callback, so nothing queued behind netlink can delay one.

The takeover path is kept short: a Backup's timerfd wakes ``EARLY_WAKE`` before
the Master_Down_Timer is due, pre-encodes the advert it would send, and waits
out the rest on the CPU, handing back to the loop at once if a packet arrives
(it may be the master's advert). So the first advert leaves 45-80 µs after
Master_Down_Interval (measured in the lab) instead of ~400 µs after it, which
was a cold wake-up plus a cold first run of the machine and the encoder.

The kernel is reached only through the small ``Protocol`` classes below, so the
driver can be run against fakes.

FAULT has causes (DESIGN "The VIP is the truth"): the trackers' verdict, a VIP
the kernel refused while master (probed again with backoff), an interface gone
(``vipd.runtime.follow``), another sync-group member's fault. The machine is in
FAULT while any is present; one recovering never clears another.

Why one module of ~700 lines: every effect of the machine is executed here, in
one ``_execute``, so that their RFC order (advert, addresses, announcements,
notify) holds on every path, including the before-VIP hooks
(``vipd.runtime.gates``) that hold part of a batch back; splitting the effect
kinds across modules would split that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from vipd.fsm import (
    AddAddresses,
    AdvertReceived,
    Discard,
    Effect,
    Event,
    FaultChanged,
    Handover,
    LowerPriorityHeard,
    Notify,
    Params,
    PriorityNotice,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    Shutdown,
    Startup,
    State,
    TimerExpired,
    VrrpMachine,
)
from vipd.fsm.machine import EXTRA_IF
from vipd.linux.netlink import VipSpec
from vipd.obs.log import RateLimiter
from vipd.obs.recorder import RX, TX, InstanceRecorder
from vipd.obs.stats import InstanceStats
from vipd.runtime.gates import VipGate
from vipd.wire.advert import Advert, IPAddress, Received
from vipd.wire.l2 import garp_frame, unsolicited_na_frame

log = logging.getLogger("vipd")


class AddressOps(Protocol):
    """What the driver needs from netlink (``vipd.linux.netlink.AddressWriter`` implements it).

    ``add``/``remove`` act before they return (rtnetlink runs inside ``sendmsg``), so a
    GARP can follow at once; ``done(vip, errno)`` reports the kernel's answer later,
    from the loop (0, or EEXIST / EADDRNOTAVAIL for "already so", or another errno).
    """

    def prepare(self, vip: VipSpec) -> None: ...

    def add(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None: ...

    def remove(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None: ...

    def probe(self, vip: VipSpec) -> int:
        """0 if nothing known stops ``vip`` from being added now, else the errno an add would get.

        Installs nothing (no duplicate address on the wire while a peer is master).
        """
        ...


class AddressCompanion(Protocol):
    """Kernel state that comes and goes with the VIPs (``vipd.linux.routes.RouteSet``:
    keepalived ``virtual_routes`` / ``virtual_rules``). Both calls are idempotent and never raise."""

    async def install(self) -> None: ...

    async def remove(self) -> None: ...


class TimerWaker(Protocol):
    """A one-shot timer that calls back at a deadline (``vipd.linux.timerfd.QueuedTimer``); asyncio alone is
    up to 1 ms late.

    ``set(deadline, slack)``: float seconds on the loop's clock, None disarms; never calls back early,
    and may call back up to ``slack`` seconds late to share a wake-up with other timers.
    """

    def set(self, deadline: float | None, slack: float = 0.0) -> None: ...

    def close(self) -> None: ...


TimerFactory = Callable[[Callable[[], None]], "TimerWaker | None"]
"""Makes a ``TimerWaker`` calling the given function (``functools.partial(Waker.create, loop)``), or None."""

EARLY_WAKE = 0.0005
"""Seconds before a Backup's Master_Down_Timer at which its timerfd wakes to prepare the takeover.

Covers the wake-up latency of an idle CPU (0.1-0.15 ms measured in the lab VM,
with tails) and a cold interpreter; the rest until the deadline is spent polling
for input. Only a master that has gone quiet gets the timer that close, so this
costs CPU only at a takeover (or a master's advert late by almost
Master_Down_Interval); the loop is held for at most this long then, which other
instances' timers due in that window see as lateness."""


ADVERT_SLACK_SHARE = 0.02
"""A master's timers may run this share of Advertisement_Interval late (at most ``ADVERT_SLACK_MAX``).

So that masters whose adverts fall due close together send them from one wake-up of the loop
(``vipd.linux.timerfd.TimerQueue``): 255 masters at 0.1 s, their phases spread over the interval,
woke the loop ~2,500 times a second, each wake-up costing more than the advert. The schedule stays
drift-free (each deadline follows the previous deadline, not the send), so a master whose adverts
share a wake-up keeps the same small offset from one advert to the next and its gaps stay at
Advertisement_Interval (RFC 5798 §6.4.3); a lone master has no one to wait for and sends at its
deadline. 2 ms at 0.1 s against a Master_Down_Interval of more than 0.3 s. A Backup's
Master_Down_Timer never waits (its takeover time is the protocol's bound)."""
ADVERT_PHASES = 2
"""Phases per Advertisement_Interval that the masters of one process gather on (``align_adverts``).

Each wake-up of the loop after an idle wait costs ~100-300 µs of cold caches on the lab VM, more
than an advert, so the fewer the better: 255 masters at 0.1 s cost 17-19 µs per advert in-process
with 1 or 2 phases, 24.5 with 4, 26-27 with 10 (``ADVERT_SLACK_*`` alone: ~220-460 wake-ups a
second). The price is a burst: 128 adverts take ~3 ms to send, and a preemption within it delays
the tail of the burst for that interval only (bench-scale at 255 VRIDs: deviation p99 5.4 ms with
2 phases, 1.1 ms with 10 at 0.81x keepalived's master CPU instead of 0.72x; keepalived 2.5-4 ms)."""
ADVERT_SLACK_MAX = 0.002
"""Seconds: the most any master's timer waits for others to share its wake-up."""


FAULT_TRACKING = "tracking"
"""Fault cause: the trackers (``vipd.runtime.tracking``: weight-0 checks, the own interface, sync group)."""
FAULT_VIP = "vip"
"""Fault cause: a VIP of the plan could not be added or re-added while master (DESIGN "The VIP is the truth")."""
FAULT_LINK = "link"
"""Fault cause: an interface of the plan is gone, renamed or being re-opened (``vipd.runtime.follow``)."""
FAULT_GROUP = "sync_group"
"""Fault cause prefix (``sync_group:MEMBER``): another member of the ``vrrp_sync_group`` has a VIP or link fault."""
OWN_FAULTS = (FAULT_VIP, FAULT_LINK)
"""The causes the driver finds itself; a sync group shares them with its other members (keepalived vrrp_sync_fault)."""

VIP_RETRY_MIN = 0.1
"""Seconds before the first retry after a VIP fault; doubled after each failed retry."""
VIP_RETRY_MAX = 5.0
"""Seconds between retries at most while a VIP cannot be added."""


class FrameSender(Protocol):
    """An L2 sender bound to one interface (``vipd.linux.announce.L2Announcer``)."""

    def send(self, frame: bytes) -> None: ...


AdvertSender = Callable[[Advert], None]
"""Encode and send one advert to every destination of the instance; raises OSError."""

AdvertPreparer = Callable[[Advert], None]
"""Encode an advert ahead of time, so that sending it later costs only the ``sendto`` (never raises)."""


@functools.lru_cache(maxsize=4096)
def announce_frame(mac: bytes, address: IPAddress) -> bytes:
    """The gratuitous ARP (IPv4) or unsolicited NA (IPv6) frame announcing ``address`` from ``mac``; built once."""
    if isinstance(address, IPv4Address):
        return garp_frame(mac, address)
    return unsolicited_na_frame(mac, address)


def _errtext(err: int) -> str:
    """``"Operation not permitted (EPERM)"``: strerror and the symbolic name of an errno."""
    return f"{os.strerror(err)} ({errno.errorcode.get(err, err)})"


@dataclass(frozen=True, slots=True)
class AnnounceTarget:
    """Where to announce one VIP: its address, the sender for its device and that device's MAC.

    ``extra``: the device is not the instance's own (keepalived ``garp_extra_if`` announces it again).
    """

    address: IPAddress
    sender: FrameSender
    mac: bytes
    extra: bool = False


@dataclass(frozen=True, slots=True)
class _Swap:
    """Worker item of a reload that replaced the companions: remove ``old``, then install the current ones."""

    old: Sequence[AddressCompanion]


class InstanceDriver:
    """Runs one VRRP instance on the event loop.

    Args:
        name: instance name (keepalived ``vrrp_instance NAME``), used as log prefix.
        machine: the pure state machine.
        send_advert: encodes and transmits an ``Advert``.
        vips: the instance's addresses for netlink.
        announce: one target per VIP for GARP / unsolicited NA.
        addresses: netlink operations.
        stats: counters to update.
        loop: the event loop (default: the running one).
        timer: makes the instance's timer (a timerfd); None or a None result: ``loop.call_at``.
        prepare_advert: pre-encodes an advert for ``send_advert`` (called with the advert
            this router would send as master, at start and before a takeover).
        input_pending: True when a received packet waits to be read (polled, never blocks):
            a Backup about to take over yields to it.
        drain_input: reads and dispatches, at once, every packet the kernel received before the
            given loop time (``vipd.linux.sockets.AdvertReader.drain``): a Backup that finds its
            Master_Down_Timer overdue calls it before it may take over.
        align_adverts: other instances run in this process: as master, move the Adver_Timer's
            phase onto theirs (``vipd.fsm.TimerExpired.align``, ``ADVERT_SLACK_SHARE``) so that
            their adverts leave from one wake-up. A lone instance keeps its own phase.
        companions: kernel state installed after the VIPs are added and removed before
            they are removed (keepalived ``virtual_routes`` / ``virtual_rules``).
        garp_interval, gna_interval: seconds between single gratuitous ARPs / unsolicited
            NAs (keepalived ``vrrp_garp_interval`` / ``vrrp_gna_interval``; 0 = back to back).
        notifier: called from the effect worker with each transition (and each
            ``LowerPriorityHeard``, keepalived's MASTER_RX_LOWER_PRI event, and each
            ``PriorityNotice``, keepalived's MASTER/BACKUP_PRIORITY), in order,
            after its address effects (the notify hooks).
        sync_observer: called with ``(name, effects)`` after each step that returned
            effects (``vipd.runtime.syncgroup``: ``WantMaster`` and transitions).
        recorder: the instance's flight recorder (``vipd.obs.recorder``), or None.
        gate: hooks the VIPs wait for (``vipd.runtime.gates``), or None.
    """

    def __init__(
        self,
        *,
        name: str,
        machine: VrrpMachine,
        send_advert: AdvertSender,
        vips: Sequence[VipSpec],
        announce: Sequence[AnnounceTarget],
        addresses: AddressOps,
        stats: InstanceStats | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        timer: TimerFactory | None = None,
        prepare_advert: AdvertPreparer | None = None,
        input_pending: Callable[[], bool] | None = None,
        drain_input: Callable[[float], None] | None = None,
        align_adverts: bool = False,
        companions: Sequence[AddressCompanion] = (),
        garp_interval: float = 0.0,
        gna_interval: float = 0.0,
        notifier: Callable[[Notify | LowerPriorityHeard | PriorityNotice], None] | None = None,
        sync_observer: Callable[[str, list[Effect]], None] | None = None,
        recorder: InstanceRecorder | None = None,
        gate: VipGate | None = None,
    ) -> None:
        self.name = name
        self.machine = machine
        self.stats = stats or InstanceStats()
        self._send = send_advert
        self._vips = tuple(vips)
        self._announce = tuple(announce)
        self._addresses = addresses
        self.companions: list[AddressCompanion] = list(companions)
        self.garp_interval = garp_interval
        self.gna_interval = gna_interval
        self._loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waker = timer(self._on_wake) if timer is not None else None
        self._deadline: float | None = None  # what the timerfd stands for (it may be set earlier: EARLY_WAKE)
        self._prepare = prepare_advert
        self._input_pending = input_pending
        self._drain_input = drain_input
        self._advert_slack = min(ADVERT_SLACK_MAX, ADVERT_SLACK_SHARE * machine.params.advertisement_interval)
        self._align = align_adverts
        self._queue: asyncio.Queue[Effect | _Swap | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._limiter = RateLimiter()
        self.last_transition: tuple[float, Notify] | None = None
        self.notifier = notifier
        self.sync_observer = sync_observer
        self.faults: dict[str, str] = {}
        """Why the instance is in FAULT: cause (``FAULT_TRACKING``, ``FAULT_VIP``, ``FAULT_LINK``) -> reason text."""
        self.own_fault_observer: Callable[[str, str | None], None] | None = None
        """Called with ``(name, reason)`` when the first of ``OWN_FAULTS`` appears, ``(name, None)`` when the last
        goes (``vipd.runtime.syncgroup.SyncGroups``: the other members of its group follow into FAULT)."""
        self._retry: asyncio.TimerHandle | asyncio.Handle | None = None
        self._retry_delay = VIP_RETRY_MIN
        self.recorder = recorder
        self.gate = gate
        self._epoch = 0  # transitions so far: a gated address change is dropped if a newer one happened
        self._gate_task: asyncio.Task[None] | None = None
        self._vips_up = False  # the VIPs were added and not removed since (a removal hook is worth running)
        self._rx_src: IPAddress | None = None  # source of the advert being handled (discard attribution)
        self._rx_last: Received | None = None  # the last advert handled and the event made of it
        self._rx_event: AdvertReceived | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Feed ``Startup`` (RFC 5798 §6.4.1) and start the effect worker."""
        self._worker = self._loop.create_task(self._work(), name=f"vipd-{self.name}")
        self._prepare_advert()
        # The VIPs' netlink messages (pyroute2 encodes one in ~0.1 ms) are made once the loop
        # runs, not while 255 instances are built: still long before any Master_Down_Timer
        # (and a Backup's early wake-up, or the first add, makes any that are missing).
        self._loop.call_soon(self._prepare_vips)
        self.feed(Startup())

    async def stop(self, timeout: float = 5.0, *, deleted: bool = False) -> None:
        """Feed ``Shutdown`` (priority 0 if master, VIPs removed) and wait for the effects to finish.

        Args:
            timeout: seconds to wait for queued netlink work before giving up.
            deleted: a reload removed the instance (its notify is keepalived's DELETED
                when ``notify_deleted`` is set).
        """
        self.feed(Shutdown("deleted" if deleted else "shutdown"))
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._gate_task is not None and self.gate is not None:  # a removal hook: bounded by its timeout
            try:
                await asyncio.wait_for(asyncio.shield(self._gate_task), self.gate.timeout + 2.0)
            except TimeoutError:
                log.error("(%s) before-VIP hook still running at shutdown; VIPs removed without it", self.name)
                self._remove_vips()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.put_nowait(None)
        if self._waker is not None:
            self._waker.close()
            self._waker = None
            self._deadline = None
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._worker, timeout)
            except TimeoutError:
                log.error("(%s) timed out after %.1fs finishing address changes at shutdown", self.name, timeout)
                self._worker.cancel()

    # ------------------------------------------------------------------ input

    def feed(self, event: Event, at: float | None = None) -> None:
        """Hand one event to the machine, execute its effects, re-arm the timer.

        A ``FaultChanged`` fed here is the trackers' verdict (cause ``FAULT_TRACKING``):
        it is combined with the driver's own causes by :meth:`set_fault`, so a tracker
        recovering never clears a VIP or link fault, nor the other way round.

        Args:
            event: the event.
            at: when it happened (``loop.time()`` seconds, not in the future); default now.
        """
        if isinstance(event, FaultChanged):
            self.set_fault(FAULT_TRACKING, event.reason if event.fault else None, at)
            return
        self._step(event, at)

    @property
    def tracker_fault(self) -> bool:
        """True while the trackers hold the instance in FAULT (what ``vipd.runtime.tracking`` last applied)."""
        return FAULT_TRACKING in self.faults

    def set_fault(self, cause: str, reason: str | None, at: float | None = None) -> None:
        """Set (``reason`` text) or clear (None) one cause of FAULT; the machine is in FAULT while any is set.

        keepalived's FAULT state: no adverts, no VIPs. Entering it a master sends
        priority 0 first (RFC 5798 §6.4.3 shutdown, as keepalived); leaving it, the
        instance goes to Backup and the election runs again.

        Args:
            cause: ``FAULT_TRACKING``, ``FAULT_VIP`` or ``FAULT_LINK``.
            reason: what is wrong (shown by ``vipctl status``), or None when it is over.
            at: ``loop.time()`` seconds of the change; default now.
        """
        own_before = any(c in self.faults for c in OWN_FAULTS)
        if reason is None:
            if self.faults.pop(cause, None) is None:
                return
        elif self.faults.get(cause) == reason:
            return
        else:
            self.faults[cause] = reason
        own = any(c in self.faults for c in OWN_FAULTS)
        if own != own_before and self.own_fault_observer is not None:
            self.own_fault_observer(self.name, reason if own else None)
        fault = bool(self.faults)
        if fault == self.machine.fault:
            return  # another cause still holds it (or already did): only the reasons changed
        if not fault:
            text = f"{cause} recovered"
        elif len(self.faults) == 1:
            text = next(iter(self.faults.values()))  # as before causes were combined: "interface eth0"
        else:
            text = "; ".join(f"{c}: {r}" for c, r in self.faults.items())
        self._step(FaultChanged(fault, text), at)

    def _step(self, event: Event, at: float | None = None) -> None:
        now = self._loop.time() if at is None else min(at, self._loop.time())
        priority = self.machine.priority
        effects = self.machine.handle(event, now)
        if effects:
            self._execute(effects, now)
        if self.machine.priority != priority and self.recorder is not None:
            self.recorder.note("priority", f"priority {priority} -> {self.machine.priority}", now)
        self._arm()
        if self.sync_observer is not None and effects:
            self.sync_observer(self.name, effects)

    def on_advert(self, received: Received, rx_time: float | None = None) -> None:
        """A decoded advert for our VRID arrived (already past the codec's checks).

        Args:
            received: the decoded advert.
            rx_time: when the kernel received it (``loop.time()`` seconds); timers count from it.
        """
        adv = received.advert
        stats = self.stats
        stats.adverts_received += 1
        if adv.priority == 0:
            stats.priority_zero_received += 1
        kind = received.checksum._value_  # ``.value`` is a Python-level descriptor call on 3.11
        stats.checksum_kinds[kind] += 1
        if self.recorder is not None:
            self.recorder.advert(self._loop.time() if rx_time is None else rx_time, RX, received.src, adv, kind)
        # The codec hands out one Received per distinct datagram (memoised on its bytes), and the
        # event made of it is immutable: a master repeating itself gets the same event back.
        event = self._rx_event
        if event is None or received is not self._rx_last:
            event = self._rx_event = AdvertReceived(received.src, adv)
            self._rx_last = received
        self._rx_src = received.src
        self._step(event, rx_time)  # feed() without its FaultChanged test: this is an advert
        self._rx_src = None

    @property
    def vips(self) -> tuple[VipSpec, ...]:
        """The instance's virtual addresses as netlink specs."""
        return self._vips

    def hand_over(self, vips: Collection[VipSpec]) -> None:
        """Stop managing ``vips``: another instance now owns them (reload moving a VIP), so they are not removed."""
        self._vips = tuple(v for v in self._vips if v not in vips)

    def reconfigure(
        self,
        params: Params,
        *,
        vips: Sequence[VipSpec],
        announce: Sequence[AnnounceTarget],
        send_advert: AdvertSender | None = None,
        keep: Collection[VipSpec] = (),
        prepare_advert: AdvertPreparer | None = None,
    ) -> None:
        """Apply a reloaded configuration without a restart (hitless reload; keepalived ``clear_diff_vrrp``).

        The machine keeps its state and timers (``VrrpMachine.reconfigure``). While
        master, only the difference of the VIP lists is touched: new VIPs are added
        and announced, dropped ones removed (except those in ``keep``, which another
        master instance owns after the reload); the others stay put.

        Args:
            params: the new FSM parameters (same VRID and version).
            vips: the new VIPs as netlink specs; announce: one target per VIP.
            send_advert: a new advert sender (peers, checksum or TTL changed), or None;
                prepare_advert: its pre-encoder.
            keep: VIPs not to remove even if this instance no longer has them.
        Raises:
            ValueError: from the machine, if VRID or version changed (nothing is touched).
        """
        now = self._loop.time()
        if params.vrid != self.machine.params.vrid or params.version != self.machine.params.version:
            raise ValueError(f"({self.name}) VRID/version changed: restart the instance")
        old = self._vips
        self._vips = tuple(vips)
        self._announce = tuple(announce)
        for vip in self._vips:
            if vip not in old:
                self._addresses.prepare(vip)
        if send_advert is not None:
            self._send = send_advert
            self._prepare = prepare_advert
        if self.machine.state is State.MASTER:
            for vip in old:
                if vip not in self._vips and vip not in keep:
                    self._addresses.remove(vip, self._removed)
            new = [v for v in self._vips if v not in old]
            for vip in new:
                self._addresses.add(vip, self._added)
            if new:
                added = {v.address for v in new}
                self._announce_targets([t for t in self._announce if t.address in added], params.garp_master_repeat)
        self._advert_slack = min(ADVERT_SLACK_MAX, ADVERT_SLACK_SHARE * params.advertisement_interval)
        self._execute(self.machine.reconfigure(params, now), now)
        self._arm()
        self._prepare_advert()

    def relink(
        self,
        params: Params,
        *,
        vips: Sequence[VipSpec],
        announce: Sequence[AnnounceTarget],
        send_advert: AdvertSender,
        prepare_advert: AdvertPreparer | None,
        input_pending: Callable[[], bool] | None,
        drain_input: Callable[[float], None] | None = None,
    ) -> None:
        """Swap every kernel handle after the interfaces were resolved again by name (``vipd.runtime.follow``).

        Same as :meth:`reconfigure` (state and timers kept), plus the receive socket's
        poller. A master whose MAC changed announces its VIPs again from the new MAC
        (garp_master_repeat); a VIP fault is probed again at once.

        Args:
            params: FSM parameters (the source address may have changed: IPv6 link-local from a new MAC).
            vips, announce: VIP specs with the new ifindex, announce targets with the new sender and MAC.
            send_advert, prepare_advert: the sender on the new transmit socket and its pre-encoder.
            input_pending: the new receive socket's poll, or None; drain_input: its drain, or None.
        """
        macs = {t.address: t.mac for t in self._announce}
        self._input_pending = input_pending
        self._drain_input = drain_input
        self.reconfigure(params, vips=vips, announce=announce, send_advert=send_advert, prepare_advert=prepare_advert)
        moved = [t for t in self._announce if macs.get(t.address, t.mac) != t.mac]
        if moved and self.machine.state is State.MASTER:
            self._announce_targets(moved, params.garp_master_repeat)
        self.retry_vips()

    def retry_vips(self) -> None:
        """In a VIP fault: probe again now (an address or link event may have removed the cause).

        The backoff is not reset (only a successful add resets it), so a cause the probe
        cannot see does not make the instance flap faster because addresses come and go.
        """
        if FAULT_VIP not in self.faults:
            return
        if self._retry is not None:
            self._retry.cancel()
        self._retry = self._loop.call_soon(self._retry_vips)

    def replace_companions(self, companions: Sequence[AddressCompanion]) -> None:
        """Swap the routes/rules that follow the VIPs (reload); while master the old go and the new come, in order."""
        old = list(self.companions)
        self.companions = list(companions)
        if self.machine.state is State.MASTER and old != self.companions:
            self._queue.put_nowait(_Swap(old))

    def repair(self) -> None:
        """Re-add VIPs something else deleted, if still master (DESIGN "Repair"; counted in ``vip_repairs``).

        Synchronous like every address change, so it can never overtake a later removal.
        """
        if self.machine.state is State.MASTER and (self._gate_task is None or self._gate_task.done()):
            for vip in self._vips:
                self._addresses.add(vip, self._repaired)

    def _prepare_vips(self) -> None:
        for vip in self._vips:
            self._addresses.prepare(vip)

    def _arm(self) -> None:
        machine = self.machine
        deadline = machine.next_deadline()
        if self._waker is not None:
            if deadline != self._deadline:
                self._deadline = deadline
                state = self.machine.state
                if deadline is not None and state is State.BACKUP:
                    # A Backup's only timer is the Master_Down_Timer: wake early to prepare the takeover.
                    self._waker.set(deadline - EARLY_WAKE)
                elif state is State.MASTER:
                    self._waker.set(deadline, self._advert_slack)
                else:
                    self._waker.set(deadline)
            return
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fire, deadline)

    def _on_wake(self) -> None:
        """The timerfd expired: run the due timer, or, woken ``EARLY_WAKE`` ahead, get ready and wait for it."""
        deadline = self._deadline
        if deadline is None or self._waker is None:
            return
        if time.monotonic() < deadline:
            if self.machine.state is not State.BACKUP:
                self._waker.set(deadline)  # set early for a Backup that has changed state since
                return
            # Rehearse the takeover on a copy: encodes its advert and warms the code path
            # (after an idle wait, the first run is ~15x slower than the next: ~80 against ~5 µs).
            for effect in self.machine.peek(TimerExpired(), deadline):
                if isinstance(effect, SendAdvert) and self._prepare is not None:
                    self._prepare(effect.advert)
            for vip in self._vips:
                self._addresses.prepare(vip)  # netlink messages ready (a lookup by now, but warms its path)
            for target in self._announce:
                announce_frame(target.mac, target.address)
            pending = self._input_pending
            while time.monotonic() < deadline:
                if pending is not None and pending():
                    # Let the loop read it first (the master's advert would move the deadline).
                    self._waker.set(deadline)
                    return
        elif self.machine.state is State.BACKUP and self._drain_input is not None:
            # Woken late (the loop fell behind: a stall, a burst): adverts already in the socket's
            # queue were received before the expiry was seen and may be the master's, so they are
            # read now, ahead of anything else the loop has queued (RFC 5798 §6.4.2: every advert
            # received resets the Master_Down_Timer; the timers count from the kernel's receive
            # time). Yielding one loop turn at a time instead let 255 overdue timers each take a
            # turn per 32 packets read, so a 0.6 s stall at 255 VRIDs became a flap storm.
            self._drain_input(self._loop.time())
            deadline = self._deadline
            if deadline is None or time.monotonic() < deadline:
                return  # an advert moved (or a transition cleared) the deadline; _arm re-armed the timer
        self._fire(deadline)

    def _prepare_advert(self) -> None:
        if self._prepare is not None:
            self._prepare(self.machine.advert())

    def _fire(self, deadline: float) -> None:
        self._timer = None
        self._deadline = None
        actual = self._loop.time()
        # call_at may run a hair early (clock resolution); the machine must see the deadline reached.
        now = max(actual, deadline)
        # align: masters with the same interval drift onto one phase and share one wake-up
        effects = self.machine.handle(
            TimerExpired(self._advert_slack, self.machine.params.advertisement_interval / ADVERT_PHASES)
            if self._align
            else TimerExpired(),
            now,
        )
        stats = self.stats
        sent = stats.adverts_sent
        self._execute(effects, now)
        if stats.adverts_sent != sent:  # an advert left: its lateness is counted after the send, off its path
            lateness = actual - deadline
            stats.advert_lateness.observe(lateness)
            if lateness > stats.advert_lateness_max:
                stats.advert_lateness_max = lateness
        self._arm()
        if self.sync_observer is not None and effects:
            self.sync_observer(self.name, effects)

    # ------------------------------------------------------------------ output

    def _execute(self, effects: list[Effect], now: float) -> None:
        deferred: list[Effect] | None = None  # effects waiting for a before-VIP hook (vipd.runtime.gates)
        adding = False
        for effect in effects:
            if deferred is not None and isinstance(effect, SendGratuitousArp | Notify | LowerPriorityHeard):
                if isinstance(effect, Notify):
                    self._on_transition(effect, now)  # the state has changed; only its hooks wait
                deferred.append(effect)
                continue
            if isinstance(effect, SendAdvert):
                self._send_advert(effect.advert, now)
            elif isinstance(effect, Discard):
                self.stats.discards[effect.reason] += 1
                if self.recorder is not None:
                    self.recorder.discard(now, effect.reason, self._rx_src)
                self._warn(now, f"discard:{effect.reason}", "dropped advert: %s %s", effect.reason, effect.detail)
            elif isinstance(effect, AddAddresses):
                gate = self.gate
                if gate is not None and gate.before_add is not None and self.machine.state is State.MASTER:
                    deferred, adding = [effect], True
                    continue
                self._add_vips(effect)
            elif isinstance(effect, RemoveAddresses):
                gate = self.gate
                if gate is not None and gate.before_remove is not None and self._vips_up:
                    deferred, adding = [effect], False
                    continue
                self._remove_vips(effect)
            elif isinstance(effect, SendGratuitousArp):
                if effect.reason == EXTRA_IF:
                    # keepalived vrrp_send_vmac_update: one frame per extra interface (its first VIP)
                    firsts = {id(t.sender): t for t in reversed(self._announce) if t.extra}
                    self._announce_targets(list(reversed(firsts.values())), effect.repeat)
                else:
                    self._announce_all(effect.repeat)
            elif isinstance(effect, Notify):
                self._on_transition(effect, now)
                self._queue.put_nowait(effect)
            elif isinstance(effect, PriorityNotice):
                log.info("(%s) effective priority now %d", self.name, effect.priority)
                self._queue.put_nowait(effect)
            elif isinstance(effect, LowerPriorityHeard):
                log.info(
                    "(%s) master heard lower priority %d from %s: answered, announced again",
                    self.name,
                    effect.priority,
                    effect.src,
                )
                self._queue.put_nowait(effect)
        if deferred is not None:
            self._start_gate(deferred, adding, self._epoch, now)

    def _add_vips(self, effect: AddAddresses | None = None) -> None:
        # The kernel has the VIPs when this returns: the GARP that follows is never early.
        for vip in self._vips:
            self._addresses.add(vip, self._added)
        self._vips_up = True
        if self.companions:
            self._queue.put_nowait(effect or AddAddresses())

    def _remove_vips(self, effect: RemoveAddresses | None = None) -> None:
        for vip in self._vips:
            self._addresses.remove(vip, self._removed)
        self._vips_up = False
        if self.companions:
            self._queue.put_nowait(effect or RemoveAddresses())

    def _start_gate(self, deferred: list[Effect], adding: bool, epoch: int, at: float) -> None:
        """Run the before-VIP hook as a task (after any earlier one), then the deferred effects in order."""
        prev = self._gate_task
        self._gate_task = self._loop.create_task(
            self._gated(prev, deferred, adding, epoch, at), name=f"vipd-{self.name}-before-vip"
        )

    async def _gated(
        self, prev: asyncio.Task[None] | None, deferred: list[Effect], adding: bool, epoch: int, at: float
    ) -> None:
        if prev is not None:
            with contextlib.suppress(Exception):
                await prev
        gate = self.gate
        hook = None if gate is None else (gate.before_add if adding else gate.before_remove)
        if gate is None or hook is None:  # a reload removed the hook meanwhile
            self._run_deferred(deferred)
            return
        name = gate.add_name if adding else gate.remove_name
        outcome = await hook()
        ok = outcome.result == "ok"
        self.stats.notify_runs[f"{name}:{outcome.result}"] += 1
        if self.recorder is not None:
            self.recorder.note(
                "hook",
                f"{name} {outcome.result}"
                + (f" (exit {outcome.returncode})" if outcome.returncode is not None else ""),
                hook=name,
                result=outcome.result,
                exit_status=outcome.returncode,
                duration=round(outcome.duration, 6),
            )
        why = outcome.error or ("timed out" if outcome.timed_out else f"exit status {outcome.returncode}")
        if adding:
            if epoch != self._epoch or self.machine.state is not State.MASTER:
                log.info("(%s) %s ended after the instance left MASTER: VIPs not added", self.name, name)
                return
            if not ok and gate.on_failure == "yield":
                log.error("(%s) %s failed (%s): yielding (vipd_before_vip_on_failure yield)", self.name, name, why)
                self.feed(Handover(force=True, reason="before_vip_hook_failed"))
                return
        elif self.machine.state is State.MASTER:
            log.info("(%s) %s ended after the instance became MASTER again: VIPs kept", self.name, name)
            return
        if not ok:
            log.warning(
                "(%s) %s failed (%s); %s the VIPs anyway", self.name, name, why, "adding" if adding else "removing"
            )
        self._run_deferred(deferred)
        log.info(
            "(%s) %s took %.3fs; VIPs %s %.3fs after the transition",
            self.name,
            name,
            outcome.duration,
            "added" if adding else "removed",
            self._loop.time() - at,
        )

    def _run_deferred(self, deferred: list[Effect]) -> None:
        """Execute effects held back by a before-VIP hook, in their RFC order (transitions already recorded)."""
        for effect in deferred:
            if isinstance(effect, AddAddresses):
                self._add_vips(effect)
            elif isinstance(effect, RemoveAddresses):
                self._remove_vips(effect)
            elif isinstance(effect, SendGratuitousArp):
                if self.machine.state is State.MASTER:
                    self._announce_all(effect.repeat)
            elif isinstance(effect, Notify | LowerPriorityHeard):
                self._queue.put_nowait(effect)

    def _send_advert(self, advert: Advert, now: float) -> None:
        try:
            self._send(advert)
        except OSError as e:
            self._warn(now, "send", "advert send failed: %s", e)
            return
        self.stats.adverts_sent += 1
        if advert.priority == 0:
            self.stats.priority_zero_sent += 1
        if self.recorder is not None:
            self.recorder.advert(now, TX, self.machine.params.primary_address, advert, self.recorder.tx_checksum)

    def _on_transition(self, n: Notify, now: float) -> None:
        self.last_transition = (now, n)
        self._epoch += 1
        if self.recorder is not None:
            self.recorder.transition(now, n.old.value, n.new.value, n.reason, n.detail, self.machine.priority)
        self.stats.transitions[f"{n.old.value}->{n.new.value}:{n.reason}"] += 1
        if n.new is State.MASTER:
            self.stats.master_transitions += 1
        label = "STOP" if n.new is State.INITIALIZE else n.new.value
        log.info(
            "(%s) Entering %s STATE (%s; priority %d, master_down_interval %.3fs)",
            self.name,
            label,
            f"{n.reason}: {n.detail}" if n.detail else n.reason,
            self.machine.priority,
            self.machine.master_down_interval,
        )

    def _warn(self, now: float, key: str, msg: str, *args: object) -> None:
        ok, suppressed = self._limiter.allow(key, now)
        if not ok:
            return
        if suppressed:
            msg += f" ({suppressed} similar messages suppressed)"
        log.warning("(%s) " + msg, self.name, *args)

    async def _work(self) -> None:
        """Run the slow, ordered effects: companions (routes, rules) and notify hooks; never fatal."""
        while True:
            effect = await self._queue.get()
            if effect is None:
                return
            try:
                if isinstance(effect, _Swap):
                    for companion in reversed(effect.old):
                        await companion.remove()
                    if self.machine.state is State.MASTER:
                        for companion in self.companions:
                            await companion.install()
                elif isinstance(effect, AddAddresses):
                    if self.machine.state is State.MASTER:  # not if we already stepped down again
                        for companion in self.companions:
                            await companion.install()
                elif isinstance(effect, RemoveAddresses):
                    for companion in reversed(self.companions):
                        await companion.remove()
                elif isinstance(effect, Notify | LowerPriorityHeard | PriorityNotice) and self.notifier is not None:
                    self.notifier(effect)
            except Exception as e:  # a kernel surprise must not kill the instance
                self.stats.address_errors += 1
                log.error("(%s) %s failed: %s", self.name, type(effect).__name__, e)

    def _added(self, vip: VipSpec, err: int) -> None:
        if err == 0:
            log.info("(%s) added %s/%d", self.name, vip.address, vip.prefixlen)
            self._retry_delay = VIP_RETRY_MIN
            self._note_vip("added", vip)
        elif err != errno.EEXIST:
            self._address_error("add", vip, err)
            self._vip_fault("add", vip, err)

    def _repaired(self, vip: VipSpec, err: int) -> None:
        if err == 0:
            self.stats.vip_repairs += 1
            self._note_vip("repaired", vip)
            log.warning("(%s) re-added %s/%d: it was deleted behind our back while master", *self._vip_args(vip))
        elif err != errno.EEXIST:
            self._address_error("re-add", vip, err)
            self._vip_fault("re-add", vip, err)

    def _vip_fault(self, what: str, vip: VipSpec, err: int) -> None:
        """A master cannot hold ``vip``: FAULT (cause ``FAULT_VIP``), retry with backoff (DESIGN: the VIP is the truth).

        Only while master: an answer arriving after the instance stepped down needs nothing.
        """
        if self.machine.state is not State.MASTER:
            return
        reason = f"cannot {what} {vip.address}/{vip.prefixlen}: {_errtext(err)}"
        log.error("(%s) fault: %s; retrying in %.1fs", self.name, reason, self._retry_delay)
        self.set_fault(FAULT_VIP, reason)
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._retry is not None:
            return
        delay = self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, VIP_RETRY_MAX)
        self._retry = self._loop.call_later(delay, self._retry_vips)

    def _retry_vips(self) -> None:
        """Backoff expired: if nothing known still blocks the VIPs, clear the VIP fault (Backup, then the election).

        The probe (``AddressOps.probe``) installs nothing; a cause it cannot see shows up
        again at the next add as master, with the backoff doubled (at most ``VIP_RETRY_MAX``).
        """
        self._retry = None
        if FAULT_VIP not in self.faults:
            return
        for vip in self._vips:
            err = self._addresses.probe(vip)
            if err:
                self.set_fault(FAULT_VIP, f"cannot add {vip.address}/{vip.prefixlen}: {_errtext(err)}")
                self._schedule_retry()
                return
        log.info("(%s) VIPs look installable again: leaving FAULT for an election", self.name)
        self.set_fault(FAULT_VIP, None)

    def _removed(self, vip: VipSpec, err: int) -> None:
        if err == 0:
            log.info("(%s) removed %s/%d", self.name, vip.address, vip.prefixlen)
            self._note_vip("removed", vip)
        elif err not in (errno.EADDRNOTAVAIL, errno.ENODEV):
            self._address_error("remove", vip, err)

    def _note_vip(self, what: str, vip: VipSpec) -> None:
        if self.recorder is not None:
            self.recorder.note("vip", f"{what} {vip.address}/{vip.prefixlen}", action=what, address=str(vip.address))

    def _vip_args(self, vip: VipSpec) -> tuple[str, IPAddress, int]:
        return self.name, vip.address, vip.prefixlen

    def _address_error(self, what: str, vip: VipSpec, err: int) -> None:
        self.stats.address_errors += 1
        log.error("(%s) cannot %s %s/%d: %s", self.name, what, vip.address, vip.prefixlen, os.strerror(err))

    def _announce_all(self, repeat: int) -> None:
        """Send ``repeat`` GARPs (IPv4) or unsolicited NAs (IPv6) for every VIP (keepalived garp_master_repeat).

        With ``garp_interval`` / ``gna_interval`` set, the frames are paced by a
        separate task (so address work queued behind is not held up) that stops
        as soon as the instance is no longer master.
        """
        self._announce_targets(self._announce, repeat)

    def _announce_targets(self, targets: Sequence[AnnounceTarget], repeat: int) -> None:
        """``_announce_all`` for ``targets`` only (a reload announces the VIPs it added)."""
        v6 = bool(targets) and not isinstance(targets[0].address, IPv4Address)
        interval = self.gna_interval if v6 else self.garp_interval
        if self.recorder is not None and targets:
            what = "unsolicited NA" if v6 else "gratuitous ARP"
            self.recorder.note(
                "garp", f"{what} x{max(1, repeat)} for {len(targets)} address(es)", self._loop.time(), repeat=repeat
            )
        if interval > 0:
            self._loop.create_task(self._announce_paced(repeat, interval, targets), name=f"vipd-{self.name}-garp")
            return
        for target in targets:
            frame = announce_frame(target.mac, target.address)
            for _ in range(max(1, repeat)):
                with contextlib.suppress(BlockingIOError):
                    try:
                        target.sender.send(frame)
                    except OSError as e:
                        self._warn(self._loop.time(), "garp", "announce of %s failed: %s", target.address, e)
                        break

    async def _announce_paced(
        self, repeat: int, interval: float, targets: Sequence[AnnounceTarget] | None = None
    ) -> None:
        """``repeat`` rounds over ``targets`` (default: every VIP), ``interval`` s apart, while master."""
        frames = [(t, announce_frame(t.mac, t.address)) for t in (self._announce if targets is None else targets)]
        first = True
        for _ in range(max(1, repeat)):
            for target, frame in frames:
                if not first:
                    await asyncio.sleep(interval)
                first = False
                if self.machine.state is not State.MASTER:
                    return
                try:
                    target.sender.send(frame)
                except OSError as e:
                    self._warn(self._loop.time(), "garp", "announce of %s failed: %s", target.address, e)
