"""``interface``: keepalived's ``track_interface`` — OK while the link is up and running.

Event-driven: the state comes from the daemon's netlink link monitor
(``CheckContext.links``), never from polling. Options: ``interface`` (default:
the spec's name). "Up" means IFF_UP and IFF_RUNNING (keepalived's
``IF_FLAGS_UP``): an administratively downed link and a lost carrier both count
as down. A missing interface is down.

keepalived's ``track_src_ip``: the interface name ``address ADDR`` (the link
monitor's pseudo-link for an address) is "up" while some interface holds ADDR.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from vipd.health.api import CheckContext, CheckResult, CheckSpec, LinkEvents

from ._options import text


class InterfaceCheck:
    """Reports the link state at once and on every change.

    Raises (constructor):
        ValueError: the context has no link monitor.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        if context.links is None:
            raise ValueError(f"interface check {spec.name}: needs the daemon's link monitor")
        self.spec = spec
        self.ifname = text(spec, "interface", spec.name)
        self.links: LinkEvents = context.links

    def _result(self, up: bool | None) -> CheckResult:
        if self.ifname.startswith("address "):
            return CheckResult(bool(up), f"{self.ifname[8:]} {'present' if up else 'absent'}", 0.0)
        state = "up" if up else "missing" if up is None else "down"
        return CheckResult(bool(up), f"{self.ifname} {state}", 0.0)

    async def watch(self, report: Callable[[CheckResult], None]) -> None:
        """Report now, then on every link event for the interface, until cancelled."""
        report(self._result(self.links.link_up(self.ifname)))
        unsubscribe = self.links.subscribe(self.ifname, lambda up: report(self._result(up)))
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            unsubscribe()
