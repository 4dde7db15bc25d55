"""vipd's own ``global_defs`` keywords (keepalived has none of them)."""

from __future__ import annotations

import pytest
from conftest import BASIC, Failer, Loader, instance, where

from vipd.config.keywords import parse_listen_address


@pytest.mark.parametrize("text", ["127.0.0.1:9650", "0.0.0.0:9650", "[::1]:9650", "9650", "metrics.local:80"])
def test_vipd_metrics_listen_accepts_host_port_shapes(load: Loader, text: str) -> None:
    """The same shapes as ``vipd --metrics-listen`` (a bare PORT binds 127.0.0.1)."""
    result = load(instance(BASIC, head=f"global_defs {{\n    vipd_metrics_listen {text}\n}}\n"))
    assert result.config.global_defs.vipd_metrics_listen == text
    assert not [w for w in result.warnings if w.keyword == "vipd_metrics_listen"]


@pytest.mark.parametrize("text", ["127.0.0.1:", "127.0.0.1:99999", "[::1]9650", "host:port"])
def test_vipd_metrics_listen_malformed_is_an_error_with_its_line(fail: Failer, text: str) -> None:
    assert where(fail(instance(BASIC, head=f"global_defs {{\n    vipd_metrics_listen {text}\n}}\n"))) == [
        (2, "vipd_metrics_listen")
    ]


def test_vipd_metrics_listen_is_off_by_default(load: Loader) -> None:
    assert load(instance(BASIC)).config.global_defs.vipd_metrics_listen is None


def test_parse_listen_address_agrees_with_the_metrics_server() -> None:
    """The config check and ``vipd.obs.metrics.parse_listen`` accept and refuse the same texts."""
    from vipd.obs.metrics import parse_listen

    for text in ("127.0.0.1:9650", "[::1]:1", "9650", "x:65536", "[::1]", ":80"):
        try:
            parse_listen(text)
            ok = True
        except ValueError:
            ok = False
        try:
            parse_listen_address(text)
            mine = True
        except ValueError:
            mine = False
        assert ok == mine, text


def _peers(lines: str) -> str:
    return instance(
        BASIC + f"    unicast_src_ip 192.0.2.1\n    unicast_peer {{\n{lines}    }}\n"
    )  # unicast_peer opens on line 8, its first peer is line 9


def test_unicast_peer_min_max_ttl_are_kept_per_peer(load: Loader) -> None:
    """keepalived ``unicast_peer { ADDR min_ttl N max_ttl M }``: the bounds go to ``unicast_peer_ttl``."""
    result = load(_peers("        192.0.2.2 min_ttl 250\n        192.0.2.3\n        192.0.2.4 max_ttl 64 min_ttl 60\n"))
    vi = result.config.vrrp_instances["VI_1"]
    assert [str(p) for p in vi.unicast_peer] == ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    assert vi.unicast_peer_ttl == {"192.0.2.2": (250, 255), "192.0.2.4": (60, 64)}
    assert not result.warnings


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("192.0.2.2 min_ttl 256", "min_ttl must be 0..255"),
        ("192.0.2.2 max_ttl x", "max_ttl must be 0..255"),
        ("192.0.2.2 min_ttl 100 max_ttl 50", "min_ttl 100 is above max_ttl 50"),
        ("192.0.2.2 ttl 5", "unexpected 'ttl'"),
    ],
)
def test_unicast_peer_bad_ttl_bounds_are_errors(fail: Failer, line: str, message: str) -> None:
    errors = fail(_peers(f"        {line}\n"))
    assert where(errors) == [(9, "unicast_peer")] and message in errors[0].message


def test_check_unicast_src_is_accepted_without_a_warning(load: Loader) -> None:
    """vipd always filters unicast adverts by peer: the keyword changes nothing and is not 'pending'."""
    result = load(
        _peers("        192.0.2.2\n").replace("    interface eth0\n", "    interface eth0\n    check_unicast_src\n")
    )
    assert not result.warnings
