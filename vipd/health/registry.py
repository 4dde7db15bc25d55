"""Finding check plugins: the entry-point group ``vipd.checks``."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from vipd.health.api import ENTRY_POINT_GROUP, CheckFactory


class UnknownCheckType(LookupError):
    """No plugin of that type is installed."""


@cache
def available() -> dict[str, str]:
    """Installed check types: ``{type: "module:attr"}`` from the ``vipd.checks`` entry points."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(check_type: str) -> CheckFactory:
    """Import and return the factory registered for ``check_type``.

    Raises:
        UnknownCheckType: nothing is registered under that name (the message
            lists what is).
        ImportError: the plugin is registered but does not import.
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=check_type):
        factory: CheckFactory = ep.load()
        return factory
    known = ", ".join(sorted(available())) or "none"
    raise UnknownCheckType(f"no check plugin of type {check_type!r} (entry points {ENTRY_POINT_GROUP}: {known})")
