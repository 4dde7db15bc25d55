"""The decoded form of a VRRP advertisement (RFC 3768 §5, RFC 5798 §5).

Times are float seconds everywhere in vipd; the codec alone converts to whole
seconds (v2 ``Adver Int``) or centiseconds (v3 ``Max Adver Int``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

IPAddress = IPv4Address | IPv6Address

VRRP_MCAST4 = IPv4Address("224.0.0.18")
VRRP_MCAST6 = IPv6Address("ff02::12")
IPPROTO_VRRP = 112
VRRP_TTL = 255


class AuthType(enum.IntEnum):
    """RFC 2338 / RFC 3768 §5.3.6 authentication types (v2 only)."""

    NONE = 0
    PASS = 1  # simple text password, 8 octets, zero padded
    AH = 2  # IP Authentication Header (not implemented by vipd)


class ChecksumKind(enum.Enum):
    """Which checksum variant verified on receive (or is used on send).

    ``PSEUDO``: v3 over IPv4/IPv6 with the pseudo-header (RFC 5798 §5.2.8, keepalived, FRR).
    ``PLAIN``: v2, or v3/IPv4 over the VRRP message only (keepalived ``v3_checksum_as_v2``,
    Cisco, Juniper).
    """

    PSEUDO = "pseudo"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP ADVERTISEMENT.

    Attributes:
        version: 2 (RFC 3768) or 3 (RFC 5798).
        vrid: Virtual Router ID, 1..255.
        priority: 0..255; 0 = master leaving, 255 = address owner.
        max_adver_int: advertisement interval in float seconds. v2 carries whole
            seconds (1..255); v3 carries centiseconds (0.01..40.95).
        addresses: the IPvX addresses of the virtual router, in wire order.
        auth_type: v2 only; 0 for v3.
        auth_data: v2 only, exactly 8 bytes for PASS and AH (zero padded); b"" for v3
            and for v2 auth type NONE (whose data is sent as zeros and ignored on receive).
    """

    version: int
    vrid: int
    priority: int
    max_adver_int: float
    addresses: tuple[IPAddress, ...]
    auth_type: int = 0
    auth_data: bytes = b""


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded advert with what the IP layer told us about it.

    Attributes:
        advert: the decoded message.
        src: IP source address (the sender's primary address).
        dst: IP destination (224.0.0.18, ff02::12, or our unicast address).
        ttl: IPv4 TTL or IPv6 hop limit as received (always 255 once decoded).
        checksum: which checksum variant matched.
    """

    advert: Advert
    src: IPAddress
    dst: IPAddress
    ttl: int
    checksum: ChecksumKind
