"""Hooks the VIPs wait for (vipd extension): ``vipd_notify_master_before_vip`` and ``vipd_notify_before_vip_removal``.

Stateful services need a step that finishes before clients arrive (``conntrackd -c``
committing the connection table: keepalived #2254, where a blocking
``exec_before_vip`` was rejected because it stalls every instance) or before the
address goes (dependent services stopping in order: #2389). vipd runs such a hook
as a task of the instance's driver, so nothing blocks:

- becoming master: the FSM's effects run in RFC order (advert, addresses, GARP,
  notify) except that the addresses, the GARPs and the notify hooks wait for the
  hook; the first advert and every later one go out on time (the Adver_Timer is
  the machine's), and every other instance carries on;
- leaving master: the addresses (and their routes) are removed when the hook ends;
  the priority-0 or higher-priority adverts of the step-down are not delayed.

Each hook runs as its configured user through the one script runner
(:func:`vipd.linux.spawn.run`), killed with its process group at
``vipd_before_vip_timeout`` (default 10 s). A master hook that fails or times out
follows ``vipd_before_vip_on_failure``: ``continue`` adds the VIPs anyway,
``yield`` hands over (priority 0, no preemption of the router that takes over, as
``vipctl handover --force``). A removal hook's failure is logged and the removal
goes on. If the instance changes state while a hook runs, what the hook was
guarding is dropped (a newer transition decides).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vipd.health.identity import script_run_as
from vipd.linux.spawn import RunOutcome, run
from vipd.plan import InstancePlan
from vipd.plan.model import HookPlan

OUTPUT_LIMIT = 4096
"""Bytes of a hook's stdout+stderr kept for the log."""

HookRun = Callable[[], Awaitable[RunOutcome]]
"""Runs one hook to its end (or its timeout); never raises."""


@dataclass(frozen=True, slots=True)
class VipGate:
    """The before-VIP hooks of one instance.

    Attributes:
        before_add: ``vipd_notify_master_before_vip``, or None.
        before_remove: ``vipd_notify_before_vip_removal``, or None.
        timeout: seconds each may run (``vipd_before_vip_timeout``).
        on_failure: ``continue`` or ``yield`` (``vipd_before_vip_on_failure``).
        add_name, remove_name: the keywords, for logs and events.
    """

    before_add: HookRun | None
    before_remove: HookRun | None
    timeout: float
    on_failure: str
    add_name: str = "vipd_notify_master_before_vip"
    remove_name: str = "vipd_notify_before_vip_removal"


def _runner(hook: HookPlan, timeout: float) -> HookRun:
    argv = ("/bin/sh", "-c", hook.command) if hook.shell else tuple(hook.argv)

    async def go() -> RunOutcome:
        try:
            who = script_run_as(hook.user, hook.group, (None, None))
        except LookupError as e:
            return RunOutcome(None, error=str(e))
        return await run(argv, timeout=timeout, run_as=who if who.user is not None else None, output_limit=OUTPUT_LIMIT)

    return go


def gate_from_plan(plan: InstancePlan) -> VipGate | None:
    """The instance's :class:`VipGate`, or None when it has neither hook."""
    add = plan.hooks.get("vipd_notify_master_before_vip")
    remove = plan.hooks.get("vipd_notify_before_vip_removal")
    if add is None and remove is None:
        return None
    inst = plan.config
    timeout = inst.vipd_before_vip_timeout
    return VipGate(
        before_add=_runner(add, timeout) if add is not None else None,
        before_remove=_runner(remove, timeout) if remove is not None else None,
        timeout=timeout,
        on_failure=inst.vipd_before_vip_on_failure,
    )
