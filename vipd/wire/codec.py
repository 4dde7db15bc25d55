"""Encode and decode VRRP advertisements (RFC 3768 v2, RFC 5798 / RFC 9568 v3).

pure: no I/O, no asyncio, no sockets. Standard library only (``struct``,
``ipaddress``); scapy is the test oracle and is never imported here.

What this module decides, and what it leaves to others:

* IP-level and packet-level checks live here, one typed error per RFC 6527
  counter (:mod:`vipd.wire.errors`). Instance-level checks (unknown VRID, v2
  interval mismatch, authentication data mismatch, address list different from
  ours, unicast peers) belong to the FSM and the runtime.
* Times are float seconds outside this module. v2 carries whole seconds
  (``Adver Int``, RFC 3768 §5.3.7); v3 carries centiseconds (``Max Adver Int``,
  RFC 5798 §5.2.7). The conversion happens here and nowhere else.

Checksums and trailing bytes (the decisions, and why):

* v2: RFC 3768 §5.3.8, plain Internet checksum over the VRRP message (the 8
  octets of authentication data included), no pseudo-header.
* v3: RFC 5798 §5.2.8, checksum over the VRRP message plus the IPv4 or IPv6
  pseudo-header with protocol 112. keepalived and FRR send this for IPv4; Cisco
  and Juniper send the plain v2-style checksum for v3/IPv4 (keepalived's
  ``v3_checksum_as_v2``). On receive, v3/IPv4 accepts either (pseudo-header
  tried first) and reports which one matched; v3/IPv6 accepts only the
  pseudo-header form, which is what the kernel's ``IPV6_CHECKSUM`` computes.
* Bytes after the address list (after the authentication data for v2) are
  accepted as padding, and the checksum is verified over the *whole payload as
  received*, with the payload length in the pseudo-header. Reasons: RFC 5798
  §5.2.8 sums "the entire VRRP message"; for IPv6 the kernel's
  ``IPV6_CHECKSUM`` (keepalived's sender, and vipd's) always covers the whole
  IPv6 payload; scapy's ``VRRP``/``VRRPv3`` layers checksum every byte they
  build. keepalived itself is stricter: it drops any packet whose length is not
  exactly header + addresses (+ auth), so it never sees padding at all. A sender
  that pads with zeros and sums only the message still verifies in the v2 and
  v3-plain forms (zero words add nothing) but not in the v3 pseudo-header form
  (the length in the pseudo-header differs); no such sender is known.
* A CARP packet (OpenBSD/ucarp: version 2, type 1, so the same first octet 0x21
  as VRRPv2) is 36 octets, and its fourth octet, ``authlen``, is 7. Read as
  VRRPv2 that is "7 IPv4 addresses", i.e. 8 + 28 + 8 = 44 octets needed, so it
  fails with :class:`PacketLengthError`. It would *not* fail on the checksum:
  CARP's checksum is a plain Internet checksum over its 36 octets, which is
  exactly what the v2 check computes.

Size: over 400 lines: both versions and both families of the advert, their checksums and every RFC 6527
decode error, kept in one module like the FSM.
"""

from __future__ import annotations

import functools
import math
import struct
from ipaddress import IPv4Address, IPv6Address

from vipd.wire.advert import (
    IPPROTO_VRRP,
    VRRP_TTL,
    Advert,
    AuthType,
    ChecksumKind,
    IPAddress,
    Received,
)
from vipd.wire.errors import (
    AddressListError,
    AuthTypeError,
    ChecksumError,
    IntervalError,
    InvalidTypeError,
    PacketLengthError,
    ProtocolError,
    TtlError,
    VersionError,
)

__all__ = [
    "VRRP_AUTH_DATA_LEN",
    "VRRP_HEADER_LEN",
    "VRRP_TYPE_ADVERTISEMENT",
    "decode_advert",
    "decode_ipv4",
    "encode_advert",
    "inet_checksum",
]

VRRP_HEADER_LEN = 8
"""Fixed part of the VRRP message, both versions (RFC 3768 §5.1, RFC 5798 §5.1)."""

VRRP_AUTH_DATA_LEN = 8
"""v2 Authentication Data, always present on the wire (RFC 3768 §5.3.10)."""

VRRP_TYPE_ADVERTISEMENT = 1
"""The only VRRP message type (RFC 3768 §5.3.2, RFC 5798 §5.2.2)."""

_V3_INTERVAL_MASK = 0x0FFF  # 12 bits of centiseconds; the top 4 bits are reserved (RFC 5798 §5.2.6)
_V3_MAX_CENTISECONDS = 4095
_V2_MAX_SECONDS = 255
_IPV4_MIN_HEADER = 20

# v2: ver/type, vrid, priority, count, auth type, adver int (s), checksum
_V2_HEADER = struct.Struct("!BBBBBBH")
# v3: ver/type, vrid, priority, count, rsvd(4) + max adver int (cs, 12), checksum
_V3_HEADER = struct.Struct("!BBBBHH")


DECODE_CACHE_SIZE = 1024
"""Distinct (message, source, destination, TTL) inputs whose decoded result is kept.

A router hears the same bytes from each master again and again (one message per
VRID and priority), so decoding is memoised: a repeat costs one hash of the bytes
instead of the checks, the checksum and the objects. Every check still applies to
every distinct input; errors are never cached; the bound keeps a flood of random
packets from growing memory (they only churn the cache). 1024 covers 255 VRIDs
times a few priorities per sender."""

DECODE_CACHE_MAX_PAYLOAD = VRRP_HEADER_LEN + 255 * 4 + VRRP_AUTH_DATA_LEN
"""Octets: longer payloads (padding, or more than 63 IPv6 addresses) are decoded every time,
never memoised, so the caches hold at most ~1 MiB of packets each whatever a sender crafts."""

# A router hears the same few addresses (its peers', its VIPs, 224.0.0.18) in every advert:
# build each ipaddress object once (they are immutable) instead of ~5 per packet. Bounded,
# so a flood of random addresses only churns the cache.
_ipv4 = functools.lru_cache(maxsize=4096)(IPv4Address)
_ipv6 = functools.lru_cache(maxsize=4096)(IPv6Address)


def inet_checksum(data: bytes) -> int:
    """Return the Internet checksum of ``data`` (RFC 1071).

    The 16-bit one's complement of the one's complement sum of the big-endian
    16-bit words of ``data``; an odd length is padded with one zero octet.
    Computing it over data that already holds a correct checksum gives 0.

    Implementation: 2**16 == 1 modulo 0xFFFF, so the one's complement sum of
    the words equals the whole buffer read as one big integer, modulo 0xFFFF,
    except that a non-zero sum of 0xFFFF comes out as 0 (RFC 1071 §2(B)
    "end-around carry"). Two to three times faster than summing words.

    Args:
        data: any bytes-like object.

    Returns:
        The checksum, 0..0xFFFF, to be stored big-endian.
    """
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    """IPv4 (RFC 768/793 form) or IPv6 (RFC 8200 §8.1) pseudo-header for protocol 112."""
    return src.packed + dst.packed + _pseudo_tail(isinstance(src, IPv6Address), length)


def _pseudo_tail(ipv6: bool, length: int) -> bytes:
    """The pseudo-header after the two addresses: zero, protocol 112 and the length, in the family's layout."""
    if ipv6:
        return struct.pack("!I3xB", length, IPPROTO_VRRP)
    return struct.pack("!BBH", 0, IPPROTO_VRRP, length)


@functools.lru_cache(maxsize=1024)
def _ipv4_list(packed: bytes) -> tuple[IPv4Address, ...]:
    """The address list of an advert (``Count`` * 4 octets) as address objects, built once per distinct list."""
    return tuple(_ipv4(word) for word in struct.unpack(f"!{len(packed) // 4}I", packed))


@functools.lru_cache(maxsize=1024)
def _ipv6_list(packed: bytes) -> tuple[IPv6Address, ...]:
    """The address list of an IPv6 advert (``Count`` * 16 octets), built once per distinct list."""
    return tuple(_ipv6(int.from_bytes(packed[at : at + 16], "big")) for at in range(0, len(packed), 16))


def _require_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _same_family(src: IPAddress, dst: IPAddress) -> None:
    if not isinstance(src, IPv4Address | IPv6Address) or not isinstance(dst, IPv4Address | IPv6Address):
        raise ValueError(f"src and dst must be IPv4Address or IPv6Address, got {src!r}, {dst!r}")
    if src.version != dst.version:
        raise ValueError(f"src {src} and dst {dst} are not of the same address family")


def encode_advert(
    advert: Advert,
    *,
    src: IPAddress,
    dst: IPAddress,
    pseudo_header: bool = True,
) -> bytes:
    """Build the VRRP message of ``advert``: the bytes that follow the IP header.

    v2 (RFC 3768 §5.1, IPv4 only): 8-octet header with ``Adver Int`` in whole
    seconds, the IPv4 addresses, then the 8 octets of Authentication Data, which
    are always present (zero for auth type NONE), as keepalived sends them. The
    checksum covers the VRRP message only (§5.3.8).

    v3 (RFC 5798 §5.1): 8-octet header with ``Max Adver Int`` in centiseconds,
    ``round(advert.max_adver_int * 100)``, in the low 12 bits and the 4
    reserved bits zero, then the IPv4 or IPv6 addresses. The checksum
    (§5.2.8) includes the pseudo-header built from ``src``, ``dst`` and
    protocol 112 when ``pseudo_header`` is true; with ``pseudo_header=False``
    a v3/IPv4 message is checksummed over the message only (keepalived's
    ``v3_checksum_as_v2``, Cisco, Juniper). ``pseudo_header`` is ignored for
    v2 (always plain) and for IPv6 (always pseudo-header).

    An IPv6 raw socket with ``IPV6_CHECKSUM=6`` overwrites octets 6-7 with the
    same value; this function fills them anyway, so the bytes are complete.

    Args:
        advert: the message. ``advert.max_adver_int`` is float seconds.
        src: the IP source address the packet will carry (only the pseudo-header
            uses it; its family selects IPv4 or IPv6).
        dst: the IP destination (224.0.0.18, ff02::12 or a unicast peer).
        pseudo_header: v3/IPv4 only, see above.

    Returns:
        The message: 8 + 4*n (+ 8 for v2) octets for IPv4, 8 + 16*n for IPv6.

    Raises:
        ValueError: anything that cannot be put on the wire: version not 2/3,
            v2 over IPv6, vrid outside 1..255, priority outside 0..255, more
            than 255 addresses (none is allowed: keepalived no_virtual_ipaddress),
            an address, ``src`` or ``dst`` of another family, v2 interval not a whole number of seconds in 1..255, v3
            interval not in 0.01..40.95 s once rounded to centiseconds, v2 auth
            type AH (not implemented: it needs an IPsec AH header, protocol 51)
            or unknown, auth data not b"" (NONE) / 8 octets (PASS), v3 with auth
            fields set.
    """
    _same_family(src, dst)
    version = _require_int("version", advert.version, 2, 3)
    vrid = _require_int("vrid", advert.vrid, 1, 255)
    priority = _require_int("priority", advert.priority, 0, 255)
    addresses = advert.addresses
    if len(addresses) > 255:  # 0: keepalived's no_virtual_ipaddress (RFC 5798 §5.2.5 wants at least 1)
        raise ValueError(f"a VRRP advert carries at most 255 addresses, got {len(addresses)}")
    for address in addresses:
        if not isinstance(address, IPv4Address | IPv6Address) or address.version != src.version:
            raise ValueError(f"address {address!r} is not an IPv{src.version} address like src {src}")
    packed = b"".join(address.packed for address in addresses)
    interval = advert.max_adver_int
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
        raise ValueError(f"max_adver_int must be a finite number of seconds, got {interval!r}")

    if version == 2:
        if isinstance(src, IPv6Address):
            raise ValueError("VRRPv2 is defined for IPv4 only (RFC 3768 §1); use version 3 for IPv6")
        if interval != int(interval) or not 1 <= interval <= _V2_MAX_SECONDS:
            raise ValueError(f"v2 Adver Int is whole seconds 1..255 (RFC 3768 §5.3.7), got {interval!r}")
        auth_type = advert.auth_type
        if auth_type == AuthType.AH:
            # An AH advert is an IPsec AH packet (IP protocol 51) wrapping this message; vipd does
            # not implement it (RFC 3768 removed authentication), so there is nothing to send.
            raise ValueError("auth type AH (IPsec Authentication Header) is not implemented by vipd")
        if auth_type not in (AuthType.NONE, AuthType.PASS):
            raise ValueError(f"unknown v2 auth type {auth_type!r} (RFC 3768 §5.3.6)")
        if auth_type == AuthType.NONE:
            if advert.auth_data:
                raise ValueError("auth_data must be b'' when auth_type is NONE")
            auth_data = bytes(VRRP_AUTH_DATA_LEN)
        else:
            auth_data = advert.auth_data
            if not isinstance(auth_data, bytes) or len(auth_data) != VRRP_AUTH_DATA_LEN:
                raise ValueError(f"auth_data must be exactly {VRRP_AUTH_DATA_LEN} bytes (zero padded)")
        first = 0x20 | VRRP_TYPE_ADVERTISEMENT
        header = _V2_HEADER.pack(first, vrid, priority, len(addresses), int(auth_type), int(interval), 0)
        message = header + packed + auth_data
        checksum = inet_checksum(message)
    else:
        if advert.auth_type != 0 or advert.auth_data:
            raise ValueError("VRRPv3 has no authentication (RFC 5798 §9); auth_type/auth_data must be unset")
        centiseconds = round(interval * 100)
        if not 1 <= centiseconds <= _V3_MAX_CENTISECONDS:
            raise ValueError(f"v3 Max Adver Int is 1..4095 centiseconds (RFC 5798 §5.2.7), got {interval!r} s")
        first = 0x30 | VRRP_TYPE_ADVERTISEMENT
        header = _V3_HEADER.pack(first, vrid, priority, len(addresses), centiseconds, 0)
        message = header + packed
        if pseudo_header or isinstance(src, IPv6Address):
            checksum = inet_checksum(_pseudo_header(src, dst, len(message)) + message)
        else:
            checksum = inet_checksum(message)
    return message[:6] + checksum.to_bytes(2, "big") + message[8:]


def decode_advert(payload: bytes, *, src: IPAddress, dst: IPAddress, ttl: int, allow_empty: bool = False) -> Received:
    """Validate and decode a VRRP message (the IP payload) into a :class:`Received`.

    This is the receive path of RFC 3768 §7.1 and RFC 5798 §7.1, the parts that
    need no instance state. Checks, in this order, each raising its error:

    1. ``ttl`` (IPv4 TTL / IPv6 hop limit) is 255, else :class:`TtlError`
       (RFC 5798 §7.1 "MUST verify that the IPv4 TTL/IPv6 Hop Limit is 255").
    2. at least the 8-octet header, else :class:`PacketLengthError`.
    3. version 2 or 3, and not 2 over IPv6 (RFC 3768 is IPv4 only), else
       :class:`VersionError`.
    4. the payload holds the header, ``Count`` addresses of the family of
       ``src`` and, for v2, the 8 octets of authentication data, else
       :class:`PacketLengthError`. Further bytes are accepted as padding.
    5. type is 1 (ADVERTISEMENT), else :class:`InvalidTypeError`.
    6. ``Count IPvX Addr`` is at least 1 (RFC 5798 §5.2.5), else
       :class:`AddressListError`; not with ``allow_empty``.
    7. checksum over the whole payload, else :class:`ChecksumError`: v2 plain;
       v3/IPv4 pseudo-header, then plain; v3/IPv6 pseudo-header only. See the
       module docstring for why the whole payload.
    8. interval not 0, else :class:`IntervalError`.
    9. v2 auth type 0, 1 or 2, else :class:`AuthTypeError` (reason ``auth_type``).

    Not checked here: VRID (0 is decoded as is, no instance has it), whether
    the interval, auth data or addresses match ours, whether ``dst`` is the
    multicast group: those are instance-level decisions.

    Args:
        payload: the IP payload as received (IPv4: after the IP header, up to the
            IP total length; IPv6: what the raw socket returns).
        src: the IP source address (recvmsg address).
        dst: the IP destination (IP_PKTINFO / IPV6_PKTINFO).
        ttl: IPv4 TTL or IPv6 hop limit (IP header, IP_RECVTTL / IPV6_HOPLIMIT).
        allow_empty: accept ``Count IPvX Addr`` 0, as keepalived does for an instance
            without VIPs (keepalived ``no_virtual_ipaddress``).

    Returns:
        The advert, with ``max_adver_int`` in float seconds (v2: whole seconds;
        v3: centiseconds / 100), v2 ``auth_data`` as the 8 received octets for
        PASS and AH and b"" for NONE (its data is ignored, RFC 2338 §5.3.6), v3
        ``auth_type`` 0 and ``auth_data`` b"", and the checksum kind that matched.

    Raises:
        DecodeError: one of the subclasses above; never anything else for any
            ``payload``.
        ValueError: (not a DecodeError) ``src`` and ``dst`` are not IP addresses
            of the same family: a caller bug, not a property of the packet.
    """
    _same_family(src, dst)
    if type(payload) is not bytes:
        payload = bytes(payload)
    if len(payload) > DECODE_CACHE_MAX_PAYLOAD:
        return _decode(payload, src, dst, ttl, isinstance(src, IPv6Address), None, allow_empty)
    return _decode_cached(payload, src, dst, ttl, allow_empty)


@functools.lru_cache(maxsize=DECODE_CACHE_SIZE)
def _decode_cached(payload: bytes, src: IPAddress, dst: IPAddress, ttl: int, allow_empty: bool = False) -> Received:
    """:func:`_decode` memoised on its whole input (a pure function; errors are not cached)."""
    return _decode(payload, src, dst, ttl, isinstance(src, IPv6Address), None, allow_empty)


def _decode(
    payload: bytes,
    src: IPAddress,
    dst: IPAddress,
    ttl: int,
    ipv6: bool,
    pseudo: bytes | None,
    allow_empty: bool = False,
) -> Received:
    """The checks and decoding of :func:`decode_advert`, for arguments already known to be right.

    ``ipv6`` says the family of ``src``/``dst``; ``pseudo`` is ``src.packed + dst.packed`` when
    the caller has it at hand (the IPv4 header), else None.
    """
    if ttl != VRRP_TTL:
        raise TtlError(f"TTL/hop limit {ttl}, expected 255 (RFC 5798 §7.1)")
    length = len(payload)
    if length < VRRP_HEADER_LEN:
        raise PacketLengthError(f"{length} octets, shorter than the 8-octet VRRP header")
    version = payload[0] >> 4
    msg_type = payload[0] & 0x0F
    if version not in (2, 3):
        raise VersionError(f"version {version}, expected 2 or 3")
    if version == 2 and ipv6:
        raise VersionError("VRRPv2 over IPv6: RFC 3768 defines v2 for IPv4 only")
    count = payload[3]
    address_size = 16 if ipv6 else 4
    needed = VRRP_HEADER_LEN + count * address_size + (VRRP_AUTH_DATA_LEN if version == 2 else 0)
    if length < needed:
        raise PacketLengthError(
            f"{length} octets, but v{version} with {count} IPv{6 if ipv6 else 4} addresses needs {needed}"
        )
    if msg_type != VRRP_TYPE_ADVERTISEMENT:
        raise InvalidTypeError(f"type {msg_type}, expected 1 (ADVERTISEMENT)")
    if count == 0 and not allow_empty:
        raise AddressListError("Count IPvX Addr is 0 (the minimum is 1)")

    if version == 2:
        if inet_checksum(payload) != 0:
            raise ChecksumError("VRRPv2 checksum does not verify (RFC 3768 §5.3.8)")
        kind = ChecksumKind.PLAIN
    elif (
        inet_checksum(
            (pseudo if pseudo is not None else src.packed + dst.packed) + _pseudo_tail(ipv6, length) + payload
        )
        == 0
    ):
        kind = ChecksumKind.PSEUDO
    elif not ipv6 and inet_checksum(payload) == 0:
        kind = ChecksumKind.PLAIN
    else:
        form = "with the IPv6 pseudo-header" if ipv6 else "with or without the IPv4 pseudo-header"
        raise ChecksumError(f"VRRPv3 checksum does not verify {form} (RFC 5798 §5.2.8)")

    end = VRRP_HEADER_LEN + count * address_size
    addresses: tuple[IPAddress, ...]
    if ipv6:
        addresses = _ipv6_list(bytes(payload[VRRP_HEADER_LEN:end]))
    else:
        addresses = _ipv4_list(bytes(payload[VRRP_HEADER_LEN:end]))

    auth_type: int
    auth_data = b""
    if version == 2:
        _, vrid, priority, _, auth_type, seconds, _ = _V2_HEADER.unpack_from(payload)
        if seconds == 0:
            raise IntervalError("Adver Int is 0 (RFC 3768 §5.3.7)")
        if auth_type > AuthType.AH:
            raise AuthTypeError(f"unknown auth type {auth_type} (RFC 3768 §5.3.6)")
        auth_type = AuthType(auth_type)
        if auth_type != AuthType.NONE:
            auth_data = bytes(payload[end : end + VRRP_AUTH_DATA_LEN])
        interval = float(seconds)
    else:
        _, vrid, priority, _, word, _ = _V3_HEADER.unpack_from(payload)
        centiseconds = word & _V3_INTERVAL_MASK  # reserved bits ignored on receive (RFC 5798 §5.2.6)
        if centiseconds == 0:
            raise IntervalError("Max Adver Int is 0 (RFC 5798 §5.2.7)")
        auth_type = AuthType.NONE
        interval = centiseconds / 100

    advert = Advert(
        version=version,
        vrid=vrid,
        priority=priority,
        max_adver_int=interval,
        addresses=addresses,
        auth_type=auth_type,
        auth_data=auth_data,
    )
    return Received(advert=advert, src=src, dst=dst, ttl=ttl, checksum=kind)


def decode_ipv4(datagram: bytes, *, check_ttl: bool = True, allow_empty: bool = False) -> Received:
    """Decode what an IPv4 raw socket of protocol 112 returns: IP header + VRRP message.

    Parses the IPv4 header (RFC 791 §3.1): version 4, IHL (options are
    skipped, e.g. Router Alert), Total Length in network byte order (Linux
    delivers it so), TTL, protocol, source and destination; then calls
    :func:`decode_advert` on the payload up to Total Length. Octets after Total
    Length (link-layer padding of short frames, if a capture kept it) are not
    part of the datagram and are ignored. The header checksum is not verified:
    the kernel has already dropped datagrams whose header checksum is wrong.

    Args:
        datagram: the bytes from ``recvmsg`` on an ``AF_INET``/``SOCK_RAW``/112
            socket.
        check_ttl: False skips check 1 of :func:`decode_advert` (TTL 255): keepalived
            makes no TTL check for ``unicast_peer`` instances, whose routed peers' adverts
            arrive with 254 or less. The result's ``ttl`` is then 255.
        allow_empty: accept ``Count IPvX Addr`` 0 (see :func:`decode_advert`).

    Returns:
        See :func:`decode_advert`; ``src``, ``dst`` and ``ttl`` come from the IP
        header.

    Raises:
        PacketLengthError: shorter than 20 octets or than IHL; Total Length
            shorter than IHL or longer than the datagram.
        ProtocolError: not IPv4, IHL below 5, or protocol not 112 (an AH-wrapped
            VRRPv2 advert is protocol 51; vipd does not implement AH).
        DecodeError: any error of :func:`decode_advert`; never anything that is
            not a DecodeError.
    """
    length = len(datagram)
    if length < _IPV4_MIN_HEADER:
        raise PacketLengthError(f"{length} octets, shorter than an IPv4 header")
    if datagram[0] >> 4 != 4:
        raise ProtocolError(f"IP version {datagram[0] >> 4} on an IPv4 socket")
    header_len = (datagram[0] & 0x0F) * 4
    if header_len < _IPV4_MIN_HEADER:
        raise ProtocolError(f"IPv4 IHL {header_len // 4}, below the minimum of 5")
    if length < header_len:
        raise PacketLengthError(f"{length} octets, shorter than the IPv4 header length {header_len}")
    total_len = int.from_bytes(datagram[2:4], "big")
    ttl = datagram[8]
    protocol = datagram[9]
    if protocol != IPPROTO_VRRP:
        raise ProtocolError(f"IP protocol {protocol}, expected {IPPROTO_VRRP} (VRRP)")
    if total_len < header_len or total_len > length:
        raise PacketLengthError(f"IPv4 total length {total_len} for a {length}-octet datagram")
    if not check_ttl:
        ttl = VRRP_TTL
    if type(datagram) is not bytes:
        datagram = bytes(datagram)
    payload = datagram[header_len:total_len]
    if len(payload) > DECODE_CACHE_MAX_PAYLOAD:
        return _decode_ipv4_cached.__wrapped__(payload, datagram[12:20], ttl, allow_empty)
    return _decode_ipv4_cached(payload, datagram[12:20], ttl, allow_empty)


@functools.lru_cache(maxsize=DECODE_CACHE_SIZE)
def _decode_ipv4_cached(payload: bytes, addresses: bytes, ttl: int, allow_empty: bool = False) -> Received:
    """:func:`_decode` of an IPv4 payload, memoised on the payload, the 8 address octets and the TTL."""
    src = _ipv4(int.from_bytes(addresses[:4], "big"))
    dst = _ipv4(int.from_bytes(addresses[4:], "big"))
    return _decode(payload, src, dst, ttl, False, addresses, allow_empty)
