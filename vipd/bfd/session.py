"""One BFD session in asynchronous mode (RFC 5880 §6), pure and sans-I/O like ``vipd.fsm``.

Rules of this module (the same as ``vipd/fsm/machine.py``):

1. Everything that decides the session state lives here; the runtime feeds
   events (``Start``, ``Stop``, ``PacketReceived``, ``TimerExpired``) and executes
   the returned effects in order.
2. No I/O, no clock, no logging, no asyncio, no ``random`` import: every call
   takes ``now`` (float seconds, monotonic) and the jitter source is injected.
3. One time unit: float seconds. The wire's microseconds exist only in
   :mod:`vipd.bfd.packet` and in :meth:`BfdSession.control_packet`.

Variable names follow RFC 5880 §6.8.1 in snake_case (``bfd.DesiredMinTxInterval``
-> ``desired_min_tx_interval``...). Demand mode and the Echo function are not
implemented (vipd never sets D and always advertises Required Min Echo RX 0);
a peer's Demand mode is honoured (§6.8.6). Authentication: Simple Password
(§6.7.2) only.

Size: over 400 lines: the RFC 5880 state machine with every clause cited, kept in one file like vipd/fsm/machine.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vipd.bfd.packet import Auth, AuthType, ControlPacket, Diag, SessionState

US = 1_000_000
"""Microseconds per second: the wire's interval unit (RFC 5880 §4.1)."""

SLOW_TX = 1.0
"""RFC 5880 §6.8.3: "When bfd.SessionState is not Up, the system MUST set
bfd.DesiredMinTxInterval to a value of not less than one second"."""


@dataclass(frozen=True, slots=True)
class SessionParams:
    """Configuration of one session (keepalived ``bfd_instance``); times in float seconds.

    Attributes:
        local_discr: ``bfd.LocalDiscr``, 1..2**32-1, unique on this host (§6.8.1).
        desired_min_tx: Desired Min TX Interval while Up, seconds (keepalived ``min_tx``, ms there).
        required_min_rx: Required Min RX Interval, seconds (keepalived ``min_rx``); 0 = send nothing to me.
        detect_mult: ``bfd.DetectMult`` 1..255 (keepalived ``multiplier``, default 5).
        idle_tx: Desired Min TX Interval while not Up, seconds, at least 1 (keepalived ``idle_tx``;
            RFC 5880 §6.8.3).
        passive: take the Passive role (§6.1): send nothing until the peer has spoken
            (keepalived ``passive``).
        auth_key_id, auth_password: Simple Password authentication (§6.7.2), ``None`` = none.
    Raises:
        ValueError: out-of-range values (the config layer reports them at FILE:LINE first).
    """

    local_discr: int
    desired_min_tx: float
    required_min_rx: float
    detect_mult: int = 5
    idle_tx: float = SLOW_TX
    passive: bool = False
    auth_key_id: int = 0
    auth_password: bytes | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.local_discr <= 0xFFFFFFFF:
            raise ValueError("local_discr must be 1..2**32-1 (RFC 5880 §6.8.1: nonzero)")
        if not 1 <= self.detect_mult <= 255:
            raise ValueError("detect_mult must be 1..255")
        if self.desired_min_tx <= 0 or self.required_min_rx < 0:
            raise ValueError("desired_min_tx must be > 0 and required_min_rx >= 0")
        if self.idle_tx < SLOW_TX:
            raise ValueError("idle_tx must be at least 1 s (RFC 5880 §6.8.3)")
        if self.auth_password is not None and not 1 <= len(self.auth_password) <= 16:
            raise ValueError("a Simple Password is 1..16 octets (RFC 5880 §4.2.2)")


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Start:
    """Enable the session (RFC 5880 §6.8.16: leave AdminDown for Down; §6.8.1 initial Down)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Disable the session administratively (RFC 5880 §6.8.16): AdminDown, diag 7."""


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """A Control packet that passed :func:`vipd.bfd.packet.decode` and was demultiplexed here.

    Attributes:
        packet: the decoded packet.
    """

    packet: ControlPacket


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """``now`` has reached ``next_deadline()``."""


Event = Start | Stop | PacketReceived | TimerExpired


# ----------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class SendControl:
    """Transmit this Control packet now (the runtime encodes and sends it)."""

    packet: ControlPacket


@dataclass(frozen=True, slots=True)
class StateChanged:
    """``bfd.SessionState`` changed.

    Attributes:
        old, new: the states.
        diag: ``bfd.LocalDiag`` after the change (``CONTROL_DETECTION_TIME_EXPIRED`` = a detection-time expiry).
    """

    old: SessionState
    new: SessionState
    diag: int


@dataclass(frozen=True, slots=True)
class Discard:
    """A packet was dropped by a session-level check of RFC 5880 §6.8.6; count it under ``reason``."""

    reason: str
    detail: str = ""


Effect = SendControl | StateChanged | Discard


# ----------------------------------------------------------------------------- the session


def _never_jitter() -> float:
    return 0.0


@dataclass(slots=True)
class BfdSession:
    """The state of one BFD session (RFC 5880 §6.8.1) and its timers; pure and synchronous.

    Use: ``effects = s.handle(event, now)``; execute them in order; call
    ``handle(TimerExpired(), t)`` no earlier than ``t = s.next_deadline()``.

    Attributes (read-only for callers; seconds unless said):
        params: the configuration.
        random: jitter source, a callable returning a float in [0, 1) (RFC 5880 §6.8.7).
        session_state, remote_session_state, remote_discr, local_diag,
        desired_min_tx_interval, required_min_rx_interval, remote_min_rx_interval,
        remote_demand_mode: RFC 5880 §6.8.1.
        remote_desired_min_tx, remote_detect_mult: the last received values (§6.8.4 needs them).
        poll_pending: a Poll Sequence is being transmitted (§6.5).
        last_rx: ``now`` of the last packet not discarded, or None.
    """

    params: SessionParams
    random: Callable[[], float] = _never_jitter
    session_state: SessionState = SessionState.ADMIN_DOWN
    remote_session_state: SessionState = SessionState.DOWN
    remote_discr: int = 0
    local_diag: int = Diag.NONE
    desired_min_tx_interval: float = SLOW_TX
    required_min_rx_interval: float = 0.0
    remote_min_rx_interval: float = 1 / US
    remote_demand_mode: bool = False
    remote_desired_min_tx: float = 0.0
    remote_detect_mult: int = 0
    poll_pending: bool = False
    last_rx: float | None = None
    _tx_in_use: float = SLOW_TX
    _rx_in_use: float = 0.0
    _tx_at: float | None = None
    _detect_at: float | None = None
    _admin_down_until: float | None = None
    _tx_base: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.required_min_rx_interval = self._rx_in_use = self.params.required_min_rx
        self.desired_min_tx_interval = self._tx_in_use = self.params.idle_tx

    # ------------------------------------------------------------------ queries

    @property
    def up(self) -> bool:
        """True while ``bfd.SessionState`` is Up."""
        return self.session_state is SessionState.UP

    def detection_time(self) -> float:
        """RFC 5880 §6.8.4 asynchronous mode: the remote's Detect Mult times the agreed remote transmit
        interval, "the greater of bfd.RequiredMinRxInterval and the last received Desired Min TX
        Interval"; seconds, 0 before any packet was received."""
        return self.remote_detect_mult * max(self._rx_in_use, self.remote_desired_min_tx)

    def tx_interval(self) -> float:
        """RFC 5880 §6.8.2/§6.8.7: the greater of bfd.DesiredMinTxInterval (the one in use, §6.8.3)
        and bfd.RemoteMinRxInterval, before jitter; seconds."""
        return max(self._tx_in_use, self.remote_min_rx_interval)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline (float seconds, monotonic), or None."""
        due = [t for t in (self._tx_at, self._detect_at, self._admin_down_until) if t is not None]
        return min(due) if due else None

    def control_packet(self, *, poll: bool | None = None, final: bool = False) -> ControlPacket:
        """The Control packet this session sends now (RFC 5880 §6.8.7 "the contents of transmitted
        BFD Control packets MUST be set as follows"); P follows the Poll Sequence unless ``poll`` says."""
        p = self.params
        auth = None
        if p.auth_password is not None:
            auth = Auth(AuthType.SIMPLE_PASSWORD, p.auth_key_id, p.auth_password)
        return ControlPacket(
            state=self.session_state,
            diag=self.local_diag,
            detect_mult=p.detect_mult,
            my_discriminator=p.local_discr,
            your_discriminator=self.remote_discr,
            desired_min_tx_interval=round(self.desired_min_tx_interval * US),
            required_min_rx_interval=round(self.required_min_rx_interval * US),
            required_min_echo_rx_interval=0,  # §6.8.7: zero when the Echo function is not supported
            poll=self.poll_pending if poll is None else poll,
            final=final,
            demand=False,
            auth=auth,
        )

    # ------------------------------------------------------------------ input

    def handle(self, event: Event, now: float) -> list[Effect]:
        """Process one event at ``now`` (float seconds); return the effects in order.

        Raises:
            TypeError: not an ``Event``.
        """
        if isinstance(event, PacketReceived):
            return self._on_packet(event.packet, now)
        if isinstance(event, TimerExpired):
            return self._on_timer(now)
        if isinstance(event, Start):
            return self._on_start(now)
        if isinstance(event, Stop):
            return self._on_stop(now)
        raise TypeError(f"not a BFD event: {event!r}")

    def reconfigure(self, params: SessionParams, now: float) -> list[Effect]:
        """Change the timers of a running session without taking it down (RFC 5880 §6.8.3).

        A change of Desired Min TX or Required Min RX starts a Poll Sequence; while Up, a
        larger TX interval is used only once the peer's Final arrives, and a smaller RX
        interval counts for the Detection Time only then.

        Raises:
            ValueError: ``local_discr`` differs (that is another session).
        """
        if params.local_discr != self.params.local_discr:
            raise ValueError("reconfigure cannot change local_discr")
        self.params = params
        effects: list[Effect] = []
        self._set_required_min_rx(params.required_min_rx)
        self._set_desired_min_tx(self._wanted_tx(), now)
        if self.poll_pending and self._may_transmit():
            effects.append(SendControl(self.control_packet()))
        return effects

    # ------------------------------------------------------------------ timers

    def _wanted_tx(self) -> float:
        # §6.8.3: not less than one second unless Up (keepalived idle_tx, min 1000 ms).
        return self.params.desired_min_tx if self.up else max(self.params.idle_tx, SLOW_TX)

    def _set_desired_min_tx(self, value: float, now: float) -> None:
        if value == self.desired_min_tx_interval:
            return
        # §6.8.3: "If either bfd.DesiredMinTxInterval is changed or bfd.RequiredMinRxInterval is
        # changed, a Poll Sequence MUST be initiated."
        self.poll_pending = True
        # §6.8.3: "If bfd.DesiredMinTxInterval is increased and bfd.SessionState is Up, the actual
        # transmission interval used MUST NOT change until the Poll Sequence ... has terminated."
        if not (self.up and value > self._tx_in_use):
            self._tx_in_use = value
        self.desired_min_tx_interval = value
        self._reschedule_tx(now)

    def _set_required_min_rx(self, value: float) -> None:
        if value == self.required_min_rx_interval:
            return
        self.poll_pending = True  # §6.8.3, as above
        # §6.8.3: "If bfd.RequiredMinRxInterval is reduced and bfd.SessionState is Up, the previous
        # value ... MUST be used when calculating the Detection Time ... until the Poll Sequence
        # ... has terminated."
        if not (self.up and value < self._rx_in_use):
            self._rx_in_use = value
        self.required_min_rx_interval = value

    def _may_transmit(self) -> bool:
        """RFC 5880 §6.8.7 rules on periodic transmission."""
        if self.session_state is SessionState.ADMIN_DOWN and self._admin_down_until is None:
            return False
        if self.params.passive and self.remote_discr == 0:
            # "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero and the
            # system is taking the Passive role."
            return False
        if self.remote_min_rx_interval == 0:
            # "A system MUST NOT periodically transmit BFD Control packets if bfd.RemoteMinRxInterval is zero."
            return False
        # §6.8.6/§6.8.7: Demand mode active on the remote system: cease periodic transmission.
        return not (self.remote_demand_mode and self.up and self.remote_session_state is SessionState.UP)

    def _jittered(self) -> float:
        """RFC 5880 §6.8.7: "The periodic transmission of BFD Control packets MUST be jittered on a
        per-packet basis by up to 25%, that is, the interval MUST be reduced by a random value of 0
        to 25%"; "If bfd.DetectMult is equal to 1, the interval ... MUST be no more than 90% of the
        negotiated transmission interval, and MUST be no less than 75%"."""
        r = min(max(self.random(), 0.0), 1.0)
        base = self.tx_interval()
        if self.params.detect_mult == 1:
            return base * (0.9 - 0.15 * r)
        return base * (1.0 - 0.25 * r)

    def _reschedule_tx(self, now: float) -> None:
        """Arm the TX timer; a shorter interval takes effect at once (§6.8.3 "MUST honor the new
        interval immediately"), a longer one from the next packet on."""
        if not self._may_transmit():
            self._tx_at = None
            return
        base = self.tx_interval()
        if self._tx_at is None or base < self._tx_base:
            nxt = now + self._jittered()
            self._tx_at = nxt if self._tx_at is None else min(self._tx_at, nxt)
        self._tx_base = base

    def _on_timer(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self._detect_at is not None and now >= self._detect_at:
            self._detect_at = None
            # §6.8.1 bfd.RemoteDiscr: "MUST be set to zero if no packets have been received from
            # this system for a period of Detection Time".
            self.remote_discr = 0
            self.remote_session_state = SessionState.DOWN
            if self.session_state in (SessionState.INIT, SessionState.UP):
                # §6.8.4: "When the Detection Time expires ... if bfd.SessionState is Init or Up, the
                # session has gone down -- the local system MUST set bfd.SessionState to Down and
                # bfd.LocalDiag to 1 (Control Detection Time Expired)."
                effects += self._change_state(SessionState.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED, now)
            else:
                self._reschedule_tx(now)  # passive: §6.8.7 silence again
        if self._admin_down_until is not None and now >= self._admin_down_until:
            # §6.8.16: AdminDown packets are sent for a Detection Time, then transmission stops.
            self._admin_down_until = None
            self._tx_at = None
        if self._tx_at is not None and now >= self._tx_at:
            effects.append(SendControl(self.control_packet()))
            self._tx_at = None
            self._reschedule_tx(now)
        return effects

    # ------------------------------------------------------------------ transitions

    def _change_state(self, new: SessionState, diag: int, now: float) -> list[Effect]:
        old = self.session_state
        self.session_state = new
        self.local_diag = diag
        if new is not SessionState.UP and self.poll_pending:
            # The Poll Sequence was about Up timers; the slow ones below start their own.
            self._tx_in_use = self.desired_min_tx_interval
            self._rx_in_use = self.required_min_rx_interval
        self._set_desired_min_tx(self._wanted_tx(), now)
        effects: list[Effect] = []
        if self._may_transmit():
            # Tell the peer at once: a state change is sent out of turn so the three-way handshake
            # (§6.2) takes round trips, not intervals. The periodic timer restarts from here.
            effects.append(SendControl(self.control_packet()))
            self._tx_at = None
            self._reschedule_tx(now)
        effects.append(StateChanged(old, new, diag))
        return effects

    def _on_start(self, now: float) -> list[Effect]:
        if self.session_state is not SessionState.ADMIN_DOWN:
            return []
        # §6.8.16: "If signaling is received from outside BFD that the session should be
        # re-enabled ... bfd.SessionState MUST be set to Down" (§6.8.1: initialised to Down).
        self._admin_down_until = None
        old = self.session_state
        self.session_state = SessionState.DOWN
        self.local_diag = Diag.NONE
        self._tx_at = None
        if self._may_transmit():
            self._tx_at = now  # first packet at once (not before the socket exists: the runtime starts us)
            self._tx_base = self.tx_interval()
        return [StateChanged(old, SessionState.DOWN, Diag.NONE)]

    def _on_stop(self, now: float) -> list[Effect]:
        if self.session_state is SessionState.ADMIN_DOWN:
            return []
        # §6.8.16: "bfd.SessionState MUST be set to AdminDown ... bfd.LocalDiag ... 7
        # (Administratively Down)"; "the system SHOULD ... transmit ... for a period of Detection
        # Time" so the peer sees AdminDown rather than a detection-time expiry.
        old = self.session_state
        self.session_state = SessionState.ADMIN_DOWN
        self.local_diag = Diag.ADMINISTRATIVELY_DOWN
        effects: list[Effect] = []
        detect = self.detection_time()
        if old is not SessionState.DOWN or self.remote_discr:
            self._admin_down_until = now + max(detect, self.tx_interval())
            effects.append(SendControl(self.control_packet(poll=False)))
            self._tx_at = None
            self._reschedule_tx(now)
        else:
            self._tx_at = None
        self._detect_at = None
        effects.append(StateChanged(old, SessionState.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN))
        return effects

    # ------------------------------------------------------------------ reception

    def _check(self, pkt: ControlPacket) -> Discard | None:
        """RFC 5880 §6.8.6 session-level checks (the packet-level ones are in ``packet.decode``)."""
        if pkt.your_discriminator and pkt.your_discriminator != self.params.local_discr:
            # "If the Your Discriminator field is nonzero, it MUST be used to select the session
            # ... If no session is found, the packet MUST be discarded."
            return Discard("your_discriminator", f"Your Discriminator {pkt.your_discriminator} is not ours")
        if pkt.auth is not None and self.params.auth_password is None:
            # "If the A bit is set and no authentication is in use (bfd.AuthType is zero), the
            # packet MUST be discarded."
            return Discard("auth", "A bit set but no authentication configured")
        if pkt.auth is None and self.params.auth_password is not None:
            # "If the A bit is clear and authentication is in use (bfd.AuthType is nonzero), the
            # packet MUST be discarded."
            return Discard("auth", "A bit clear but authentication configured")
        if pkt.auth is not None:
            # "If the A bit is set, the packet MUST be authenticated under the rules of section
            # 6.7"; §6.7.2 Simple Password: type, key ID and password must match.
            a = pkt.auth
            if (
                a.auth_type != AuthType.SIMPLE_PASSWORD
                or a.key_id != self.params.auth_key_id
                or a.data != self.params.auth_password
            ):
                return Discard("auth", "authentication failed (RFC 5880 §6.7.2)")
        return None

    def _on_packet(self, pkt: ControlPacket, now: float) -> list[Effect]:
        bad = self._check(pkt)
        if bad is not None:
            return [bad]
        effects: list[Effect] = []
        # §6.8.6, in order: "Set bfd.RemoteDiscr to the value of My Discriminator. Set
        # bfd.RemoteState to the value of the State (Sta) field. Set bfd.RemoteDemandMode to the
        # value of the Demand (D) bit. Set bfd.RemoteMinRxInterval to the value of Required Min
        # RX Interval."
        was_silent = self.remote_discr == 0
        self.remote_discr = pkt.my_discriminator
        self.remote_session_state = pkt.state
        self.remote_demand_mode = pkt.demand
        self.remote_min_rx_interval = pkt.required_min_rx_interval / US
        self.remote_desired_min_tx = pkt.desired_min_tx_interval / US
        self.remote_detect_mult = pkt.detect_mult
        self.last_rx = now
        if self.poll_pending and pkt.final:
            # "If a Poll Sequence is being transmitted by the local system and the Final (F) bit in
            # the received packet is set, the Poll Sequence MUST be terminated." §6.8.3: the new
            # TX and RX intervals now take full effect.
            self.poll_pending = False
            self._tx_in_use = self.desired_min_tx_interval
            self._rx_in_use = self.required_min_rx_interval
        # "Update the transmit interval as described in section 6.8.2" and "Update the Detection
        # Time as described in section 6.8.4": the packet counts as received (§6.8.4).
        self._detect_at = now + self.detection_time()
        if was_silent and self.params.passive:
            self._tx_at = None  # §6.8.7: the Passive role may speak now
        self._reschedule_tx(now)
        if self.session_state is SessionState.ADMIN_DOWN:
            # "If bfd.SessionState is AdminDown: Discard the packet."
            return [Discard("admin_down", "session is administratively down")]
        new = self.session_state
        diag = self.local_diag
        if pkt.state is SessionState.ADMIN_DOWN:
            # "If received state is AdminDown: If bfd.SessionState is not Down: Set bfd.LocalDiag
            # to 3 (Neighbor signaled session down); Set bfd.SessionState to Down."
            if self.session_state is not SessionState.DOWN:
                new, diag = SessionState.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN
        elif self.session_state is SessionState.DOWN:
            if pkt.state is SessionState.DOWN:
                new, diag = SessionState.INIT, Diag.NONE  # "If received State is Down: Set bfd.SessionState to Init"
            elif pkt.state is SessionState.INIT:
                new, diag = SessionState.UP, Diag.NONE  # "Else if received State is Init: Set bfd.SessionState to Up"
        elif self.session_state is SessionState.INIT:
            if pkt.state in (SessionState.INIT, SessionState.UP):
                new, diag = SessionState.UP, Diag.NONE  # "If received State is Init or Up: Set ... Up"
        elif pkt.state is SessionState.DOWN:
            # "Else (bfd.SessionState is Up): If received State is Down: Set bfd.LocalDiag to 3
            # (Neighbor signaled session down); Set bfd.SessionState to Down."
            new, diag = SessionState.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN
        if pkt.poll:
            # "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the
            # Poll (P) bit clear, and the Final (F) bit set" (§6.8.7: "as soon as practicable,
            # without respect to the transmission timer"). Sent before any state change below so
            # the Final carries the parameters the Poll asked about.
            effects.append(SendControl(self.control_packet(poll=False, final=True)))
        if new is not self.session_state:
            effects += self._change_state(new, diag, now)
        return effects
