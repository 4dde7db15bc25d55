"""Event-loop lag probe: how late a periodic ``call_at`` runs (keepalived's "timer expired N s ago").

A Python daemon's worst enemy is a stalled loop: adverts leave late and backups
take over. The probe re-arms itself every ``interval`` seconds and records the
lateness in a histogram exported as ``vipd_event_loop_lag_seconds``. A hook
lets the daemon piggy-back periodic work (the systemd watchdog ping) on the same
timer, so a stalled loop also stops the pings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vipd.obs.stats import Histogram

log = logging.getLogger("vipd")


class LoopLagMonitor:
    """Measure event-loop lateness every ``interval`` seconds.

    Args:
        loop: the daemon's loop.
        interval: seconds between probes (default 0.25).
        warn_after: lateness in seconds above which a warning is logged (default 0.1).
        on_tick: optional callable run on every probe (e.g. the watchdog ping).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float = 0.25,
        warn_after: float = 0.1,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.warn_after = warn_after
        self.on_tick = on_tick
        self.histogram = Histogram()
        self.max_lag = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Arm the first probe."""
        self._arm(self.loop.time() + self.interval)

    def stop(self) -> None:
        """Cancel the pending probe."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, when: float) -> None:
        self._handle = self.loop.call_at(when, self._tick, when)

    def _tick(self, due: float) -> None:
        now = self.loop.time()
        lag = max(0.0, now - due)
        self.histogram.observe(lag)
        self.max_lag = max(self.max_lag, lag)
        if lag > self.warn_after:
            log.warning("event loop ran %.3fs late (adverts may have been late too)", lag)
        if self.on_tick is not None:
            try:
                self.on_tick()
            except Exception:
                log.exception("periodic hook failed")
        self._arm(now + self.interval)
