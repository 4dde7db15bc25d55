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
