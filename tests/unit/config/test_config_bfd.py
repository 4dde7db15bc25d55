"""keepalived's bfd_instance, track_bfd and vipd's vipd_bfd_master_down: parsed, defaulted, refused at FILE:LINE."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from vipd.config.diagnostics import ConfigError
from vipd.config.loader import load_config_string

INSTANCE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress { 192.0.2.100/24 }
%s
}
"""


def load(text: str):  # type: ignore[no-untyped-def]
    return load_config_string(text, filename="t.conf").config


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config_string(text, filename="t.conf")
    return [str(d) for d in e.value.diagnostics]


def test_keepalived_defaults_in_seconds() -> None:
    cfg = load("bfd_instance b { neighbor_ip 192.0.2.2 }\n")
    b = cfg.bfd_instances["b"]
    assert (b.min_rx, b.min_tx, b.idle_tx, b.multiplier, b.ttl, b.max_hops) == (0.010, 0.010, 1.0, 5, 255, 0)
    assert not b.passive and not b.multihop and b.source_ip is None


def test_milliseconds_with_microsecond_resolution() -> None:
    cfg = load("bfd_instance b {\n neighbour_ip 2001:db8::2\n min_rx 3.312\n min_tx 50\n idle_tx 2000\n}\n")
    b = cfg.bfd_instances["b"]
    assert b.neighbor_ip == ip_address("2001:db8::2")
    assert b.min_rx == pytest.approx(0.003312) and b.min_tx == pytest.approx(0.05) and b.idle_tx == 2.0


def test_track_bfd_and_master_down_in_instance_and_group() -> None:
    text = "bfd_instance up { neighbor_ip 192.0.2.254\n weight -20 }\n" + INSTANCE % (
        "    track_bfd {\n        up\n        up weight 0 reverse\n    }\n    vipd_bfd_master_down up"
    )
    text += "vrrp_sync_group G { group { VI_1 }\n track_bfd { up weight 10 }\n}\n"
    cfg = load(text)
    inst = cfg.vrrp_instances["VI_1"]
    assert [(t.name, t.weight, t.reverse) for t in inst.track_bfd] == [("up", None, False), ("up", 0, True)]
    assert inst.vipd_bfd_master_down == "up"
    assert cfg.vrrp_sync_groups["G"].track_bfd[0].weight == 10
    assert cfg.bfd_instances["up"].weight == -20


def test_undefined_bfd_instance_is_an_error_at_its_line() -> None:
    text = "bfd_instance up1 { neighbor_ip 192.0.2.254 }\n" + INSTANCE % "    track_bfd {\n        upl\n    }"
    assert errors(text) == ["t.conf:8: track_bfd: bfd_instance 'upl' is not defined; did you mean 'up1'?"]


def test_bad_values_are_reported_in_milliseconds_at_their_lines() -> None:
    errs = errors("bfd_instance b {\n neighbor_ip 192.0.2.2\n min_rx 0\n idle_tx 500\n multiplier 0\n}\n")
    assert errs[0].startswith("t.conf:3: min_rx: 0 ms is out of range 1..")
    assert errs[1].startswith("t.conf:4: idle_tx: 500 ms is out of range 1000..")
    assert errs[2].startswith("t.conf:5: multiplier:")


def test_missing_neighbor_mixed_families_and_max_hops_over_ttl() -> None:
    assert "neighbor_ip: required" in errors("bfd_instance b {\n min_rx 10\n}\n")[0]
    assert "same family" in errors("bfd_instance b {\n neighbor_ip 192.0.2.2\n source_ip 2001:db8::1\n}\n")[0]
    assert "max_hops 10 exceeds" in errors("bfd_instance b {\n neighbor_ip 192.0.2.2\n ttl 3\n max_hops 10\n}\n")[0]


def test_duplicate_session_is_an_error() -> None:
    errs = errors("bfd_instance a { neighbor_ip 192.0.2.2 }\nbfd_instance b {\n neighbor_ip 192.0.2.2\n}\n")
    assert errs == ["t.conf:3: neighbor_ip: bfd_instance b has the same neighbor/source address as a"]


def test_link_local_neighbor_is_refused() -> None:
    assert "link-local" in errors("bfd_instance b {\n neighbor_ip fe80::1\n}\n")[0]


def test_master_down_needs_a_session_the_master_can_be_known_by() -> None:
    v6 = INSTANCE.replace("192.0.2.100/24", "fe80::100/64") % "    version 3\n    vipd_bfd_master_down p"
    assert any("IPv6 instances" in e for e in errors("bfd_instance p { neighbor_ip 2001:db8::2 }\n" + v6))
    uni = INSTANCE % "    unicast_peer {\n        192.0.2.3\n    }\n    vipd_bfd_master_down p"
    err = errors("bfd_instance p { neighbor_ip 192.0.2.2 }\n" + uni)
    assert err == [
        "t.conf:10: vipd_bfd_master_down: the bfd_instance's neighbor_ip 192.0.2.2 is not one of this "
        "instance's unicast_peer addresses"
    ]
    assert load("bfd_instance p { neighbor_ip 192.0.2.3 }\n" + uni).vrrp_instances["VI_1"].vipd_bfd_master_down == "p"
