"""The public check API: what a plugin implements and what it is given.

A check is an object with an async ``run()`` returning a :class:`CheckResult`;
the runtime calls it every ``interval`` seconds, cancels it after ``timeout``
seconds (a timeout is a failure), debounces the results with rise/fall and
turns them into priority or FAULT (:mod:`vipd.health.rules`).

A check that learns its state from events (a link going down) implements
:class:`WatchingCheck` instead: ``watch(report)`` runs for the daemon's life and
calls ``report(result)`` whenever it knows something new.

Plugins are factories registered under the entry-point group ``vipd.checks``;
the entry point's name is the check ``type``::

    [project.entry-points."vipd.checks"]
    redis = "mypkg.checks:RedisCheck"      # called as RedisCheck(spec, context)

and used from keepalived.conf with ``vrrp_check NAME { type redis; option host 10.0.0.5 }``
and ``track_script { NAME }``.

This module is pure (no asyncio import): the protocols only describe shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

ENTRY_POINT_GROUP = "vipd.checks"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one run of a check.

    Attributes:
        ok: the check passed.
        output: a short human-readable detail (first line of a script's output,
            "connection refused", "HTTP 503"); shown in logs and status.
        duration: seconds the run took (filled by the runtime if left 0).
        value: an integer reading for checks that report one (``track_file``),
            else None.
    """

    ok: bool
    output: str = ""
    duration: float = 0.0
    value: int | None = None


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """What a check factory is built from.

    Attributes:
        name: the configured name (``vrrp_script NAME``, ``vrrp_check NAME``,
            an interface name...).
        type: the plugin name (entry-point name): ``script``, ``tcp``, ``http``,
            ``file``, ``process``, ``interface`` or a third-party one.
        interval: seconds between runs (periodic checks).
        timeout: seconds a run may take; the runtime cancels it then and counts
            a failure.
        options: type-specific settings, keyword -> value (strings, numbers,
            lists; for ``vrrp_check`` the ``option KEY VALUE`` lines as strings).
    """

    name: str
    type: str
    interval: float = 1.0
    timeout: float = 1.0
    options: Mapping[str, object] = field(default_factory=dict)


LinkCallback = Callable[[bool], None]
"""Called with the new link state (True = up and running) of a watched interface."""


class LinkEvents(Protocol):
    """Link state from netlink events, shared by every check (one socket per daemon)."""

    def link_up(self, ifname: str) -> bool | None:
        """Current state of ``ifname``: True up and running, False down, None unknown/absent."""
        ...

    def subscribe(self, ifname: str, callback: LinkCallback) -> Callable[[], None]:
        """Call ``callback(up)`` on every change of ``ifname``; returns the unsubscribe function."""
        ...


BfdCallback = Callable[[bool, int], None]
"""Called with (up, diag) on every state change of a watched BFD session (RFC 5880 diag codes)."""


class BfdEvents(Protocol):
    """BFD session state from the daemon's BFD runtime (``vipd.runtime.bfd.BfdRuntime``)."""

    def session_up(self, name: str) -> bool | None:
        """Current state of ``bfd_instance`` ``name``: True Up, False not Up, None no such session."""
        ...

    def subscribe(self, name: str, callback: BfdCallback) -> Callable[[], None]:
        """Call ``callback(up, diag)`` on every state change; returns the unsubscribe function."""
        ...


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Services the runtime lends to check factories.

    Attributes:
        links: link-state events (for ``interface``-style checks), or None when
            the daemon has none (unit tests).
        script_user, script_group: default user/group for commands
            (keepalived ``script_user``), or None = the daemon's user.
        bfd: BFD session events (for ``bfd`` checks, keepalived ``track_bfd``), or None.
        supplementary_groups: commands run with their user's supplementary groups
            (keepalived ``set_supplementary_groups``).
    """

    links: LinkEvents | None = None
    script_user: str | None = None
    script_group: str | None = None
    bfd: BfdEvents | None = None
    supplementary_groups: bool = False


@runtime_checkable
class Check(Protocol):
    """A periodic check: ``await check.run()`` every ``spec.interval`` seconds."""

    async def run(self) -> CheckResult:
        """Run once and return the result. May be cancelled at the timeout; must not block the loop."""
        ...


@runtime_checkable
class WatchingCheck(Protocol):
    """An event-driven check: ``watch`` runs until cancelled and reports changes."""

    async def watch(self, report: Callable[[CheckResult], None]) -> None:
        """Report the current state at once, then every change; return only when cancelled."""
        ...


CheckFactory = Callable[[CheckSpec, CheckContext], "Check | WatchingCheck"]
"""An entry point of group ``vipd.checks``: builds a check; raises ValueError for bad options."""
