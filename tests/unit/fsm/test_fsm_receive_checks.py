"""RFC 3768 §7.1 and RFC 5798 §7.1: the instance-level receive checks the FSM owns.

Packet-level checks (TTL, checksum, length, type) are the codec's. A discarded
advert is counted (``Discard(reason)``) and touches nothing else: not the state,
not a timer, not the learned interval (DESIGN.md "Bad input": keepalived re-arms
its advert timer on junk and its master falls silent).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

import pytest
from fsm_helpers import HIGHER, ME, VIPS, machine, rx, start, to_master

from vipd.fsm import Discard, Effect, Notify, State, TimerExpired, VrrpMachine
from vipd.wire.advert import AuthType

PASS_1111 = b"1111\x00\x00\x00\x00"

# (id, machine kwargs, advert priority, advert overrides, sender, expected reason)
DISCARDS: list[tuple[str, dict[str, Any], int, dict[str, Any], IPv4Address, str]] = [
    ("rfc3768_7_1_v2_interval_differs", {"version": 2}, 200, {"max_adver_int": 2.0}, HIGHER, "interval"),
    ("rfc3768_7_1_v2_interval_differs_prio0", {"version": 2}, 0, {"max_adver_int": 3.0}, HIGHER, "interval"),
    ("rfc3768_7_1_v2_auth_type_differs", {"version": 2}, 200, {"auth_type": AuthType.PASS}, HIGHER, "auth_mismatch"),
    (
        "rfc3768_7_1_v2_auth_pass_differs",
        {"version": 2, "auth_type": AuthType.PASS, "auth_data": PASS_1111},
        200,
        {"auth_data": b"2222\x00\x00\x00\x00"},
        HIGHER,
        "auth",
    ),
    (
        "rfc3768_7_1_v2_auth_pass_missing",
        {"version": 2, "auth_type": AuthType.PASS, "auth_data": PASS_1111},
        200,
        {"auth_type": AuthType.NONE, "auth_data": b""},
        HIGHER,
        "auth_mismatch",
    ),
    (
        "rfc5798_7_1_address_list_differs",
        {},
        200,
        {"addresses": (IPv4Address("192.0.2.199"),)},
        HIGHER,
        "address_list",
    ),
    ("rfc5798_7_1_address_missing", {}, 200, {"addresses": VIPS[:1]}, HIGHER, "address_list"),
    ("rfc5798_7_1_address_list_differs_prio0", {}, 0, {"addresses": VIPS[:1]}, HIGHER, "address_list"),
    ("rfc5798_7_1_v3_instance_gets_v2_advert", {"version": 3}, 200, {"version": 2}, HIGHER, "version"),
    ("rfc3768_7_1_v2_instance_gets_v3_advert", {"version": 2}, 200, {"version": 3}, HIGHER, "version"),
    ("design_own_advert_looped_back", {}, 200, {}, ME, "own_advert"),
]


def _backup(kw: dict[str, Any]) -> tuple[VrrpMachine, float]:
    m = machine(**kw)
    start(m, 0.0)
    rx(m, 1.0, 200)  # a good master, so the timer is a real Master_Down_Interval from t=1
    return m, 1.5


def _master(kw: dict[str, Any]) -> tuple[VrrpMachine, float]:
    m = machine(**kw)
    return m, to_master(m) + 0.5


@pytest.mark.parametrize("state", ["backup", "master"])
@pytest.mark.parametrize(
    ("kw", "priority", "fields", "src", "reason"), [c[1:] for c in DISCARDS], ids=[c[0] for c in DISCARDS]
)
def test_rfc_7_1_failed_check_discards_the_advert_and_touches_no_timer(
    state: str, kw: dict[str, Any], priority: int, fields: dict[str, Any], src: IPv4Address, reason: str
) -> None:
    """ "If the above check fails, the receiver MUST discard the packet, SHOULD log the event and MAY indicate via
    network management that a misconfiguration was detected" (RFC 3768 §7.1)."""
    setup: Callable[[dict[str, Any]], tuple[VrrpMachine, float]] = _backup if state == "backup" else _master
    m, now = setup(kw)
    before = (m.state, m.next_deadline(), m.master_adver_interval, m.master_address, m.priority)

    effects: list[Effect] = rx(m, now, priority, src=src, **fields)

    assert len(effects) == 1
    assert isinstance(effects[0], Discard)
    assert effects[0].reason == reason, effects[0]
    assert (m.state, m.next_deadline(), m.master_adver_interval, m.master_address, m.priority) == before, (
        "a discarded advert changes no state and touches no timer"
    )


def test_rfc3768_7_1_v2_interval_mismatch_is_discarded_and_the_master_down_timer_keeps_running() -> None:
    """ "MUST verify that the Adver Interval in the packet is the same as the locally configured for this virtual
    router. If the above check fails, the receiver MUST discard the packet": a v2 backup whose peer advertises
    every 2 s while it expects 1 s never hears that peer, and becomes master when its own timer runs out."""
    m = machine(version=2, priority=100, interval=1.0)
    now = 0.0
    start(m, now)
    deadline = m.next_deadline()

    for _ in range(3):
        now += 1.0
        effects = rx(m, now, 200, max_adver_int=2.0)
        assert [type(e) for e in effects] == [Discard]
        assert effects[0] == Discard("interval", "advert_int 2s differs from ours 1s")
        assert m.next_deadline() == deadline, "NO timer touched"

    assert deadline is not None
    effects = m.handle(TimerExpired(), deadline)
    assert Notify(State.BACKUP, State.MASTER, "master_down_timer") in effects, "RFC-mandated second master"


def test_rfc3768_7_1_v2_interval_mismatch_does_not_make_a_master_answer_or_reset_its_adver_timer() -> None:
    m = machine(version=2, priority=100, interval=1.0, garp_master_delay=0)
    now = to_master(m)
    adver_due = m.next_deadline()
    now += 0.5
    assert rx(m, now, 0, max_adver_int=2.0) == [Discard("interval", "advert_int 2s differs from ours 1s")]
    assert rx(m, now, 50, max_adver_int=2.0) == [Discard("interval", "advert_int 2s differs from ours 1s")]
    assert m.next_deadline() == adver_due


def test_rfc5798_7_1_v3_interval_difference_is_learned_not_discarded() -> None:
    """RFC 5798 has no interval check in §7.1: a v3 backup learns the master's interval (§6.4.2)."""
    m = machine(version=3, interval=1.0)
    start(m, 0.0)
    assert rx(m, 0.5, 200, max_adver_int=0.3) == []
    assert m.master_adver_interval == 0.3


def test_rfc3768_7_1_v2_matching_auth_pass_is_accepted() -> None:
    m = machine(version=2, auth_type=AuthType.PASS, auth_data=PASS_1111)
    start(m, 0.0)
    assert rx(m, 0.5, 200) == []
    assert m.next_deadline() == 0.5 + 3.609375


def test_rfc3768_7_1_address_list_mismatch_from_the_owner_continues_processing() -> None:
    """ "If the packet was not generated by the address owner (Priority does not equal 255 (decimal)), the receiver
    MUST drop the packet, otherwise continue processing.\""""
    m = machine(priority=100)
    start(m, 0.0)

    effects = rx(m, 0.5, 255, addresses=(IPv4Address("192.0.2.199"),))

    assert effects == [], "the owner's advert is processed: the backup stays backup"
    assert m.next_deadline() == 0.5 + 3.609375


def test_rfc3768_7_1_address_list_mismatch_with_priority_zero_is_dropped_not_obeyed() -> None:
    """Priority 0 is not the owner: a misconfigured peer leaving must not start our Skew_Time takeover."""
    m = machine(priority=100)
    start(m, 0.0)
    rx(m, 0.5, 200)
    deadline = m.next_deadline()

    effects = rx(m, 1.0, 0, addresses=(IPv4Address("192.0.2.199"),))

    assert [e.reason for e in effects if isinstance(e, Discard)] == ["address_list"]
    assert m.next_deadline() == deadline


def test_rfc5798_7_1_address_list_order_does_not_matter() -> None:
    m = machine()
    start(m, 0.0)
    assert rx(m, 0.5, 200, addresses=tuple(reversed(VIPS))) == []


def test_keepalived_skip_check_adv_addr_accepts_a_different_address_list() -> None:
    """keepalived ``vrrp_skip_check_adv_addr``: the RFC's "MAY verify" turned off."""
    m = machine(check_address_list=False)
    start(m, 0.0)
    assert rx(m, 0.5, 200, addresses=(IPv4Address("192.0.2.199"),)) == []
    assert m.next_deadline() == 0.5 + 3.609375


def test_rfc5798_6_4_1_adverts_in_initialize_change_nothing() -> None:
    m = machine()
    assert rx(m, 0.0, 200) == []
    assert m.state is State.INITIALIZE
    assert m.next_deadline() is None
