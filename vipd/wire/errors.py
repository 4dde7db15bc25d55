"""Typed decode errors, one per receive-error counter of RFC 6527 / RFC 2787.

Each error class carries a stable ``reason`` string: the runtime counts dropped
packets under it (and the metrics issue exports it as a label), so the strings
are part of vipd's interface. Instance-level discards (unknown VRID, v2 interval
mismatch, authentication mismatch, address-list mismatch) are decided by the FSM
or the runtime and use the same vocabulary.

This module imports nothing but the standard library.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A received packet is not a valid VRRP advert; it must be counted and dropped.

    Attributes:
        reason: the counter name (``"version"``, ``"checksum"``...), stable.
    """

    reason = "malformed"


class VersionError(DecodeError):
    """Version field is not 2 or 3 (RFC 6527 vrrpv3StatisticsVersionErrors)."""

    reason = "version"


class ChecksumError(DecodeError):
    """Checksum does not verify (RFC 6527 vrrpv3StatisticsChecksumErrors)."""

    reason = "checksum"


class PacketLengthError(DecodeError):
    """Packet shorter than its header or address list says (RFC 6527 vrrpv3StatisticsPacketLengthErrors)."""

    reason = "packet_length"


class TtlError(DecodeError):
    """IPv4 TTL or IPv6 hop limit is not 255 (RFC 6527 vrrpv3StatisticsIpTtlErrors; RFC 5798 §7.1)."""

    reason = "ip_ttl"


class InvalidTypeError(DecodeError):
    """Type field is not 1, ADVERTISEMENT (RFC 6527 vrrpv3StatisticsRcvdInvalidTypePackets)."""

    reason = "invalid_type"


class AddressListError(DecodeError):
    """Address list malformed or not matching (RFC 6527 vrrpv3StatisticsAddressListErrors)."""

    reason = "address_list"


class IntervalError(DecodeError):
    """Advertisement interval invalid or (v2) not equal to ours (RFC 2787 vrrpStatsAdvertisementIntervalErrors)."""

    reason = "interval"


class AuthError(DecodeError):
    """VRRPv2 authentication failed: the password differs (RFC 2787 vrrpStatsAuthFailures; keepalived
    ``auth_failure``). The FSM uses the same reason for a wrong ``auth_pass``."""

    reason = "auth"


class AuthTypeError(AuthError):
    """VRRPv2 authentication type is none of 0, 1, 2 (RFC 2787 vrrpStatsInvalidAuthType; keepalived
    ``invalid_authtype``). A known type other than the instance's is the FSM's ``auth_mismatch``
    (RFC 2787 vrrpStatsAuthTypeMismatch; keepalived ``authtype_mismatch``)."""

    reason = "auth_type"


class ProtocolError(DecodeError):
    """IP header not usable: not protocol 112, options we cannot parse, wrong destination."""

    reason = "protocol"


ALL_REASONS: tuple[str, ...] = (
    VersionError.reason,
    ChecksumError.reason,
    PacketLengthError.reason,
    TtlError.reason,
    InvalidTypeError.reason,
    AddressListError.reason,
    IntervalError.reason,
    AuthError.reason,
    AuthTypeError.reason,
    "auth_mismatch",  # instance level: a known auth type other than ours (RFC 2787 vrrpStatsAuthTypeMismatch)
    ProtocolError.reason,
    "vrid",  # no instance runs this VRID on this interface (RFC 6527 vrrpv3StatisticsVrIdErrors)
    "not_peer",  # unicast mode: source is not a configured unicast_peer
)
