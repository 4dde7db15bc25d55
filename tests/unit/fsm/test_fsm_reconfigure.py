"""``VrrpMachine.reconfigure``: a reload changes a running router without a state change.

keepalived keeps each instance's state across a reload (vrrp.c ``restore_vrrp_state``);
vipd replaces the machine's Params in place. Time is moved by hand.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from fsm_helpers import HIGHER, LOWER, fire, machine, params, rx, start, to_master

from vipd.fsm import AddAddresses, Notify, PriorityChanged, SendAdvert, SendGratuitousArp, State, TimerExpired


def test_reconfigure_master_priority_change_keeps_master_and_adverts_the_new_priority() -> None:
    """A new configured priority is in the next advert; no transition, the Adver_Timer runs on."""
    m = machine(priority=150, interval=1.0, garp_master_delay=0)
    now = to_master(m)
    due = m.next_deadline()
    assert m.reconfigure(params(priority=120, interval=1.0, garp_master_delay=0), now + 0.3) == []
    assert m.state is State.MASTER and m.priority == 120
    assert m.next_deadline() == due, "the Adver_Timer is not moved"
    assert m.handle(TimerExpired(), due) == [SendAdvert(m.advert())]
    assert m.advert().priority == 120


def test_reconfigure_master_address_list_change_is_in_the_next_advert_without_a_transition() -> None:
    """The advertised list follows ``params.addresses`` (the runtime adds/removes the difference)."""
    m = machine(priority=150, garp_master_delay=0)
    now = to_master(m)
    new = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.102"))
    assert m.reconfigure(params(priority=150, garp_master_delay=0, addresses=new), now) == []
    _, effects = fire(m)
    assert effects == [SendAdvert(m.advert())] and m.advert().addresses == new
    assert m.state is State.MASTER


def test_reconfigure_master_shorter_advert_int_pulls_the_adver_timer_in_longer_does_not_push_it_out() -> None:
    """No advert is skipped: the pending deadline is never later than now + the new interval."""
    m = machine(priority=150, interval=1.0, garp_master_delay=0)
    now = to_master(m)
    m.reconfigure(params(priority=150, interval=0.1, garp_master_delay=0), now + 0.05)
    assert m.next_deadline() == pytest.approx(now + 0.15)
    t, _ = fire(m)
    assert m.next_deadline() == pytest.approx(t + 0.1)
    m.reconfigure(params(priority=150, interval=2.0, garp_master_delay=0), t)
    assert m.next_deadline() == pytest.approx(t + 0.1), "the pending advert still goes out on time"
    t2, _ = fire(m)
    assert m.next_deadline() == pytest.approx(t2 + 2.0)


def test_reconfigure_master_garp_refresh_turned_on_and_off() -> None:
    """keepalived ``garp_master_refresh``: armed from the reload when set, stopped when cleared."""
    m = machine(priority=150, garp_master_delay=0)
    now = to_master(m)
    m.reconfigure(params(priority=150, garp_master_delay=0, garp_master_refresh=0.5), now)
    t, effects = fire(m)
    assert t == pytest.approx(now + 0.5) and effects == [SendGratuitousArp(1, "refresh")]
    m.reconfigure(params(priority=150, garp_master_delay=0), t)
    assert m.next_deadline() == pytest.approx(now + 1.0), "only the Adver_Timer is left"


def test_reconfigure_keeps_a_trackers_offset_on_the_effective_priority() -> None:
    """Effective = base + weights (keepalived): a base moved by +20 moves the effective priority by +20."""
    m = machine(priority=100)
    start(m, 0.0)
    m.handle(PriorityChanged(70), 0.0)  # a tracker subtracts 30
    m.reconfigure(params(priority=120), 0.1)
    assert m.priority == 90
    m.reconfigure(params(priority=250), 0.2)
    assert m.priority == 220
    m.reconfigure(params(priority=10), 0.3)
    assert m.priority == 1, "kept in 1..254"


def test_reconfigure_backup_that_becomes_the_owner_takes_over_at_once() -> None:
    """RFC 5798 §6.4.1 by analogy (as PriorityChanged): priority 255 is the owner, it does not wait."""
    m = machine(priority=100)
    start(m, 0.0)
    rx(m, 0.1, 200)
    effects = m.reconfigure(params(priority=255), 0.2)
    assert m.state is State.MASTER
    assert effects[0] == SendAdvert(m.advert()) and AddAddresses() in effects
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "became_owner")


def test_reconfigure_backup_keeps_its_down_timer_and_v3_keeps_the_learnt_interval() -> None:
    """RFC 5798 §6.4.2: Master_Adver_Interval is learnt from the master; the timer is reset by its next advert."""
    m = machine(priority=100, interval=1.0)
    start(m, 0.0)
    rx(m, 0.5, 200, max_adver_int=0.5)
    due = m.next_deadline()
    m.reconfigure(params(priority=100, interval=2.0), 0.6)
    assert m.state is State.BACKUP and m.next_deadline() == due
    assert m.master_adver_interval == 0.5


def test_reconfigure_v2_backup_takes_the_new_interval() -> None:
    """RFC 3768 §6.1: a v2 router's Master_Down_Interval is computed from its own Advertisement_Interval."""
    m = machine(version=2, priority=100, interval=1.0)
    start(m, 0.0)
    rx(m, 0.5, 200, src=LOWER)
    m.reconfigure(params(version=2, priority=100, interval=2.0), 0.6)
    assert m.master_adver_interval == 2.0
    assert m.master_down_interval == pytest.approx(3 * 2.0 + (256 - 100) / 256)


def test_reconfigure_preempt_turned_off_applies_to_the_next_advert() -> None:
    """RFC 5798 §6.4.2: with Preempt_Mode False a backup accepts a lower-priority master."""
    m = machine(priority=150)
    start(m, 0.0)
    m.reconfigure(params(priority=150, preempt_mode=False), 0.1)
    rx(m, 0.2, 100, src=HIGHER)
    assert m.next_deadline() == pytest.approx(0.2 + m.master_down_interval)


def test_reconfigure_refuses_a_new_vrid_or_version() -> None:
    """Those make a different virtual router: the runtime stops this one and starts another."""
    m = machine(priority=100)
    start(m, 0.0)
    with pytest.raises(ValueError, match="VRID"):
        m.reconfigure(params(priority=100, vrid=52), 0.1)
    with pytest.raises(ValueError, match="version"):
        m.reconfigure(params(priority=100, version=2), 0.1)
    assert m.params.vrid == 51 and m.params.version == 3
