"""keepalived's own sample configs load, or are refused with the diagnostic index.txt predicts.

The expectations come from tests/fixtures/keepalived/index.txt and
expected-keepalived-t.txt (keepalived 2.4.3 -t output). Where keepalived logs an
error and carries on, vipd refuses the file and names the same line.
"""

from __future__ import annotations

import pytest
from conftest import KEEPALIVED

from vipd.config import ConfigError, LoadResult, load_config

SAMPLES = sorted(p.name for p in KEEPALIVED.iterdir() if p.name.startswith(("keepalived.conf.", "extra-")))


def _errors(name: str, config_id: str = "default", strict: bool = False) -> list[tuple[int, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(KEEPALIVED / name, config_id=config_id, strict=strict)
    return [(d.line, d.keyword) for d in info.value.errors]


def _ok(name: str, config_id: str = "default") -> LoadResult:
    return load_config(KEEPALIVED / name, config_id=config_id)


def test_every_sample_is_covered() -> None:
    assert len(SAMPLES) == 14


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("config_id", ["default", "high", "low"])
def test_every_sample_loads_or_raises_config_error_only(name: str, config_id: str) -> None:
    try:
        result = load_config(KEEPALIVED / name, config_id=config_id)
    except ConfigError as err:
        assert err.errors
    else:
        assert result.config.vrrp_instances


def test_vrrp_duplicate_vip_line_32() -> None:
    assert _errors("keepalived.conf.vrrp") == [(32, "virtual_ipaddress")]


def test_ssl_get_master_with_ah() -> None:
    assert _errors("keepalived.conf.SSL_GET") == [(14, "state")]


def test_lvs_syncd_members_outside_group() -> None:
    assert _errors("keepalived.conf.vrrp.lvs_syncd") == [(3, "vrrp_sync_group"), (4, "VI_2"), (5, "VI_3")]


def test_rules_malformed_addresses_lines_11_and_26() -> None:
    assert _errors("keepalived.conf.vrrp.rules") == [(11, "static_rules"), (26, "virtual_rules")]


def test_etc_default_config_strict_mode_rules() -> None:
    assert _errors("extra-etc-keepalived.conf") == [(20, "state"), (25, "authentication")]


def test_conditional_conf_without_matching_id_has_no_script() -> None:
    assert _errors("keepalived.conf.conditional_conf", "default") == [(6, "script")]


@pytest.mark.parametrize(("config_id", "priority", "script"), [("high", 170, "high"), ("low", 85, "low")])
def test_conditional_conf_per_node(config_id: str, priority: int, script: str) -> None:
    cfg = _ok("keepalived.conf.conditional_conf", config_id).config
    vi = cfg.vrrp_instances["VI_0"]
    assert (vi.priority, vi.advert_int, vi.version, vi.use_vmac) == (priority, 12.0, 3, True)
    assert [t.name for t in vi.track_script] == ["check_VI_0"]
    assert [(t.interface, t.weight) for t in vi.track_interface] == [("eth3", 0), ("eth2", 20)]
    s = cfg.vrrp_scripts["check_VI_0"]
    assert s.script.argv == [f"/etc/keepalived/scripts/check_{script}_VI_0.sh"]
    assert (s.interval, s.timeout, s.rise, s.fall) == (1.0, 10.0, 3, 3)


def test_routes_or_is_refused_and_gw_warned() -> None:
    """One route grammar (vipd.config.routes): ``or`` (multipath) cannot be installed by vipd, so
    ``-t`` refuses it at its line, as start-up and reload do; ``gw`` is a deprecated alias (warned)."""
    with pytest.raises(ConfigError) as err:
        load_config(KEEPALIVED / "keepalived.conf.vrrp.routes", config_id="default")
    errors = [(d.line, d.keyword, d.message) for d in err.value.errors]
    assert errors == [(30, "virtual_routes", "'or' is not supported in virtual_routes by vipd")]
    warned = [d.line for d in err.value.diagnostics if d.severity == "warning" and "deprecated" in d.message]
    assert warned == [30, 32]


def test_localcheck_scripts_and_security_warning() -> None:
    result = _ok("keepalived.conf.vrrp.localcheck")
    cfg = result.config
    assert set(cfg.vrrp_scripts) == {"chk_sshd", "chk_haproxy", "chk_http_port", "chk_https_port", "chk_smtp_port"}
    sshd = cfg.vrrp_scripts["chk_sshd"]
    assert (sshd.script.argv, sshd.interval, sshd.weight, sshd.fall, sshd.rise) == (
        ["killall", "-0", "sshd"],
        2.0,
        -4,
        2,
        2,
    )
    assert cfg.vrrp_scripts["chk_http_port"].script.needs_shell
    vi1 = cfg.vrrp_instances["VI_1"]
    assert [(t.name, t.weight) for t in vi1.track_script][:2] == [("chk_sshd", None), ("chk_haproxy", 2)]
    assert [(t.interface, t.weight) for t in vi1.track_interface] == [("eth1", 2), ("eth2", -2), ("eth3", 0)]
    assert any("SECURITY VIOLATION" in w.message and w.line == 12 for w in result.warnings)


def test_sync_groups_and_notify() -> None:
    cfg = _ok("keepalived.conf.vrrp.sync").config
    g1 = cfg.vrrp_sync_groups["G1"]
    assert g1.group == ["VI_1", "VI_2", "VI_5", "VI_6", "VI_7", "VI_8", "VI_9"]
    assert g1.notify_master is not None and g1.notify_master.argv == ["/usr/local/bin/vrrp.mast", "arg1", "arg2"]
    assert cfg.vrrp_sync_groups["G2"].group == ["VI_3", "VI_4"]


def test_scripts_sample_notify_arguments_keep_words() -> None:
    vi = _ok("keepalived.conf.vrrp.scripts").config.vrrp_instances["VI_1"]
    assert vi.notify_backup is not None
    assert vi.notify_backup.argv == ["/usr/local/bin/vrrp.sh", "BACKUP", "VI_1"]
    assert vi.notify_backup.command == "/usr/local/bin/vrrp.sh  BACKUP   VI_1"


@pytest.mark.parametrize(
    "name",
    [
        "keepalived.conf.sample",
        "keepalived.conf.track_interface",
        "keepalived.conf.vrrp.static_ipaddress",
        "keepalived.conf.vrrp.scripts",
        "keepalived.conf.vrrp.sync",
        "extra-docker-keepalived.conf",
    ],
)
def test_clean_samples_load(name: str) -> None:
    assert _ok(name).config.vrrp_instances


def test_lvs_blocks_are_warnings_then_errors_with_strict() -> None:
    result = _ok("keepalived.conf.sample")
    lvs = [(w.line, w.keyword) for w in result.warnings if "LVS" in w.message]
    assert lvs == [(26, "virtual_server")]
    assert result.config.vrrp_instances["VI_1"].nopreempt
    assert (26, "virtual_server") in _errors("keepalived.conf.sample", strict=True)


def test_docker_sample_model() -> None:
    vi = _ok("extra-docker-keepalived.conf").config.vrrp_instances["VI_1"]
    assert (vi.state, vi.virtual_router_id, vi.priority, vi.advert_int) == ("BACKUP", 127, 100, 1.0)
    assert str(vi.virtual_ipaddress[0].address) == "10.247.254.2"
