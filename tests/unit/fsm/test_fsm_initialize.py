"""RFC 5798 §6.4.1 (and RFC 3768 §6.4.1): the Initialize state and the Startup event."""

from __future__ import annotations

import pytest
from fsm_helpers import machine, start

from vipd.fsm import (
    AddAddresses,
    Notify,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    State,
    TimerExpired,
)


def test_rfc5798_6_4_1_initialize_has_no_timer_running() -> None:
    m = machine()
    assert m.state is State.INITIALIZE
    assert m.next_deadline() is None
    assert m.handle(TimerExpired(), 100.0) == [], "a stray timer call in Initialize does nothing"


@pytest.mark.parametrize("version", [2, 3])
def test_rfc5798_6_4_1_startup_sets_master_down_timer_to_master_down_interval_and_transitions_to_backup(
    version: int,
) -> None:
    """ "else // rtr does not own virt addr: Set Master_Adver_Interval to Advertisement_Interval;
    Set the Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state"."""
    m = machine(version=version, priority=100, interval=1.0)
    now = 0.0

    effects = start(m, now)

    assert effects == [RemoveAddresses(), Notify(State.INITIALIZE, State.BACKUP, "startup")], (
        "entering Backup removes VIPs a crashed earlier run left behind, then notifies"
    )
    assert m.state is State.BACKUP
    assert m.master_adver_interval == 1.0
    assert m.next_deadline() == now + 3.609375, "Master_Down_Interval = 3 * 1 s + 156/256 s"


def test_rfc5798_6_4_1_startup_sets_master_adver_interval_to_our_advertisement_interval_v3_10cs() -> None:
    m = machine(version=3, priority=100, interval=0.1)
    now = 7.0

    start(m, now)

    assert m.master_adver_interval == 0.1
    assert m.next_deadline() == pytest.approx(now + 0.3609375, abs=1e-12), "360.9 ms (failover-timing.md §2)"


def test_rfc5798_6_4_1_owner_startup_sends_advert_then_gratuitous_arp_then_transitions_to_master() -> None:
    """ "If the priority = 255 (i.e., the router owns the IPvX address associated with the virtual router), then:
    Send an ADVERTISEMENT; ... broadcast a gratuitous ARP request ...; Set the Adver_Timer to
    Advertisement_Interval; Transition to the {Master} state"."""
    m = machine(priority=255, interval=1.0)
    now = 0.0

    effects = start(m, now)

    assert [type(e) for e in effects] == [SendAdvert, AddAddresses, SendGratuitousArp, Notify], "RFC order"
    assert effects == [
        SendAdvert(m.advert()),
        AddAddresses(),
        SendGratuitousArp(5, "takeover"),
        Notify(State.INITIALIZE, State.MASTER, "owner_startup"),
    ]
    sent = effects[0]
    assert isinstance(sent, SendAdvert)
    assert sent.advert.priority == 255
    assert sent.advert.max_adver_int == 1.0
    assert m.state is State.MASTER
    assert m.next_deadline() == now + 1.0, "Adver_Timer = Advertisement_Interval"


def test_rfc5798_6_4_1_owner_never_passes_through_backup() -> None:
    m = machine(priority=255)
    effects = start(m, 0.0)
    assert RemoveAddresses() not in effects
    assert [e for e in effects if isinstance(e, Notify)] == [Notify(State.INITIALIZE, State.MASTER, "owner_startup")]


def test_startup_is_ignored_outside_initialize() -> None:
    m = machine()
    start(m, 0.0)
    deadline = m.next_deadline()

    assert start(m, 1.0) == []
    assert m.next_deadline() == deadline, "a second Startup does not re-arm the Master_Down_Timer"
