"""The vrrp_check block (vipd's addition to keepalived's grammar) and track_script naming it."""

from __future__ import annotations

import pytest

from vipd.config import ConfigError, load_config_string

INSTANCE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress { 192.0.2.100/24 }
    track_script { %s }
}
"""


def load(text: str):  # type: ignore[no-untyped-def]
    return load_config_string(text)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(text)
    return [f"{d.line}: {d.keyword}: {d.message}" for d in e.value.diagnostics if d.severity == "error"]


def test_vrrp_check_http_and_tcp_are_read() -> None:
    cfg = load(
        """
vrrp_check web {
    type http
    url https://127.0.0.1:8443/health
    status_code 200 204
    body_match "ready"
    tls_verify off
    interval 0.5
    rise 2
    fall 3
    weight -20 reverse
}
vrrp_check db {
    type tcp
    connect_ip 192.0.2.7
    connect_port 5432
}
"""
        + INSTANCE % "web\n db weight 10"
    ).config
    web, db = cfg.vrrp_checks["web"], cfg.vrrp_checks["db"]
    assert (web.type, web.url, web.status_code, web.body_match, web.tls_verify) == (
        "http",
        "https://127.0.0.1:8443/health",
        ["200", "204"],
        "ready",
        False,
    )
    assert (web.interval, web.timeout, web.rise, web.fall, web.weight, web.weight_reverse) == (
        0.5,
        0.5,
        2,
        3,
        -20,
        True,
    )
    assert (db.connect_ip, db.connect_port, db.timeout) == ("192.0.2.7", 5432, 1.0)
    assert [(t.name, t.weight) for t in cfg.vrrp_instances["VI_1"].track_script] == [("web", None), ("db", 10)]


def test_plugin_options_are_strings() -> None:
    cfg = load("vrrp_check r {\n type redis\n option host 10.0.0.5\n option keys a b\n}\n" + INSTANCE % "r").config
    assert cfg.vrrp_checks["r"].options == {"host": "10.0.0.5", "keys": "a b"}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("type tcp", "type tcp needs connect_port"),
        ("type http", "type http needs url"),
        ("type http\n url ftp://x/", "url"),
        ('type http\n url http://x/\n body_match "("', "body_match is not a valid regular expression"),
        ("type tcp\n connect_port 0", "connect_port"),
        ("type tcp\n connect_port 80\n weight 300", "weight"),
    ],
)
def test_vrrp_check_errors_name_the_line(block: str, message: str) -> None:
    errs = errors(f"vrrp_check c {{\n {block}\n}}\n" + INSTANCE % "c")
    assert any(message in e for e in errs), errs


def test_track_script_unknown_name_mentions_both_kinds() -> None:
    errs = errors(INSTANCE % "nope")
    assert any("vrrp_script/vrrp_check 'nope' is not defined" in e for e in errs), errs


def test_same_name_for_script_and_check_is_refused() -> None:
    text = 'vrrp_script x {\n script "/bin/true"\n}\nvrrp_check x {\n type tcp\n connect_port 80\n}\n' + INSTANCE % "x"
    assert any("both a vrrp_script and a vrrp_check" in e for e in errors(text))
