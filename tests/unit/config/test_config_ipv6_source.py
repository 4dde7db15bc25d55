"""IPv6 multicast instances should send from a link-local address (RFC 5798 §5.1.2.1).

keepalived 2.2.7 accepts a global ``mcast_src_ip``/``unicast_src_ip`` on a multicast IPv6
instance, sends from it and accepts such adverts, and vipd does the same (docs/interop.md), so it
is a warning, not an error: other, RFC-strict VRRP routers may drop those adverts. Unicast
instances may use global addresses without a word.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from conftest import BASIC, Loader, instance

V6 = BASIC.replace("192.0.2.10", "2001:db8::10")


def test_global_mcast_src_ip_on_an_ipv6_multicast_instance_is_a_warning(load: Loader) -> None:
    result = load(instance(V6 + "    mcast_src_ip 2001:db8::1\n"))
    assert result.config.vrrp_instances["VI_1"].unicast_src_ip == IPv6Address("2001:db8::1")
    warned = [w for w in result.warnings if w.keyword == "mcast_src_ip"]
    assert [(w.line, w.keyword) for w in warned] == [(7, "mcast_src_ip")]
    assert "RFC 5798" in warned[0].message and "keepalived" in warned[0].message


def test_link_local_mcast_src_ip_on_an_ipv6_multicast_instance_is_accepted(load: Loader) -> None:
    vi = load(instance(V6 + "    mcast_src_ip fe80::1\n")).config.vrrp_instances["VI_1"]
    assert vi.unicast_src_ip == IPv6Address("fe80::1")


def test_global_unicast_src_ip_with_peers_is_accepted(load: Loader) -> None:
    body = V6 + "    unicast_src_ip 2001:db8::1\n    unicast_peer {\n        2001:db8::2\n    }\n"
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.unicast_src_ip == IPv6Address("2001:db8::1") and vi.unicast_peer == [IPv6Address("2001:db8::2")]
