"""AddressWriter.probe: the errno a VIP add would get for causes visible without adding it (no netlink)."""

from __future__ import annotations

import errno
from ipaddress import ip_address

import pytest

from vipd.linux import netlink
from vipd.linux.netlink import AddressWriter, VipSpec


def test_a_device_that_is_gone_is_enodev() -> None:
    assert AddressWriter.probe(VipSpec(ip_address("192.0.2.100"), 24, 2**31 - 7)) == errno.ENODEV


def test_loopback_with_cap_net_admin_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "effective_capabilities", lambda: 1 << netlink.CAP_NET_ADMIN)
    assert AddressWriter.probe(VipSpec(ip_address("192.0.2.100"), 24, 1)) == 0


def test_without_cap_net_admin_is_eperm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "effective_capabilities", lambda: 0)
    assert AddressWriter.probe(VipSpec(ip_address("192.0.2.100"), 24, 1)) == errno.EPERM


def test_ipv6_disabled_on_the_device_is_eacces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "effective_capabilities", lambda: 1 << netlink.CAP_NET_ADMIN)
    real_open = open

    def fake_open(path: str, *a: object, **kw: object) -> object:
        if path == "/proc/sys/net/ipv6/conf/lo/disable_ipv6":
            import io

            return io.StringIO("1\n")
        return real_open(path, *a, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", fake_open)
    assert AddressWriter.probe(VipSpec(ip_address("2001:db8::100"), 64, 1)) == errno.EACCES
    assert AddressWriter.probe(VipSpec(ip_address("192.0.2.100"), 24, 1)) == 0  # IPv4 does not care
