"""Accept_Mode's nftables table: which VIPs are guarded (pure) and the table libnftables writes (in a netns)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from ipaddress import ip_address
from pathlib import Path

import pytest

from vipd.config import load_config_string
from vipd.config.model import Config
from vipd.linux.nftables import Guarded, Settings, ruleset
from vipd.runtime.acceptmode import guarded, settings

CONFIG = """
global_defs {
    %s
}
vrrp_instance strict {
    interface eth0
    virtual_router_id 1
    priority 100
    no_accept
    virtual_ipaddress { 192.0.2.1/24 }
    virtual_ipaddress_excluded { 198.51.100.1/24 }
}
vrrp_instance open {
    interface eth0
    virtual_router_id 2
    priority 100
    accept
    virtual_ipaddress { 192.0.2.2/24 }
}
vrrp_instance owner {
    interface eth0
    virtual_router_id 3
    priority 255
    no_accept
    virtual_ipaddress { 192.0.2.3/24 }
}
vrrp_instance six {
    interface eth1
    virtual_router_id 4
    priority 100
    no_accept
    virtual_ipaddress { fe80::4/64 dev eth2
        2001:db8::4/64 }
}
"""


def cfg(global_lines: str = "") -> Config:
    r = load_config_string(CONFIG % global_lines)
    assert r.config is not None, r
    return r.config


def test_guarded_vips_are_those_of_non_owner_no_accept_instances() -> None:
    got = {(str(g.address), g.ifname) for g in guarded(cfg())}
    assert got == {("192.0.2.1", "eth0"), ("198.51.100.1", "eth0"), ("fe80::4", "eth2"), ("2001:db8::4", "eth1")}


def test_vrrp_strict_means_no_accept() -> None:
    text = "global_defs {\n vrrp_strict\n}\nvrrp_instance s {\n interface eth0\n virtual_router_id 9\n"
    text += " priority 100\n version 3\n virtual_ipaddress { 192.0.2.9/24 }\n}\n"
    r = load_config_string(text)
    assert r.config is not None
    assert [str(g.address) for g in guarded(r.config)] == ["192.0.2.9"]


def test_keepalived_nftables_keywords() -> None:
    assert settings(cfg()) == Settings("vipd", -1, False, False)
    s = settings(cfg("nftables\n    nftables_priority -150\n    nftables_counters\n    nftables_ifindex"))
    assert s == Settings("keepalived", -150, True, True)
    assert settings(cfg("nftables mytable\n    vrrp_iptables INPUT OUTPUT")).table == "mytable"


def test_ruleset_shape() -> None:
    g = [Guarded(ip_address("192.0.2.1"), "eth0"), Guarded(ip_address("fe80::1"), "eth1")]
    cmds = ruleset(Settings(counters=True, priority=-7), g)
    assert cmds[:3] == [
        {"add": {"table": {"family": "inet", "name": "vipd"}}},
        {"delete": {"table": {"family": "inet", "name": "vipd"}}},
        {"add": {"table": {"family": "inet", "name": "vipd"}}},
    ], "one transaction replaces whatever table a crashed run left"
    sets = {c["add"]["set"]["name"]: c["add"]["set"].get("elem") for c in cmds if "set" in c.get("add", {})}
    assert sets == {"vips4": ["192.0.2.1"], "vips6": None, "vips6_ll": [{"concat": ["fe80::1", "eth1"]}]}
    chains = [c["add"]["chain"] for c in cmds if "chain" in c.get("add", {})]
    assert [(c["hook"], c["prio"]) for c in chains] == [("input", -7), ("output", -7)]
    rules = [c["add"]["rule"]["expr"] for c in cmds if "rule" in c.get("add", {})]
    assert all(r[-2:] == [{"counter": None}, {"drop": None}] for r in rules if r[-1] == {"drop": None})


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace and nftables")
def test_table_written_and_removed_in_a_namespace(tmp_path: Path) -> None:
    from pyroute2 import netns

    name = f"vipdt-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "probe.py"
    script.write_text(
        "import subprocess\n"
        "from ipaddress import ip_address\n"
        "from vipd.linux.nftables import AcceptMode, Guarded, Settings\n"
        "t = AcceptMode(Settings(counters=True))\n"
        "t.apply([Guarded(ip_address('192.0.2.1'), 'eth0'), Guarded(ip_address('2001:db8::1'), 'eth0')])\n"
        "t.apply([Guarded(ip_address('192.0.2.7'), 'eth0')])\n"
        "print(subprocess.run(['nft', 'list', 'table', 'inet', 'vipd'], capture_output=True, text=True).stdout)\n"
        "t.close()\n"
        "print('gone', subprocess.run(['nft', 'list', 'table', 'inet', 'vipd'], capture_output=True).returncode != 0)\n"
    )
    netns.create(name)
    try:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
        out = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert "192.0.2.7" in out.stdout and "192.0.2.1" not in out.stdout, "a second apply replaces the set"
        assert "ip daddr @vips4 counter packets 0 bytes 0 drop" in out.stdout
        assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept" in out.stdout
        assert out.stdout.strip().endswith("gone True")
    finally:
        netns.remove(name)
