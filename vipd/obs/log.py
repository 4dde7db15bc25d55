"""Logging helpers: a per-instance prefix and rate-limited warnings.

Log lines follow keepalived's shape where one exists, e.g. ``(VI_1) Entering
MASTER STATE``, so operators' grep patterns keep working.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateLimiter:
    """Allow ``burst`` messages per key every ``period`` seconds; count the rest.

    ``allow(key, now)`` returns ``(allowed, suppressed_since_last)``.
    """

    period: float = 10.0
    burst: int = 5
    _window: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """Return whether to log now, and how many were suppressed before this one (seconds)."""
        start, used, suppressed = self._window.get(key, (now, 0, 0))
        if now - start >= self.period:
            self._window[key] = (now, 1, 0)
            return True, suppressed
        if used < self.burst:
            self._window[key] = (start, used + 1, suppressed)
            return True, 0
        self._window[key] = (start, used, suppressed + 1)
        return False, 0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (epoch seconds), ``level``, ``instance`` (from the
    ``(NAME)`` prefix, or null), ``msg`` (without the prefix), ``pid``; plus ``exc`` if any."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one JSON line."""
        msg = record.getMessage()
        instance = None
        if msg.startswith("(") and ") " in msg:
            instance, msg = msg[1:].split(") ", 1)
        out: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "instance": instance,
            "msg": msg,
            "pid": record.process,
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Log to stderr, one line per event (the daemon runs in the foreground).

    Args:
        level: logging level.
        fmt: ``"text"`` (keepalived-like lines) or ``"json"`` (:class:`JsonFormatter`).
    """
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s.%(msecs)03d vipd[%(process)d]: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
