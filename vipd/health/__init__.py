"""Health checks: the public API for check plugins and keepalived's tracking rules.

* :mod:`vipd.health.api`: :class:`CheckResult`, :class:`Check` (async ``run()``),
  :class:`WatchingCheck` (event-driven), :class:`CheckSpec`, :class:`CheckContext`.
* :mod:`vipd.health.rules`: pure rise/fall debounce and priority computation.
* :mod:`vipd.health.registry`: plugins from the ``vipd.checks`` entry points.
* :mod:`vipd.health.process`: run a command in its own process group with a
  timeout (used by the ``script`` check; also useful to plugins).

The built-in checks live in the top-level ``checks`` package and are loaded
through the same entry points as a third-party plugin.
"""

from vipd.health.api import (
    ENTRY_POINT_GROUP,
    Check,
    CheckContext,
    CheckFactory,
    CheckResult,
    CheckSpec,
    LinkEvents,
    WatchingCheck,
)
from vipd.health.rules import Debounce, Evaluation, Health, TrackerState, Weight, evaluate

__all__ = [
    "ENTRY_POINT_GROUP",
    "Check",
    "CheckContext",
    "CheckFactory",
    "CheckResult",
    "CheckSpec",
    "Debounce",
    "Evaluation",
    "Health",
    "LinkEvents",
    "TrackerState",
    "WatchingCheck",
    "Weight",
    "evaluate",
]
