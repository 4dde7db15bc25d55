"""IPv6 multicast instances send from a link-local address (RFC 5798 §5.1.2.1).

vipd drops multicast IPv6 adverts from any other source (the daemon's receive path), so a global
``mcast_src_ip``/``unicast_src_ip`` on a multicast IPv6 instance is a config error: routers
configured so would never hear each other. Unicast instances may use global addresses.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from conftest import BASIC, Failer, Loader, instance, where

V6 = BASIC.replace("192.0.2.10", "2001:db8::10")


def test_global_mcast_src_ip_on_an_ipv6_multicast_instance_is_an_error(fail: Failer) -> None:
    errors = fail(instance(V6 + "    mcast_src_ip 2001:db8::1\n"))
    assert where(errors) == [(7, "mcast_src_ip")]
    assert "link-local" in errors[0].message and "RFC 5798" in errors[0].message


def test_link_local_mcast_src_ip_on_an_ipv6_multicast_instance_is_accepted(load: Loader) -> None:
    vi = load(instance(V6 + "    mcast_src_ip fe80::1\n")).config.vrrp_instances["VI_1"]
    assert vi.unicast_src_ip == IPv6Address("fe80::1")


def test_global_unicast_src_ip_with_peers_is_accepted(load: Loader) -> None:
    body = V6 + "    unicast_src_ip 2001:db8::1\n    unicast_peer {\n        2001:db8::2\n    }\n"
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.unicast_src_ip == IPv6Address("2001:db8::1") and vi.unicast_peer == [IPv6Address("2001:db8::2")]
