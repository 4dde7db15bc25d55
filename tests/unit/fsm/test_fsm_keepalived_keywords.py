"""keepalived keywords of issue 17 that live in the state machine: ``owner_ignore_adverts``, ``garp_extra_if``.

Neither is in RFC 3768/5798; each test names the keepalived behaviour it mirrors
(keepalived ``vrrp_check_packet`` and ``vrrp_gratuitous_arp_vmac_update_thread``).
"""

from __future__ import annotations

from fsm_helpers import HIGHER, TICK, fire, machine, rx, start, to_master

from vipd.fsm import (
    Discard,
    PriorityChanged,
    PriorityNotice,
    SendAdvert,
    SendGratuitousArp,
    State,
    TimerExpired,
    VrrpMachine,
)
from vipd.fsm.machine import EXTRA_IF


def test_owner_ignore_adverts_owner_keeps_master_against_equal_priority_higher_address() -> None:
    m = machine(priority=255, owner_ignore_adverts=True)
    start(m, 0.0)
    assert m.state is State.MASTER
    effects = rx(m, 0.5, 255, src=HIGHER)
    assert m.state is State.MASTER
    assert [type(e) for e in effects] == [Discard]
    assert effects[0].reason == "owner_ignore_adverts"  # type: ignore[union-attr]


def test_owner_ignore_adverts_drops_priority_zero_without_answering() -> None:
    m = machine(priority=255, owner_ignore_adverts=True)
    start(m, 0.0)
    effects = rx(m, 0.5, 0, src=HIGHER)
    assert not any(isinstance(e, SendAdvert) for e in effects)


def test_without_owner_ignore_adverts_owner_yields_to_equal_priority_higher_address() -> None:
    m = machine(priority=255)
    start(m, 0.0)
    rx(m, 0.5, 255, src=HIGHER)
    assert m.state is State.BACKUP  # RFC 5798 §6.4.3: equal priority, higher address wins


def test_owner_ignore_adverts_applies_only_while_effective_priority_is_255() -> None:
    m = machine(priority=200, owner_ignore_adverts=True)
    to_master(m)
    rx(m, 10.0, 250, src=HIGHER)
    assert m.state is State.BACKUP


def _extra(effects: list) -> list[SendGratuitousArp]:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, SendGratuitousArp) and e.reason == EXTRA_IF]


def test_garp_extra_if_first_burst_after_garp_master_delay_plus_interval_then_every_interval() -> None:
    m = machine(garp_extra_if=10.0, garp_master_delay=5.0)
    became = to_master(m)
    times: list[float] = []
    while len(times) < 3:
        now, effects = fire(m)
        if _extra(effects):
            assert _extra(effects) == [SendGratuitousArp(1, EXTRA_IF)]
            times.append(now)
    assert abs(times[0] - (became + 15.0)) < TICK
    assert abs(times[1] - times[0] - 10.0) < TICK
    assert abs(times[2] - times[1] - 10.0) < TICK


def test_garp_extra_if_stops_when_leaving_master() -> None:
    m = machine(garp_extra_if=2.0, garp_master_delay=0.0)
    became = to_master(m)
    rx(m, became + 0.5, 200, src=HIGHER)
    assert m.state is State.BACKUP
    assert m.next_deadline() is not None
    assert not _extra(m.handle(TimerExpired(), became + 2.5))


def test_garp_extra_if_zero_sends_nothing() -> None:
    m: VrrpMachine = machine(garp_master_delay=0.0)
    became = to_master(m)
    seen = []
    while (due := m.next_deadline()) is not None and due <= became + 30:
        seen += _extra(m.handle(TimerExpired(), due))
    assert seen == []


def test_notify_priority_changes_emits_priority_notice_with_the_state() -> None:
    m = machine(notify_priority_changes=True)
    became = to_master(m)
    assert m.handle(PriorityChanged(90), became + 0.1) == [PriorityNotice(90, master=True)]
    rx(m, became + 0.2, 200, src=HIGHER)
    assert m.handle(PriorityChanged(80), became + 0.3) == [PriorityNotice(80, master=False)]
    assert m.handle(PriorityChanged(80), became + 0.4) == []  # unchanged: nothing (keepalived returns early)


def test_without_notify_priority_changes_no_priority_notice() -> None:
    m = machine()
    became = to_master(m)
    assert m.handle(PriorityChanged(90), became + 0.1) == []


def test_priority_notice_comes_before_the_takeover_of_a_backup_made_owner() -> None:
    m = machine(notify_priority_changes=True)
    start(m, 0.0)
    effects = m.handle(PriorityChanged(255), 0.1)
    assert effects[0] == PriorityNotice(255, master=False)
    assert m.state is State.MASTER
