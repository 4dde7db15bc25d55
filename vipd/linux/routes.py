"""keepalived ``virtual_routes`` / ``virtual_rules``: installed with the VIPs, removed with them.

A master instance adds its VIPs, then its routes and rules; on leaving master
it removes its routes and rules, then its VIPs (a route with ``src VIP`` needs
the VIP present). Every operation is idempotent: routes are written with
``replace``, an existing rule or an absent route/rule counts as success, so a
repair or a start-up clean-up can run them again.

Syntax: the ``ip route`` / ``ip rule`` subset below, as keepalived.conf(5)
writes it (``virtual_routes`` / ``static_routes``). Anything else on a line is
refused by :func:`parse_route` / :func:`parse_rule` with the word that was not
understood, so the daemon refuses to start rather than install half a route.

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

import errno
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger("vipd")

TABLES = {"main": 254, "local": 255, "default": 253}
PROTOS = {"boot": 3, "static": 4, "kernel": 2, "redirect": 1}
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
ROUTE_TYPES = ("blackhole", "unreachable", "prohibit", "throw")
RTNH_F_ONLINK = 4


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
            i += 1
        elif w == "src":
            value = _take(words, i, w)
            fam(value)
            args["prefsrc"] = str(ip_address(value))
            i += 1
        elif w in ("via", "gw"):
            value = _take(words, i, w)
            if value in ("inet", "inet6"):  # "via inet6 ADDR"
                i += 1
                value = _take(words, i, w)
            fam(value)
            args["gateway"] = str(ip_address(value))
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
    args["family"] = socket.AF_INET if family == 4 else socket.AF_INET6
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
                net = ip_network(value, strict=False)
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
    args["family"] = socket.AF_INET if family == 4 else socket.AF_INET6
    return RouteSpec("rule", " ".join(words), family, args, devs)


class RouteSet:
    """The routes and rules of one instance, installed and removed as a unit.

    Implements the driver's address companion protocol (``install``/``remove``,
    called after the VIPs are added and before they are removed).

    Args:
        name: instance name, for logs.
        specs: parsed routes and rules, installed in order and removed in reverse.
        ipr: an ``AsyncIPRoute`` request socket (shared with the daemon's netlink).
    """

    def __init__(self, name: str, specs: Sequence[RouteSpec], ipr: Any) -> None:
        self.name = name
        self.specs = tuple(specs)
        self._ipr = ipr

    async def _resolve(self, spec: RouteSpec) -> dict[str, Any]:
        args = dict(spec.args)
        for key, ifname in spec.devs.items():
            if key.endswith("name"):  # rules match on the name itself
                args[key] = ifname
                continue
            found = await self._ipr.link_lookup(ifname=ifname)
            if not found:
                raise LookupError(f"interface {ifname!r} does not exist")
            args[key] = found[0]
        return args

    async def install(self) -> None:
        """Add every route (``replace``) and rule; failures are logged per line and do not stop the rest."""
        for spec in self.specs:
            try:
                args = await self._resolve(spec)
                if spec.kind == "route":
                    await self._ipr.route("replace", **args)
                else:
                    try:
                        await self._ipr.rule("add", **args)
                    except NetlinkError as e:
                        if e.code != errno.EEXIST:
                            raise
                log.info("(%s) installed %s %s", self.name, spec.kind, spec.text)
            except (NetlinkError, LookupError, OSError) as e:
                log.error("(%s) cannot install %s %r: %s", self.name, spec.kind, spec.text, e)

    async def remove(self) -> None:
        """Delete every rule and route, newest first; absent ones count as removed."""
        for spec in reversed(self.specs):
            try:
                args = await self._resolve(spec)
                if spec.kind == "route":
                    args.pop("prefsrc", None)  # match on dst/table/gateway, not on the source hint
                    await self._ipr.route("del", **args)
                else:
                    await self._ipr.rule("del", **args)
                log.info("(%s) removed %s %s", self.name, spec.kind, spec.text)
            except NetlinkError as e:
                if e.code not in (errno.ESRCH, errno.ENOENT, errno.EADDRNOTAVAIL, errno.ENODEV):
                    log.error("(%s) cannot remove %s %r: %s", self.name, spec.kind, spec.text, e)
            except (LookupError, OSError) as e:
                log.debug("(%s) %s %r already gone: %s", self.name, spec.kind, spec.text, e)
