"""BFD Control packet codec (RFC 5880 §4.1, §4.2 and the checks of §6.8.6 that need no session).

Pure functions on bytes, written with ``struct``. Intervals stay in the wire's
unit here (microseconds, ``int``); the session converts them to float seconds.
scapy's ``scapy.contrib.bfd`` is the test oracle, never imported by vipd.

Decoding raises :class:`BfdDecodeError` with a stable ``reason`` (a metrics
label): ``"length"``, ``"version"``, ``"detect_mult"``, ``"multipoint"``,
``"my_discriminator"``, ``"your_discriminator"``, ``"auth"``, ``"ttl"``.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

BFD_VERSION = 1
"""RFC 5880 §4.1: "This document defines protocol version 1"."""

HEADER_LEN = 24
"""RFC 5880 §4.1: the mandatory section is 24 octets."""

_HEADER = struct.Struct("!BBBBIIIII")


class SessionState(enum.IntEnum):
    """RFC 5880 §4.1 "State (Sta)" and §6.8.1 ``bfd.SessionState``."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diag(enum.IntEnum):
    """RFC 5880 §4.1 "Diagnostic (Diag)": why the session last left Up."""

    NONE = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


class AuthType(enum.IntEnum):
    """RFC 5880 §4.1 "Auth Type"; vipd verifies only SIMPLE_PASSWORD (§6.7.2)."""

    RESERVED = 0
    SIMPLE_PASSWORD = 1
    KEYED_MD5 = 2
    METICULOUS_KEYED_MD5 = 3
    KEYED_SHA1 = 4
    METICULOUS_KEYED_SHA1 = 5


class BfdDecodeError(ValueError):
    """A received datagram is not a usable BFD Control packet (RFC 5880 §6.8.6 "MUST be discarded").

    Attributes:
        reason: stable counter name (see the module docstring).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Auth:
    """The optional Authentication Section (RFC 5880 §4.2).

    Attributes:
        auth_type: ``AuthType`` value 1..5 (0 is reserved: never on the wire).
        key_id: "Auth Key ID", 0..255.
        data: the octets after Auth Key ID: the password for Simple Password
            (§4.2.2, 1..16 octets); Reserved, Sequence Number and digest for the
            keyed types (§4.2.3, §4.2.4), kept opaque.
    """

    auth_type: int
    key_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One BFD Control packet (RFC 5880 §4.1); intervals in microseconds, as on the wire.

    Attributes:
        state: the sender's ``bfd.SessionState``.
        diag: the sender's ``bfd.LocalDiag`` (a ``Diag``; 9..31 are kept as plain ints).
        detect_mult: "Detect Mult", 1..255 on a valid packet.
        my_discriminator: "My Discriminator", nonzero on a valid packet.
        your_discriminator: "Your Discriminator" (0 = not yet known).
        desired_min_tx_interval: microseconds.
        required_min_rx_interval: microseconds (0 = do not send to me).
        required_min_echo_rx_interval: microseconds (vipd sends 0: no Echo function).
        poll, final, control_plane_independent, demand, multipoint: the P, F, C, D, M bits.
        auth: the Authentication Section, whose presence is the A bit.
        version: "Vers", 1.
    """

    state: SessionState
    diag: int
    detect_mult: int
    my_discriminator: int
    your_discriminator: int
    desired_min_tx_interval: int
    required_min_rx_interval: int
    required_min_echo_rx_interval: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    auth: Auth | None = None
    version: int = BFD_VERSION


def _u32(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name} must be 0..2**32-1, got {value}")
    return value


def encode(packet: ControlPacket) -> bytes:
    """Return the UDP payload for ``packet`` (RFC 5880 §4.1, §4.2).

    Raises:
        ValueError: a field out of its wire range, P and F both set (§6.5: "A
            system MUST NOT set the Poll (P) bit and Final (F) bit in the same packet"),
            or an authentication section of an impossible length.
    """
    if packet.poll and packet.final:
        raise ValueError("RFC 5880 §6.5: P and F must not be set in the same packet")
    if not 0 <= packet.version <= 7 or not 0 <= packet.diag <= 31 or not 0 <= packet.detect_mult <= 255:
        raise ValueError("version, diag or detect_mult out of range")
    flags = (
        (packet.poll << 5)
        | (packet.final << 4)
        | (packet.control_plane_independent << 3)
        | ((packet.auth is not None) << 2)
        | (packet.demand << 1)
        | int(packet.multipoint)
    )
    auth = b""
    if packet.auth is not None:
        a = packet.auth
        if not 0 <= a.auth_type <= 255 or not 0 <= a.key_id <= 255 or not 1 <= len(a.data) <= 252:
            raise ValueError("authentication section out of range")
        auth = bytes((a.auth_type, 3 + len(a.data), a.key_id)) + a.data
    length = HEADER_LEN + len(auth)
    head = _HEADER.pack(
        (packet.version << 5) | packet.diag,
        (int(packet.state) << 6) | flags,
        packet.detect_mult,
        length,
        _u32("my_discriminator", packet.my_discriminator),
        _u32("your_discriminator", packet.your_discriminator),
        _u32("desired_min_tx_interval", packet.desired_min_tx_interval),
        _u32("required_min_rx_interval", packet.required_min_rx_interval),
        _u32("required_min_echo_rx_interval", packet.required_min_echo_rx_interval),
    )
    return head + auth


def decode(payload: bytes) -> ControlPacket:
    """Validate and decode a UDP payload into a :class:`ControlPacket`.

    The checks of RFC 5880 §6.8.6 that need no session, in the RFC's order:

    1. "If the version number is not correct (1)" -> ``version``.
    2. "If the Length field is less than the minimum correct value (24 if the A bit
       is clear, or 26 if the A bit is set)" -> ``length``.
    3. "If the Length field is greater than the payload of the encapsulating
       protocol" -> ``length``. Octets after Length are ignored.
    4. "If the Detect Mult field is zero" -> ``detect_mult``.
    5. "If the Multipoint (M) bit is nonzero" -> ``multipoint``.
    6. "If the My Discriminator field is zero" -> ``my_discriminator``.
    7. "If the Your Discriminator field is zero and the State field is not Down
       or AdminDown" -> ``your_discriminator``.
    8. A bit set: the Auth Len must fit in Length (§4.2) -> ``auth``.

    Raises:
        BfdDecodeError: with the reason above; never anything else for any input.
    """
    if len(payload) < HEADER_LEN:
        raise BfdDecodeError("length", f"{len(payload)} octets, shorter than the 24-octet header")
    vd, sf, detect_mult, length, my_d, your_d, tx, rx, echo = _HEADER.unpack_from(payload)
    version = vd >> 5
    if version != BFD_VERSION:
        raise BfdDecodeError("version", f"version {version}, expected 1")
    a_bit = bool(sf & 0x04)
    if length < (26 if a_bit else HEADER_LEN):
        raise BfdDecodeError("length", f"Length field {length} below the minimum")
    if length > len(payload):
        raise BfdDecodeError("length", f"Length field {length} beyond the {len(payload)}-octet payload")
    if detect_mult == 0:
        raise BfdDecodeError("detect_mult", "Detect Mult is zero")
    if sf & 0x01:
        raise BfdDecodeError("multipoint", "M bit set")
    if my_d == 0:
        raise BfdDecodeError("my_discriminator", "My Discriminator is zero")
    state = SessionState(sf >> 6)
    if your_d == 0 and state not in (SessionState.DOWN, SessionState.ADMIN_DOWN):
        raise BfdDecodeError("your_discriminator", f"Your Discriminator is zero in state {state.name}")
    auth = None
    if a_bit:
        auth_type, auth_len, key_id = payload[24], payload[25], payload[26] if length > 26 else 0
        if auth_len < 4 or HEADER_LEN + auth_len > length:
            raise BfdDecodeError("auth", f"Auth Len {auth_len} does not fit in Length {length}")
        auth = Auth(auth_type, key_id, bytes(payload[27 : HEADER_LEN + auth_len]))
    diag = vd & 0x1F
    return ControlPacket(
        state=state,
        diag=Diag(diag) if diag <= Diag.REVERSE_CONCATENATED_PATH_DOWN else diag,
        detect_mult=detect_mult,
        my_discriminator=my_d,
        your_discriminator=your_d,
        desired_min_tx_interval=tx,
        required_min_rx_interval=rx,
        required_min_echo_rx_interval=echo,
        poll=bool(sf & 0x20),
        final=bool(sf & 0x10),
        control_plane_independent=bool(sf & 0x08),
        demand=bool(sf & 0x02),
        multipoint=False,
        auth=auth,
        version=version,
    )
