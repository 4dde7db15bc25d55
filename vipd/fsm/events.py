"""Events: inputs to the state machine, as frozen values.

Time is not part of the event: every ``handle()`` call takes ``now`` (float
seconds, monotonic, the runtime's ``loop.time()``).

Pure: no I/O, no asyncio, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipd.wire.advert import Advert, IPAddress


@dataclass(frozen=True, slots=True)
class Startup:
    """Start the virtual router (RFC 5798 §6.4.1 "Startup event")."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Stop the virtual router (RFC 5798 §6.4.2/§6.4.3 "Shutdown event").

    Attributes:
        reason: the ``Notify`` reason of the stop: "shutdown", or "deleted" when a
            reload removed the instance (keepalived runs ``notify_deleted`` then).
    """

    reason: str = "shutdown"


@dataclass(frozen=True, slots=True)
class AdvertReceived:
    """A decoded advert for our VRID arrived (packet-level checks already passed in the codec).

    Attributes:
        src: IP source of the advert (the sender's primary address).
        advert: the decoded advert.
    """

    src: IPAddress
    advert: Advert


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """``now`` has reached ``next_deadline()``; the machine fires whatever is due.

    Attributes:
        align: seconds, >= 0: how far a restarted Adver_Timer may move towards the nearest
            multiple of Advertisement_Interval on the monotonic clock. RFC 5798 §6.4.3 resets
            the Adver_Timer to Advertisement_Interval without fixing its phase; with ``align``
            every master of the same interval drifts, by at most that much per advert, onto
            the same phase, so that a runtime sends their adverts from one wake-up. Each
            advert's gap stays within ``align`` of the interval (exactly the interval once
            aligned). 0: the timer restarts from its own deadline (drift-free).
        grid: seconds between the phases masters gather on (multiples of it on the monotonic
            clock); 0: one phase per Advertisement_Interval.
    """

    align: float = 0.0
    grid: float = 0.0


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    """The effective priority changed (trackers; keepalived ``track_*`` weights).

    Attributes:
        priority: new effective priority, 1..255.
    """

    priority: int


@dataclass(frozen=True, slots=True)
class FaultChanged:
    """Enter FAULT (``fault=True``) or leave it (keepalived's weight-0 trackers, link down).

    Attributes:
        fault: True while some tracker says the instance cannot serve.
        reason: why, for logs (e.g. "interface eth0 down").
    """

    fault: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SyncGoMaster:
    """The sync group moves this member to Master (keepalived ``vrrp_sync_master``).

    Fed by the runtime's group coordinator when every other member wants (or is)
    master (keepalived ``vrrp_sync_can_goto_master``). Only a Backup acts on it.

    Attributes:
        reason: the ``Notify`` reason ("sync_group", or the member's own ``WantMaster`` reason).
        detail: free text for logs (which member moved the group).
    """

    reason: str = "sync_group"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SyncGoBackup:
    """The sync group moves this member to Backup (keepalived ``vrrp_sync_backup``).

    Fed by the runtime's group coordinator when another member left Master for
    Backup. Only a Master acts on it.

    Attributes:
        reason: the ``Notify`` reason.
        detail: free text for logs.
    """

    reason: str = "sync_group"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MasterDownDetected:
    """Another detector says the master is gone: expire the Master_Down_Timer now (vipd extension).

    draft-ietf-rtgwg-vrrp-bfd-p2p: a Backup with a BFD session to the master's address treats
    that session going Down as the Master_Down_Timer firing. Adverts win over BFD: the machine
    acts only if ``peer`` is the master it follows and no advert from it was accepted after
    ``silent_since`` (an advert sent while BFD heard nothing proves the master alive).

    Attributes:
        peer: the address the detector watched (the BFD session's ``neighbor_ip``).
        silent_since: ``now``-clock seconds from which the detector heard nothing it expected:
            its last packet plus one agreed remote transmit interval (RFC 5880 §6.8.4).
        reason: the ``Notify`` reason of the takeover ("bfd_master_down").
    """

    peer: IPAddress
    silent_since: float
    reason: str = "bfd_master_down"


@dataclass(frozen=True, slots=True)
class MaintenanceChanged:
    """The operator takes the router out of service or puts it back (vipd extension, ``vipctl maintenance``).

    While on, the router never becomes Master. A Master hands over as at shutdown
    (one advert with priority 0, RFC 5798 §6.4.3, so a Backup takes over after
    Skew_Time) and stays Backup. Unless ``force``, the hand-over is a probe: if no
    other router's advert arrives within :data:`~vipd.fsm.machine.HANDOVER_WAIT_ADVERTS`
    advert intervals, the router takes the addresses back and maintenance is off
    again (refused: it would leave the addresses on no router).

    Attributes:
        on: True to enter maintenance, False to leave it.
        force: leave even if no other router takes over.
    """

    on: bool
    force: bool = False


@dataclass(frozen=True, slots=True)
class Handover:
    """A Master yields once (vipd extension, ``vipctl handover``).

    It sends priority 0 and goes Backup, then does not preempt the router that took
    over: it takes over again only as any Backup does, when that master goes silent
    or leaves. Without ``force`` the hand-over is probed as for :class:`MaintenanceChanged`.
    Ignored unless Master.

    Attributes:
        force: yield even if no other router takes over.
        reason: the ``Notify`` reason ("handover"; "before_vip_hook_failed" when a
            ``vipd_notify_master_before_vip`` hook with ``on_failure yield`` failed).
    """

    force: bool = False
    reason: str = "handover"


Event = (
    Startup
    | Shutdown
    | AdvertReceived
    | TimerExpired
    | PriorityChanged
    | FaultChanged
    | SyncGoMaster
    | SyncGoBackup
    | MasterDownDetected
    | MaintenanceChanged
    | Handover
)
