"""keepalived ``virtual_routes`` / ``virtual_rules``: installed with the VIPs, removed with them.

A master instance adds its VIPs, then its routes and rules; on leaving master
it removes its routes and rules, then its VIPs (a route with ``src VIP`` needs
the VIP present). Every operation is idempotent: routes are written with
``replace``, an existing rule or an absent route/rule counts as success, so a
repair or a start-up clean-up can run them again. The lines were parsed by the
one route grammar, :mod:`vipd.config.routes`, when the configuration was planned.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from vipd.config.routes import RouteSpec, RouteSyntaxError, parse_route, parse_rule

__all__ = ["RouteSet", "RouteSpec", "RouteSyntaxError", "parse_route", "parse_rule"]

log = logging.getLogger("vipd")


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
