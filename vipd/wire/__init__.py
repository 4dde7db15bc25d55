"""vipd's wire codec: VRRP adverts (v2/v3, IPv4/IPv6), checksums, GARP and NA frames.

pure: no I/O, no asyncio, no sockets. Functions on bytes and ``ipaddress``
objects, standard library only. Decoding raises one :class:`DecodeError`
subclass per RFC 6527 receive-error counter and nothing else, whatever the
bytes.

- :mod:`vipd.wire.advert`: the decoded types (:class:`Advert`, :class:`Received`)
  and protocol constants.
- :mod:`vipd.wire.codec`: :func:`encode_advert`, :func:`decode_advert`,
  :func:`decode_ipv4`, :func:`inet_checksum`.
- :mod:`vipd.wire.l2`: :func:`garp_frame`, :func:`unsolicited_na_frame`,
  :func:`vmac_address`, MAC string helpers.
- :mod:`vipd.wire.errors`: the error classes and their stable ``reason`` strings.
"""

from vipd.wire.advert import (
    IPPROTO_VRRP,
    VRRP_MCAST4,
    VRRP_MCAST6,
    VRRP_TTL,
    Advert,
    AuthType,
    ChecksumKind,
    IPAddress,
    Received,
)
from vipd.wire.codec import (
    VRRP_AUTH_DATA_LEN,
    VRRP_HEADER_LEN,
    VRRP_TYPE_ADVERTISEMENT,
    decode_advert,
    decode_ipv4,
    encode_advert,
    inet_checksum,
)
from vipd.wire.errors import (
    ALL_REASONS,
    AddressListError,
    AuthError,
    AuthTypeError,
    ChecksumError,
    DecodeError,
    IntervalError,
    InvalidTypeError,
    PacketLengthError,
    ProtocolError,
    TtlError,
    VersionError,
)
from vipd.wire.l2 import (
    ETH_P_ARP,
    ETH_P_IPV6,
    GARP_FRAME_LEN,
    UNSOLICITED_NA_FRAME_LEN,
    garp_frame,
    mac_from_str,
    mac_to_str,
    unsolicited_na_frame,
    vmac_address,
)

__all__ = [
    "ALL_REASONS",
    "ETH_P_ARP",
    "ETH_P_IPV6",
    "GARP_FRAME_LEN",
    "IPPROTO_VRRP",
    "UNSOLICITED_NA_FRAME_LEN",
    "VRRP_AUTH_DATA_LEN",
    "VRRP_HEADER_LEN",
    "VRRP_MCAST4",
    "VRRP_MCAST6",
    "VRRP_TTL",
    "VRRP_TYPE_ADVERTISEMENT",
    "AddressListError",
    "Advert",
    "AuthError",
    "AuthType",
    "AuthTypeError",
    "ChecksumError",
    "ChecksumKind",
    "DecodeError",
    "IPAddress",
    "IntervalError",
    "InvalidTypeError",
    "PacketLengthError",
    "ProtocolError",
    "Received",
    "TtlError",
    "VersionError",
    "decode_advert",
    "decode_ipv4",
    "encode_advert",
    "garp_frame",
    "inet_checksum",
    "mac_from_str",
    "mac_to_str",
    "unsolicited_na_frame",
    "vmac_address",
]
