"""The first cut of the keepalived.conf reader: good configs, the model, every error rule."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address

import pytest
from conftest import BASIC, CONFIGS, Failer, Loader, instance, where

from vipd.config import (
    Authentication,
    ConfigError,
    Diagnostic,
    GlobalDefs,
    VirtualAddress,
    VrrpInstance,
    dump_config,
    load_config,
    load_config_string,
)

# -- good configurations ------------------------------------------------------------------


def test_demo_pair_parses_to_the_expected_model() -> None:
    node1 = load_config(CONFIGS / "demo-node1.conf")
    node2 = load_config(CONFIGS / "demo-node2.conf")
    assert node1.warnings == [] and node2.warnings == []
    g = node1.config.global_defs
    assert g == GlobalDefs(
        router_id="demo-node1",
        vrrp_version=3,
        vrrp_garp_master_delay=1.0,
        vrrp_garp_master_repeat=3,
    )
    vi1 = node1.config.vrrp_instances["VI_DEMO"]
    vi2 = node2.config.vrrp_instances["VI_DEMO"]
    assert vi1 == VrrpInstance(
        name="VI_DEMO",
        state="MASTER",
        interface="veth0",
        virtual_router_id=51,
        priority=150,
        advert_int=0.1,
        version=3,
        virtual_ipaddress=[
            VirtualAddress(address=IPv4Address("192.0.2.100"), prefixlen=24, dev="veth0", label="veth0:vip")
        ],
        garp_master_delay=1.0,
        garp_master_repeat=3,
    )
    assert vi1.virtual_ipaddress[0].line == 18
    assert vi1.family == 4
    assert (vi2.state, vi2.priority) == ("BACKUP", 100)
    assert vi1.model_copy(update={"state": "BACKUP", "priority": 100}) == vi2
    assert node1.config.source == str(CONFIGS / "demo-node1.conf")


def test_defaults_follow_keepalived(load: Loader) -> None:
    cfg = load(instance(BASIC)).config
    assert cfg.global_defs == GlobalDefs()
    assert (cfg.global_defs.vrrp_version, cfg.global_defs.vrrp_garp_master_delay) == (2, 5.0)
    vi = cfg.vrrp_instances["VI_1"]
    assert vi.state is None
    assert vi.priority == 100 and not vi.priority_implied
    assert vi.advert_int == 1.0
    assert vi.version == 2
    assert vi.nopreempt is False and vi.preempt_delay == 0.0
    assert vi.authentication is None
    assert (vi.garp_master_delay, vi.garp_master_repeat) == (5.0, 5)
    assert (vi.garp_master_refresh, vi.garp_master_refresh_repeat) == (0.0, 1)
    assert vi.unicast_src_ip is None and vi.unicast_peer == []
    assert vi.virtual_ipaddress == [VirtualAddress(address=IPv4Address("192.0.2.10"), prefixlen=32)]


def test_instances_inherit_global_garp_settings_and_version(load: Loader) -> None:
    text = (
        """\
global_defs {
    vrrp_version 3
    vrrp_garp_master_delay 2.5
    vrrp_garp_master_repeat 2
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 4
}
"""
        + instance(BASIC + "    garp_master_repeat 7\n")
        + instance(BASIC.replace("51", "52"), "VI_2")
    )
    cfg = load(text).config
    vi = cfg.vrrp_instances["VI_1"]
    assert (vi.version, vi.garp_master_delay, vi.garp_master_repeat) == (3, 2.5, 7)
    assert (vi.garp_master_refresh, vi.garp_master_refresh_repeat) == (60.0, 4)
    assert cfg.vrrp_instances["VI_2"].garp_master_repeat == 2
    assert list(cfg.vrrp_instances) == ["VI_1", "VI_2"]


def test_instance_version_overrides_global(load: Loader) -> None:
    text = "global_defs {\n vrrp_version 3\n}\n" + instance(BASIC + "    version 2\n")
    assert load(text).config.vrrp_instances["VI_1"].version == 2


def test_ipv6_instance_defaults_to_version_3_like_keepalived(load: Loader) -> None:
    body = (
        "    interface eth0\n    virtual_router_id 5\n"
        "    virtual_ipaddress {\n        fe80::1\n        2001:db8::1/64\n    }\n"
    )
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.version == 3 and vi.family == 6
    assert [v.prefixlen for v in vi.virtual_ipaddress] == [128, 64]


def test_state_master_without_priority_means_255_and_says_so(load: Loader) -> None:
    result = load(instance("    state MASTER\n" + BASIC))
    vi = result.config.vrrp_instances["VI_1"]
    assert vi.priority == 255 and vi.priority_implied
    assert [(w.line, w.keyword) for w in result.warnings] == [(2, "priority")]
    assert "255" in result.warnings[0].message
    assert json.loads(dump_config(result.config))["vrrp_instances"]["VI_1"]["priority_implied"] is True


def test_vip_options_and_prefix(load: Loader) -> None:
    body = """\
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10/24 brd 192.0.2.255 dev eth1 scope link label eth1:vip
        192.0.2.11 dev eth0
    }
"""
    vips = load(instance(body)).config.vrrp_instances["VI_1"].virtual_ipaddress
    assert vips[0] == VirtualAddress(
        address=IPv4Address("192.0.2.10"),
        prefixlen=24,
        brd=IPv4Address("192.0.2.255"),
        dev="eth1",
        scope="link",
        label="eth1:vip",
    )
    assert (vips[1].prefixlen, vips[1].dev, vips[1].line) == (32, "eth0", 6)


def test_authentication_and_unicast(load: Loader) -> None:
    body = (
        BASIC
        + """\
    authentication {
        auth_type PASS
        auth_pass secret
    }
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
        192.0.2.3
    }
    nopreempt
    preempt_delay 2.5
"""
    )
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.authentication == Authentication(auth_type="PASS", auth_pass="secret")
    assert vi.unicast_src_ip == IPv4Address("192.0.2.1")
    assert vi.unicast_peer == [IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")]
    assert vi.nopreempt and vi.preempt_delay == 2.5


def test_preempt_after_nopreempt_undoes_it(load: Loader) -> None:
    vi = load(instance(BASIC + "    nopreempt\n    preempt\n")).config.vrrp_instances["VI_1"]
    assert vi.nopreempt is False


def test_long_auth_pass_is_truncated_with_a_warning(load: Loader) -> None:
    body = BASIC + "    authentication {\n        auth_type PASS\n        auth_pass 0123456789\n    }\n"
    result = load(instance(body))
    assert result.config.vrrp_instances["VI_1"].authentication == Authentication(auth_type="PASS", auth_pass="01234567")
    assert [(w.line, w.keyword) for w in result.warnings] == [(9, "auth_pass")]


def test_dump_config_is_json_with_defaults(load: Loader) -> None:
    cfg = load(instance(BASIC)).config
    data = json.loads(dump_config(cfg))
    vi = data["vrrp_instances"]["VI_1"]
    assert vi["advert_int"] == 1.0 and vi["priority"] == 100 and vi["garp_master_delay"] == 5.0
    assert vi["virtual_ipaddress"][0]["address"] == "192.0.2.10"
    assert data["global_defs"]["vrrp_version"] == 2


def test_models_are_frozen_and_forbid_extra_fields() -> None:
    g = GlobalDefs()
    with pytest.raises(Exception, match="frozen"):
        g.router_id = "x"
    with pytest.raises(Exception, match="extra"):
        GlobalDefs(bogus=1)  # type: ignore[call-arg]


def test_vip_equality_ignores_the_line() -> None:
    a = VirtualAddress(address=IPv4Address("192.0.2.1"), prefixlen=32, line=3)
    b = VirtualAddress(address=IPv4Address("192.0.2.1"), prefixlen=32, line=9)
    assert a == b and hash(a) == hash(b)


def test_diagnostic_str_format() -> None:
    d = Diagnostic("k.conf", 7, "priority", "bad")
    assert str(d) == "k.conf:7: priority: bad"
    assert d.severity == "error"


def test_load_config_string_names_the_given_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_string("bogus_keyword 1\n", filename="inline.conf")
    assert str(info.value) == "inline.conf:1: bogus_keyword: unknown keyword at the top level"


# -- syntax errors ----------------------------------------------------------------------------


def test_unknown_keyword_with_did_you_mean(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    priorty 100\n"))
    assert where(errors) == [(7, "priorty")]
    assert "did you mean 'priority'?" in errors[0].message


def test_keyword_in_the_wrong_block_says_where_it_belongs(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    vrrp_version 3\n"))
    assert where(errors) == [(7, "vrrp_version")]
    assert "global_defs" in errors[0].message


def test_every_error_is_reported_not_just_the_first(fail: Failer) -> None:
    body = BASIC + "    priorty 100\n    advert_int fast\n    bogus\n"
    errors = fail(instance(body) + instance(BASIC.replace("51", "52") + "    state MASTR\n", "VI_2"))
    assert where(errors) == [(7, "priorty"), (8, "advert_int"), (9, "bogus"), (17, "state")]


def test_missing_closing_brace_at_end_of_file(fail: Failer) -> None:
    errors = fail("vrrp_instance VI_1 {\n" + BASIC)
    assert where(errors) == [(1, "vrrp_instance")]
    assert "never closed" in errors[0].message


def test_missing_closing_brace_before_next_instance(fail: Failer) -> None:
    text = "vrrp_instance VI_1 {\n" + BASIC + instance(BASIC.replace("51", "52"), "VI_2")
    errors = fail(text)
    assert where(errors) == [(1, "vrrp_instance")]
    assert "line 7" in errors[0].message or ":7" in errors[0].message


def test_stray_closing_brace(fail: Failer) -> None:
    errors = fail(instance(BASIC) + "}\n")
    assert where(errors) == [(8, "}")]


def test_brace_glued_to_keyword_and_on_next_line(load: Loader) -> None:
    text = "global_defs{\n  router_id r1\n}\nvrrp_instance VI_1\n{\n" + BASIC + "}\n"
    cfg = load(text).config
    assert cfg.global_defs.router_id == "r1" and "VI_1" in cfg.vrrp_instances


def test_one_line_blocks(load: Loader) -> None:
    text = "vrrp_instance VI_1 { interface eth0\n virtual_router_id 9\n virtual_ipaddress { 192.0.2.1/24 }\n}\n"
    vi = load(text).config.vrrp_instances["VI_1"]
    assert vi.virtual_ipaddress[0].prefixlen == 24


def test_wrong_type_names_keyword_and_value(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    priority high\n"))
    assert where(errors) == [(7, "priority")]
    assert "'high'" in errors[0].message


def test_value_missing_or_extra_words(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    priority\n    advert_int 1 2\n"))
    assert where(errors) == [(7, "priority"), (8, "advert_int")]


def test_duplicate_keyword_is_an_error(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    priority 100\n    priority 90\n"))
    assert where(errors) == [(8, "priority")]
    assert "line 7" in errors[0].message


def test_duplicate_instance_name(fail: Failer) -> None:
    errors = fail(instance(BASIC) + instance(BASIC.replace("51", "52")))
    assert where(errors) == [(8, "vrrp_instance")]


# -- value and cross-field rules ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "256", "-1"])
def test_priority_out_of_range(fail: Failer, value: str) -> None:
    errors = fail(instance(BASIC + f"    priority {value}\n"))
    assert where(errors) == [(7, "priority")]
    assert value in errors[0].message and "1..255" in errors[0].message


@pytest.mark.parametrize("value", ["0", "256", "abc"])
def test_vrid_out_of_range(fail: Failer, value: str) -> None:
    errors = fail(instance(BASIC.replace("virtual_router_id 51", f"virtual_router_id {value}")))
    assert where(errors) == [(3, "virtual_router_id")]


def test_v2_with_ipv6_vip(fail: Failer) -> None:
    body = (
        "    interface eth0\n    virtual_router_id 5\n    version 2\n    virtual_ipaddress {\n        fe80::1\n    }\n"
    )
    assert where(fail(instance(body))) == [(4, "version")]


def test_v2_with_fractional_advert_int(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    advert_int 0.5\n"))
    assert where(errors) == [(7, "advert_int")]
    assert "whole seconds" in errors[0].message


@pytest.mark.parametrize("value", ["0.005", "41", "40.96"])
def test_v3_advert_int_outside_range(fail: Failer, value: str) -> None:
    errors = fail(instance(BASIC + f"    version 3\n    advert_int {value}\n"))
    assert where(errors) == [(8, "advert_int")]


def test_v3_advert_int_not_in_centiseconds(fail: Failer) -> None:
    assert where(fail(instance(BASIC + "    version 3\n    advert_int 0.015\n"))) == [(8, "advert_int")]


@pytest.mark.parametrize("value", ["0.01", "40.95", "0.1", "1"])
def test_v3_advert_int_bounds_accepted(load: Loader, value: str) -> None:
    vi = load(instance(BASIC + f"    version 3\n    advert_int {value}\n")).config.vrrp_instances["VI_1"]
    assert vi.advert_int == float(value)


def test_advert_int_must_be_positive(fail: Failer) -> None:
    assert where(fail(instance(BASIC + "    advert_int 0\n"))) == [(7, "advert_int")]


def test_same_vrid_twice_on_one_interface_and_family(fail: Failer) -> None:
    errors = fail(instance(BASIC) + instance(BASIC.replace("192.0.2.10", "192.0.2.11"), "VI_2"))
    assert where(errors) == [(10, "virtual_router_id")]
    assert "VI_1" in errors[0].message


def test_same_vrid_on_other_interface_or_family_is_fine(load: Loader) -> None:
    other_if = BASIC.replace("eth0", "eth1").replace("192.0.2.10", "192.0.2.11")
    v6 = BASIC.replace("192.0.2.10", "fe80::10")
    cfg = load(instance(BASIC) + instance(other_if, "VI_2") + instance(v6, "VI_3")).config
    assert len(cfg.vrrp_instances) == 3


def test_malformed_vip(fail: Failer) -> None:
    errors = fail(instance(BASIC.replace("192.0.2.10", "192.168.100./24")))
    assert where(errors) == [(5, "virtual_ipaddress")]
    assert "192.168.100./24" in errors[0].message


@pytest.mark.parametrize("vip", ["192.0.2.1/33", "192.0.2.1/x", "fe80::1/129", "192.0.2.1 bogus x"])
def test_bad_vip_prefix_or_option(fail: Failer, vip: str) -> None:
    assert where(fail(instance(BASIC.replace("192.0.2.10", vip)))) == [(5, "virtual_ipaddress")]


def test_duplicate_vip(fail: Failer) -> None:
    body = BASIC.replace("192.0.2.10\n", "192.0.2.10\n        192.0.2.10/24 label eth0:1\n")
    errors = fail(instance(body))
    assert where(errors) == [(6, "virtual_ipaddress")]
    assert "line 5" in errors[0].message


def test_mixed_vip_families(fail: Failer) -> None:
    body = BASIC.replace("192.0.2.10\n", "192.0.2.10\n        fe80::1\n")
    assert where(fail(instance(body))) == [(6, "virtual_ipaddress")]


def test_empty_unicast_peer(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    unicast_peer {\n    }\n"))
    assert where(errors) == [(7, "unicast_peer")]


def test_bad_unicast_addresses(fail: Failer) -> None:
    body = BASIC + "    unicast_src_ip 192.0.2.300\n    unicast_peer {\n        fe80::2\n        nonsense\n    }\n"
    assert where(fail(instance(body))) == [(7, "unicast_src_ip"), (9, "unicast_peer"), (10, "unicast_peer")]


def test_nopreempt_with_state_master(fail: Failer) -> None:
    errors = fail(instance("    state MASTER\n" + BASIC + "    priority 100\n    nopreempt\n"))
    assert where(errors) == [(9, "nopreempt")]


def test_no_interface(fail: Failer) -> None:
    errors = fail(instance(BASIC.replace("    interface eth0\n", "")))
    assert where(errors) == [(1, "interface")]


def test_no_virtual_router_id(fail: Failer) -> None:
    errors = fail(instance(BASIC.replace("    virtual_router_id 51\n", "")))
    assert where(errors) == [(1, "virtual_router_id")]


def test_no_vip_is_a_warning_for_v2(load: Loader) -> None:
    result = load(instance("    interface eth0\n    virtual_router_id 51\n"))
    assert [(w.line, w.keyword) for w in result.warnings] == [(1, "virtual_ipaddress")]


def test_no_vip_is_an_error_for_v3(fail: Failer) -> None:
    assert where(fail(instance("    interface eth0\n    virtual_router_id 51\n    version 3\n"))) == [
        (1, "virtual_ipaddress")
    ]


def test_state_must_be_master_or_backup(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    state master\n"))
    assert where(errors) == [(7, "state")]
    assert "'MASTER'" in errors[0].message


def test_version_must_be_2_or_3(fail: Failer) -> None:
    assert where(fail(instance(BASIC + "    version 4\n"))) == [(7, "version")]


def test_preempt_delay_range(fail: Failer) -> None:
    assert where(fail(instance(BASIC + "    preempt_delay 1001\n"))) == [(7, "preempt_delay")]


def test_authentication_errors(fail: Failer) -> None:
    body = BASIC + "    authentication {\n        auth_type MD5\n    }\n"
    assert where(fail(instance(body))) == [(8, "auth_type"), (7, "auth_pass")] or where(fail(instance(body))) == [
        (7, "auth_pass"),
        (8, "auth_type"),
    ]


def test_authentication_with_v3(fail: Failer) -> None:
    body = BASIC + "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n"
    assert where(fail(instance(body))) == [(8, "authentication")]


def test_global_defs_errors(fail: Failer) -> None:
    text = "global_defs {\n    vrrp_version 5\n    vrrp_garp_master_delay -1\n    vrrp_garp_master_repeat x\n}\n"
    errors = fail(text + instance(BASIC))
    assert where(errors) == [(2, "vrrp_version"), (3, "vrrp_garp_master_delay"), (4, "vrrp_garp_master_repeat")]


def test_interface_name_is_checked(fail: Failer) -> None:
    assert where(fail(instance(BASIC.replace("eth0", "a-very-long-interface-name")))) == [(2, "interface")]


def test_errors_are_sorted_by_line_and_str_lists_them(fail: Failer) -> None:
    errors = fail(instance(BASIC + "    priority 0\n") + "bogus\n")
    assert [e.line for e in errors] == sorted(e.line for e in errors)


def test_ipv6_unicast(load: Loader) -> None:
    body = (
        BASIC.replace("192.0.2.10", "fe80::10")
        + "    unicast_src_ip fe80::1\n    unicast_peer {\n        fe80::2\n    }\n"
    )
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.unicast_src_ip == IPv6Address("fe80::1") and vi.family == 6
