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
"""

from __future__ import annotations

import collections
import random
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import netns

from .topo import Node

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


class Builder:
    """Builds the categories of hostile frames for a lab with routers ``receivers`` running
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
        self.inj = injector
        self.receivers = list(receivers)
        self.vrids = dict(vrids)
        self.rng = random.Random(seed)
        self.src_mac = mac_bytes(injector.mac)
        self.v2_vrid, self.v2_addrs = v2_vrid, list(v2_addrs)
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

    def _mcast(self, payload: bytes, **ip_kw: object) -> bytes:
        return ether(MCAST_MAC, self.src_mac, ipv4(self.inj.ip4, MCAST4, payload, **ip_kw))  # type: ignore[arg-type]

    def _v3(self, vrid: int, priority: int, dst: str = MCAST4) -> bytes:
        addrs = self.uc_addrs if vrid == self.uc_vrid else self.v3_addrs
        return v3_payload(self.inj.ip4, dst, vrid, priority, addrs)

    # ------------------------------------------------------------------ categories
    def random_bytes(self, n: int) -> Category:
        """Random payloads of 0..80 octets in a valid IPv4/112 datagram (TTL 255)."""
        cat = self._cat("random_bytes")
        for _ in range(n):
            p = self.rng.randbytes(self.rng.randrange(0, 81))
            self._add(cat, self._mcast(p), p, None)
        return cat

    def truncated(self, n: int) -> Category:
        """Well-formed v3 and v2 adverts cut short anywhere before their end."""
        cat = self._cat("truncated")
        full3 = self._v3(self.v3_vrid, 254)
        full2 = v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, b"secret")
        for i in range(n):
            full = full3 if i % 2 else full2
            p = full[: self.rng.randrange(0, len(full))]
            self._add(cat, self._mcast(p), p, "packet_length")
        return cat

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
        cat = self._cat("ttl_1_and_64")
        p = self._v3(self.v3_vrid, 254)
        for i in range(n):
            self._add(cat, self._mcast(p, ttl=1 if i % 2 else 64), p, "ip_ttl")
        return cat

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

    def unknown_vrid(self, n: int) -> Category:
        """Well-formed priority-254 v3 adverts for VRIDs nobody runs."""
        cat = self._cat("unknown_vrid")
        cache: dict[int, bytes] = {}
        for _ in range(n):
            vrid = self.rng.choice(self._unknown_vrids)
            if vrid not in cache:
                cache[vrid] = v3_payload(self.inj.ip4, MCAST4, vrid, 254, self.v3_addrs)
            p = cache[vrid]
            self._add(cat, self._mcast(p), p, "vrid")
        return cat

    def priority_zero_other_vrid(self, n: int) -> Category:
        """Priority 0 ("master leaving") for VRIDs nobody here runs: must not shorten any timer."""
        cat = self._cat("priority_0_other_vrid")
        cache: dict[int, bytes] = {}
        for _ in range(n):
            vrid = self.rng.choice(self._unknown_vrids)
            if vrid not in cache:
                cache[vrid] = v3_payload(self.inj.ip4, MCAST4, vrid, 0, self.v3_addrs)
            p = cache[vrid]
            self._add(cat, self._mcast(p), p, "vrid")
        return cat

    def bad_v2_auth(self, n: int) -> Category:
        """v2 priority-254 adverts for the PASS instance: wrong password, auth type NONE (both dropped by
        the instance), and unknown auth types 3..255 (dropped by the decoder)."""
        cat = self._cat("bad_v2_auth")
        wrong = [v2_payload(self.v2_vrid, 254, self.v2_addrs, 1, f"bad{i}".encode()) for i in range(16)]
        none = v2_payload(self.v2_vrid, 254, self.v2_addrs, 0, b"")
        unknown = [v2_payload(self.v2_vrid, 254, self.v2_addrs, t, b"secret") for t in (3, 4, 77, 255)]
        for i in range(n):
            k = i % 4
            if k in (0, 1):
                p = wrong[i % len(wrong)]
                self._add(cat, self._mcast(p), p, "auth", level="fsm")
            elif k == 2:
                self._add(cat, self._mcast(none), none, "auth", level="fsm")
            else:
                p = unknown[i % len(unknown)]
                self._add(cat, self._mcast(p), p, "auth")
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
        cats = [fn(max(12, round(total * share))) for fn, share in shares]
        short = total - sum(len(c.frames) for c in cats)
        if short > 0:
            cats.append(self.random_bytes(short))
            cats[-1].name = "random_bytes_2"
        return cats


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
