"""Issue #3 grammar: scripts, trackers, notify hooks, sync groups, routes, strict mode, pending keywords."""

from __future__ import annotations

from conftest import BASIC, Failer, Loader, instance, where

from vipd.config import load_config_string
from vipd.config.model import Script, TrackInterface, TrackRef

SCRIPT = """\
vrrp_script chk {
    script "/usr/bin/check --fast"
    interval 2
    weight -10 reverse
    fall 3
    rise 2
    user nobody nogroup
    init_fail
}
"""


def test_vrrp_script_model(load: Loader) -> None:
    cfg = load(SCRIPT + instance(BASIC + "    track_script {\n        chk weight 5\n    }\n")).config
    s = cfg.vrrp_scripts["chk"]
    assert s.script == Script(command="/usr/bin/check --fast", argv=["/usr/bin/check", "--fast"])
    assert (s.interval, s.timeout, s.weight, s.weight_reverse) == (2.0, 2.0, -10, True)
    assert (s.fall, s.rise, s.user, s.group, s.init_fail) == (3, 2, "nobody", "nogroup", True)
    assert cfg.vrrp_instances["VI_1"].track_script == [TrackRef(name="chk", weight=5)]


def test_vrrp_script_defaults(load: Loader) -> None:
    s = load('vrrp_script c {\n  script "/bin/true"\n}\n' + instance(BASIC)).config.vrrp_scripts["c"]
    assert (s.interval, s.timeout, s.weight, s.rise, s.fall, s.init_fail) == (1.0, 1.0, 0, 1, 1, False)


def test_vrrp_script_without_script(fail: Failer) -> None:
    assert where(fail("vrrp_script c {\n  interval 1\n}\n" + instance(BASIC))) == [(1, "script")]


def test_vrrp_script_weight_range(fail: Failer) -> None:
    text = 'vrrp_script c {\n  script "/bin/true"\n  weight 300\n}\n' + instance(BASIC)
    errors = fail(text)
    assert where(errors) == [(3, "weight")]
    assert "-253..253" in errors[0].message


def test_track_script_to_undefined_script_with_hint(fail: Failer) -> None:
    errors = fail(SCRIPT + instance(BASIC + "    track_script {\n        chx\n    }\n"))
    assert where(errors) == [(17, "track_script")]
    assert "did you mean 'chk'?" in errors[0].message


def test_track_interface_syntax(load: Loader, fail: Failer) -> None:
    body = BASIC + "    track_interface {\n        eth1 weight -20 reverse\n        eth2\n    }\n"
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.track_interface == [
        TrackInterface(interface="eth1", weight=-20, reverse=True),
        TrackInterface(interface="eth2"),
    ]
    assert where(fail(instance(BASIC + "    track_interface {\n        eth1 weigth 2\n    }\n"))) == [
        (8, "track_interface")
    ]


def test_track_file_and_process(load: Loader, fail: Failer) -> None:
    text = """\
track_file tf {
    file /run/prio
    weight -2 reverse
    init_file 5 overwrite
}
vrrp_track_process haproxy {
    process haproxy -f /etc/haproxy.cfg
    param_match initial
    quorum 2
    delay 1.5
}
""" + instance(BASIC + "    track_file {\n        tf\n    }\n    track_process {\n        haproxy weight 10\n    }\n")
    cfg = load(text).config
    tf = cfg.track_files["tf"]
    assert (tf.file, tf.weight, tf.reverse, tf.init_file, tf.init_overwrite) == ("/run/prio", -2, True, 5, True)
    tp = cfg.vrrp_track_processes["haproxy"]
    assert (tp.process, tp.args, tp.param_match, tp.quorum, tp.delay) == (
        "haproxy",
        ["-f", "/etc/haproxy.cfg"],
        "initial",
        2,
        1.5,
    )
    assert cfg.vrrp_instances["VI_1"].track_process == [TrackRef(name="haproxy", weight=10)]
    bad = instance(BASIC + "    track_file {\n        nope\n    }\n")
    assert where(fail(bad)) == [(8, "track_file")]


def test_deprecated_vrrp_track_file_still_reads(load: Loader) -> None:
    result = load("vrrp_track_file t {\n  file /x\n}\n" + instance(BASIC))
    assert "t" in result.config.track_files
    assert any(w.keyword == "vrrp_track_file" and "deprecated" in w.message for w in result.warnings)


def test_notify_hooks(load: Loader) -> None:
    body = BASIC + (
        '    notify_master "/bin/notify master" root wheel\n'
        "    notify /usr/local/bin/notify.sh\n"
        '    notify_stop "/bin/stop"\n'
    )
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert vi.notify_master == Script(
        command="/bin/notify master", argv=["/bin/notify", "master"], user="root", group="wheel"
    )
    assert vi.notify is not None and vi.notify.argv == ["/usr/local/bin/notify.sh"]
    assert vi.notify_stop is not None and vi.notify_backup is None


def test_unquoted_notify_with_arguments_warns_that_they_are_the_user(load: Loader) -> None:
    result = load(instance(BASIC + "    notify_master /bin/notify MASTER\n"))
    vi = result.config.vrrp_instances["VI_1"]
    assert vi.notify_master is not None and vi.notify_master.user == "MASTER"
    assert any(w.line == 7 and "quote the command" in w.message for w in result.warnings)


def test_notify_with_too_many_words(fail: Failer) -> None:
    assert where(fail(instance(BASIC + "    notify_master /bin/x a b c\n"))) == [(7, "notify_master")]


def test_sync_group_errors(fail: Failer) -> None:
    text = (
        "vrrp_sync_group G1 {\n  group {\n    VI_1\n    VI_X\n  }\n}\n"
        "vrrp_sync_group G2 {\n  group {\n    VI_1\n  }\n}\n"
        "vrrp_sync_group G3 {\n  group {\n  }\n}\n" + instance(BASIC)
    )
    errors = fail(text)
    assert where(errors) == [(4, "group"), (9, "group"), (12, "vrrp_sync_group")]
    assert "already in vrrp_sync_group G1" in errors[1].message


def test_sync_group_one_line_group_and_weights_warning(load: Loader) -> None:
    text = SCRIPT + "vrrp_sync_group G {\n  group { VI_1 }\n}\n"
    result = load(text + instance(BASIC + "    track_script {\n        chk weight 4\n    }\n"))
    assert result.config.vrrp_sync_groups["G"].group == ["VI_1"]
    assert any("sync_group_tracking_weight" in w.message for w in result.warnings)


def test_routes_and_rules(load: Loader, fail: Failer) -> None:
    body = BASIC + (
        "    virtual_routes {\n        10.0.0.0/8 via 192.0.2.1 dev eth0.1\n        default via 192.0.2.1\n    }\n"
        "    virtual_rules {\n        from 10.0.0.0/8 table 10 preference 100\n    }\n"
    )
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert [r.words[0] for r in vi.virtual_routes] == ["10.0.0.0/8", "default"]
    assert vi.virtual_rules[0].words[-1] == "100"
    bad = BASIC + "    virtual_routes {\n        10.0.0.0/33 via 192.0.2.1\n        10.1.0.0/16 via nowhere\n    }\n"
    assert where(fail(instance(bad))) == [(8, "virtual_routes"), (9, "virtual_routes")]


def test_excluded_vips_any_family(load: Loader) -> None:
    body = BASIC + "    virtual_ipaddress_excluded {\n        2001:db8::1/64\n        192.0.2.99\n    }\n"
    vi = load(instance(body)).config.vrrp_instances["VI_1"]
    assert [v.family for v in vi.virtual_ipaddress_excluded] == [6, 4]


def test_global_defaults_flow_into_instances(load: Loader) -> None:
    text = (
        "global_defs {\n  vrrp_garp_master_delay 3\n  vrrp_check_unicast_src\n  vrrp_down_timer_adverts 5\n"
        "  vrrp_higher_prio_send_advert on\n}\n" + instance(BASIC)
    )
    vi = load(text).config.vrrp_instances["VI_1"]
    assert (vi.garp_lower_prio_delay, vi.garp_lower_prio_repeat) == (3.0, 5)
    assert (vi.check_unicast_src, vi.down_timer_adverts, vi.higher_prio_send_advert) == (True, 5, True)
    assert (vi.accept, vi.strict_mode, vi.lower_prio_no_advert) == (True, False, False)


def test_accept_and_no_accept(load: Loader) -> None:
    assert load(instance(BASIC + "    no_accept\n")).config.vrrp_instances["VI_1"].accept is False


def test_strict_mode_rules(fail: Failer, load: Loader) -> None:
    body = (
        "    strict_mode\n    state MASTER\n    priority 100\n"
        + BASIC
        + (
            "    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n"
            "    unicast_peer {\n        192.0.2.2\n    }\n    preempt_delay 5\n"
        )
    )
    assert where(fail(instance(body))) == [
        (3, "state"),
        (10, "authentication"),
        (14, "unicast_peer"),
        (17, "preempt_delay"),
    ]
    vi = load(instance("    strict_mode\n" + BASIC)).config.vrrp_instances["VI_1"]
    assert (vi.accept, vi.lower_prio_no_advert) == (False, True)


def test_strict_mode_no_vip(fail: Failer) -> None:
    text = "global_defs {\n  vrrp_strict\n}\n" + instance("    interface eth0\n    virtual_router_id 1\n")
    assert where(fail(text)) == [(4, "virtual_ipaddress")]


def test_first_ipv6_vip_should_be_link_local(load: Loader) -> None:
    body = BASIC.replace("192.0.2.10", "2001:db8::10")
    result = load(instance(body))
    assert [(w.line, w.keyword) for w in result.warnings] == [(5, "virtual_ipaddress")]


def test_pending_keywords_warn_once_per_use_and_fail_with_strict(load: Loader, fail: Failer) -> None:
    text = instance(BASIC + "    unicast_fault_no_peer\n    lower_prio_no_advert\n")
    result = load(text)
    assert [(w.line, w.keyword) for w in result.warnings] == [(7, "unicast_fault_no_peer"), (8, "lower_prio_no_advert")]
    assert "does not act on it yet" in result.warnings[0].message
    assert where(fail(text, strict=True)) == [(7, "unicast_fault_no_peer"), (8, "lower_prio_no_advert")]


def test_ignored_keywords_name_themselves(load: Loader) -> None:
    result = load("global_defs {\n  notification_email {\n    a@b\n  }\n  lvs_id x\n}\n" + instance(BASIC))
    assert [(w.line, w.keyword) for w in result.warnings] == [(2, "notification_email"), (5, "lvs_id")]


def test_first_cut_keywords_produce_no_warning(load: Loader) -> None:
    text = (
        "global_defs {\n  router_id r\n  vrrp_version 3\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 2\n"
        "  vrrp_garp_master_refresh 30\n  vrrp_garp_master_refresh_repeat 2\n}\n"
    ) + instance(
        "    state BACKUP\n" + BASIC + "    priority 90\n    advert_int 0.5\n    nopreempt\n    preempt_delay 1\n"
        "    garp_master_delay 2\n    garp_master_repeat 2\n    garp_master_refresh 10\n"
        "    garp_master_refresh_repeat 3\n    unicast_src_ip 192.0.2.1\n    unicast_peer {\n        192.0.2.2\n    }\n"
    )
    result = load(text)
    assert [w for w in result.warnings if "nopreempt" not in w.message] == []


def test_load_config_string_round_trip_of_every_section() -> None:
    text = SCRIPT + instance(BASIC + "    track_script {\n        chk\n    }\n")
    cfg = load_config_string(text).config
    assert cfg.model_validate_json(cfg.model_dump_json()) == cfg


def test_bad_interval_is_reported_once_at_its_line(fail: Failer, load: Loader) -> None:
    """The default timeout (= interval) used to repeat a bad interval's error at the block's line."""
    for block, extra in (("vrrp_script", '  script "/bin/true"\n'), ("vrrp_check", "  type tcp\n  connect_port 80\n")):
        errors = fail(f"{block} c {{\n{extra}  interval 0\n}}\n" + instance(BASIC))
        assert where(errors) == [(2 + extra.count("\n"), "interval")]
    cfg = load('vrrp_script c {\n  script "/bin/true"\n  interval 2.5\n}\n' + instance(BASIC)).config
    assert cfg.vrrp_scripts["c"].timeout == 2.5


def test_bad_garp_master_value_is_reported_once_at_its_line(fail: Failer, load: Loader) -> None:
    """garp_lower_prio_* default to garp_master_*: the copy used to repeat a bad value's error at the instance line."""
    for keyword, bad in (("garp_master_delay", "-1"), ("garp_master_repeat", "x")):
        errors = fail(instance(BASIC + f"    {keyword} {bad}\n"))
        assert [kw for _line, kw in where(errors)] == [keyword], errors
    vi = load(instance(BASIC + "    garp_master_delay 2\n    garp_master_repeat 3\n")).config.vrrp_instances["VI_1"]
    assert (vi.garp_lower_prio_delay, vi.garp_lower_prio_repeat) == (2.0, 3)
    vi = load(instance(BASIC + "    garp_master_delay 2\n    garp_lower_prio_delay 7\n")).config.vrrp_instances["VI_1"]
    assert (vi.garp_lower_prio_delay, vi.garp_lower_prio_repeat) == (7.0, 5)
