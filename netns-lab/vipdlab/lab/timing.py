"""VRRP timer formulas (RFC 3768 section 6.1 for v2, RFC 5798/9568 section 6.1 for v3).

Everything is float seconds. See shared/reference/failover-timing.md sections 2 and 6.
"""

from __future__ import annotations

from dataclasses import dataclass


def skew_time(priority: int, interval: float, version: int = 3) -> float:
    """Skew_Time in seconds.

    v2: (256 - Priority) / 256, independent of the interval.
    v3: ((256 - Priority) * Master_Adver_Interval) / 256.
    """
    if version == 2:
        return (256 - priority) / 256.0
    return (256 - priority) * interval / 256.0


def master_down_interval(priority: int, interval: float, version: int = 3) -> float:
    """Master_Down_Interval = 3 * (Master_)Adver_Interval + Skew_Time, in seconds."""
    return 3 * interval + skew_time(priority, interval, version)


@dataclass(frozen=True)
class Window:
    low: float
    high: float

    def contains(self, value: float, margin_low: float = 0.0, margin_high: float = 0.0) -> bool:
        return self.low - margin_low <= value <= self.high + margin_high

    def __str__(self) -> str:
        return f"{self.low * 1000:.1f}..{self.high * 1000:.1f} ms"


def crash_window(backup_priority: int, interval: float, version: int = 3) -> Window:
    """Time from a master's crash to the backup's takeover, excluding delays.

    The crash falls somewhere in the interval after the master's last advert, so
    detection takes between 2*AI + Skew_Time and 3*AI + Skew_Time
    (failover-timing.md section 6).
    """
    skew = skew_time(backup_priority, interval, version)
    return Window(2 * interval + skew, 3 * interval + skew)
