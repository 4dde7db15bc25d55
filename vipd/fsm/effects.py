"""Effects: what the state machine asks the runtime to do, as frozen values.

The machine returns them in RFC order and the runtime executes them in that
order (for a takeover: advert, addresses, announcements, then notify, so a
notify script never delays the VIP; RFC 5798 §6.4.2 and failover-timing.md §6).

Pure: no I/O, no asyncio, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipd.fsm.state import State
from vipd.wire.advert import Advert, IPAddress


@dataclass(frozen=True, slots=True)
class SendAdvert:
    """Send this advert now on the instance's socket (RFC 5798 §6.4.3 "Send an ADVERTISEMENT").

    ``advert.priority == 0`` is the master leaving (§6.4.3 Shutdown).
    """

    advert: Advert


@dataclass(frozen=True, slots=True)
class AddAddresses:
    """Install every virtual address of the instance (idempotent: already present is fine)."""


@dataclass(frozen=True, slots=True)
class RemoveAddresses:
    """Remove every virtual address of the instance (idempotent: already gone is fine).

    Also emitted at start-up into Backup, so VIPs a crashed run left behind go away.
    """


@dataclass(frozen=True, slots=True)
class SendGratuitousArp:
    """Announce every virtual address: GARP for IPv4, unsolicited NA for IPv6.

    Attributes:
        repeat: how many frames per address (keepalived ``garp_master_repeat``).
        reason: why ("takeover", "delayed", "refresh", "lower_priority_seen"; "extra_if":
            keepalived ``garp_extra_if``, one frame on each interface other than the instance's).
    """

    repeat: int
    reason: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A state transition happened; run notify hooks, log, count.

    Attributes:
        old: state before.
        new: state after (``State.INITIALIZE`` after a shutdown: keepalived's STOP).
        reason: stable token, e.g. "master_down_timer", "priority_zero_received",
            "higher_priority_advert", "owner_startup", "shutdown", "fault".
        detail: free text for logs (e.g. which tracker failed); never a metrics label.
    """

    old: State
    new: State
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LowerPriorityHeard:
    """As master, we heard (and answered) an advert with a lower priority: another router
    thought it was master, e.g. after a partition healed (keepalived ``VRRP_EVENT_MASTER_RX_LOWER_PRI``).

    The runtime runs keepalived's ``notify_master_rx_lower_pri`` hook and writes
    ``MASTER_RX_LOWER_PRI`` to the ``notify_fifo``. Emitted at most once per second
    (or per Advertisement_Interval if longer), with the GARP burst it goes with.

    Attributes:
        src: the sender's primary address.
        priority: the priority it advertised (1..254).
    """

    src: IPAddress
    priority: int


@dataclass(frozen=True, slots=True)
class PriorityNotice:
    """The effective priority changed (keepalived ``notify_priority_changes``: ``send_instance_priority_notifies``).

    The runtime writes ``INSTANCE "NAME" MASTER_PRIORITY P`` (``master``) or
    ``BACKUP_PRIORITY P`` (any other state) to the notify FIFOs; no script runs.
    Emitted only with ``Params.notify_priority_changes``, outside Initialize.

    Attributes:
        priority: the new effective priority, 1..255.
        master: the router was Master when it changed.
    """

    priority: int
    master: bool


@dataclass(frozen=True, slots=True)
class Discard:
    """A received advert was dropped by an instance-level check; count it under ``reason``.

    Reasons share the vocabulary of ``vipd.wire.errors`` (``"interval"``, ``"auth"``,
    ``"address_list"``) plus ``"own_advert"``.
    """

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WantMaster:
    """A sync-group member's Master_Down_Timer fired: it wants Master but stays Backup
    until its group agrees (keepalived ``vrrp_state_goto_master``: when
    ``vrrp_sync_can_goto_master`` is false, only ``wantstate = VRRP_STATE_MAST``).

    Emitted only with ``Params.sync_group``. The runtime's group coordinator
    answers with ``SyncGoMaster`` once every other member wants (or is) master;
    until then the member re-arms its Master_Down_Timer and an accepted advert
    clears the wish.

    Attributes:
        reason: why the timer ran out ("master_down_timer", "preempt", "priority_zero_received").
    """

    reason: str


Effect = (
    SendAdvert
    | AddAddresses
    | RemoveAddresses
    | SendGratuitousArp
    | Notify
    | LowerPriorityHeard
    | PriorityNotice
    | Discard
    | WantMaster
)
