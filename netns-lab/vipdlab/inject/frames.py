"""Hostile-input injector: malformed and hostile VRRP traffic from an extra lab namespace.

Frames are pre-built (Ethernet + IPv4 by hand with ``struct``, VRRP and CARP
payloads with scapy, the test oracle; never vipd's own encoder) and sent
through one AF_PACKET socket created in the injector's namespace, so the IPv4
header can be anything: TTL 1, a bad header checksum, an IHL of 4.

Every frame carries what the receiving vipd must do with it: the reason it
counts it under, and at which level (see :class:`Expect`), so a test can
compare the daemons' counters with what was sent, category by category.

How vipd counts (vipd/runtime/daemon.py ``_on_packet``):

* ``port``: the receive socket's ``rx_errors[reason]``: every decode error
  (``version``, ``checksum``, ``packet_length``, ``ip_ttl``, ``auth``...), an
  unknown VRID (``vrid``) and, in unicast mode, a sender that is not a peer
  (``not_peer``);
* a decode error whose VRID octet names a configured instance is *also*
  counted in that instance's ``discards[reason]`` (keepalived's per-instance
  error counters);
* ``fsm``: a well-formed advert for a configured VRID that the instance
  rejects (v2 authentication mismatch...) is counted in the instance's
  ``discards[reason]`` only.

What the kernel drops before any socket sees it (so vipd cannot count it) is
listed as ``kernel``: an IPv4 header checksum error (``IpExt.InCsumErrors`` in /proc/net/netstat
and ``Ip.InHdrErrors`` in /proc/net/snmp), an IHL below 5 (``Ip.InHdrErrors``),
and a total length beyond the frame (``IpExt.InTruncatedPkts``).

IPv6 (VRRPv3 only): :class:`Builder6` builds Ethernet + IPv6 frames the same way (hop limit, version
nibble, payload length and extension headers by hand, VRRPv3 payloads with the IPv6 pseudo-header
checksum from scapy); its docstring lists the categories and reasons. The kernel's own IPv6 drops are
read from ``/proc/net/snmp6`` (``Ip6InHdrErrors``, ``Ip6InTruncatedPkts``).
"""

from __future__ import annotations

import collections
import random
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import netns

from ..lab.topo import Node

ETH_P_IP = 0x0800
IPPROTO_VRRP = 112
MCAST4 = "224.0.0.18"
MCAST_MAC = bytes.fromhex("01005e000012")


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (written here so the injector does not use vipd's code)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return int(~s & 0xFFFF)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    *,
    ttl: int = 255,
    proto: int = IPPROTO_VRRP,
    ihl: int = 5,
    bad_header_checksum: bool = False,
    total_length: int | None = None,
) -> bytes:
    """An IPv4 header (20 octets, whatever IHL says) + ``payload``."""
    length = 20 + len(payload) if total_length is None else total_length
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0xC0,
        length,
        0,
        0,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    csum = inet_checksum(head)
    if bad_header_checksum:
        csum ^= 0x5A5A
    return head[:10] + struct.pack("!H", csum) + head[12:] + payload


def ether(dst_mac: bytes, src_mac: bytes, packet: bytes) -> bytes:
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + packet


# --------------------------------------------------------------------------- payloads (scapy)
def _scapy() -> tuple[Any, Any, Any, Any]:
    from scapy.contrib.carp import CARP
    from scapy.layers.inet import IP
    from scapy.layers.vrrp import VRRP, VRRPv3
    from scapy.packet import bind_layers, split_layers

    # Importing scapy.contrib.carp rebinds IP proto 112 to CARP for the whole process, which
    # breaks every later VRRP dissection in the same pytest run (the wire oracle tests): undo it.
    # We only ever build CARP packets explicitly, which needs no binding.
    split_layers(IP, CARP, proto=112, dst="224.0.0.18")
    bind_layers(IP, VRRP, proto=112)
    bind_layers(IP, VRRPv3, proto=112)
    return IP, VRRP, VRRPv3, CARP


def v3_payload(src: str, dst: str, vrid: int, priority: int, addrs: Sequence[str], cs: int = 10) -> bytes:
    """A well-formed VRRPv3 message (checksum over the IPv4 pseudo-header), built by scapy."""
    IP, _VRRP, VRRPv3, _CARP = _scapy()
    pkt = IP(src=src, dst=dst, ttl=255) / VRRPv3(
        vrid=vrid, priority=priority, ipcount=len(addrs), addrlist=list(addrs), adv=cs
    )
    return bytes(pkt)[20:]


def v2_payload(vrid: int, priority: int, addrs: Sequence[str], authtype: int, auth: bytes, adv: int = 1) -> bytes:
    """A well-formed VRRPv2 message with ``auth`` (8 octets) as authentication data, built by scapy."""
    IP, VRRP, _V3, _CARP = _scapy()
    a = auth.ljust(8, b"\0")[:8]
    pkt = IP(src="192.0.2.3", dst=MCAST4, ttl=255) / VRRP(
        vrid=vrid,
        priority=priority,
        ipcount=len(addrs),
        addrlist=list(addrs),
        authtype=authtype,
        adv=adv,
        auth1=int.from_bytes(a[:4], "big"),
        auth2=int.from_bytes(a[4:], "big"),
    )
    return bytes(pkt)[20:]


def carp_payload(vhid: int, counter: int, *, openbsd: bool = True) -> bytes:
    """A CARP advertisement (IP protocol 112 too). ``openbsd``: version 2, type 1, authlen 7, as OpenBSD
    and ucarp send it (scapy's defaults, version 4 type 4, are kept for ``openbsd=False``)."""
    IP, _VRRP, _V3, CARP = _scapy()
    kw = {"version": 2, "type": 1, "authlen": 7, "advbase": 1} if openbsd else {}
    pkt = IP(src="192.0.2.3", dst=MCAST4, ttl=255) / CARP(vhid=vhid, counter1=counter, **kw)
    return bytes(pkt)[20:]


def fix_v3_checksum(payload: bytes, src: str, dst: str) -> bytes:
    body = payload[:6] + b"\0\0" + payload[8:]
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, IPPROTO_VRRP, len(body))
    return body[:6] + struct.pack("!H", inet_checksum(pseudo + body)) + body[8:]


# --------------------------------------------------------------------------- expectations
@dataclass
class Expect:
    """What one receiving daemon must count for a set of frames."""

    port: collections.Counter[str] = field(default_factory=collections.Counter)  # rx_errors by reason
    inst: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)  # discards
    port_unknown: int = 0  # port-level drops whose reason is not predicted (random bytes)
    inst_unknown: int = 0  # instance discards with an unpredicted reason (random bytes naming our VRID)
    kernel: collections.Counter[str] = field(default_factory=collections.Counter)  # /proc/net/snmp deltas

    @property
    def reaching(self) -> int:
        """Datagrams that reach vipd's socket."""
        return sum(self.port.values()) + self.port_unknown + self.fsm_total

    @property
    def fsm_total(self) -> int:
        return sum(self.inst.values()) - self._dup

    _dup: int = 0  # instance discards that duplicate a port-level count


@dataclass
class Category:
    name: str
    frames: list[bytes] = field(default_factory=list)
    expect: dict[str, Expect] = field(default_factory=dict)  # receiver node name -> Expect


class _Builder:
    """What :class:`Builder` (IPv4) and :class:`Builder6` share: recording frames with what each receiver
    must count, and the categories whose logic is the same in both families. A family's builder supplies
    its frames (``_mcast``), its well-formed VRRPv3 adverts (``_v3``) and the adverts to cut short."""

    def __init__(
        self,
        injector: Node,
        receivers: Sequence[Node],
        vrids: dict[int, str],
        *,
        seed: int,
        v3_vrid: int,
        v3_addrs: Sequence[str],
        unicast_vrid: int,
        unicast_addrs: Sequence[str],
    ) -> None:
        self.inj = injector
        self.receivers = list(receivers)
        self.vrids = dict(vrids)
        self.rng = random.Random(seed)
        self.src_mac = mac_bytes(injector.mac)
        self.v3_vrid, self.v3_addrs = v3_vrid, list(v3_addrs)
        self.uc_vrid, self.uc_addrs = unicast_vrid, list(unicast_addrs)
        self._unknown_vrids = [v for v in range(1, 256) if v not in self.vrids]

    # ------------------------------------------------------------------ recording
    def _cat(self, name: str) -> Category:
        return Category(name, [], {n.name: Expect() for n in self.receivers})

    def _add(
        self,
        cat: Category,
        frame: bytes,
        payload: bytes,
        reason: str | None,
        level: str = "port",
        to: Iterable[Node] | None = None,
    ) -> None:
        """Record ``frame`` and what each receiver (``to``, default all: multicast) must count."""
        cat.frames.append(frame)
        for node in to if to is not None else self.receivers:
            e = cat.expect[node.name]
            owner = self.vrids.get(payload[1]) if len(payload) >= 2 else None
            if level == "kernel":
                assert reason is not None
                for counter in reason.split("+"):
                    e.kernel[counter] += 1
            elif level == "fsm":
                assert reason is not None and owner is not None
                e.inst[(owner, reason)] += 1
            elif reason is None:  # port level, reason not predicted
                e.port_unknown += 1
                if owner is not None:
                    e.inst_unknown += 1
            else:
                e.port[reason] += 1
                if owner is not None and reason not in ("vrid", "not_peer"):
                    e.inst[(owner, reason)] += 1
                    e._dup += 1

    # ------------------------------------------------------------------ the family's part
    def _mcast(self, payload: bytes, **ip_kw: Any) -> bytes:
        """A frame carrying ``payload`` to the VRRP multicast group, from the injector."""
        raise NotImplementedError

    def _v3(self, vrid: int, priority: int) -> bytes:
        """A well-formed VRRPv3 advert for ``vrid`` to the multicast group, from the injector."""
        raise NotImplementedError

    def _truncatable(self) -> tuple[bytes, bytes]:
        """Two well-formed adverts for :meth:`truncated` to cut short, alternately (the first at even i)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ categories of both families
    def random_bytes(self, n: int) -> Category:
        """Random payloads of 0..80 octets in a valid IP datagram of VRRP's protocol to the multicast
        group (TTL / hop limit 255)."""
        cat = self._cat("random_bytes")
        for _ in range(n):
            p = self.rng.randbytes(self.rng.randrange(0, 81))
            self._add(cat, self._mcast(p), p, None)
        return cat

    def truncated(self, n: int) -> Category:
        """Well-formed adverts (:meth:`_truncatable`) cut short anywhere before their end."""
        cat = self._cat("truncated")
        fulls = self._truncatable()
        for i in range(n):
            full = fulls[i % 2]
            p = full[: self.rng.randrange(0, len(full))]
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

    def _hop_limit_1_and_64(self, name: str, n: int, field: str) -> Category:
        """Otherwise valid priority-254 v3 adverts with TTL / hop limit (the header ``field``) 1 or 64
        (RFC 5798 §7.1: must be 255)."""
        cat = self._cat(name)
        p = self._v3(self.v3_vrid, 254)
        for i in range(n):
            self._add(cat, self._mcast(p, **{field: 1 if i % 2 else 64}), p, "ip_ttl")
        return cat

    def _other_vrids(self, name: str, n: int, priority: int) -> Category:
        """Well-formed v3 adverts with ``priority`` for VRIDs nobody runs."""
        cat = self._cat(name)
        cache: dict[int, bytes] = {}
        for _ in range(n):
            vrid = self.rng.choice(self._unknown_vrids)
            if vrid not in cache:
                cache[vrid] = self._v3(vrid, priority)
            p = cache[vrid]
            self._add(cat, self._mcast(p), p, "vrid")
        return cat

    def unknown_vrid(self, n: int) -> Category:
        """Well-formed priority-254 v3 adverts for VRIDs nobody runs."""
        return self._other_vrids("unknown_vrid", n, 254)

    def priority_zero_other_vrid(self, n: int) -> Category:
        """Priority 0 ("master leaving") for VRIDs nobody here runs: must not shorten any timer."""
        return self._other_vrids("priority_0_other_vrid", n, 0)

    def _fill(
        self, total: int, shares: Sequence[tuple[Callable[[int], Category], float]], least: int
    ) -> list[Category]:
        """Every category its share of ``total`` frames (at least ``least``); random bytes make up the rest."""
        cats = [fn(max(least, round(total * share))) for fn, share in shares]
        short = total - sum(len(c.frames) for c in cats)
        if short > 0:
            cats.append(self.random_bytes(short))
            cats[-1].name = "random_bytes_2"
        return cats


class Builder(_Builder):
    """Builds the categories of hostile IPv4 frames for a lab with routers ``receivers`` running
    instances ``vrids`` (VRID -> instance name; ``unicast_vrid`` is the unicast instance's)."""

    def __init__(
        self,
        injector: Node,
        receivers: Sequence[Node],
        vrids: dict[int, str],
        *,
        seed: int,
        v2_vrid: int,
        v2_addrs: Sequence[str],
        v3_vrid: int,
        v3_addrs: Sequence[str],
        unicast_vrid: int,
        unicast_addrs: Sequence[str],
    ) -> None:
        super().__init__(
            injector,
            receivers,
            vrids,
            seed=seed,
            v3_vrid=v3_vrid,
            v3_addrs=v3_addrs,
            unicast_vrid=unicast_vrid,
            unicast_addrs=unicast_addrs,
        )
        self.v2_vrid, self.v2_addrs = v2_vrid, list(v2_addrs)

    def _mcast(self, payload: bytes, **ip_kw: Any) -> bytes:
        return ether(MCAST_MAC, self.src_mac, ipv4(self.inj.ip4, MCAST4, payload, **ip_kw))

    def _v3(self, vrid: int, priority: int, dst: str = MCAST4) -> bytes:
        addrs = self.uc_addrs if vrid == self.uc_vrid else self.v3_addrs
        return v3_payload(self.inj.ip4, dst, vrid, priority, addrs)

    def _truncatable(self) -> tuple[bytes, bytes]:
        """A v2 and a v3 advert."""
        return v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, b"secret"), self._v3(self.v3_vrid, 254)

    # ------------------------------------------------------------------ IPv4 categories

    def bad_checksum(self, n: int) -> Category:
        """Priority-254 adverts (they would take over if accepted) with a corrupted checksum."""
        cat = self._cat("bad_checksum")
        good3 = self._v3(self.v3_vrid, 254)
        body = good3[:6] + b"\0\0" + good3[8:]
        ok = {struct.unpack("!H", good3[6:8])[0], inet_checksum(body)}  # pseudo-header and plain forms
        good2 = v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, b"secret")
        for i in range(n):
            base = good3 if i % 2 else good2
            while True:
                c = self.rng.randrange(0, 0x10000)
                if base is good2 and c != struct.unpack("!H", good2[6:8])[0]:
                    break
                if base is good3 and c not in ok:
                    break
            p = base[:6] + struct.pack("!H", c) + base[8:]
            self._add(cat, self._mcast(p), p, "checksum")
        return cat

    def ttl(self, n: int) -> Category:
        """Otherwise valid priority-254 v3 adverts with TTL 1 or 64 (RFC 5798 §7.1: must be 255)."""
        return self._hop_limit_1_and_64("ttl_1_and_64", n, "ttl")

    def versions(self, n: int) -> Category:
        """Versions 1, 4 and 15 with a correct v3-style checksum."""
        cat = self._cat("versions_1_4_15")
        base = self._v3(self.v3_vrid, 254)
        for i in range(n):
            v = (1, 4, 15)[i % 3]
            p = fix_v3_checksum(bytes([(v << 4) | 1]) + base[1:], self.inj.ip4, MCAST4)
            self._add(cat, self._mcast(p), p, "version")
        return cat

    def carp(self, n: int) -> Category:
        """CARP adverts (OpenBSD form: v2, type 1, authlen 7 = "7 addresses" for VRRPv2) on random VHIDs,
        and a few in scapy's default form (version 4)."""
        cat = self._cat("carp")
        cache: dict[tuple[int, bool], bytes] = {}
        for i in range(n):
            vhid = self.rng.randrange(1, 256)
            openbsd = i % 8 != 0
            key = (vhid, openbsd)
            if key not in cache:
                cache[key] = carp_payload(vhid, i, openbsd=openbsd)
            p = cache[key]
            self._add(cat, self._mcast(p), p, "packet_length" if openbsd else "version")
        return cat

    def count_too_large(self, n: int) -> Category:
        """Address count larger than the payload holds (checksum fixed up: only the count is wrong)."""
        cat = self._cat("count_too_large")
        base3 = self._v3(self.v3_vrid, 254)
        base2 = v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, b"secret")
        for i in range(n):
            count = self.rng.randrange(2, 256)
            if i % 2:
                p = fix_v3_checksum(base3[:3] + bytes([count]) + base3[4:], self.inj.ip4, MCAST4)
            else:
                body = base2[:3] + bytes([count]) + base2[4:6] + b"\0\0" + base2[8:]
                p = body[:6] + struct.pack("!H", inet_checksum(body)) + body[8:]
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

    def bad_v2_auth(self, n: int) -> Category:
        """v2 priority-254 adverts for the PASS instance: wrong password (``auth``) and auth type NONE
        (``auth_mismatch``), both dropped by the instance, and unknown auth types 3..255 (``auth_type``,
        dropped by the decoder)."""
        cat = self._cat("bad_v2_auth")
        wrong = [v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, f"bad{i}".encode()) for i in range(16)]
        none = v2_payload(self.v2_vrid, 254, self.v2_addrs, 0, b"")
        unknown = [v2_payload(self.v2_vrid, 254, self.v2_addrs, t, b"secret") for t in (3, 4, 77, 255)]
        for i in range(n):
            k = i % 4
            if k in (0, 1):
                p = wrong[i % len(wrong)]
                self._add(cat, self._mcast(p), p, "auth", level="fsm")
            elif k == 2:  # a known type other than ours: RFC 2787 vrrpStatsAuthTypeMismatch
                self._add(cat, self._mcast(none), none, "auth_mismatch", level="fsm")
            else:  # none of 0, 1, 2: RFC 2787 vrrpStatsInvalidAuthType (vipd.wire.AuthTypeError)
                p = unknown[i % len(unknown)]
                self._add(cat, self._mcast(p), p, "auth_type")
        return cat

    def unicast_not_peer(self, n: int) -> Category:
        """Well-formed priority-254 v3 adverts for the unicast instance, sent to each router's own
        address from the injector, which is not a unicast_peer."""
        cat = self._cat("unicast_not_peer")
        for i in range(n):
            node = self.receivers[i % len(self.receivers)]
            p = self._v3(self.uc_vrid, 254, dst=node.ip4)
            f = ether(mac_bytes(node.mac), self.src_mac, ipv4(self.inj.ip4, node.ip4, p))
            self._add(cat, f, p, "not_peer", to=[node])
        return cat

    def kernel_drops(self, n: int) -> Category:
        """IPv4 headers the receiving kernel drops before any socket (vipd never sees them)."""
        cat = self._cat("kernel_drops")
        p = self._v3(self.v3_vrid, 254)
        for i in range(n):
            k = i % 3
            if k == 0:
                f = self._mcast(p, bad_header_checksum=True)
                self._add(cat, f, p, "IpExt.InCsumErrors+Ip.InHdrErrors", level="kernel")
            elif k == 1:
                f = self._mcast(p, ihl=4)
                self._add(cat, f, p, "Ip.InHdrErrors", level="kernel")
            else:
                f = self._mcast(p, total_length=20 + len(p) + 40)
                self._add(cat, f, p, "IpExt.InTruncatedPkts", level="kernel")
        return cat

    def all(self, total: int) -> list[Category]:
        """Every category, ``total`` frames in all (the shares are fixed)."""
        shares = [
            (self.random_bytes, 0.30),
            (self.truncated, 0.10),
            (self.bad_checksum, 0.10),
            (self.ttl, 0.08),
            (self.versions, 0.06),
            (self.carp, 0.06),
            (self.count_too_large, 0.06),
            (self.unknown_vrid, 0.08),
            (self.priority_zero_other_vrid, 0.05),
            (self.bad_v2_auth, 0.06),
            (self.unicast_not_peer, 0.03),
            (self.kernel_drops, 0.02),
        ]
        return self._fill(total, shares, 12)


class Injector:
    """An AF_PACKET socket on the injector node's eth0 (created in its namespace; closed by close())."""

    def __init__(self, node: Node) -> None:
        self.sock = netns.create_socket(node.ns, socket.AF_PACKET, socket.SOCK_RAW, 0, flags=0)
        self.sock.bind((node.ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    def send(self, frames: Iterable[bytes]) -> int:
        n = 0
        send = self.sock.send
        for f in frames:
            send(f)
            n += 1
        return n

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# =========================================================================== IPv6 (VRRPv3 only)
ETH_P_IPV6 = 0x86DD
MCAST6 = "ff02::12"
MCAST6_MAC = bytes.fromhex("333300000012")
NH_DSTOPTS = 60


def eui64_linklocal(mac: str) -> str:
    """The kernel's default (EUI-64) link-local address for ``mac``: what the injector's eth0 has."""
    b = bytearray(mac_bytes(mac))
    b[0] ^= 0x02
    iid = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + bytes(6) + iid)


def ipv6(
    src: str,
    dst: str,
    payload: bytes,
    *,
    hlim: int = 255,
    nh: int = IPPROTO_VRRP,
    version: int = 6,
    payload_length: int | None = None,
) -> bytes:
    """An IPv6 header (40 octets) + ``payload`` (which may start with extension headers)."""
    length = len(payload) if payload_length is None else payload_length
    return (
        struct.pack("!IHBB", version << 28, length, nh, hlim)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def ether6(dst_mac: bytes, src_mac: bytes, packet: bytes) -> bytes:
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IPV6) + packet


def dstopts(nh: int, option: bytes) -> bytes:
    """A Destination Options extension header holding ``option`` (type, length, data), padded to 8n."""
    body = bytes([nh, 0]) + option
    pad = -len(body) % 8
    if pad == 1:
        body += b"\x00"  # Pad1
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)  # PadN
    return bytes([nh, len(body) // 8 - 1]) + body[2:]


def v3_payload6(src: str, dst: str, vrid: int, priority: int, addrs: Sequence[str], cs: int = 10) -> bytes:
    """A well-formed VRRPv3 message over IPv6 (checksum over the IPv6 pseudo-header), built by scapy."""
    from scapy.layers.inet6 import IPv6
    from scapy.layers.vrrp import VRRPv3  # not via _scapy(): no CARP import (and its warning) needed here

    pkt = IPv6(src=src, dst=dst, hlim=255) / VRRPv3(
        vrid=vrid, priority=priority, ipcount=len(addrs), addrlist=list(addrs), adv=cs
    )
    return bytes(pkt)[40:]


def fix_v6_checksum(payload: bytes, src: str, dst: str) -> bytes:
    """Recompute octets 6-7 over the IPv6 pseudo-header (RFC 8200 §8.1) and the whole payload."""
    body = payload[:6] + b"\0\0" + payload[8:]
    pseudo = (
        socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + struct.pack("!I3xB", len(body), IPPROTO_VRRP)
    )
    return body[:6] + struct.pack("!H", inet_checksum(pseudo + body)) + body[8:]


class Builder6(_Builder):
    """Hostile IPv6 frames for routers ``receivers`` running VRRPv3/IPv6 instances ``vrids`` (VRID ->
    instance name): ``mcast_vrid`` multicast to ff02::12, ``unicast_vrid`` unicast between the routers'
    global addresses. Every multicast frame comes from the injector's own link-local address unless
    the category is about the source.

    Frames are Ethernet + IPv6 by hand (hop limit, version nibble, payload length, extension headers can
    be anything), VRRP payloads from scapy. What vipd does with each category, and why:

    ========================  =====================================================  ==================
    category                  what                                                   counted as
    ========================  =====================================================  ==================
    random_bytes              0..80 random octets                                    some decode error
    truncated                 a valid advert cut short                               packet_length
    bad_checksum              valid priority-254 advert, wrong checksum              checksum
    hop_limit_1_and_64        valid priority-254 advert, hop limit 1 or 64           ip_ttl
    versions_1_2_4_15         v1/v4/v15 and v2 (IPv4 only, RFC 3768), checksum ok    version
    count_too_large           Count 2..255 with one address                          packet_length
    count_not_whole           address area 16*(Count-1) + 1..15 octets               packet_length
    ipv4_addresses            Count n and n 4-octet IPv4 addresses                   packet_length
                              or IPv4-mapped ::ffff:a.b.c.d (well-formed)            address_list (fsm)
    unknown_vrid              valid priority-254 adverts for VRIDs nobody runs       vrid
    priority_0_other_vrid     priority 0 for VRIDs nobody runs                       vrid
    ext_headers               Destination Options (PadN) + bad checksum / hop 64     checksum / ip_ttl
    unicast_not_peer          valid priority-254 unicast advert from a non-peer      not_peer
    kernel_drops              IPv6 headers the kernel drops (see kernel_drops)       kernel only
    ========================  =====================================================  ==================

    A complete address list followed by a partial one (Count 1, 24 octets of addresses) is not sent:
    vipd accepts bytes after the list as padding by design (vipd/wire/codec.py), so it is a valid advert.
    Nor are well-formed adverts from a global source address: RFC 5798 §5.1.2.1 has senders use their
    link-local address, but keepalived 2.2.7 sends from a global ``mcast_src_ip`` and accepts such
    adverts, and so does vipd (docs/interop.md), so they are valid adverts, not hostile input.
    """

    def __init__(
        self,
        injector: Node,
        receivers: Sequence[Node],
        vrids: dict[int, str],
        *,
        seed: int,
        mcast_vrid: int,
        mcast_addrs: Sequence[str],
        unicast_vrid: int,
        unicast_addrs: Sequence[str],
    ) -> None:
        super().__init__(
            injector,
            receivers,
            vrids,
            seed=seed,
            v3_vrid=mcast_vrid,
            v3_addrs=mcast_addrs,
            unicast_vrid=unicast_vrid,
            unicast_addrs=unicast_addrs,
        )
        self.ll = eui64_linklocal(injector.mac)

    def _mcast(self, payload: bytes, src: str | None = None, **ip_kw: Any) -> bytes:
        return ether6(MCAST6_MAC, self.src_mac, ipv6(src or self.ll, MCAST6, payload, **ip_kw))

    def _v3(self, vrid: int, priority: int, dst: str = MCAST6, src: str | None = None) -> bytes:
        addrs = self.uc_addrs if vrid == self.uc_vrid else self.v3_addrs
        return v3_payload6(src or self.ll, dst, vrid, priority, addrs)

    def _fix(self, payload: bytes, src: str | None = None, dst: str = MCAST6) -> bytes:
        return fix_v6_checksum(payload, src or self.ll, dst)

    def _truncatable(self) -> tuple[bytes, bytes]:
        """v3 adverts with one and with three addresses."""
        one = self._v3(self.v3_vrid, 254)
        three = v3_payload6(self.ll, MCAST6, self.v3_vrid, 254, [*self.v3_addrs, "2001:db8::1:1", "2001:db8::1:2"])
        return one, three

    # ------------------------------------------------------------------ IPv6 categories

    def bad_checksum(self, n: int) -> Category:
        """Priority-254 adverts (they would take over if accepted) with a corrupted checksum; over IPv6 only
        the pseudo-header form is valid, so the plain (v2-style) checksum is among the wrong ones."""
        cat = self._cat("bad_checksum")
        good = self._v3(self.v3_vrid, 254)
        ok = struct.unpack("!H", good[6:8])[0]
        plain = inet_checksum(good[:6] + b"\0\0" + good[8:])
        for i in range(n):
            c = plain if i % 16 == 0 else self.rng.randrange(0, 0x10000)
            while c == ok:
                c = self.rng.randrange(0, 0x10000)
            p = good[:6] + struct.pack("!H", c) + good[8:]
            self._add(cat, self._mcast(p), p, "checksum")
        return cat

    def hop_limit(self, n: int) -> Category:
        """Otherwise valid priority-254 adverts with hop limit 1 or 64 (RFC 5798 §7.1: must be 255)."""
        return self._hop_limit_1_and_64("hop_limit_1_and_64", n, "hlim")

    def versions(self, n: int) -> Category:
        """Versions 1, 2, 4 and 15 with a correct checksum; v2 is defined for IPv4 only (RFC 3768)."""
        cat = self._cat("versions_1_2_4_15")
        base = self._v3(self.v3_vrid, 254)
        for i in range(n):
            v = (1, 2, 4, 15)[i % 4]
            body = base + bytes(8) if v == 2 else base  # v2 layout: 8 octets of auth data after the list
            p = self._fix(bytes([(v << 4) | 1]) + body[1:])
            self._add(cat, self._mcast(p), p, "version")
        return cat

    def count_too_large(self, n: int) -> Category:
        """Address count 2..255 with one address in the payload (checksum fixed: only the count is wrong)."""
        cat = self._cat("count_too_large")
        base = self._v3(self.v3_vrid, 254)
        for _ in range(n):
            p = self._fix(base[:3] + bytes([self.rng.randrange(2, 256)]) + base[4:])
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

    def count_not_whole(self, n: int) -> Category:
        """Address area that is not a whole number of IPv6 addresses: Count c, 16*(c-1) + 1..15 octets."""
        cat = self._cat("count_not_whole")
        base = self._v3(self.v3_vrid, 254)
        for _ in range(n):
            c = self.rng.randrange(1, 5)
            area = self.rng.randbytes(16 * (c - 1) + self.rng.randrange(1, 16))
            p = self._fix(base[:3] + bytes([c]) + base[4:8] + area)
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

    def ipv4_addresses(self, n: int) -> Category:
        """IPv4 addresses in an IPv6 advert. As 4-octet addresses (Count n, 4n octets) the list is too short
        for n IPv6 addresses; as IPv4-mapped IPv6 addresses (::ffff:192.0.2.100) the advert is well-formed
        and the instance drops it because the addresses differ from its own (RFC 5798 §7.1)."""
        cat = self._cat("ipv4_addresses")
        mapped = v3_payload6(self.ll, MCAST6, self.v3_vrid, 254, ["::ffff:192.0.2.100"])
        for i in range(n):
            if i % 2:
                self._add(cat, self._mcast(mapped), mapped, "address_list", level="fsm")
                continue
            k = self.rng.randrange(1, 4)
            v4 = b"".join(socket.inet_aton(f"192.0.2.{100 + j}") for j in range(k))
            p = self._fix(bytes([0x31, self.v3_vrid, 254, k, 0, 10, 0, 0]) + v4)
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

    def ext_headers(self, n: int) -> Category:
        """A Destination Options header (PadN only, skipped by the kernel) before a bad-checksum advert or a
        valid one with hop limit 64: the raw socket gets the VRRP message behind the extension header."""
        cat = self._cat("ext_headers")
        good = self._v3(self.v3_vrid, 254)
        bad = good[:6] + bytes([good[6] ^ 0xFF, good[7]]) + good[8:]
        opts = dstopts(IPPROTO_VRRP, bytes([1, 4]) + bytes(4))
        for i in range(n):
            if i % 2:
                f = self._mcast(opts + bad, nh=NH_DSTOPTS)
                self._add(cat, f, bad, "checksum")
            else:
                f = self._mcast(opts + good, nh=NH_DSTOPTS, hlim=64)
                self._add(cat, f, good, "ip_ttl")
        return cat

    def unicast_not_peer(self, n: int) -> Category:
        """Well-formed priority-254 v3 adverts for the unicast instance, sent to each router's own global
        address from the injector's global address, which is not a unicast_peer."""
        cat = self._cat("unicast_not_peer")
        src = self.inj.ip6
        cache: dict[str, bytes] = {}
        for i in range(n):
            node = self.receivers[i % len(self.receivers)]
            if node.ip6 not in cache:
                cache[node.ip6] = v3_payload6(src, node.ip6, self.uc_vrid, 254, self.uc_addrs)
            p = cache[node.ip6]
            f = ether6(mac_bytes(node.mac), self.src_mac, ipv6(src, node.ip6, p))
            self._add(cat, f, p, "not_peer", to=[node])
        return cat

    def kernel_drops(self, n: int) -> Category:
        """IPv6 packets the receiving kernel drops before any socket, so vipd never sees them (counters
        from /proc/net/snmp6): a version nibble that is not 6 and a multicast source address
        (``Ip6InHdrErrors``, ipv6_rcv), a payload length beyond the frame (``Ip6InTruncatedPkts``), and
        a Destination Options header with an unknown option of action "discard" (type 0x1e: top bits
        00 = skip would pass, so 0x5e, top bits 01 = discard silently; ``Ip6InHdrErrors``)."""
        cat = self._cat("kernel_drops")
        p = self._v3(self.v3_vrid, 254)
        unknown_opt = dstopts(IPPROTO_VRRP, bytes([0x5E, 2, 0, 0]))
        for i in range(n):
            k = i % 4
            if k == 0:
                f, why = self._mcast(p, version=4), "Ip6InHdrErrors"
            elif k == 1:
                f, why = self._mcast(p, payload_length=len(p) + 40), "Ip6InTruncatedPkts"
            elif k == 2:
                f, why = self._mcast(p, src="ff02::1"), "Ip6InHdrErrors"
            else:
                f, why = self._mcast(unknown_opt + p, nh=NH_DSTOPTS), "Ip6InHdrErrors"
            self._add(cat, f, p, why, level="kernel")
        return cat

    def all(self, total: int) -> list[Category]:
        """Every category, ``total`` frames in all (the shares are fixed)."""
        shares = [
            (self.random_bytes, 0.28),
            (self.truncated, 0.08),
            (self.bad_checksum, 0.08),
            (self.hop_limit, 0.07),
            (self.versions, 0.06),
            (self.count_too_large, 0.05),
            (self.count_not_whole, 0.05),
            (self.ipv4_addresses, 0.05),
            (self.unknown_vrid, 0.07),
            (self.priority_zero_other_vrid, 0.05),
            (self.ext_headers, 0.04),
            (self.unicast_not_peer, 0.04),
            (self.kernel_drops, 0.02),
        ]
        return self._fill(total, shares, 16)
