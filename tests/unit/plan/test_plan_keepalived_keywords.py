"""Issue 17's keepalived keywords in the config layer and the planner: keepalived's defaults and
precedence resolved into ``InstancePlan``, and the refusals at FILE:LINE with their reason.

Each test names the keepalived source or man page line it follows (keepalived 2.2.7,
``vrrp.c vrrp_complete_instance`` / ``global_parser.c``).
"""

from __future__ import annotations

import pytest

from vipd.config import ConfigError, load_config_string
from vipd.plan import plan_config
from vipd.plan.model import InstancePlan

INST = (
    "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n priority {prio}\n{extra}"
    " virtual_ipaddress {{\n  192.0.2.100/24{dev}\n }}\n}}\n"
)


def _conf(extra: str = "", *, prio: int = 100, glob: str = "", dev: str = "", tail: str = "") -> str:
    head = f"global_defs {{\n{glob}}}\n" if glob else ""
    return head + INST.format(prio=prio, extra=extra, dev=dev) + tail


def _plan(text: str) -> InstancePlan:
    r = load_config_string(text)
    result = plan_config(r.config, r.locs)
    assert result.plan is not None, result.diagnostics
    return result.plan.instances["VI_1"]


def _refused(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config_string(text)
    return [str(d) for d in e.value.diagnostics if d.severity == "error"]


def _warnings(text: str) -> list[str]:
    return [str(w) for w in load_config_string(text).warnings]


# -- default_interface, vrrp_min_garp, vmac_prefix ---------------------------------------------


def test_default_interface_is_the_device_of_static_addresses_without_dev() -> None:
    static = "static_ipaddress {\n 203.0.113.1/24\n 203.0.113.2/24 dev eth3\n}\n"
    r = load_config_string(_conf(glob=" default_interface eth7\n", tail=static))
    assert [a.dev for a in r.config.static_ipaddress] == ["eth7", "eth3"]
    r = load_config_string(_conf(tail=static))
    assert [a.dev for a in r.config.static_ipaddress] == ["eth0", "eth3"]  # keepalived's DFLT_INT


def test_default_interface_does_not_give_an_instance_its_interface() -> None:
    """keepalived 2.2.7 uses default_interface only in get_default_if() for static addresses."""
    errors = _refused(_conf(glob=" default_interface eth7\n").replace(" interface eth0\n", ""))
    assert any("interface" in e for e in errors), errors


def test_vrrp_min_garp_sends_one_garp_no_second_burst_no_refresh() -> None:
    c = _plan(_conf(glob=" vrrp_min_garp\n")).config
    assert (c.garp_master_repeat, c.garp_master_delay, c.garp_master_refresh, c.garp_master_refresh_repeat) == (
        1,
        0.0,
        0.0,
        0,
    )


def test_vrrp_min_garp_leaves_values_written_in_the_file() -> None:
    c = _plan(_conf(glob=" vrrp_min_garp\n vrrp_garp_master_repeat 3\n")).config
    assert (c.garp_master_repeat, c.garp_master_delay) == (3, 0.0)


def test_vrrp_min_garp_off_changes_nothing() -> None:
    c = _plan(_conf(glob=" vrrp_min_garp false\n")).config
    assert (c.garp_master_repeat, c.garp_master_delay) == (5, 5.0)


def test_vmac_prefix_names_generated_vmacs_prefix_dot_vrid() -> None:
    p = _plan(_conf(" use_vmac\n", glob=" vmac_prefix ka\n"))
    assert p.vmac is not None and p.vmac.name == "ka.51"
    long = _plan(_conf(" use_vmac\n", glob=" vmac_prefix abcdefghijklmno\n"))
    assert long.vmac is not None and long.vmac.name == "abcdefghijkl.51"  # cut to 15 like create_vmac_name
    named = _plan(_conf(" use_vmac mine\n", glob=" vmac_prefix ka\n"))
    assert named.vmac is not None and named.vmac.name == "mine"


# -- no_virtual_ipaddress ------------------------------------------------------------------------


NO_VIP = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n version 3\n no_virtual_ipaddress\n}\n"


def test_no_virtual_ipaddress_allows_vrrpv3_without_vips_with_a_warning() -> None:
    warnings = _warnings(NO_VIP)
    assert any("RFC 5798" in w for w in warnings), warnings
    assert _plan(NO_VIP).vips == ()


def test_vrrpv3_without_vips_and_without_no_virtual_ipaddress_is_refused() -> None:
    assert any("no VIP" in e for e in _refused(NO_VIP.replace(" no_virtual_ipaddress\n", "")))


def test_no_virtual_ipaddress_silences_the_v2_no_vip_warning() -> None:
    v2 = NO_VIP.replace(" version 3\n", " version 2\n")
    assert not any("no VIP" in w for w in _warnings(v2))
    assert any("no VIP" in w for w in _warnings(v2.replace(" no_virtual_ipaddress\n", "")))


def test_no_virtual_ipaddress_has_no_effect_in_strict_mode() -> None:
    errors = _refused(NO_VIP.replace(" version 3\n", " version 3\n strict_mode\n"))
    assert any("no VIP" in e for e in errors), errors


# -- owner_ignore_adverts ------------------------------------------------------------------------


def test_owner_ignore_adverts_applies_to_an_owner() -> None:
    assert _plan(_conf(" owner_ignore_adverts\n", prio=255)).owner_ignore_adverts


def test_owner_ignore_adverts_is_ignored_below_255_with_a_warning() -> None:
    text = _conf(" owner_ignore_adverts\n", prio=200)
    assert not _plan(text).owner_ignore_adverts
    assert any("owner_ignore_adverts: has no effect" in w for w in _warnings(text))


def test_vrrp_owner_ignore_adverts_is_the_default_and_strict_mode_turns_it_on() -> None:
    assert not _plan(_conf(prio=255)).owner_ignore_adverts
    assert _plan(_conf(prio=255, glob=" vrrp_owner_ignore_adverts\n")).owner_ignore_adverts
    assert not _plan(
        _conf(" owner_ignore_adverts off\n", prio=255, glob=" vrrp_owner_ignore_adverts\n")
    ).owner_ignore_adverts


def test_strict_owner_that_turns_owner_ignore_adverts_off_is_refused_at_its_line() -> None:
    text = _conf(" strict_mode\n state MASTER\n owner_ignore_adverts off\n", prio=255)
    errors = _refused(text)
    assert any(e.startswith("<string>:7: owner_ignore_adverts") for e in errors), errors


# -- notify_priority_changes ---------------------------------------------------------------------


GROUP = "vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n{extra}}}\n"


def test_notify_priority_changes_instance_then_group_then_global() -> None:
    assert not _plan(_conf()).notify_priority_changes
    assert _plan(_conf(glob=" vrrp_notify_priority_changes\n")).notify_priority_changes
    assert _plan(_conf(tail=GROUP.format(extra=" notify_priority_changes\n"))).notify_priority_changes
    text = _conf(" notify_priority_changes off\n", tail=GROUP.format(extra=" notify_priority_changes\n"))
    assert not _plan(text).notify_priority_changes
    text = _conf(glob=" vrrp_notify_priority_changes\n", tail=GROUP.format(extra=" notify_priority_changes off\n"))
    assert not _plan(text).notify_priority_changes


# -- promote_secondaries, track_src_ip, garp_extra_if ------------------------------------------


def test_promote_secondaries_names_the_interface_but_not_with_a_vmac() -> None:
    assert _plan(_conf(" promote_secondaries\n")).promote_secondaries == ("eth0",)
    text = _conf(" promote_secondaries\n use_vmac\n")
    assert _plan(text).promote_secondaries == ()
    assert any("promote_secondaries: ignored with use_vmac" in w for w in _warnings(text))


def test_track_src_ip_tracks_the_configured_source_only() -> None:
    p = _plan(_conf(" mcast_src_ip 192.0.2.9\n track_src_ip\n"))
    assert str(p.track_src) == "192.0.2.9"
    r = load_config_string(_conf(" mcast_src_ip 192.0.2.9\n track_src_ip\n"))
    plan = plan_config(r.config, r.locs).plan
    assert plan is not None
    keys = [b.key for b in plan.trackers.bindings["VI_1"]]
    assert ("interface", "address 192.0.2.9") in keys
    text = _conf(" track_src_ip\n")
    assert _plan(text).track_src is None
    assert any("track_src_ip: has no effect" in w for w in _warnings(text))


def test_garp_extra_if_all_resolves_the_other_vip_interfaces() -> None:
    p = _plan(_conf(" garp_extra_if all 30\n", tail="", dev=" dev eth1"))
    assert (p.garp_extra_if, p.extra_if) == (30.0, ("eth1",))
    same = _plan(_conf(" garp_extra_if all 30\n"))
    assert same.garp_extra_if == 0.0, "no other interface: keepalived disables it"


def test_garp_extra_if_without_all_sends_on_use_vmac_addr_vmacs_only() -> None:
    p = _plan(_conf(" use_vmac_addr\n garp_extra_if 30\n", dev=" dev eth1"))
    assert (p.garp_extra_if, p.extra_if) == (30.0, ("vrrp.51",))


def test_garp_extra_if_includes_the_instance_vmac_only_when_adverts_leave_by_the_base() -> None:
    """keepalived vrrp_send_vmac_update: "Don't send for our own interface unless xmit_base"."""
    assert _plan(_conf(" use_vmac\n garp_extra_if 30\n")).extra_if == ()
    p = _plan(_conf(" use_vmac\n vmac_xmit_base\n garp_extra_if 30\n"))
    assert (p.garp_extra_if, p.extra_if) == (30.0, ("vrrp.51",))


def test_garp_extra_if_without_all_does_nothing_and_says_so() -> None:
    text = _conf(" garp_extra_if 30\n", dev=" dev eth1")
    assert _plan(text).garp_extra_if == 0.0
    assert any("garp_extra_if: without 'all'" in w for w in _warnings(text))


def test_vrrp_garp_extra_if_is_the_default_and_zero_turns_it_off() -> None:
    glob = " vrrp_garp_extra_if all 60\n"
    assert _plan(_conf(glob=glob, dev=" dev eth1")).garp_extra_if == 60.0
    assert _plan(_conf(" garp_extra_if 0\n", glob=glob, dev=" dev eth1")).garp_extra_if == 0.0


def test_vmac_garp_intvl_is_the_deprecated_spelling() -> None:
    text = _conf(" vmac_garp_intvl all 30\n", dev=" dev eth1")
    assert _plan(text).garp_extra_if == 30.0
    assert any("deprecated" in w for w in _warnings(text))


def test_garp_extra_if_needs_a_delay() -> None:
    assert any("needs a DELAY" in e for e in _refused(_conf(" garp_extra_if all\n")))


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "line", "needle"),
    [
        ("linkbeat_use_polling", "global_defs", "rtnetlink"),
        ("linkbeat_interfaces {\n  eth0\n }", "top", "rtnetlink"),
        ("linkbeat_use_polling", "instance", "rtnetlink"),
        ("vrf blue", "instance", "'vrf' only for a unicast instance without 'interface'"),
        ("use_ipvlan", "instance", "does not create ipvlan devices"),
        ("track_group G {\n group {\n  VI_1\n }\n}", "top", "static_ipaddress"),
    ],
)
def test_refused_keywords_name_file_line_and_reason(where: str, line: str, needle: str) -> None:
    if line == "global_defs":
        text = _conf(glob=f" {where}\n")
        at = 2
    elif line == "instance":
        text = _conf(f" {where}\n")
        at = 5
    else:
        text = _conf() + where + "\n"
        at = text.count("\n", 0, text.index(where)) + 1
    errors = _refused(text)
    keyword = where.split()[0]
    assert any(e.startswith(f"<string>:{at}: {keyword}: refused:") and needle in e for e in errors), errors


# -- interface_up_down_delays --------------------------------------------------------------------


def test_interface_up_down_delays_reach_the_plan_with_up_zero_when_omitted() -> None:
    text = _conf(" advert_int 3\n", tail="interface_up_down_delays {\n eth0 2 4\n eth1 1.5\n}\n")
    r = load_config_string(text)
    plan = plan_config(r.config, r.locs).plan
    assert plan is not None
    assert dict(plan.link_delays) == {"eth0": (2.0, 4.0), "eth1": (1.5, 0.0)}


def test_a_down_delay_a_backup_would_outrun_is_refused_with_the_bound() -> None:
    text = _conf(" advert_int 1\n", tail="interface_up_down_delays {\n eth0 2.5\n}\n")
    errors = _refused(text)
    assert any(e.startswith("<string>:11: interface_up_down_delays: eth0: down delay 2.5s") for e in errors), errors


def test_an_interface_given_twice_in_interface_up_down_delays_is_refused() -> None:
    errors = _refused(_conf(tail="interface_up_down_delays {\n eth0 1\n eth0 1\n}\n"))
    assert any("eth0 is given twice" in e for e in errors), errors


# -- garp_group ----------------------------------------------------------------------------------


def test_garp_group_spacing_applies_to_its_interfaces_and_others_inherit_the_global() -> None:
    groups = (
        "garp_group {\n garp_interval 0.5\n interfaces {\n  eth0\n  eth1\n }\n}\n"
        "garp_group {\n gna_interval 0.2\n interface eth2\n}\n"
    )
    p = _plan(_conf(glob=" vrrp_garp_interval 0.01\n vrrp_gna_interval 0.03\n", tail=groups))
    assert (p.garp_interval, p.gna_interval) == (0.5, 0.03)
    other = _plan(_conf(glob=" vrrp_garp_interval 0.01\n", tail=groups).replace("interface eth0", "interface eth5"))
    assert (other.garp_interval, other.gna_interval) == (0.01, 0.0)


def test_garp_group_needs_exactly_one_of_interface_or_interfaces() -> None:
    errors = _refused(_conf(tail="garp_group {\n garp_interval 1\n}\n"))
    assert any("exactly one of 'interface' or 'interfaces'" in e for e in errors), errors


def test_an_interface_in_two_garp_groups_is_refused() -> None:
    groups = "garp_group {\n garp_interval 1\n interface eth0\n}\ngarp_group {\n garp_interval 2\n interface eth0\n}\n"
    assert any("already in the garp_group at line" in e for e in _refused(_conf(tail=groups)))


# -- use_vmac_addr, a VIP's use_vmac, vmac_addr_prefix --------------------------------------------


TWO_DEVS = (
    "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{extra} virtual_ipaddress {{\n"
    "  192.0.2.100/24\n  198.51.100.1/24 dev eth1{opt}\n  198.51.100.2/24 dev eth1\n }}\n"
    " virtual_ipaddress_excluded {{\n  2001:db8::1/64\n }}\n}}\n"
)


def _two(extra: str = "", opt: str = "", glob: str = "") -> InstancePlan:
    head = f"global_defs {{\n{glob}}}\n" if glob else ""
    return _plan(head + TWO_DEVS.format(extra=extra, opt=opt))


def test_use_vmac_addr_gives_other_interfaces_and_the_other_family_a_vmac() -> None:
    p = _two(" use_vmac_addr\n")
    assert [v.dev for v in p.vips] == ["eth0", "vrrp.51", "vrrp.51", "vrrp6.51"]
    assert [(m.name, m.base, m.family) for m in p.addr_vmacs] == [("vrrp.51", "eth1", 4), ("vrrp6.51", "eth0", 6)]
    assert "vrrp.51" not in p.interfaces and "eth1" in p.interfaces


def test_use_vmac_addr_names_follow_vmac_addr_prefix_and_avoid_the_instance_vmac() -> None:
    p = _two(" use_vmac\n use_vmac_addr\n")
    assert p.vmac is not None and p.vmac.name == "vrrp.51"
    assert [v.dev for v in p.vips] == ["vrrp.51", "vrrp1.51", "vrrp1.51", "vrrp6.51"]
    q = _two(" use_vmac_addr\n", glob=" vmac_addr_prefix va\n vmac_prefix vm\n")
    assert [m.name for m in q.addr_vmacs] == ["va.51", "va6.51"]


def test_a_vips_own_use_vmac_makes_a_vmac_for_that_interface_only() -> None:
    p = _two(opt=" use_vmac")
    assert [v.dev for v in p.vips] == ["eth0", "vrrp.51", "eth1", "eth0"]  # only the VIP that asks
    assert [(m.name, m.base) for m in p.addr_vmacs] == [("vrrp.51", "eth1")]


def test_without_use_vmac_addr_nothing_changes() -> None:
    p = _two()
    assert [v.dev for v in p.vips] == ["eth0", "eth1", "eth1", "eth0"] and p.addr_vmacs == ()


def test_use_vmac_addr_change_restarts_the_instance_on_reload() -> None:
    from vipd.plan import diff_plans

    def plan_of(text: str):  # type: ignore[no-untyped-def]
        r = load_config_string(text)
        return plan_config(r.config, r.locs).plan

    old, new = plan_of(TWO_DEVS.format(extra="", opt="")), plan_of(TWO_DEVS.format(extra=" use_vmac_addr\n", opt=""))
    assert [p.new.name for p in diff_plans(old, new).restarted] == ["VI_1"]


def test_two_instances_with_one_vrid_get_distinct_vmac_names() -> None:
    """keepalived create_vmac_name: the second ``vrrp.51`` becomes ``vrrp1.51``."""
    text = _conf(" use_vmac\n") + _conf(" use_vmac\n").replace("VI_1", "VI_2").replace("eth0", "eth1").replace(
        "192.0.2.100", "192.0.2.101"
    )
    r = load_config_string(text)
    plan = plan_config(r.config, r.locs).plan
    assert plan is not None
    assert [p.vmac.name for p in plan.instances.values() if p.vmac] == ["vrrp.51", "vrrp1.51"]
