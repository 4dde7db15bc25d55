"""VRRP timer formulas for the lab (RFC 3768 section 6.1 for v2, RFC 5798/9568 section 6.1 for v3).

Everything is float seconds. The formulas are vipd's own, :func:`vipd.fsm.skew_time`
and :func:`vipd.fsm.master_down_interval`, with the same argument order
``(version, priority, interval)``: one definition for the daemon, the tests and the
benchmarks. See shared/reference/failover-timing.md sections 2 and 6.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipd.fsm.machine import master_down_interval, skew_time

__all__ = ["Window", "crash_window", "master_down_interval", "skew_time"]


@dataclass(frozen=True)
class Window:
    """A closed interval of seconds, ``low..high``."""

    low: float
    high: float

    def contains(self, value: float, margin_low: float = 0.0, margin_high: float = 0.0) -> bool:
        return self.low - margin_low <= value <= self.high + margin_high

    def __str__(self) -> str:
        return f"{self.low * 1000:.1f}..{self.high * 1000:.1f} ms"


def crash_window(version: int, backup_priority: int, interval: float) -> Window:
    """Time from a master's crash to the backup's takeover, excluding delays, in seconds.

    The crash falls somewhere in the interval after the master's last advert, so
    detection takes between 2*AI + Skew_Time and 3*AI + Skew_Time
    (failover-timing.md section 6). Arguments in :func:`vipd.fsm.skew_time`'s order.
    """
    skew = skew_time(version, backup_priority, interval)
    return Window(2 * interval + skew, 3 * interval + skew)
