"""vipd.linux.rtnl: requests encoded as pyroute2 encodes them; replies read as the kernel writes them."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from vipd.linux import rtnl
from vipd.linux.netlink import IFA_F_NODAD, AddressWriter, VipSpec


def pyroute2_request(cmd: int, vip: VipSpec) -> bytes:
    """The same request as pyroute2's ``ifaddrmsg`` encodes it (the test oracle)."""
    msg = ifaddrmsg()
    v6 = isinstance(vip.address, IPv6Address)
    msg["family"] = socket.AF_INET6 if v6 else socket.AF_INET
    msg["prefixlen"] = vip.prefixlen
    msg["index"] = vip.ifindex
    msg["scope"] = vip.scope
    attrs: list[tuple[str, object]] = [("IFA_LOCAL", str(vip.address)), ("IFA_ADDRESS", str(vip.address))]
    flags = NLM_F_REQUEST | NLM_F_ACK
    if cmd == rtnl.RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
        if v6:
            msg["flags"] = IFA_F_NODAD
        else:
            if vip.label:
                attrs.append(("IFA_LABEL", vip.label))
            if vip.broadcast is not None:
                attrs.append(("IFA_BROADCAST", str(vip.broadcast)))
    msg["attrs"] = attrs
    msg["header"]["type"] = cmd
    msg["header"]["flags"] = flags
    msg.encode()
    return bytes(msg.data)


VIPS = [
    VipSpec(IPv4Address("192.0.2.100"), 32, 3),
    VipSpec(IPv4Address("192.0.2.101"), 24, 7, label="eth0:vip", broadcast=IPv4Address("192.0.2.255")),
    VipSpec(IPv4Address("198.51.100.1"), 24, 2, label="vip1234567890ab", scope=253),
    VipSpec(IPv6Address("2001:db8::100"), 64, 4),
    VipSpec(IPv6Address("fe80::1"), 64, 4, scope=253),
]


@pytest.mark.parametrize("vip", VIPS, ids=str)
@pytest.mark.parametrize("cmd", [rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR], ids=["add", "del"])
def test_address_requests_are_byte_for_byte_pyroute2s(cmd: int, vip: VipSpec) -> None:
    ours = bytes(AddressWriter._encode(vip, cmd))
    assert ours == pyroute2_request(cmd, vip)


def nlmsg(mtype: int, body: bytes, flags: int = 0, seq: int = 0) -> bytes:
    raw = struct.pack("=IHHII", 16 + len(body), mtype, flags, seq, 0) + body
    return raw + b"\0" * (-len(raw) & 3)


def addr_msg(*attrs: bytes, family: int = socket.AF_INET, prefixlen: int = 24, flags: int = 0, index: int = 2) -> bytes:
    return nlmsg(rtnl.RTM_NEWADDR, rtnl.IFADDRMSG.pack(family, prefixlen, flags, 0, index) + b"".join(attrs))


def parse_one(data: bytes) -> rtnl.RtLink | rtnl.RtAddr | None:
    ((mtype, _flags, _seq, offset, end),) = list(rtnl.messages(data))
    return rtnl.decode(mtype, data, offset, end)


def test_an_address_is_ifa_local_when_present_as_keepalived_reads_it() -> None:
    ptp = addr_msg(
        rtnl.attr(rtnl.IFA_ADDRESS, ip_address("10.0.0.2").packed),  # the peer of a point-to-point address
        rtnl.attr(rtnl.IFA_LOCAL, ip_address("10.0.0.1").packed),
        rtnl.attr(rtnl.IFA_LABEL, b"wg0\0"),
    )
    got = parse_one(ptp)
    assert isinstance(got, rtnl.RtAddr)
    assert (got.address, got.prefixlen, got.index, got.label) == (ip_address("10.0.0.1"), 24, 2, "wg0")
    plain = addr_msg(rtnl.attr(rtnl.IFA_ADDRESS, ip_address("2001:db8::1").packed), family=socket.AF_INET6)
    got6 = parse_one(plain)
    assert isinstance(got6, rtnl.RtAddr) and got6.address == ip_address("2001:db8::1")


def test_ifa_flags_overrides_the_headers_eight_bits() -> None:
    flags32 = 0x40 | 0x200  # TENTATIVE | NOPREFIXROUTE: the second does not fit ifa_flags
    got = parse_one(addr_msg(rtnl.attr(rtnl.IFA_FLAGS, struct.pack("=I", flags32)), flags=0x40))
    assert isinstance(got, rtnl.RtAddr) and got.flags == flags32 and got.address is None


def test_link_attributes_and_oper_up() -> None:
    body = rtnl.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 5, 0x1043, 0)
    body += rtnl.attr(rtnl.IFLA_IFNAME, b"eth0\0") + rtnl.attr(rtnl.IFLA_ADDRESS, bytes.fromhex("02766c000001"))
    body += rtnl.attr(rtnl.IFLA_OPERSTATE, b"\x06")
    got = parse_one(nlmsg(rtnl.RTM_NEWLINK, body))
    assert got == rtnl.RtLink(rtnl.RTM_NEWLINK, 5, "eth0", 0x1043, bytes.fromhex("02766c000001"), 6)
    assert got.oper_up
    down = rtnl.RtLink(rtnl.RTM_NEWLINK, 5, "eth0", 0x1003, b"", 2)
    unknown_up = rtnl.RtLink(rtnl.RTM_NEWLINK, 1, "lo", 0x49, b"", 0)
    assert not down.oper_up and unknown_up.oper_up


@pytest.mark.parametrize("cut", [1, 8, 17, 20, 27])
def test_truncated_or_lying_lengths_never_read_past_the_datagram(cut: int) -> None:
    body = rtnl.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 5, 0x1043, 0) + rtnl.attr(rtnl.IFLA_IFNAME, b"eth0\0")
    whole = nlmsg(rtnl.RTM_NEWLINK, body)
    data = whole[:cut]
    for mtype, _f, _s, offset, end in rtnl.messages(data):
        assert end <= len(data)
        rtnl.decode(mtype, data, offset, end)
    # an attribute whose length runs past its message is not read
    lying = bytearray(whole)
    struct.pack_into("=H", lying, 16 + rtnl.IFINFOMSG.size, 200)
    got = parse_one(bytes(lying))
    assert isinstance(got, rtnl.RtLink) and got.ifname == ""


def test_several_messages_in_one_datagram_in_order() -> None:
    a = addr_msg(rtnl.attr(rtnl.IFA_LOCAL, ip_address("192.0.2.1").packed), index=2)
    b = addr_msg(rtnl.attr(rtnl.IFA_LOCAL, ip_address("192.0.2.2").packed), index=3)
    data = a + b + nlmsg(rtnl.NLMSG_DONE, b"\0\0\0\0")
    seen = [rtnl.decode(m, data, o, e) for m, _f, _s, o, e in rtnl.messages(data)]
    assert [x.index for x in seen if isinstance(x, rtnl.RtAddr)] == [2, 3]
    assert seen[-1] is None
