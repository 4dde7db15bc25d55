"""BFD (RFC 5880 asynchronous mode, RFC 5881 single hop, RFC 5883 multihop): the pure core.

``packet``: the Control packet codec. ``session``: one session's state machine,
events in, effects out, deadlines in the state. No I/O, asyncio, pyroute2,
prometheus_client or scapy here (tests/unit/test_static.py enforces it); the
transport is ``vipd.linux.bfd`` and the asyncio shell ``vipd.runtime.bfd``.
"""

from vipd.bfd.packet import Auth, AuthType, BfdDecodeError, ControlPacket, Diag, SessionState, decode, encode
from vipd.bfd.session import (
    BfdSession,
    Discard,
    Effect,
    Event,
    PacketReceived,
    SendControl,
    SessionParams,
    Start,
    StateChanged,
    Stop,
    TimerExpired,
)

__all__ = [
    "Auth",
    "AuthType",
    "BfdDecodeError",
    "BfdSession",
    "ControlPacket",
    "Diag",
    "Discard",
    "Effect",
    "Event",
    "PacketReceived",
    "SendControl",
    "SessionParams",
    "SessionState",
    "Start",
    "StateChanged",
    "Stop",
    "TimerExpired",
    "decode",
    "encode",
]
