"""The BFD session state machine, one test per RFC 5880 clause, time moved by hand."""

from __future__ import annotations

import ast
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipd.bfd import (
    Auth,
    BfdSession,
    ControlPacket,
    Diag,
    Discard,
    PacketReceived,
    SendControl,
    SessionParams,
    SessionState,
    Start,
    StateChanged,
    Stop,
    TimerExpired,
    decode,
    encode,
)

A, B = 0x0A0A0A0A, 0x0B0B0B0B


def params(discr: int = A, **kw: object) -> SessionParams:
    base: dict[str, object] = dict(local_discr=discr, desired_min_tx=0.05, required_min_rx=0.05, detect_mult=3)
    base.update(kw)
    return SessionParams(**base)  # type: ignore[arg-type]


def sent(effects: list) -> list[ControlPacket]:
    return [e.packet for e in effects if isinstance(e, SendControl)]


def changes(effects: list) -> list[tuple[SessionState, SessionState, int]]:
    return [(e.old, e.new, e.diag) for e in effects if isinstance(e, StateChanged)]


def peer(state: SessionState, your: int = A, **kw: object) -> ControlPacket:
    base: dict[str, object] = dict(
        state=state,
        diag=Diag.NONE,
        detect_mult=3,
        my_discriminator=B,
        your_discriminator=your,
        desired_min_tx_interval=50_000,
        required_min_rx_interval=50_000,
    )
    base.update(kw)
    return ControlPacket(**base)  # type: ignore[arg-type]


def up_session(**kw: object) -> BfdSession:
    s = BfdSession(params(**kw))
    s.handle(Start(), 0.0)
    s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 0.1)
    s.handle(PacketReceived(peer(SessionState.UP)), 0.2)
    assert s.up
    return s


# ------------------------------------------------------------------ start, §6.8.1, §6.8.3


def test_rfc5880_6_8_1_start_enters_down_and_sends_at_once() -> None:
    s = BfdSession(params())
    assert s.session_state is SessionState.ADMIN_DOWN and s.next_deadline() is None
    eff = s.handle(Start(), 10.0)
    assert changes(eff) == [(SessionState.ADMIN_DOWN, SessionState.DOWN, Diag.NONE)]
    assert s.next_deadline() == 10.0
    (pkt,) = sent(s.handle(TimerExpired(), 10.0))
    assert pkt.state is SessionState.DOWN and pkt.your_discriminator == 0 and pkt.my_discriminator == A


def test_rfc5880_6_8_3_not_up_sends_at_most_once_a_second() -> None:
    s = BfdSession(params(desired_min_tx=0.01))
    s.handle(Start(), 0.0)
    (pkt,) = sent(s.handle(TimerExpired(), 0.0))
    assert pkt.desired_min_tx_interval == 1_000_000
    assert s.next_deadline() == pytest.approx(1.0)


def test_keepalived_idle_tx_is_the_slow_rate() -> None:
    s = BfdSession(params(idle_tx=2.5))
    s.handle(Start(), 0.0)
    s.handle(TimerExpired(), 0.0)
    assert s.next_deadline() == pytest.approx(2.5)


def test_rfc5880_6_8_3_idle_tx_below_one_second_is_refused() -> None:
    with pytest.raises(ValueError, match=r"6\.8\.3"):
        params(idle_tx=0.5)


# ------------------------------------------------------------------ three-way handshake, §6.2 / §6.8.6


def test_rfc5880_6_8_6_down_receiving_down_goes_init() -> None:
    s = BfdSession(params())
    s.handle(Start(), 0.0)
    eff = s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 0.1)
    assert changes(eff) == [(SessionState.DOWN, SessionState.INIT, Diag.NONE)]
    assert sent(eff)[0].state is SessionState.INIT and sent(eff)[0].your_discriminator == B
    assert s.remote_discr == B


def test_rfc5880_6_8_6_down_receiving_init_goes_up() -> None:
    s = BfdSession(params())
    s.handle(Start(), 0.0)
    eff = s.handle(PacketReceived(peer(SessionState.INIT)), 0.1)
    assert changes(eff) == [(SessionState.DOWN, SessionState.UP, Diag.NONE)]


def test_rfc5880_6_8_6_down_receiving_up_stays_down() -> None:
    s = BfdSession(params())
    s.handle(Start(), 0.0)
    assert changes(s.handle(PacketReceived(peer(SessionState.UP)), 0.1)) == []
    assert s.session_state is SessionState.DOWN


@pytest.mark.parametrize("their", [SessionState.INIT, SessionState.UP])
def test_rfc5880_6_8_6_init_receiving_init_or_up_goes_up(their: SessionState) -> None:
    s = BfdSession(params())
    s.handle(Start(), 0.0)
    s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 0.1)
    assert changes(s.handle(PacketReceived(peer(their)), 0.2)) == [(SessionState.INIT, SessionState.UP, Diag.NONE)]


def test_rfc5880_6_8_6_up_receiving_down_goes_down_diag_3() -> None:
    s = up_session()
    eff = s.handle(PacketReceived(peer(SessionState.DOWN)), 0.3)
    assert changes(eff) == [(SessionState.UP, SessionState.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)]


def test_rfc5880_6_8_6_received_admin_down_goes_down_diag_3() -> None:
    s = up_session()
    eff = s.handle(PacketReceived(peer(SessionState.ADMIN_DOWN)), 0.3)
    assert changes(eff) == [(SessionState.UP, SessionState.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)]


def test_rfc5880_6_8_6_admin_down_discards_packets() -> None:
    s = BfdSession(params())
    eff = s.handle(PacketReceived(peer(SessionState.INIT)), 0.1)
    assert [type(e) for e in eff] == [Discard]
    assert s.session_state is SessionState.ADMIN_DOWN


# ------------------------------------------------------------------ session-level discards


def test_rfc5880_6_8_6_your_discriminator_selects_the_session() -> None:
    s = up_session()
    eff = s.handle(PacketReceived(peer(SessionState.DOWN, your=12345)), 0.3)
    assert eff == [Discard("your_discriminator", "Your Discriminator 12345 is not ours")]
    assert s.up


def test_rfc5880_6_8_6_a_bit_without_authentication_is_discarded() -> None:
    s = up_session()
    (d,) = s.handle(PacketReceived(peer(SessionState.DOWN, auth=Auth(1, 1, b"x"))), 0.3)
    assert isinstance(d, Discard) and d.reason == "auth" and s.up


def test_rfc5880_6_8_6_a_bit_clear_with_authentication_is_discarded() -> None:
    s = BfdSession(params(auth_password=b"pw", auth_key_id=2))
    s.handle(Start(), 0.0)
    (d,) = s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 0.1)
    assert isinstance(d, Discard) and d.reason == "auth"


def test_rfc5880_6_7_2_simple_password_must_match() -> None:
    s = BfdSession(params(auth_password=b"pw", auth_key_id=2))
    s.handle(Start(), 0.0)
    bad = s.handle(PacketReceived(peer(SessionState.DOWN, your=0, auth=Auth(1, 2, b"no"))), 0.1)
    assert isinstance(bad[0], Discard)
    eff = s.handle(PacketReceived(peer(SessionState.DOWN, your=0, auth=Auth(1, 2, b"pw"))), 0.2)
    assert changes(eff) == [(SessionState.DOWN, SessionState.INIT, Diag.NONE)]
    assert sent(eff)[0].auth == Auth(1, 2, b"pw")


# ------------------------------------------------------------------ detection time, §6.8.4


def test_rfc5880_6_8_4_detection_time_is_remote_mult_times_agreed_interval() -> None:
    s = up_session(required_min_rx=0.02)
    s.handle(PacketReceived(peer(SessionState.UP, detect_mult=4, desired_min_tx_interval=30_000)), 1.0)
    assert s.detection_time() == pytest.approx(4 * 0.03)
    s.handle(PacketReceived(peer(SessionState.UP, detect_mult=4, desired_min_tx_interval=10_000)), 1.01)
    assert s.detection_time() == pytest.approx(4 * 0.02)  # our Required Min RX is the greater


def test_rfc5880_6_8_4_expiry_takes_the_session_down_with_diag_1() -> None:
    s = up_session()
    s.handle(PacketReceived(peer(SessionState.UP)), 1.0)
    t = 1.0 + 3 * 0.05
    for now in (1.05, 1.1):  # transmissions only
        assert changes(s.handle(TimerExpired(), now)) == []
    while (d := s.next_deadline()) is not None and d < t - 1e-9:
        assert changes(s.handle(TimerExpired(), d)) == []
    eff = s.handle(TimerExpired(), t)
    assert changes(eff) == [(SessionState.UP, SessionState.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED)]
    assert s.remote_discr == 0  # §6.8.1


def test_rfc5880_6_8_1_remote_discr_cleared_after_detection_time_even_when_down() -> None:
    s = BfdSession(params())
    s.handle(Start(), 0.0)
    s.handle(PacketReceived(peer(SessionState.ADMIN_DOWN, your=0)), 0.1)
    assert s.remote_discr == B
    s.handle(TimerExpired(), 0.1 + 3 * 0.05)
    assert s.remote_discr == 0 and s.session_state is SessionState.DOWN


def test_every_valid_packet_restarts_the_detection_timer() -> None:
    s = up_session()
    for i in range(10):
        s.handle(PacketReceived(peer(SessionState.UP)), 1.0 + i * 0.1)
        assert s.handle(TimerExpired(), 1.0 + i * 0.1 + 0.149) == [] or s.up
    assert s.up


# ------------------------------------------------------------------ poll sequence, §6.5 / §6.8.3


def test_rfc5880_6_8_3_going_up_starts_a_poll_sequence_for_the_fast_timers() -> None:
    s = BfdSession(params(desired_min_tx=0.05))
    s.handle(Start(), 0.0)
    s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 0.1)
    eff = s.handle(PacketReceived(peer(SessionState.UP)), 0.2)
    (pkt,) = sent(eff)
    assert pkt.state is SessionState.UP and pkt.poll and pkt.desired_min_tx_interval == 50_000
    assert sent(s.handle(TimerExpired(), s.next_deadline() or 0))[0].poll  # every packet until Final
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 0.3)
    assert not s.poll_pending
    assert not sent(s.handle(TimerExpired(), s.next_deadline() or 0))[0].poll


def test_rfc5880_6_8_6_poll_is_answered_with_final_at_once() -> None:
    s = up_session()
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 0.25)
    eff = s.handle(PacketReceived(peer(SessionState.UP, poll=True)), 0.3)
    (pkt,) = sent(eff)
    assert pkt.final and not pkt.poll


def test_rfc5880_6_5_final_answer_clears_p_even_while_our_poll_runs() -> None:
    s = up_session()
    assert s.poll_pending
    (pkt,) = sent(s.handle(PacketReceived(peer(SessionState.UP, poll=True)), 0.3))
    assert pkt.final and not pkt.poll
    encode(pkt)  # valid on the wire


def test_rfc5880_6_8_3_increased_tx_waits_for_final() -> None:
    s = up_session(desired_min_tx=0.05)
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 0.25)
    assert s.tx_interval() == pytest.approx(0.05)
    eff = s.reconfigure(params(desired_min_tx=0.3), 0.3)
    assert sent(eff)[0].poll and sent(eff)[0].desired_min_tx_interval == 300_000
    assert s.tx_interval() == pytest.approx(0.05)  # not yet
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 0.31)
    assert s.tx_interval() == pytest.approx(0.3)


def test_rfc5880_6_8_3_decreased_tx_applies_at_once() -> None:
    s = up_session(desired_min_tx=0.3)
    s.handle(PacketReceived(peer(SessionState.UP, final=True, required_min_rx_interval=10_000)), 0.25)
    s.reconfigure(params(desired_min_tx=0.02), 0.3)
    assert s.tx_interval() == pytest.approx(0.02)


def test_rfc5880_6_8_3_reduced_rx_keeps_the_old_detection_time_until_final() -> None:
    s = up_session(required_min_rx=0.2)
    s.handle(PacketReceived(peer(SessionState.UP, final=True, desired_min_tx_interval=10_000)), 0.25)
    assert s.detection_time() == pytest.approx(3 * 0.2)
    s.reconfigure(params(required_min_rx=0.02), 0.3)
    assert s.detection_time() == pytest.approx(3 * 0.2)
    s.handle(PacketReceived(peer(SessionState.UP, final=True, desired_min_tx_interval=10_000)), 0.31)
    assert s.detection_time() == pytest.approx(3 * 0.02)


def test_reconfigure_cannot_change_the_discriminator() -> None:
    with pytest.raises(ValueError):
        up_session().reconfigure(params(discr=99), 1.0)


# ------------------------------------------------------------------ transmission, §6.8.7


@pytest.mark.parametrize("r", [0.0, 0.5, 0.999999])
def test_rfc5880_6_8_7_jitter_reduces_the_interval_by_0_to_25_percent(r: float) -> None:
    s = up_session()
    s.random = lambda: r
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 1.0)
    s._tx_at = 1.0
    assert sent(s.handle(TimerExpired(), 1.0))
    gap = (s._tx_at or 0) - 1.0
    assert 0.75 * 0.05 - 1e-12 <= gap <= 0.05 + 1e-12
    assert gap == pytest.approx(0.05 * (1 - 0.25 * r))


@pytest.mark.parametrize("r", [0.0, 0.999999])
def test_rfc5880_6_8_7_detect_mult_1_jitter_is_75_to_90_percent(r: float) -> None:
    s = up_session(detect_mult=1)
    s.random = lambda: r
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 1.0)
    s._tx_at = 1.0
    assert sent(s.handle(TimerExpired(), 1.0))
    gap = (s._tx_at or 0) - 1.0
    assert 0.75 * 0.05 - 1e-12 <= gap <= 0.9 * 0.05 + 1e-12


def test_rfc5880_6_8_7_interval_is_the_greater_of_ours_and_remote_min_rx() -> None:
    s = up_session(desired_min_tx=0.05)
    s.handle(PacketReceived(peer(SessionState.UP, final=True, required_min_rx_interval=200_000)), 1.0)
    assert s.tx_interval() == pytest.approx(0.2)


def test_rfc5880_6_8_7_passive_role_is_silent_until_the_peer_speaks() -> None:
    s = BfdSession(params(passive=True))
    s.handle(Start(), 0.0)
    assert s.next_deadline() is None
    eff = s.handle(PacketReceived(peer(SessionState.DOWN, your=0)), 5.0)
    assert sent(eff) and s.next_deadline() is not None


def test_rfc5880_6_8_7_remote_min_rx_zero_stops_periodic_transmission() -> None:
    s = up_session()
    s.handle(PacketReceived(peer(SessionState.UP, final=True, required_min_rx_interval=0)), 1.0)
    s.handle(TimerExpired(), 1.0 + 10)  # detection fires, nothing periodic remains
    assert s._tx_at is None or not s.up


def test_rfc5880_6_8_6_remote_demand_mode_stops_periodic_transmission() -> None:
    s = up_session()
    s.handle(PacketReceived(peer(SessionState.UP, final=True, demand=True)), 1.0)
    assert s._tx_at is None


# ------------------------------------------------------------------ administrative control, §6.8.16


def test_rfc5880_6_8_16_stop_sends_admin_down_for_a_detection_time() -> None:
    s = up_session()
    s.handle(PacketReceived(peer(SessionState.UP, final=True)), 1.0)
    eff = s.handle(Stop(), 1.01)
    assert changes(eff) == [(SessionState.UP, SessionState.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN)]
    (pkt,) = sent(eff)
    assert pkt.state is SessionState.ADMIN_DOWN and pkt.diag == Diag.ADMINISTRATIVELY_DOWN
    t, n = 1.01, 0
    while (d := s.next_deadline()) is not None:
        assert d > t - 1e-9
        t = d
        n += len(sent(s.handle(TimerExpired(), d)))
    assert t <= 1.01 + 3 * 0.05 + 0.05 + 1e-9 and n >= 1


def test_rfc5880_6_8_16_start_after_stop_is_down_again() -> None:
    s = up_session()
    s.handle(Stop(), 1.0)
    assert changes(s.handle(Start(), 2.0)) == [(SessionState.ADMIN_DOWN, SessionState.DOWN, Diag.NONE)]


# ------------------------------------------------------------------ two sessions on a simulated wire


def _run(a: BfdSession, b: BfdSession, until: float, cut_at: float = float("inf")) -> list[tuple[float, str, object]]:
    """Deliver every packet after 1 ms; drop everything after ``cut_at``. Returns (time, who, StateChanged)."""
    inflight: list[tuple[float, str, bytes]] = []
    log: list[tuple[float, str, object]] = []
    now = 0.0
    for s in (a, b):
        s.handle(Start(), now)

    def run(who: str, s: BfdSession, eff: list, t: float) -> None:
        for e in eff:
            if isinstance(e, SendControl) and t < cut_at:
                inflight.append((t + 0.001, "b" if who == "a" else "a", encode(e.packet)))
            elif isinstance(e, StateChanged):
                log.append((t, who, e))

    while now < until:
        cands = [(d, w) for w, s in (("a", a), ("b", b)) if (d := s.next_deadline()) is not None]
        cands += [(t, "pkt") for t, _w, _r in inflight]
        if not cands:
            break
        now, kind = min(cands)
        if kind == "pkt":
            i = min(range(len(inflight)), key=lambda k: inflight[k][0])
            t, to, raw = inflight.pop(i)
            s = a if to == "a" else b
            run(to, s, s.handle(PacketReceived(decode(raw)), t), t)
        else:
            s = a if kind == "a" else b
            run(kind, s, s.handle(TimerExpired(), now), now)
    return log


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), tx=st.sampled_from([0.01, 0.02, 0.05, 0.1, 0.3]), mult=st.integers(1, 5))
def test_two_sessions_come_up_and_detect_a_cut_within_detection_time(seed: int, tx: float, mult: int) -> None:
    rng = random.Random(seed)
    a = BfdSession(params(A, desired_min_tx=tx, required_min_rx=tx, detect_mult=mult), rng.random)
    passive = seed % 2 == 0
    b = BfdSession(params(B, desired_min_tx=tx, required_min_rx=tx, detect_mult=mult, passive=passive), rng.random)
    cut = 5.0
    log = _run(a, b, until=cut + 2.0, cut_at=cut)
    ups = [t for t, _w, e in log if e.new is SessionState.UP]  # type: ignore[attr-defined]
    assert len(ups) == 2 and max(ups) < 0.1  # one second-slow packet, then round trips
    downs = [(t, e) for t, _w, e in log if e.new is SessionState.DOWN and t > cut]  # type: ignore[attr-defined]
    assert len(downs) == 2
    for t, e in downs:
        assert e.diag == Diag.CONTROL_DETECTION_TIME_EXPIRED  # type: ignore[attr-defined]
        assert t - cut <= mult * tx + 0.002
    flaps = [e for t, _w, e in log if t < cut and e.new is SessionState.DOWN and e.old is SessionState.UP]  # type: ignore[attr-defined]
    assert flaps == []


def test_core_imports_no_clock_and_no_random() -> None:
    root = Path(__file__).resolve().parents[3] / "vipd" / "bfd"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not {"time", "random", "asyncio", "socket"} & set(names), path


def test_params_are_frozen() -> None:
    p = params()
    assert replace(p, detect_mult=4).detect_mult == 4


LEGAL = {
    (SessionState.ADMIN_DOWN, SessionState.DOWN),
    (SessionState.DOWN, SessionState.INIT),
    (SessionState.DOWN, SessionState.UP),
    (SessionState.INIT, SessionState.UP),
    (SessionState.INIT, SessionState.DOWN),
    (SessionState.UP, SessionState.DOWN),
    (SessionState.DOWN, SessionState.ADMIN_DOWN),
    (SessionState.INIT, SessionState.ADMIN_DOWN),
    (SessionState.UP, SessionState.ADMIN_DOWN),
}

peer_packets = st.builds(
    ControlPacket,
    state=st.sampled_from(SessionState),
    diag=st.sampled_from(Diag),
    detect_mult=st.integers(1, 5),
    my_discriminator=st.just(B),
    your_discriminator=st.sampled_from([0, A, 77]),
    desired_min_tx_interval=st.sampled_from([0, 10_000, 50_000, 300_000, 1_000_000]),
    required_min_rx_interval=st.sampled_from([0, 10_000, 50_000, 1_000_000]),
    poll=st.booleans(),
    final=st.booleans(),
    demand=st.booleans(),
).filter(lambda p: not (p.poll and p.final))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["pkt", "timer", "start", "stop", "retime"]), peer_packets, st.floats(0, 0.5)),
        max_size=60,
    ),
    r=st.floats(0, 0.999),
    passive=st.booleans(),
)
def test_any_input_sequence_keeps_the_rfc_invariants(steps: list, r: float, passive: bool) -> None:
    """Whatever arrives: every emitted packet encodes (no P+F, ranges), every transition is one of
    RFC 5880 §6.2's, a fired timer leaves no deadline at or before now, and a Final always answers a Poll."""
    s = BfdSession(params(passive=passive), lambda: r)
    now = 0.0
    for kind, pkt, dt in steps:
        now += dt
        d = s.next_deadline()
        if kind == "timer" and d is not None:
            now = max(now, d)
            eff = s.handle(TimerExpired(), now)
        elif kind == "pkt":
            eff = s.handle(PacketReceived(pkt), now)
            if pkt.poll and not any(isinstance(e, Discard) for e in eff):
                assert any(p.final for p in sent(eff)), "§6.8.6: a Poll is answered with a Final"
        elif kind == "start":
            eff = s.handle(Start(), now)
        elif kind == "stop":
            eff = s.handle(Stop(), now)
        else:
            eff = s.reconfigure(params(desired_min_tx=0.01 + dt, required_min_rx=dt, passive=passive), now)
        for p in sent(eff):
            assert decode(encode(p)) == p
            assert p.my_discriminator == A
        for old, new, _diag in changes(eff):
            assert (old, new) in LEGAL
        if kind == "timer":
            nd = s.next_deadline()
            assert nd is None or nd > now, "a fired timer makes progress (the runtime would spin otherwise)"
