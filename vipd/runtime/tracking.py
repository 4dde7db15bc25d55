"""The tracker: runs every check, debounces it, and moves priority / FAULT of the instances.

One asyncio task per check (a ``vrrp_script`` tracked by three instances runs
once), each on its own interval and timeout; an interface check is driven by
netlink link events instead (:mod:`vipd.runtime.links`). After each result the
instances bound to that check are re-evaluated with keepalived's rules
(:func:`vipd.health.rules.evaluate`) and get ``PriorityChanged`` /
``FaultChanged`` fed into their drivers.

Isolation: a check never runs on the advert path. Periodic checks are spread
over their interval (a phase per check) so a hundred of them do not wake up
together; a run that outlives ``timeout`` is cancelled and counts as a failure;
a slow run makes the check skip its missed slots instead of queueing them.

Sync groups (keepalived ``vrrp_sync_group``): one member's FAULT takes every
member to FAULT; the group's own trackers apply to every member; member
trackers with weights are turned into FAULT trackers or ignored as keepalived
does unless ``sync_group_tracking_weight`` is set.

Size: over 400 lines because running, debouncing and applying checks share the per-instance state; what to run
is planned in vipd.plan.trackers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from vipd.fsm import FaultChanged, PriorityChanged
from vipd.health.api import BfdEvents, Check, CheckContext, CheckResult, CheckSpec, LinkEvents, WatchingCheck
from vipd.health.process import KILL_GRACE, ensure_child_watcher
from vipd.health.registry import load
from vipd.health.rules import (
    FILE_FAULT,
    Debounce,
    Evaluation,
    Health,
    TrackerState,
    contribution,
    evaluate,
    file_status,
    is_fault,
)
from vipd.plan.model import Plan
from vipd.plan.trackers import Binding

if TYPE_CHECKING:
    from vipd.config.model import VrrpInstance

log = logging.getLogger("vipd")

HARD_GRACE = KILL_GRACE + 0.5
"""Seconds past ``timeout`` after which the tracker cancels a run that did not honour its timeout."""


class Driver(Protocol):
    """What the tracker needs from ``vipd.runtime.instance.InstanceDriver``."""

    name: str

    def feed(self, event: Any) -> None: ...


@dataclass(slots=True)
class Runner:
    """One running check and its debounced state.

    Attributes:
        key: ``(kind, name)``, e.g. ``("script", "chk_web")``, ``("interface", "eth1")``.
        spec: what the check was built from.
        check: the plugin object.
        debounce: rise/fall state.
        last: the latest raw result, or None before the first.
        runs, failures: counters.
    """

    key: tuple[str, str]
    spec: CheckSpec
    check: Check | WatchingCheck
    debounce: Debounce
    last: CheckResult | None = None
    runs: int = 0
    failures: int = 0
    task: asyncio.Task[None] | None = None
    bound: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        """``"script chk_web"``: kind and name, for logs and fault reasons."""
        return f"{self.key[0]} {self.key[1]}"

    @property
    def value(self) -> int | None:
        """The latest integer reading (``track_file``), else None."""
        return self.last.value if self.last is not None else None


@dataclass(slots=True)
class _Applied:
    priority: int
    own_faults: tuple[str, ...] = ()
    fault: bool | None = None
    evaluation: Evaluation | None = None


class TrackerError(Exception):
    """A check could not be built (unknown plugin type, bad options)."""


class Tracker:
    """Runs the checks of a config and feeds their verdicts to the instance drivers.

    Args:
        plan: the plan (its ``trackers`` part says what to build and bind).
        drivers: instance name -> driver (``feed(event)``), at least every
            instance of the plan that should be tracked.
        links: link-state events for ``interface`` checks (the daemon's
            :class:`~vipd.runtime.links.LinkMonitor`); None = interface checks
            cannot be built.
        bfd: BFD session events for ``bfd`` checks (keepalived ``track_bfd``; the daemon's
            :class:`~vipd.runtime.bfd.BfdRuntime`); None = bfd checks cannot be built.
    """

    def __init__(
        self,
        plan: Plan,
        drivers: Mapping[str, Driver],
        *,
        links: LinkEvents | None = None,
        bfd: BfdEvents | None = None,
    ) -> None:
        self.plan = plan
        self.bfd = bfd
        self.config = config = plan.config
        self.drivers = drivers
        self.links = links
        self.runners: dict[tuple[str, str], Runner] = {}
        self.bindings: dict[str, list[Binding]] = {}
        self._applied: dict[str, _Applied] = {}
        self._group_of = {m: g.name for g in config.vrrp_sync_groups.values() for m in g.group}
        self._started = False
        self._first = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    def build(self, previous: Tracker | None = None) -> None:
        """Build every check of the plan through the ``vipd.checks`` entry points.

        Args:
            previous: the running tracker this one replaces (reload): a check whose
                spec is unchanged (same command, arguments, user, options) keeps its
                debounce state, last result and counters, as keepalived keeps a
                script across a reload when its identity is unchanged.
        Raises:
            TrackerError: a plugin is missing or refuses its options (the message
                names the check); the planner has checked both, so only a plugin
                that changed since.
        """
        user, group = self.plan.script_default
        sup = self.plan.config.global_defs.set_supplementary_groups
        ctx = CheckContext(
            links=self.links, script_user=user, script_group=group, bfd=self.bfd, supplementary_groups=sup
        )
        self.bindings = {k: list(v) for k, v in self.plan.trackers.bindings.items()}
        for note in self.plan.trackers.notes:
            log.info("%s", note)
        for key, (spec, debounce) in self.plan.trackers.specs.items():
            old = previous.runners.get(key) if previous is not None else None
            if old is not None and old.spec == spec:
                self.runners[key] = Runner(key, spec, old.check, old.debounce, old.last, old.runs, old.failures)
                continue
            try:
                factory = load(spec.type, self.plan.trackers.factories.get(spec.type))
                check = factory(spec, ctx)
            except (LookupError, ImportError, ValueError) as e:
                raise TrackerError(f"{key[0]} {key[1]}: {e}") from e
            self.runners[key] = Runner(key, spec, check, debounce)
        for name, binds in self.bindings.items():
            for b in binds:
                self.runners[b.key].bound.add(name)
            self._applied[name] = _Applied(priority=self.config.vrrp_instances[name].priority)
            machine = getattr(self.drivers.get(name), "machine", None)
            if machine is not None:
                # A running instance keeps its state: what it has now is what was last applied.
                fault = getattr(self.drivers.get(name), "tracker_fault", machine.fault)  # not the VIP/link causes
                self._applied[name] = _Applied(priority=machine.priority, fault=fault)

    async def start(self, first_results_within: float | None = None) -> None:
        """Start every check; wait (bounded) for each one's first result, then apply the state.

        Call before the drivers start, so an instance whose weight-0 tracker fails
        starts straight in FAULT and one with weights starts at its effective
        priority (keepalived keeps instances in INIT until their scripts report).

        Args:
            first_results_within: seconds to wait for first results (default: the
                longest check timeout plus ``HARD_GRACE``).
        Raises:
            TrackerError: from :meth:`build` if not built yet.
        """
        if not self.runners and not self.bindings:
            self.build()
        ensure_child_watcher()
        loop = asyncio.get_running_loop()
        periodic = [r for r in self.runners.values() if not isinstance(r.check, WatchingCheck)]
        for r in self.runners.values():
            if isinstance(r.check, WatchingCheck):
                r.task = loop.create_task(self._watch(r), name=f"vipd-check-{r.label}")
        for i, r in enumerate(periodic):
            phase = r.spec.interval * i / len(periodic)  # spread the checks over their interval
            r.task = loop.create_task(self._periodic(r, phase), name=f"vipd-check-{r.label}")
        wait = first_results_within
        if wait is None:
            wait = max((r.spec.timeout for r in self.runners.values()), default=0.0) + HARD_GRACE
        deadline = loop.time() + wait
        while any(r.last is None for r in self.runners.values()) and loop.time() < deadline:
            self._first.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first.wait(), deadline - loop.time())
        for r in self.runners.values():
            if r.last is None:
                log.warning("%s: no result within %.1fs of start; counted as unknown", r.label, wait)
        self._started = True
        for name in self.bindings:
            self._reevaluate(name)

    async def stop(self) -> None:
        """Cancel every check (killing running scripts with their process groups)."""
        tasks = [r.task for r in self.runners.values() if r.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._started = False

    # ------------------------------------------------------------------ views

    def evaluation(self, instance: str) -> Evaluation | None:
        """The latest evaluation of ``instance`` (priority, FAULT causes), or None."""
        a = self._applied.get(instance)
        return a.evaluation if a is not None else None

    def trackers_of(self, instance: str) -> list[dict[str, object]]:
        """Each tracker of ``instance`` as :func:`~vipd.health.rules.evaluate` counts it (``vipctl explain``).

        Returns:
            dicts with ``name`` (``"script chk_web"``), ``weight``, ``reverse``, ``health``
            (ok/failed/unknown), ``value`` (``track_file``), ``contribution`` (priority
            points now), ``fault`` (holds the instance in FAULT), ``last_ok``, ``output``,
            ``duration`` (seconds) of the latest run.
        """
        out: list[dict[str, object]] = []
        for b in self.bindings.get(instance, ()):
            r = self.runners.get(b.key)
            if r is None:
                continue
            health = r.debounce.health
            value = r.value if b.kind == "file" else None
            if value is not None:
                status = file_status(value, b.weight)
                fault = status <= FILE_FAULT
                points = 0 if fault else status
            else:
                fault = is_fault(health, b.weight)
                points = 0 if fault else contribution(health, b.weight)
            out.append(
                {
                    "name": r.label,
                    "weight": b.weight.weight,
                    "reverse": b.weight.reverse,
                    "health": health.value,
                    "value": value,
                    "contribution": points,
                    "fault": fault,
                    "last_ok": r.last.ok if r.last else None,
                    "output": r.last.output if r.last else "",
                    "duration": r.last.duration if r.last else None,
                }
            )
        return out

    def status(self) -> list[dict[str, object]]:
        """One dict per check: name, type, health, last output/duration, runs, failures, instances."""
        out: list[dict[str, object]] = []
        for r in self.runners.values():
            out.append(
                {
                    "name": r.key[1],
                    "type": r.key[0],
                    "health": r.debounce.health.value,
                    "last_ok": r.last.ok if r.last else None,
                    "output": r.last.output if r.last else "",
                    "duration": r.last.duration if r.last else None,
                    "value": r.value,
                    "runs": r.runs,
                    "failures": r.failures,
                    "instances": sorted(r.bound),
                }
            )
        return out

    # ------------------------------------------------------------------ running checks

    async def _periodic(self, r: Runner, phase: float) -> None:
        loop = asyncio.get_running_loop()
        interval = r.spec.interval
        await self._run_once(r)  # first run at once: the instances wait for it
        next_at = loop.time() + interval + phase
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._run_once(r)
            next_at += interval
            now = loop.time()
            if next_at <= now:  # the run outlived its slot(s): skip them, keep the phase
                next_at += interval * (int((now - next_at) / interval) + 1)

    async def _run_once(self, r: Runner) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        check = r.check
        assert isinstance(check, Check)
        try:
            async with asyncio.timeout(r.spec.timeout + HARD_GRACE):
                result = await check.run()
        except TimeoutError:
            result = CheckResult(False, f"timed out after {r.spec.timeout:g}s")
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a plugin's bug is a failed check, never a dead tracker
            result = CheckResult(False, f"check raised {type(e).__name__}: {e}")
        if not result.duration:
            result = replace(result, duration=loop.time() - t0)
        self._on_result(r, result)

    async def _watch(self, r: Runner) -> None:
        check = r.check
        assert isinstance(check, WatchingCheck)
        try:
            await check.watch(lambda result: self._on_result(r, result))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("%s: watcher stopped: %s", r.label, e)
            self._on_result(r, CheckResult(False, f"watcher stopped: {e}"))

    def _on_result(self, r: Runner, result: CheckResult) -> None:
        first = r.last is None
        old_health, old_value = r.debounce.health, r.value
        r.runs += 1
        if not result.ok:
            r.failures += 1
        r.last = result
        r.debounce = r.debounce.step(result.ok)
        if first:
            self._first.set()
        changed = r.debounce.health is not old_health or r.value != old_value
        if changed:
            level = logging.INFO if r.debounce.health is Health.OK or first else logging.WARNING
            shown = f"value {r.value}" if r.value is not None else r.debounce.health.value.upper()
            log.log(level, "%s: %s (%s, %.3fs)", r.label, shown, result.output, result.duration)
            for name in sorted(r.bound):  # the flight recorder (vipd.obs.recorder), if the driver has one
                recorder = getattr(self.drivers.get(name), "recorder", None)
                if recorder is not None:
                    recorder.note("tracker", f"{r.label}: {shown} ({result.output})", check=r.label, result=shown)
        if changed and self._started:
            for name in sorted(r.bound):
                self._reevaluate(name)

    # ------------------------------------------------------------------ applying

    def _states(self, name: str) -> list[TrackerState]:
        out = []
        for b in self.bindings.get(name, ()):
            r = self.runners[b.key]
            out.append(TrackerState(r.label, b.weight, r.debounce.health, r.value if b.kind == "file" else None))
        return out

    def _reevaluate(self, name: str) -> None:
        inst: VrrpInstance | None = self.config.vrrp_instances.get(name)
        driver = self.drivers.get(name)
        if inst is None or driver is None:
            return
        ev = evaluate(inst.priority, self._states(name))
        applied = self._applied[name]
        applied.evaluation = ev
        if ev.priority != applied.priority:
            log.info(
                "(%s) effective priority %d -> %d (base %d, trackers %+d)",
                name,
                applied.priority,
                ev.priority,
                inst.priority,
                ev.total,
            )
            applied.priority = ev.priority
            driver.feed(PriorityChanged(ev.priority))
        applied.own_faults = ev.faults
        group = self._group_of.get(name)
        members = [name] if group is None else list(self.config.vrrp_sync_groups[group].group)
        for m in members:
            self._apply_fault(m, group)

    def _apply_fault(self, name: str, group: str | None) -> None:
        applied = self._applied.get(name)
        driver = self.drivers.get(name)
        if applied is None or driver is None:
            return
        reason = ", ".join(applied.own_faults)
        fault = bool(applied.own_faults)
        if group is not None and not fault:
            for m in self.config.vrrp_sync_groups[group].group:
                other = self._applied.get(m)
                if other is not None and other.own_faults:
                    fault = True
                    reason = f"vrrp_sync_group {group}: {m} in fault ({', '.join(other.own_faults)})"
                    break
        old, applied.fault = applied.fault, fault
        if fault == old:
            return
        if fault:
            log.warning("(%s) fault: %s", name, reason)
        elif old is not None:
            log.info("(%s) fault cleared", name)
        driver.feed(FaultChanged(fault, reason if fault else "trackers recovered"))


class Tracking:
    """The daemon's tracking: one :class:`LinkMonitor` and one :class:`Tracker`, reloadable.

    Use ``tracking = await Tracking.start(config, drivers)`` before the drivers
    start, ``await tracking.reload(new_config, drivers)`` after a reload, and
    ``await tracking.stop()`` before the drivers stop.
    """

    def __init__(
        self, links: LinkEvents | None, tracker: Tracker, bfd: BfdEvents | None = None, *, owns_links: bool = True
    ) -> None:
        self.links = links
        self._owns_links = owns_links
        self.tracker = tracker
        self.bfd = bfd
        """The BFD runtime ``bfd`` checks subscribe to."""

    @classmethod
    async def start(
        cls, plan: Plan, drivers: Mapping[str, Driver], bfd: BfdEvents | None = None, links: LinkEvents | None = None
    ) -> Tracking:
        """Open the link monitor, build and start every check, apply the first verdicts.

        Args:
            links: the daemon's running link monitor to share (then it is not closed here);
                None opens one of its own.
        Raises:
            TrackerError: a check cannot be built (unknown plugin, bad options).
            OSError: netlink refused the link monitor's socket.
        """
        from vipd.runtime.links import LinkMonitor

        owns = links is None
        if links is None:
            links = own = LinkMonitor(plan.link_delays)
            await own.start()
        tracker = Tracker(plan, drivers, links=links, bfd=bfd)
        try:
            tracker.build()
            await tracker.start()
        except BaseException:
            await tracker.stop()
            if owns and isinstance(links, LinkMonitor):
                await links.close()
            raise
        n = len(tracker.runners)
        log.info("tracking: %d check(s) for %d instance(s)", n, len(tracker.bindings))
        return cls(links, tracker, bfd, owns_links=owns)

    def prepare(self, plan: Plan, drivers: Mapping[str, Driver], bfd: BfdEvents | None = None) -> Tracker:
        """Build (not start) the tracker of a new plan; nothing running is touched (reload, step 1).

        Unchanged checks are carried over with their state (:meth:`Tracker.build`).

        Raises:
            TrackerError: a check cannot be built; the running tracker is unchanged.
        """
        self.bfd = bfd
        new = Tracker(plan, drivers, links=self.links, bfd=bfd)
        new.build(previous=self.tracker if bfd is self.tracker.bfd else None)
        return new

    async def switch(self, new: Tracker) -> None:
        """Stop the running tracker and start ``new`` from :meth:`prepare` (reload, step 2).

        Waits (bounded by the longest check timeout) for the first result of every
        check that is new, so an instance added by the reload starts at its
        effective priority; then every instance is re-evaluated against its new
        base priority.
        """
        from vipd.runtime.links import LinkMonitor

        await self.tracker.stop()
        self.tracker = new
        if isinstance(self.links, LinkMonitor):
            self.links.set_delays(new.plan.link_delays)  # keepalived interface_up_down_delays
        await new.start()

    async def stop(self) -> None:
        """Cancel every check and close the link monitor."""
        await self.tracker.stop()
        from vipd.runtime.links import LinkMonitor

        if self._owns_links and isinstance(self.links, LinkMonitor):
            await self.links.close()
