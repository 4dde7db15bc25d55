"""virtual_routes / virtual_rules lines -> pyroute2 arguments (ip-route(8) / ip-rule(8) subset)."""

from __future__ import annotations

import socket

import pytest

from vipd.linux.routes import RouteSyntaxError, parse_route, parse_rule


def _w(line: str) -> list[str]:
    return line.split(" ")


def test_route_via_dev_table_metric() -> None:
    spec = parse_route(_w("198.51.100.0/25 via 192.0.2.254 dev eth0 table 100 metric 5"), 4)
    assert spec.kind == "route" and spec.family == 4
    assert spec.args == {
        "dst": "198.51.100.0/25",
        "gateway": "192.0.2.254",
        "table": 100,
        "priority": 5,
        "family": socket.AF_INET,
    }
    assert spec.devs == {"oif": "eth0"}


def test_route_src_first_and_to_keyword_and_names() -> None:
    spec = parse_route(_w("src 192.0.2.100 to 198.51.100.0/24 dev eth0 scope link proto static table main"), 4)
    assert spec.args["prefsrc"] == "192.0.2.100"
    assert (spec.args["scope"], spec.args["proto"], spec.args["table"]) == (253, 4, 254)


def test_default_route_takes_the_instance_family() -> None:
    assert parse_route(["default", "via", "2001:db8::1"], 4).args["dst"] == "::/0"
    assert parse_route(["default", "dev", "eth0"], 6).args["dst"] == "::/0"
    assert parse_route(["default", "dev", "eth0"], 4).args["dst"] == "0.0.0.0/0"


def test_blackhole_route() -> None:
    spec = parse_route(["blackhole", "198.51.100.64/26"], 4)
    assert spec.args["type"] == "blackhole" and spec.args["dst"] == "198.51.100.64/26"


@pytest.mark.parametrize(
    "line",
    [
        "198.51.100.0/24 nexthop via 192.0.2.1",
        "198.51.100.0/24 via",
        "via 192.0.2.1",
        "198.51.100.0/24 via 2001:db8::1",
        "198.51.100.0/24 table blue",
    ],
)
def test_route_lines_vipd_cannot_install_exactly_are_refused(line: str) -> None:
    with pytest.raises(RouteSyntaxError):
        parse_route(_w(line), 4)


def test_rule_from_table_priority_and_interfaces() -> None:
    spec = parse_rule(_w("from 192.0.2.100/32 to 198.51.100.0/24 iif eth0 lookup 100 pref 10 fwmark 0x10/0xff"), 4)
    assert spec.args == {
        "src": "192.0.2.100",
        "src_len": 32,
        "dst": "198.51.100.0",
        "dst_len": 24,
        "table": 100,
        "priority": 10,
        "fwmark": 16,
        "fwmask": 255,
        "family": socket.AF_INET,
    }
    assert spec.devs == {"iifname": "eth0"}


def test_rule_needs_a_table_and_known_words() -> None:
    with pytest.raises(RouteSyntaxError):
        parse_rule(["from", "192.0.2.100"], 4)
    with pytest.raises(RouteSyntaxError):
        parse_rule(["from", "192.0.2.100", "table", "100", "goto", "5"], 4)
