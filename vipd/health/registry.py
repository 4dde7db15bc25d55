"""Finding check plugins: the entry-point group ``vipd.checks``.

The planner resolves every check type a configuration uses to its entry point's
``module:attr`` (:func:`reference`); the plan carries those
(``TrackerPlan.factories``) so the running daemon imports each plugin directly
(:func:`load` with a reference) and never scans the installed distributions'
metadata (``importlib.metadata``: ~30 ms and ~3 MiB).
"""

from __future__ import annotations

import importlib
from functools import cache

from vipd.health.api import ENTRY_POINT_GROUP, CheckFactory


class UnknownCheckType(LookupError):
    """No plugin of that type is installed."""


@cache
def available() -> dict[str, str]:
    """Installed check types: ``{type: "module:attr"}`` from the ``vipd.checks`` entry points."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def reference(check_type: str) -> str:
    """The ``module:attr`` registered for ``check_type`` (entry point ``vipd.checks``).

    Raises:
        UnknownCheckType: nothing is registered under that name (the message lists what is).
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=check_type):
        return str(ep.value)
    known = ", ".join(sorted(available())) or "none"
    raise UnknownCheckType(f"no check plugin of type {check_type!r} (entry points {ENTRY_POINT_GROUP}: {known})")


def load(check_type: str, ref: str | None = None) -> CheckFactory:
    """Import and return the factory registered for ``check_type``.

    Args:
        check_type: the entry-point name (``script``, ``tcp``...).
        ref: its ``module:attr`` when already resolved (:func:`reference`, kept in the
            plan); None looks the entry point up.
    Raises:
        UnknownCheckType: nothing is registered under that name (the message
            lists what is).
        ImportError: the plugin is registered but does not import.
    """
    target = ref if ref is not None else reference(check_type)
    module, _, attr = target.partition(":")
    obj: object = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise ImportError(f"check plugin {check_type!r}: {target}: {e}") from e
    factory: CheckFactory = obj  # type: ignore[assignment]
    return factory
