"""The one grammar of keepalived ``virtual_routes`` / ``virtual_rules`` lines (pure).

Used twice with the same verdict: by the config grammar (:mod:`vipd.config.grammar`,
so ``vipd -t``, start-up and reload refuse a word vipd cannot install at its
FILE:LINE) and by the planner (:mod:`vipd.plan`), which turns each line into a
:class:`RouteSpec` for :mod:`vipd.linux.routes`. No I/O here.

Syntax: the ``ip route`` / ``ip rule`` subset below, as keepalived.conf(5)
writes it (``virtual_routes`` / ``static_routes``). Anything else on a line is
refused by :func:`parse_route` / :func:`parse_rule` with the word that was not
understood, so the configuration is refused rather than half a route installed.

Routes::

    [blackhole|unreachable|prohibit|throw] [to] PREFIX|default|any|all
        [src ADDR] [via|gw ADDR] [dev IF] [scope global|site|link|host|N]
        [table main|local|default|N] [metric|priority|preference N]
        [proto boot|static|kernel|N] [onlink]

Rules::

    [from PREFIX|all] [to PREFIX|all] [iif IF] [oif IF] [tos N]
    [fwmark N[/MASK]] [table|lookup main|local|default|N]
    [preference|priority|pref|order N]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

TABLES = {"main": 254, "local": 255, "default": 253}
PROTOS = {"boot": 3, "static": 4, "kernel": 2, "redirect": 1}
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
ROUTE_TYPES = ("blackhole", "unreachable", "prohibit", "throw")
RTNH_F_ONLINK = 4
AF_INET, AF_INET6 = 2, 10
"""Linux address family numbers (kept here so the config package imports no ``socket``)."""


class RouteSyntaxError(ValueError):
    """A ``virtual_routes`` / ``virtual_rules`` line vipd cannot install exactly as written."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route or rule, ready for pyroute2 once interface names are resolved.

    Attributes:
        kind: ``"route"`` or ``"rule"``.
        text: the line as written (for logs).
        family: 4 or 6.
        args: pyroute2 keyword arguments without interface indexes.
        devs: keyword -> interface name to resolve at install time (``oif``, ``iifname``...).
    """

    kind: str
    text: str
    family: int
    args: dict[str, Any] = field(hash=False)
    devs: dict[str, str] = field(default_factory=dict, hash=False)


def _number(word: str, names: dict[str, int], what: str) -> int:
    if word in names:
        return names[word]
    if word.isdigit():
        return int(word)
    raise RouteSyntaxError(f"{what} {word!r} is not a number or one of {', '.join(sorted(names))}")


def _take(words: Sequence[str], i: int, what: str) -> str:
    if i + 1 >= len(words):
        raise RouteSyntaxError(f"{what!r} needs a value")
    return words[i + 1]


def _family_of(text: str) -> int:
    return ip_network(text, strict=False).version


def _address(value: str, after: str) -> str:
    """``value`` as a normalised address; RouteSyntaxError naming it and the word before it."""
    try:
        return str(ip_address(value))
    except ValueError:
        raise RouteSyntaxError(f"invalid address {value!r} after {after!r}") from None


def _network(value: str, after: str) -> Any:
    try:
        return ip_network(value, strict=False)
    except ValueError:
        raise RouteSyntaxError(f"invalid address {value!r} after {after!r}") from None


def parse_route(words: Sequence[str], default_family: int) -> RouteSpec:
    """Turn one ``virtual_routes`` line into a :class:`RouteSpec` (see the module docstring).

    Args:
        words: the line's words as the config keeps them.
        default_family: the instance's family (4 or 6), for ``default`` without addresses.
    Raises:
        RouteSyntaxError: an unknown word, a missing value, mixed families, no destination.
    """
    args: dict[str, Any] = {}
    devs: dict[str, str] = {}
    family: int | None = None
    dst: str | None = None

    def fam(text: str) -> None:
        nonlocal family
        f = _family_of(text)
        if family is not None and f != family:
            raise RouteSyntaxError(f"{text} is IPv{f}, the rest of the line is IPv{family}")
        family = f

    i = 0
    while i < len(words):
        w = words[i]
        if w in ROUTE_TYPES and i == 0:
            args["type"] = w
        elif w == "to":
            dst = _take(words, i, w)
            if dst not in ("default", "any", "all"):
                _network(dst, w)
            i += 1
        elif w == "src":
            value = _take(words, i, w)
            args["prefsrc"] = _address(value, w)
            fam(value)
            i += 1
        elif w in ("via", "gw"):
            value = _take(words, i, w)
            if value in ("inet", "inet6"):  # "via inet6 ADDR"
                i += 1
                value = _take(words, i, w)
            args["gateway"] = _address(value, w)
            fam(value)
            i += 1
        elif w == "dev":
            devs["oif"] = _take(words, i, w)
            i += 1
        elif w == "scope":
            args["scope"] = _number(_take(words, i, w), SCOPES, "scope")
            i += 1
        elif w == "table":
            args["table"] = _number(_take(words, i, w), TABLES, "table")
            i += 1
        elif w in ("metric", "priority", "preference"):
            args["priority"] = _number(_take(words, i, w), {}, w)
            i += 1
        elif w == "proto":
            args["proto"] = _number(_take(words, i, w), PROTOS, "proto")
            i += 1
        elif w == "onlink":
            args["flags"] = RTNH_F_ONLINK
        elif dst is None and (w in ("default", "any", "all") or _looks_like_prefix(w)):
            dst = w
        else:
            raise RouteSyntaxError(f"{w!r} is not supported in virtual_routes by vipd")
        i += 1
    if dst is None:
        raise RouteSyntaxError("no destination prefix")
    if dst in ("default", "any", "all"):
        family = family or default_family
        args["dst"] = "0.0.0.0/0" if family == 4 else "::/0"
    else:
        fam(dst)
        args["dst"] = str(ip_network(dst, strict=False))
    assert family is not None
    args["family"] = AF_INET if family == 4 else AF_INET6
    return RouteSpec("route", " ".join(words), family, args, devs)


def _looks_like_prefix(word: str) -> bool:
    try:
        ip_network(word, strict=False)
    except ValueError:
        return False
    return True


def parse_rule(words: Sequence[str], default_family: int) -> RouteSpec:
    """Turn one ``virtual_rules`` line into a :class:`RouteSpec` (see the module docstring).

    Raises:
        RouteSyntaxError: an unknown word, a missing value, mixed families, no ``table``.
    """
    args: dict[str, Any] = {}
    devs: dict[str, str] = {}
    family: int | None = None
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("from", "to"):
            value = _take(words, i, w)
            if value != "all":
                net = _network(value, w)
                if family is not None and net.version != family:
                    raise RouteSyntaxError(f"{value} is IPv{net.version}, the rest of the line is IPv{family}")
                family = net.version
                key = "src" if w == "from" else "dst"
                args[key] = str(net.network_address)
                args[f"{key}_len"] = net.prefixlen
            i += 1
        elif w in ("table", "lookup"):
            args["table"] = _number(_take(words, i, w), TABLES, "table")
            i += 1
        elif w in ("preference", "priority", "pref", "order"):
            args["priority"] = _number(_take(words, i, w), {}, w)
            i += 1
        elif w in ("iif", "oif"):
            devs[f"{w}name"] = _take(words, i, w)
            i += 1
        elif w == "tos":
            args["tos"] = _number(_take(words, i, w), {}, w)
            i += 1
        elif w == "fwmark":
            mark, _, mask = _take(words, i, w).partition("/")
            args["fwmark"] = int(mark, 0)
            if mask:
                args["fwmask"] = int(mask, 0)
            i += 1
        else:
            raise RouteSyntaxError(f"{w!r} is not supported in virtual_rules by vipd")
        i += 1
    if "table" not in args:
        raise RouteSyntaxError("a rule needs 'table N' (vipd installs lookup rules only)")
    family = family or default_family
    args["family"] = AF_INET if family == 4 else AF_INET6
    return RouteSpec("rule", " ".join(words), family, args, devs)
