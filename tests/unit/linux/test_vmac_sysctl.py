"""VmacManager's sysctl bookkeeping (keepalived vrrp_if_config.c: set on start, restored on exit)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vipd.linux.vmac import BASE_SYSCTLS, VmacManager, VmacSpec, default_vmac_name, mac_text


def _tree(root: Path, values: dict[str, str]) -> None:
    for key, value in values.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")


def test_sysctls_are_restored_to_what_was_found(tmp_path: Path) -> None:
    _tree(tmp_path, {"net/ipv4/conf/eth0/arp_ignore": "0", "net/ipv4/conf/eth0/arp_filter": "1"})
    m = VmacManager(sysctl_root=str(tmp_path))
    for key, value in BASE_SYSCTLS.items():
        m.set_sysctl(f"net/ipv4/conf/eth0/{key}", value)
    m.set_sysctl("net/ipv4/conf/eth0/arp_ignore", "1")  # a second instance on the same base: no double entry
    assert (tmp_path / "net/ipv4/conf/eth0/arp_ignore").read_text() == "1"
    asyncio.run(m.close())
    assert (tmp_path / "net/ipv4/conf/eth0/arp_ignore").read_text() == "0"
    assert (tmp_path / "net/ipv4/conf/eth0/arp_filter").read_text().strip() == "1"  # untouched: it already was 1


def test_missing_sysctl_is_logged_not_raised(tmp_path: Path) -> None:
    m = VmacManager(sysctl_root=str(tmp_path))
    m.set_sysctl("net/ipv4/conf/nosuch/arp_ignore", "1")
    asyncio.run(m.close())


def test_names_and_macs_follow_keepalived_and_rfc5798() -> None:
    assert default_vmac_name(51) == "vrrp.51"
    assert mac_text(VmacSpec("vrrp.51", "eth0", 51, 4).mac) == "00:00:5e:00:01:33"
    assert mac_text(VmacSpec("vrrp.51", "eth0", 51, 6).mac) == "00:00:5e:00:02:33"
