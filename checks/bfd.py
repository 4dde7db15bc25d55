"""``bfd``: keepalived's ``track_bfd`` — OK while the ``bfd_instance`` session is Up (RFC 5880).

Event-driven: the state comes from the daemon's BFD runtime (``CheckContext.bfd``),
reported at once and on every session state change, never polled. Options:
``bfd_instance`` (default: the spec's name). A session that is not Up (Down,
Init, AdminDown) or does not exist is a failure, as in keepalived, where a
tracked BFD instance counts as down until its first Up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from vipd.health.api import BfdEvents, CheckContext, CheckResult, CheckSpec

from ._options import text

_DIAGS = {
    0: "no diagnostic",
    1: "control detection time expired",
    3: "neighbor signaled session down",
    7: "administratively down",
}


class BfdCheck:
    """Reports the session state at once and on every change.

    Raises (constructor):
        ValueError: the context has no BFD runtime.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        if context.bfd is None:
            raise ValueError(f"bfd check {spec.name}: needs the daemon's BFD runtime (no bfd_instance?)")
        self.spec = spec
        self.name = text(spec, "bfd_instance", spec.name)
        self.bfd: BfdEvents = context.bfd

    def _result(self, up: bool | None, diag: int = 0) -> CheckResult:
        if up is None:
            return CheckResult(False, f"bfd_instance {self.name} missing")
        why = "" if up or not diag else f" ({_DIAGS.get(diag, f'diag {diag}')})"
        return CheckResult(up, f"bfd {self.name} {'up' if up else 'down'}{why}")

    async def watch(self, report: Callable[[CheckResult], None]) -> None:
        """Report now, then on every state change of the session, until cancelled."""
        report(self._result(self.bfd.session_up(self.name)))
        if self.bfd.session_up(self.name) is None:
            await asyncio.get_running_loop().create_future()
        unsubscribe = self.bfd.subscribe(self.name, lambda up, diag: report(self._result(up, diag)))
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            unsubscribe()
