"""The VRRP state machine of one virtual router: RFC 5798/9568 §6 and RFC 3768 §6.

Rules of this module (after h11's ``_state.py``):

1. Everything that decides a state transition lives here. The runtime feeds
   events and executes the returned effects in order; it never decides.
2. No I/O, no clock, no logging, no asyncio. Every ``handle()`` takes ``now``
   (float seconds, monotonic). Deadlines live in the machine; ``next_deadline()``
   tells the runtime the one time it must call back with ``TimerExpired``.
3. One time unit: float seconds. Skew_Time is computed in float (never in
   integer centiseconds, where it collapses to 0 at short intervals).

RFC 9568 renames Master to Active; vipd says master, like keepalived.

Size: over 400 lines on purpose: the whole RFC 5798 §6.4 machine in one file, every branch citing its clause.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from vipd.fsm.effects import (
    AddAddresses,
    Discard,
    Effect,
    LowerPriorityHeard,
    Notify,
    PriorityNotice,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    WantMaster,
)
from vipd.fsm.events import (
    AdvertReceived,
    Event,
    FaultChanged,
    Handover,
    MaintenanceChanged,
    MasterDownDetected,
    PriorityChanged,
    Shutdown,
    Startup,
    SyncGoBackup,
    SyncGoMaster,
    TimerExpired,
)
from vipd.fsm.state import State
from vipd.wire.advert import Advert, IPAddress

PRIORITY_OWNER = 255
PRIORITY_LEAVING = 0
EXTRA_IF = "extra_if"
"""``SendGratuitousArp.reason`` of keepalived's ``garp_extra_if`` bursts: only the VIPs on other interfaces."""

HANDOVER_WAIT_ADVERTS = 2.0
"""Master_Adver_Intervals a yielding Master waits for another router's advert (vipd extension).

A Backup that hears priority 0 takes over after its Skew_Time, under one interval
(RFC 5798 §6.4.2), and sends an advert at once: it reaches us within one interval
plus the wire; the second interval is margin."""


@dataclass(frozen=True, slots=True)
class Params:
    """The configured parameters of one virtual router (RFC 5798 §6.1).

    Attributes:
        vrid: VRID, 1..255 (keepalived ``virtual_router_id``).
        version: 2 (RFC 3768) or 3 (RFC 5798).
        priority: configured priority 1..255 (keepalived ``priority``); 255 = owner.
        advertisement_interval: seconds (keepalived ``advert_int``); whole seconds for v2.
        primary_address: our IP source address, used for the equal-priority tie-break
            (RFC 5798 §6.4.3) and to recognise our own adverts.
        addresses: the virtual addresses advertised (keepalived ``virtual_ipaddress``).
        preempt_mode: RFC Preempt_Mode (keepalived: True unless ``nopreempt``).
        preempt_delay: seconds a backup waits after first seeing a lower-priority master
            before preempting it (keepalived ``preempt_delay``; not in the RFC).
        auth_type, auth_data: VRRPv2 authentication (RFC 2338 §5.3.6; keepalived
            ``authentication { auth_type PASS; auth_pass }``); ``auth_data`` 8 bytes.
        garp_master_delay: seconds after becoming master before the second GARP burst,
            0 = none (keepalived ``garp_master_delay``, default 5).
        garp_master_repeat: GARPs per address in one burst (keepalived, default 5).
        garp_master_refresh: seconds between periodic re-announcements while master,
            0 = off (keepalived ``garp_master_refresh``).
        garp_master_refresh_repeat: GARPs per address in a refresh burst (default 1).
        check_address_list: discard adverts whose address list differs from ours
            (RFC 5798 §7.1 "MAY"; keepalived does, unless ``vrrp_skip_check_adv_addr``).
        garp_lower_prio_repeat: GARPs per address when a master hears a lower priority,
            0 = none (keepalived ``garp_lower_prio_repeat``); None = ``garp_master_repeat``.
        garp_lower_prio_delay: seconds after that burst before a second one, 0 = none
            (keepalived ``garp_lower_prio_delay``); None = ``garp_master_delay``.
        sync_group: the router is a member of a ``vrrp_sync_group``: an expired
            Master_Down_Timer emits ``WantMaster`` and stays Backup until the group
            coordinator sends ``SyncGoMaster`` (keepalived ``vrrp_sync_can_goto_master``).
        owner_ignore_adverts: while the effective priority is 255 (address owner), every
            received advert is dropped (keepalived ``owner_ignore_adverts``; on in strict mode).
        notify_priority_changes: every change of the effective priority emits
            ``PriorityNotice`` (keepalived ``notify_priority_changes``).
        garp_extra_if: seconds between the periodic ``SendGratuitousArp(1, "extra_if")``
            of a master (keepalived ``garp_extra_if``: one frame on each other interface),
            first ``garp_master_delay`` + this after becoming master; 0 = off.
    """

    vrid: int
    version: int
    priority: int
    advertisement_interval: float
    primary_address: IPAddress
    addresses: tuple[IPAddress, ...]
    preempt_mode: bool = True
    preempt_delay: float = 0.0
    auth_type: int = 0
    auth_data: bytes = b""
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    check_address_list: bool = True
    garp_lower_prio_repeat: int | None = None
    garp_lower_prio_delay: float | None = None
    sync_group: bool = False
    owner_ignore_adverts: bool = False
    garp_extra_if: float = 0.0
    notify_priority_changes: bool = False

    @property
    def lower_prio_repeat(self) -> int:
        """``garp_lower_prio_repeat``, defaulting to ``garp_master_repeat`` (keepalived)."""
        return self.garp_master_repeat if self.garp_lower_prio_repeat is None else self.garp_lower_prio_repeat

    @property
    def lower_prio_delay(self) -> float:
        """``garp_lower_prio_delay`` in seconds, defaulting to ``garp_master_delay`` (keepalived)."""
        return self.garp_master_delay if self.garp_lower_prio_delay is None else self.garp_lower_prio_delay


def skew_time(version: int, priority: int, master_adver_interval: float) -> float:
    """Return Skew_Time in seconds.

    v2 (RFC 3768 §6.1): ``(256 - Priority) / 256`` seconds, independent of the interval.
    v3 (RFC 5798 §6.1): ``((256 - Priority) * Master_Adver_Interval) / 256``.
    """
    if version == 2:
        return (256 - priority) / 256.0
    return ((256 - priority) * master_adver_interval) / 256.0


def master_down_interval(version: int, priority: int, master_adver_interval: float) -> float:
    """Return Master_Down_Interval in seconds: ``3 * Master_Adver_Interval + Skew_Time`` (RFC 5798 §6.1)."""
    return 3.0 * master_adver_interval + skew_time(version, priority, master_adver_interval)


@dataclass(slots=True)
class _Timers:
    """Deadlines in float seconds (monotonic), ``None`` when not running."""

    adver_at: float | None = None  # Adver_Timer (Master)
    master_down_at: float | None = None  # Master_Down_Timer (Backup)
    garp_delay_at: float | None = None  # keepalived garp_master_delay (Master)
    garp_refresh_at: float | None = None  # keepalived garp_master_refresh (Master)
    garp_lower_prio_at: float | None = None  # keepalived garp_lower_prio_delay (Master)
    garp_extra_at: float | None = None  # keepalived garp_extra_if (Master)

    def earliest(self) -> float | None:
        # Written out, not a loop over a tuple: a Backup asks this on every advert it hears.
        best = self.adver_at
        t = self.master_down_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.garp_delay_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.garp_refresh_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.garp_lower_prio_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.garp_extra_at
        if t is not None and (best is None or t < best):
            best = t
        return best


@dataclass(slots=True)
class VrrpMachine:
    """One virtual router's RFC state machine; pure and synchronous.

    Use: ``effects = m.handle(event, now)``; execute the effects in order; then
    call ``handle(TimerExpired(), t)`` no earlier than ``t = m.next_deadline()``.

    Attributes (read-only for callers):
        params: the configuration.
        state: current ``State``.
        priority: current effective priority (``params.priority`` adjusted by trackers).
        master_adver_interval: seconds; v3 learns it from the master (RFC 5798 §6.4.2).
        master_address: source of the last advert accepted from a master, if any.
        last_reason: reason token of the last transition.
        wants_master: a sync-group member held in Backup after its Master_Down_Timer
            fired (keepalived ``wantstate == VRRP_STATE_MAST`` while ``state == BACKUP``).
        maintenance: the operator holds the router out of Master (``MaintenanceChanged``).
        yielding: after a ``Handover``, the router does not preempt until it is Master again.
        probing: a hand-over waits for another router's advert (else it takes the addresses back).
    """

    params: Params
    state: State = State.INITIALIZE
    priority: int = 0
    master_adver_interval: float = 0.0
    master_address: IPAddress | None = None
    last_reason: str = ""
    fault: bool = False
    wants_master: bool = False
    maintenance: bool = False
    yielding: bool = False
    probing: bool = False
    _timers: _Timers = field(default_factory=_Timers)
    _down_reason: str = "master_down_timer"
    _preempt_until: float | None = None
    _lower_prio_garp_after: float = float("-inf")
    _same_addresses: tuple[IPAddress, ...] | None = None
    """The last advert address list found to be the set of ``params.addresses`` (the codec hands
    out the same tuple for the same bytes, so a repeat is recognised by identity)."""
    _master_heard_at: float | None = None  # when the last advert from the master was accepted (Backup)
    _checked: tuple[AdvertReceived, Params] | None = None
    """The last event that passed ``_instance_checks`` and the params it passed them under. The
    checks are a pure function of the two (both immutable), and the runtime hands a master's
    repeated adverts in as the same event object: a repeat is recognised by identity."""
    _advert: Advert | None = None
    """The advert last built by :meth:`advert`, returned again while its priority and ``params`` hold."""
    _advert_params: Params | None = None

    def __post_init__(self) -> None:
        if not self.priority:
            self.priority = self.params.priority
        if not self.master_adver_interval:
            self.master_adver_interval = self.params.advertisement_interval

    # ------------------------------------------------------------------ queries

    @property
    def skew_time(self) -> float:
        """Skew_Time in seconds for the current priority and Master_Adver_Interval."""
        return skew_time(self.params.version, self.priority, self.master_adver_interval)

    @property
    def master_down_interval(self) -> float:
        """Master_Down_Interval in seconds (RFC 5798 §6.1).

        :func:`master_down_interval` and :func:`skew_time` written out (the same expressions, so
        the same floats): a Backup computes this on every advert it hears."""
        interval = self.master_adver_interval
        if self.params.version == 2:
            return 3.0 * interval + (256 - self.priority) / 256.0
        return 3.0 * interval + ((256 - self.priority) * interval) / 256.0

    def next_deadline(self) -> float | None:
        """Return the earliest pending deadline (float seconds, monotonic), or None."""
        return self._timers.earliest()

    def advert(self, priority: int | None = None) -> Advert:
        """Build the advert this router sends (RFC 5798 §5.2), with ``priority`` overriding ours.

        The same (immutable) object comes back while the priority and ``params`` are unchanged:
        a master sends it every Advertisement_Interval, and the sender recognises it by identity.
        """
        p = self.params
        prio = self.priority if priority is None else priority
        last = self._advert
        if last is not None and last.priority == prio and self._advert_params is p:
            return last
        adv = Advert(
            version=p.version,
            vrid=p.vrid,
            priority=prio,
            max_adver_int=p.advertisement_interval,
            addresses=p.addresses,
            auth_type=p.auth_type if p.version == 2 else 0,
            auth_data=p.auth_data if p.version == 2 else b"",
        )
        if prio == self.priority:  # not the priority-0 one of a shutdown, sent once
            self._advert, self._advert_params = adv, p
        return adv

    def peek(self, event: Event, now: float) -> list[Effect]:
        """Return the effects ``handle(event, now)`` would return, leaving this machine unchanged.

        Lets a caller prepare ahead of time (the runtime pre-encodes the advert a
        takeover will send). Raises what ``handle`` raises.
        """
        clone = copy.copy(self)
        clone._timers = copy.copy(self._timers)
        return clone.handle(event, now)

    # ------------------------------------------------------------------ input

    def handle(self, event: Event, now: float) -> list[Effect]:
        """Process one event at time ``now`` (float seconds) and return the effects, in order.

        Raises:
            TypeError: for an object that is not an ``Event``.
        """
        if isinstance(event, AdvertReceived):
            return self._on_advert(event, now)
        if isinstance(event, TimerExpired):
            return self._on_timer(now, event.align, event.grid)
        if isinstance(event, Startup):
            return self._on_startup(now)
        if isinstance(event, Shutdown):
            return self._on_shutdown(now, event.reason)
        if isinstance(event, PriorityChanged):
            return self._on_priority(event.priority, now)
        if isinstance(event, FaultChanged):
            return self._on_fault(event, now)
        if isinstance(event, SyncGoMaster):
            return self._on_sync_master(event, now)
        if isinstance(event, SyncGoBackup):
            return self._on_sync_backup(event, now)
        if isinstance(event, MasterDownDetected):
            return self._on_master_down_detected(event, now)
        if isinstance(event, MaintenanceChanged):
            return self._on_maintenance(event, now)
        if isinstance(event, Handover):
            return self._on_handover(event, now)
        raise TypeError(f"not a VRRP event: {event!r}")

    def reconfigure(self, params: Params, now: float) -> list[Effect]:
        """Replace the configuration of a running router without a state change (hitless reload).

        keepalived reloads by re-reading everything and keeping each instance's
        state (``vrrp_reload`` -> ``clear_diff_vrrp``/``restore_vrrp_state``);
        vipd does the same here for one machine:

        - the state, the running timers and the master last heard are kept;
        - the effective priority moves by the change of the configured one, so a
          tracker's offset survives (keepalived: effective = base + sum of the
          weights, kept in 1..254 unless the base is 255, ``vrrp_set_effective_priority``);
          a Backup that becomes the owner (255) takes over at once, as in
          ``PriorityChanged`` (RFC 5798 §6.4.1 by analogy);
        - Master: the Adver_Timer is pulled in to the new Advertisement_Interval if
          that is shorter (never pushed out, so no advert is skipped); the refresh
          timer follows ``garp_master_refresh``;
        - Backup: v2 takes the new interval as Master_Adver_Interval (RFC 3768 §6.1:
          it is the configured one); v3 keeps the interval it learnt from a master
          (RFC 5798 §6.4.2) and takes the new one only if it has heard none yet.
          The Master_Down_Timer runs on and is recomputed at the next advert;
        - the advertised address list is ``params.addresses`` from the next advert
          on; which addresses to add or remove is the runtime's business.

        Args:
            params: the new configuration; ``vrid`` and ``version`` must not change.
            now: float seconds, monotonic.
        Returns:
            the effects, in order (empty unless the router became the owner).
        Raises:
            ValueError: ``vrid`` or ``version`` differs (such a change is a new router:
                stop this one and start another).
        """
        old = self.params
        if params.vrid != old.vrid or params.version != old.version:
            raise ValueError(
                f"reconfigure cannot change VRID/version (v{old.version} VRID {old.vrid} -> "
                f"v{params.version} VRID {params.vrid}); restart the router"
            )
        self.params = params
        self._same_addresses = None
        if params.priority == PRIORITY_OWNER:
            priority = PRIORITY_OWNER
        elif self.priority == old.priority:
            priority = params.priority
        else:
            priority = min(PRIORITY_OWNER - 1, max(1, self.priority + params.priority - old.priority))
        t = self._timers
        if self.state is State.MASTER:
            self.master_adver_interval = params.advertisement_interval
            if t.adver_at is not None:
                t.adver_at = min(t.adver_at, now + params.advertisement_interval)
            if params.garp_master_refresh <= 0:
                t.garp_refresh_at = None
            elif params.garp_master_refresh != old.garp_master_refresh or t.garp_refresh_at is None:
                t.garp_refresh_at = now + params.garp_master_refresh
            if params.garp_master_delay <= 0:
                t.garp_delay_at = None
            if params.lower_prio_delay <= 0 or params.lower_prio_repeat <= 0:
                t.garp_lower_prio_at = None
            if params.garp_extra_if <= 0:
                t.garp_extra_at = None
            elif params.garp_extra_if != old.garp_extra_if or t.garp_extra_at is None:
                t.garp_extra_at = now + params.garp_extra_if
        elif params.version == 2 or self.master_address is None:
            self.master_adver_interval = params.advertisement_interval
        if params.preempt_delay <= 0 or not params.preempt_mode:
            self._preempt_until = None
        if priority != self.priority:
            return self._on_priority(priority, now)
        return []

    # ------------------------------------------------------------------ transitions

    def _become_master(self, now: float, reason: str) -> list[Effect]:
        """RFC 5798 §6.4.2 (Master_Down_Timer fires) and §6.4.1 (owner start-up).

        Send an ADVERTISEMENT, install the addresses, broadcast gratuitous ARP /
        unsolicited NA, set the Adver_Timer to Advertisement_Interval, go to Master.
        keepalived adds a second GARP burst after ``garp_master_delay``.
        """
        p = self.params
        old = self.state
        self.state = State.MASTER
        self.last_reason = reason
        self.wants_master = False
        self.yielding = self.probing = False
        self.master_address = None
        self._preempt_until = None
        t = self._timers
        t.master_down_at = None
        t.adver_at = now + p.advertisement_interval
        t.garp_delay_at = now + p.garp_master_delay if p.garp_master_delay > 0 else None
        t.garp_refresh_at = now + p.garp_master_refresh if p.garp_master_refresh > 0 else None
        # keepalived vrrp_state_become_master: the extra-interface thread first runs garp_delay + vmac_garp_intvl on.
        t.garp_extra_at = now + p.garp_master_delay + p.garp_extra_if if p.garp_extra_if > 0 else None
        return [
            SendAdvert(self.advert()),
            AddAddresses(),
            SendGratuitousArp(p.garp_master_repeat, "takeover"),
            Notify(old, State.MASTER, reason),
        ]

    def _become_backup(self, now: float, reason: str) -> list[Effect]:
        """Enter Backup with Master_Down_Timer = Master_Down_Interval (RFC 5798 §6.4.1, §6.4.3)."""
        old = self.state
        self.state = State.BACKUP
        self.last_reason = reason
        self.wants_master = False
        self.probing = False
        t = self._timers
        t.adver_at = t.garp_delay_at = t.garp_refresh_at = t.garp_lower_prio_at = t.garp_extra_at = None
        t.master_down_at = now + self.master_down_interval
        self._down_reason = "master_down_timer"
        # keepalived clears preempt_time on every entry into BACKUP, so preempt_delay counts
        # again from the first lower-priority advert after a restart, a fault or a step-down.
        self._preempt_until = None
        # Leaving Master: stop answering for the VIPs (§6.4.2 "MUST NOT"). Entering
        # Backup from Initialize: remove VIPs a crashed earlier run left behind.
        return [RemoveAddresses(), Notify(old, State.BACKUP, reason)]

    def _on_startup(self, now: float) -> list[Effect]:
        """RFC 5798 §6.4.1: the owner (priority 255) goes straight to Master, others to Backup."""
        if self.state is not State.INITIALIZE:
            return []
        self.master_adver_interval = self.params.advertisement_interval
        if self.fault:
            return self._enter_fault("fault at startup")
        if self.priority == PRIORITY_OWNER and not self.maintenance:
            return self._become_master(now, "owner_startup")
        return self._become_backup(now, "startup")

    def _on_shutdown(self, now: float, reason: str = "shutdown") -> list[Effect]:
        """RFC 5798 §6.4.2/§6.4.3 Shutdown: a master sends priority 0 and leaves; all go to Initialize.

        ``reason`` is "deleted" for an instance a reload removed (keepalived ``notify_deleted``).
        """
        old = self.state
        self._timers = _Timers()
        self.state = State.INITIALIZE
        self.last_reason = "shutdown"
        self.wants_master = False
        self.probing = False
        if old is State.INITIALIZE:
            return []
        effects: list[Effect] = []
        if old is State.MASTER:
            effects.append(SendAdvert(self.advert(PRIORITY_LEAVING)))
        effects.append(RemoveAddresses())
        effects.append(Notify(old, State.INITIALIZE, reason))
        return effects

    def _enter_fault(self, reason: str) -> list[Effect]:
        """FAULT (keepalived): stop advertising, drop the VIPs; a master says priority 0 first."""
        old = self.state
        self._timers = _Timers()
        self.state = State.FAULT
        self.last_reason = "fault"
        self.wants_master = False
        self.probing = False
        effects: list[Effect] = []
        if old is State.MASTER:
            effects.append(SendAdvert(self.advert(PRIORITY_LEAVING)))
        effects.append(RemoveAddresses())
        effects.append(Notify(old, State.FAULT, "fault", reason))
        return effects

    def _on_fault(self, event: FaultChanged, now: float) -> list[Effect]:
        if event.fault == self.fault:
            return []
        self.fault = event.fault
        if event.fault:
            if self.state is State.INITIALIZE:
                return []  # recorded; Startup goes straight to FAULT
            return self._enter_fault(event.reason)
        if self.state is not State.FAULT:
            return []
        # Leaving FAULT: start again as from Initialize (keepalived re-runs the election).
        self.master_adver_interval = self.params.advertisement_interval
        if self.priority == PRIORITY_OWNER and not self.maintenance:
            return self._become_master(now, "fault_cleared_owner")
        return self._become_backup(now, "fault_cleared")

    def _on_sync_master(self, event: SyncGoMaster, now: float) -> list[Effect]:
        """keepalived ``vrrp_sync_master``: every member not yet master gets ``vrrp_state_goto_master``.

        Only a Backup moves (a Master already is; FAULT and Initialize members are the
        tracker's business: keepalived never syncs a group with a member in FAULT to master).
        The takeover is the RFC's (§6.4.2): advert, addresses, announcements, notify.
        """
        if self.state is not State.BACKUP or self.maintenance:
            return []
        effects = self._become_master(now, event.reason)
        if event.detail:
            effects[-1] = Notify(State.BACKUP, State.MASTER, event.reason, event.detail)
        return effects

    def _on_sync_backup(self, event: SyncGoBackup, now: float) -> list[Effect]:
        """keepalived ``vrrp_sync_backup``: a member still master leaves with ``vrrp_state_leave_master(isync, false)``.

        ``advF`` is false and ``wantstate`` is BACK there, so no priority-0 advert is sent
        (keepalived sends one only when leaving master for FAULT); the addresses go and
        the Master_Down_Timer is armed to 3 * Master_Adver_Interval + Skew_Time, as for any
        step-down (RFC 5798 §6.4.3). Members not in Master are left alone ("isync->state ==
        VRRP_STATE_BACK ... continue"; FAULT is the tracker's business).
        """
        if self.state is not State.MASTER:
            return []
        effects = self._become_backup(now, event.reason)
        if event.detail:
            effects[-1] = Notify(State.MASTER, State.BACKUP, event.reason, event.detail)
        return effects

    def _on_priority(self, priority: int, now: float) -> list[Effect]:
        """A tracker moved the effective priority; it takes effect in the next advert or timer reset.

        A Backup that becomes the owner (255) takes over at once (RFC 5798 §6.4.1 by analogy).
        """
        if not 1 <= priority <= 255:
            raise ValueError(f"priority must be 1..255, got {priority}")
        effects: list[Effect] = []
        if priority != self.priority and self.params.notify_priority_changes and self.state is not State.INITIALIZE:
            # keepalived vrrp_set_effective_priority -> send_instance_priority_notifies (FIFO only).
            effects.append(PriorityNotice(priority, self.state is State.MASTER))
        self.priority = priority
        if self.state is State.BACKUP and priority == PRIORITY_OWNER and not self.maintenance:
            return [*effects, *self._become_master(now, "became_owner")]
        return effects

    def _yield(self, now: float, reason: str, force: bool) -> list[Effect]:
        """A Master leaves as at shutdown (priority 0, RFC 5798 §6.4.3) for Backup; probe unless ``force``."""
        effects: list[Effect] = [SendAdvert(self.advert(PRIORITY_LEAVING)), *self._become_backup(now, reason)]
        if not force:
            self.probing = True
            self._timers.master_down_at = now + HANDOVER_WAIT_ADVERTS * self.master_adver_interval
            self._down_reason = "handover_no_peer"
        return effects

    def _on_maintenance(self, event: MaintenanceChanged, now: float) -> list[Effect]:
        """vipd ``vipctl maintenance on|off``: never Master while on; a Master hands over (see the event)."""
        if event.on == self.maintenance:
            return []
        self.maintenance = event.on
        if event.on:
            self.wants_master = False
            return self._yield(now, "maintenance", event.force) if self.state is State.MASTER else []
        self.probing = False
        if self.state is State.BACKUP:
            if self.priority == PRIORITY_OWNER:
                return self._become_master(now, "maintenance_off_owner")
            if self._timers.master_down_at is None:
                self._timers.master_down_at = now + self.master_down_interval
        return []

    def _on_handover(self, event: Handover, now: float) -> list[Effect]:
        """vipd ``vipctl handover``: a Master yields once, then behaves as a Backup that does not preempt."""
        if self.state is not State.MASTER or self.maintenance:
            return []
        effects = self._yield(now, event.reason, event.force)
        self.yielding = True
        return effects

    def _on_master_down_detected(self, event: MasterDownDetected, now: float) -> list[Effect]:
        """draft-ietf-rtgwg-vrrp-bfd-p2p (vipd opt-in ``vipd_bfd_master_down``): a Backup whose BFD session
        to the master went Down acts as if the Master_Down_Timer fired (RFC 5798 §6.4.2) now.

        Adverts win: ignored unless ``event.peer`` is the master this Backup follows and no advert from
        it was accepted after ``event.silent_since``. An advert sent while BFD heard nothing proves the
        master's VRRP alive over the same link, and taking over then would make two masters; BFD only
        ever shortens the wait for a master whose adverts have stopped too.
        """
        if self.state is not State.BACKUP or self.master_address is None or event.peer != self.master_address:
            return []
        if self._master_heard_at is not None and self._master_heard_at > event.silent_since:
            return []
        t = self._timers
        if t.master_down_at is None:
            return []
        t.master_down_at = now
        self._down_reason = event.reason
        return self._on_timer(now)

    # ------------------------------------------------------------------ timers

    def _on_timer(self, now: float, align: float = 0.0, grid: float = 0.0) -> list[Effect]:
        t = self._timers
        effects: list[Effect] = []
        if self.state is State.BACKUP and t.master_down_at is not None and now >= t.master_down_at:
            if self.probing:
                # vipd hand-over probe: no other router took over; take the addresses back, refused.
                self.maintenance = self.yielding = False
                return self._become_master(now, "handover_no_peer")
            if self.maintenance:
                # Never Master in maintenance: keep following the master (the timer keeps running).
                t.master_down_at = now + self.master_down_interval
                return []
            if self.params.sync_group:
                # keepalived vrrp_state_goto_master: a sync-group member goes master only if
                # vrrp_sync_can_goto_master; otherwise "wantstate = VRRP_STATE_MAST" and it stays
                # Backup, the Master_Down_Timer re-armed to 3 * Master_Adver_Interval + Skew_Time
                # ("prefer backup state to avoid thrashing"). The group coordinator decides.
                self.wants_master = True
                t.master_down_at = now + self.master_down_interval
                return [WantMaster(self._down_reason)]
            # RFC 5798 §6.4.2: "If the Master_Down_Timer fires" -> Master.
            return self._become_master(now, self._down_reason)
        if self.state is not State.MASTER:
            return effects
        p = self.params
        if t.adver_at is not None and now >= t.adver_at:
            # RFC 5798 §6.4.3: "If the Adver_Timer fires": send an ADVERTISEMENT, reset the timer.
            # Drift-free: the next deadline follows the previous one, unless we are a whole interval late.
            effects.append(SendAdvert(self.advert()))
            ai = p.advertisement_interval
            nxt = t.adver_at + ai
            if align > 0.0:
                # The runtime's phase alignment (TimerExpired.align): towards the nearest multiple of
                # the grid (the interval), at most ``align`` per advert. remainder() is exact, so
                # masters that reached the same multiple compute the very same deadline from then on.
                off = math.remainder(nxt, grid or ai)
                nxt -= off if -align <= off <= align else math.copysign(align, off)
            t.adver_at = nxt if nxt > now else now + p.advertisement_interval
        if t.garp_delay_at is not None and now >= t.garp_delay_at:
            t.garp_delay_at = None
            effects.append(SendGratuitousArp(p.garp_master_repeat, "delayed"))
        if t.garp_refresh_at is not None and now >= t.garp_refresh_at:
            t.garp_refresh_at = now + p.garp_master_refresh
            effects.append(SendGratuitousArp(p.garp_master_refresh_repeat, "refresh"))
        if t.garp_lower_prio_at is not None and now >= t.garp_lower_prio_at:
            # keepalived vrrp_lower_prio_gratuitous_arp_thread: the second burst after garp_lower_prio_delay.
            t.garp_lower_prio_at = None
            effects.append(SendGratuitousArp(p.lower_prio_repeat, "lower_priority_delayed"))
        if t.garp_extra_at is not None and now >= t.garp_extra_at:
            # keepalived vrrp_gratuitous_arp_vmac_update_thread: one GARP/NA on each extra interface
            # (the runtime picks the interfaces), then again every garp_extra_if seconds while master.
            t.garp_extra_at = now + p.garp_extra_if
            effects.append(SendGratuitousArp(1, EXTRA_IF))
        return effects

    # ------------------------------------------------------------------ adverts

    def _instance_checks(self, event: AdvertReceived) -> Discard | None:
        """Instance-level receive checks (RFC 3768 §7.1, RFC 5798 §7.1); packet-level ones are in wire."""
        p, adv = self.params, event.advert
        if event.src == p.primary_address:
            return Discard("own_advert")
        if adv.version != p.version:
            return Discard("version", f"advert is v{adv.version}, instance is v{p.version}")
        if p.version == 2:
            if abs(adv.max_adver_int - p.advertisement_interval) > 1e-9:
                # RFC 3768 §7.1: MUST discard if the interval differs from ours.
                return Discard(
                    "interval",
                    f"advert_int {adv.max_adver_int:g}s differs from ours {p.advertisement_interval:g}s",
                )
            if adv.auth_type != p.auth_type:
                # RFC 2787 vrrpStatsAuthTypeMismatch (keepalived authtype_mismatch)
                return Discard("auth_mismatch", f"auth type {adv.auth_type} differs from ours {p.auth_type}")
            if p.auth_type == 1 and adv.auth_data != p.auth_data:
                return Discard("auth", "auth_pass does not match")  # RFC 2787 vrrpStatsAuthFailures
        addresses = adv.addresses
        if p.check_address_list and adv.priority != PRIORITY_OWNER and addresses is not self._same_addresses:
            # RFC 3768 §7.1 / RFC 5798 §7.1: "MAY verify that the IP address(es) associated with the
            # VRID are valid ... If the packet was not generated by the address owner (Priority does
            # not equal 255 (decimal)), the receiver MUST drop the packet, otherwise continue processing."
            # A priority-0 advert is not from the owner: it is dropped like any other.
            if set(addresses) != set(p.addresses):
                return Discard("address_list", "virtual addresses differ from ours")
            self._same_addresses = addresses
        return None

    def _on_advert(self, event: AdvertReceived, now: float) -> list[Effect]:
        if (
            self.params.owner_ignore_adverts
            and self.priority == PRIORITY_OWNER
            and event.src != self.params.primary_address
        ):
            # keepalived vrrp_check_packet: "Dropping packet(s) from %s since we are address owner"
            # (owner_ignore_adverts; RFC 5798 §6.4.3 would have an owner yield to an equal priority
            # with a higher address, which a misconfigured second owner then wins).
            return [Discard("owner_ignore_adverts", f"from {event.src}: we are the address owner")]
        checked = self._checked
        if checked is None or checked[0] is not event or checked[1] is not self.params:
            bad = self._instance_checks(event)
            if bad is not None:
                return [bad]
            self._checked = (event, self.params)
        if self.state is State.BACKUP:
            return self._backup_rx(event, now)
        if self.state is State.MASTER:
            return self._master_rx(event, now)
        return []  # Initialize, Fault: adverts are ignored

    def _backup_rx(self, event: AdvertReceived, now: float) -> list[Effect]:
        """RFC 5798 §6.4.2, "If an ADVERTISEMENT is received" while Backup."""
        adv, p, t = event.advert, self.params, self._timers
        if adv.priority == PRIORITY_LEAVING:
            # "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer to Skew_Time."
            t.master_down_at = now + self.skew_time
            self._down_reason = "priority_zero_received"
            return []
        held = self.maintenance or self.yielding  # vipd: neither preempts the router that took over
        if not p.preempt_mode or held or adv.priority >= self.priority or self._preempt_waiting(now):
            # "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater than
            # or equal to the local Priority": (v3) set Master_Adver_Interval to the advert's
            # interval, recompute Skew_Time and Master_Down_Interval, reset Master_Down_Timer.
            if p.version == 3:
                self.master_adver_interval = adv.max_adver_int
            self.master_address = event.src
            self._master_heard_at = now
            t.master_down_at = now + self.master_down_interval
            self._down_reason = "master_down_timer"
            self.probing = False  # another router took over: the hand-over holds
            if adv.priority >= self.priority:
                self._preempt_until = None
            # keepalived vrrp_state_backup: "We might have been held in backup by a sync group ...
            # Now we have received a backup, we want to be in BACKUP state": wantstate = BACK.
            self.wants_master = False
            return []
        # "Otherwise: Discard the ADVERTISEMENT." The timer runs out and we preempt.
        self._down_reason = "preempt"
        return []

    def _preempt_waiting(self, now: float) -> bool:
        """keepalived ``preempt_delay``: accept a lower-priority master for that long after first seeing it."""
        if self.params.preempt_delay <= 0:
            return False
        if self._preempt_until is None:
            self._preempt_until = now + self.params.preempt_delay
        return now < self._preempt_until

    def _master_rx(self, event: AdvertReceived, now: float) -> list[Effect]:
        """RFC 5798 §6.4.3, "If an ADVERTISEMENT is received" while Master."""
        adv, p, t = event.advert, self.params, self._timers
        if adv.priority == PRIORITY_LEAVING:
            # "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT;
            # Reset the Adver_Timer to Advertisement_Interval."
            t.adver_at = now + p.advertisement_interval
            return [SendAdvert(self.advert())]
        if adv.priority > self.priority or (
            adv.priority == self.priority and _addr_key(event.src) > _addr_key(p.primary_address)
        ):
            # "Else if the Priority in the ADVERTISEMENT is greater than the local Priority, or the
            # Priority is equal and the primary IPvX Address of the sender is greater than the
            # local primary IPvX Address": (v3) learn Master_Adver_Interval, arm the
            # Master_Down_Timer, go to Backup.
            reason = "higher_priority_advert" if adv.priority > self.priority else "equal_priority_higher_address"
            if p.version == 3:
                self.master_adver_interval = adv.max_adver_int
            # Before yielding, send one last advert with our own priority (keepalived
            # ``higher_prio_send_advert``): the winner hears a lower priority and announces
            # again, so clients that learnt our MAC during a split brain move back to it.
            last = SendAdvert(self.advert())
            stepped_down = self._become_backup(now, reason)
            self.master_address = event.src
            self._master_heard_at = now
            return [last, *stepped_down]
        # Lower priority (or equal with a lower address): RFC 9568 lets the master answer at once
        # so the other side steps down quickly; announce again so clients move back to us
        # (keepalived: send an advert unless lower_prio_no_advert; garp_lower_prio_repeat).
        # One burst per second at most, so a misconfigured peer cannot make us flood.
        t.adver_at = now + p.advertisement_interval
        effects: list[Effect] = [SendAdvert(self.advert())]
        if now >= self._lower_prio_garp_after:
            self._lower_prio_garp_after = now + max(1.0, p.advertisement_interval)
            # keepalived vrrp_state_master_rx: "if (vrrp->garp_lower_prio_rep) { vrrp_send_link_update(vrrp,
            # vrrp->garp_lower_prio_rep); if (vrrp->garp_lower_prio_delay) thread_add_timer(...) }", then
            # send_event_notify(vrrp, VRRP_EVENT_MASTER_RX_LOWER_PRI) (rate-limited here like the GARP).
            if p.lower_prio_repeat > 0:
                effects.append(SendGratuitousArp(p.lower_prio_repeat, "lower_priority_seen"))
                if p.lower_prio_delay > 0:
                    t.garp_lower_prio_at = now + p.lower_prio_delay
            effects.append(LowerPriorityHeard(event.src, adv.priority))
        return effects


def _addr_key(addr: IPAddress) -> int:
    """Compare primary addresses as unsigned integers in network order (RFC 5798 §6.4.3)."""
    return int(addr)
