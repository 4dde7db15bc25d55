"""Sync groups (keepalived ``vrrp_sync_group``): members change MASTER/BACKUP state together.

keepalived's rules (``vrrp_sync.c``, ``vrrp.c``, ``vrrp_scheduler.c``), restated:

* A member whose Master_Down_Timer fires goes master only if every *other*
  member wants master too, or the group already is master
  (``vrrp_sync_can_goto_master``: "Only sync to master if everyone wants to i.e.
  prefer backup state to avoid thrashing"). Otherwise it stays Backup with
  ``wantstate = MAST`` and re-arms its timer (``vrrp_state_goto_master``). The FSM
  does that part (``Params.sync_group``: ``WantMaster``); an accepted advert
  clears the wish (``vrrp_state_backup``: ``wantstate = VRRP_STATE_BACK``).
* When a member becomes master, every other member not yet master follows
  (``vrrp_sync_master``, run from the BACKUP->MASTER entry of ``VRRP_TSM``).
* When a member leaves master (or FAULT) for backup, every member still master
  follows (``vrrp_sync_backup``, MASTER->BACKUP and FAULT->BACKUP of
  ``VRRP_TSM``), without a priority-0 advert (``vrrp_state_leave_master(isync,
  false)``).
* One member's FAULT takes the whole group to FAULT (``vrrp_sync_fault``): for
  the trackers' causes that part is :mod:`vipd.runtime.tracking`'s, which shares
  the members' fault causes; a driver's own causes (a VIP it cannot add, an
  interface gone: ``InstanceDriver.own_fault_observer``) are shared by
  :class:`SyncGroups` as a ``sync_group:MEMBER`` cause on the other members;
  here the group state only records it.

This module decides which member is told what (``SyncGoMaster`` /
``SyncGoBackup``); the FSM decides what that means. It does no I/O and never
imports asyncio, so the conformance simulator drives the same code as the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from vipd.fsm import Effect, Event, Notify, State, SyncGoBackup, SyncGoMaster, VrrpMachine, WantMaster

log = logging.getLogger("vipd")

FAULT_GROUP = "sync_group"
"""The fault cause prefix of a member held in FAULT by another member (``vipd.runtime.instance.FAULT_GROUP``)."""


class SyncGroup:
    """The coordinator of one ``vrrp_sync_group``.

    Args:
        name: the group's name.
        members: member instance names, in config order.
        machine: the state machine of a member by name, or None if it is not running.
        feed: hand an event to a member (its driver executes the effects and then
            reports them back through :meth:`observe`).

    Attributes:
        state: keepalived's ``GROUP_STATE``: BACKUP at start, MASTER after
            :meth:`observe` synced the group to master, FAULT while a member is in FAULT.
        transitions: how many times the group was synced to MASTER or BACKUP (for status).
    """

    def __init__(
        self,
        name: str,
        members: Sequence[str],
        machine: Callable[[str], VrrpMachine | None],
        feed: Callable[[str, Event], None],
    ) -> None:
        self.name = name
        self.members = tuple(members)
        self._machine = machine
        self._feed = feed
        self.state = State.BACKUP  # keepalived vrrp_sync_set_group / vrrp_complete_init: groups start BACKUP
        self.transitions = 0
        self.on_change: Callable[[Notify], None] | None = None
        """Called with the group's own transition (group notify hooks: keepalived ``GROUP NAME STATE 0``)."""
        self._busy = False
        self._held: dict[str, str] = {}
        """Members held in Backup wanting master, with the reason of their wish."""

    # ------------------------------------------------------------------ queries

    def wants_master(self, member: str) -> bool:
        """keepalived ``wantstate == VRRP_STATE_MAST``: the member is master or is held wanting it."""
        m = self._machine(member)
        return m is not None and (m.state is State.MASTER or (m.state is State.BACKUP and m.wants_master))

    def can_goto_master(self, member: str) -> bool:
        """keepalived ``vrrp_sync_can_goto_master``: the group is master, or every other member wants master."""
        if self.state is State.MASTER:
            return True
        return all(self.wants_master(o) for o in self.members if o != member)

    # ------------------------------------------------------------------ input

    def observe(self, member: str, effects: Iterable[Effect]) -> None:
        """React to the effects one ``handle()`` of ``member`` returned (after they were executed).

        Reports that arrive while this coordinator is itself moving members are
        ignored: it already knows where it is taking them.
        """
        if self._busy:
            return
        for e in effects:
            if isinstance(e, WantMaster):
                self._on_want(member, e.reason)
            elif isinstance(e, Notify):
                self._on_transition(member, e)

    def _on_want(self, member: str, reason: str) -> None:
        if self.can_goto_master(member):
            self._held.pop(member, None)
            self._sync_master(member, reason)
            return
        if member not in self._held:  # once per wish: a held member asks again every Master_Down_Interval
            self._held[member] = reason
            waiting = [o for o in self.members if o != member and not self.wants_master(o)]
            log.info(
                "(%s) VRRP_Group(%s) wants MASTER (%s) but %s do(es) not: staying BACKUP",
                member,
                self.name,
                reason,
                ", ".join(waiting),
            )

    def _on_transition(self, member: str, n: Notify) -> None:
        self._held.pop(member, None)
        if n.new is State.MASTER:
            # VRRP_TSM BACKUP->MASTER: vrrp_sync_master (a member that went master without the
            # coordinator: the address owner at start-up, a tracker making it the owner).
            if self.state is not State.MASTER and self.can_goto_master(member):
                self._sync_master(member, None)
        elif n.new is State.BACKUP and n.old in (State.MASTER, State.FAULT):
            # VRRP_TSM MASTER->BACKUP and FAULT->BACKUP: vrrp_sync_backup.
            self._sync_backup(member, n.reason)
        elif n.new is State.FAULT:
            # vrrp_sync_fault: the tracker takes the other members to FAULT; record the group state.
            if self.state is not State.FAULT:
                log.warning("VRRP_Group(%s) Syncing instances to FAULT state (%s: %s)", self.name, member, n.detail)
            self._set_state(State.FAULT, "fault")

    def _set_state(self, new: State, reason: str) -> None:
        old, self.state = self.state, new
        if old is not new and self.on_change is not None:
            self.on_change(Notify(old, new, reason))

    # ------------------------------------------------------------------ moving the group

    def _sync_master(self, trigger: str, reason: str | None) -> None:
        """keepalived ``vrrp_sync_master``: the trigger first (``reason`` None = it already is), then the rest."""
        log.info("VRRP_Group(%s) Syncing instances to MASTER state (%s)", self.name, trigger)
        self._set_state(State.MASTER, reason or "sync_group")
        self.transitions += 1
        detail = f"vrrp_sync_group {self.name}: {trigger} became master"
        self._busy = True
        try:
            if reason is not None:
                self._feed(trigger, SyncGoMaster(reason))
            for other in self.members:
                m = self._machine(other)
                if other != trigger and m is not None and m.state is State.BACKUP:
                    # A member that wanted master itself keeps its own reason (preempt, master_down_timer...).
                    wanted = self._held.pop(other, None) if m.wants_master else None
                    self._feed(other, SyncGoMaster(wanted or "sync_group", detail))
        finally:
            self._busy = False

    def _sync_backup(self, trigger: str, reason: str) -> None:
        """keepalived ``vrrp_sync_backup``: every member still master steps down (no priority 0)."""
        if self.state is State.BACKUP:
            return  # "if (GROUP_STATE(sgroup) == VRRP_STATE_BACK) return;"
        log.info("VRRP_Group(%s) Syncing instances to BACKUP state (%s: %s)", self.name, trigger, reason)
        self._set_state(State.BACKUP, reason)
        self.transitions += 1
        detail = f"vrrp_sync_group {self.name}: {trigger} left master ({reason})"
        self._busy = True
        try:
            for other in self.members:
                m = self._machine(other)
                if other != trigger and m is not None and m.state is State.MASTER:
                    self._feed(other, SyncGoBackup("sync_group", detail))
        finally:
            self._busy = False

    def status(self) -> dict[str, object]:
        """The group for ``vipctl status``: name, state, members and which of them want master."""
        return {
            "name": self.name,
            "state": self.state.value,
            "members": list(self.members),
            "wanting_master": [m for m in self.members if self.wants_master(m)],
            "transitions": self.transitions,
        }


class _Driver(Protocol):
    """What the daemon's ``InstanceDriver`` offers (``vipd.runtime.instance``)."""

    name: str
    machine: VrrpMachine
    sync_observer: Callable[[str, list[Effect]], None] | None

    def feed(self, event: Any, at: float | None = None) -> None: ...


class SyncGroups:
    """The daemon's sync groups, rebuilt from the config as instances are created or reloaded.

    A new driver is constructed with its group's observer and ``Params.sync_group``
    (:meth:`group_of`); after a reload :meth:`attach` re-marks each kept driver's
    machine as a group member or not (through ``VrrpMachine.reconfigure``: state
    and timers are kept) and reconnects its effect reports.

    Args:
        config: returns the config in force (the daemon's, which a reload replaces
            before the hooks run).
        drivers: the daemon's live instance table, by name.
        now: the loop's clock (``loop.time``).
    """

    def __init__(
        self,
        config: Callable[[], Any],
        drivers: Mapping[str, _Driver],
        now: Callable[[], float],
        notifier_for: Callable[[SyncGroup], Callable[[Notify], None] | None] | None = None,
    ) -> None:
        self._config = config
        self._drivers = drivers
        self._now = now
        self._notifier_for = notifier_for
        """Gives each (re)built group its notify runner (keepalived's group ``notify_*``), or None."""
        self.groups: dict[str, SyncGroup] = {}
        self._built_from: object = None

    def _refresh(self) -> None:
        cfg = self._config()
        defs = cfg.vrrp_sync_groups
        if defs is self._built_from:
            return
        old = self.groups
        self.groups = {}
        for g in defs.values():
            grp = SyncGroup(g.name, list(g.group), self._machine_of, self._feed)
            prev = old.get(g.name)
            if prev is not None and prev.members == grp.members:
                grp.state, grp.transitions = prev.state, prev.transitions
            self.groups[g.name] = grp
            if self._notifier_for is not None:
                grp.on_change = self._notifier_for(grp)
        self._built_from = defs

    def _machine_of(self, name: str) -> VrrpMachine | None:
        d = self._drivers.get(name)
        return d.machine if d is not None else None

    def _feed(self, name: str, event: Event) -> None:
        d = self._drivers.get(name)
        if d is not None:
            d.feed(event)

    def group_of(self, instance: str) -> SyncGroup | None:
        """The group ``instance`` belongs to under the config in force, or None."""
        self._refresh()
        for g in self.groups.values():
            if instance in g.members:
                return g
        return None

    def attach(self, driver: _Driver, inst: object = None) -> None:
        """Make ``driver``'s machine a member of its group (or of none) and route its effects to it."""
        group = self.group_of(driver.name)
        member = group is not None and len(group.members) > 1
        p = driver.machine.params
        if p.sync_group != member:
            effects = driver.machine.reconfigure(replace(p, sync_group=member), self._now())
            assert not effects, "only the sync_group flag changed"
        driver.sync_observer = group.observe if group is not None and member else None
        if hasattr(driver, "own_fault_observer"):
            driver.own_fault_observer = self.member_fault if member else None
            faults: dict[str, str] = getattr(driver, "faults", {})
            others = set(group.members) if group is not None and member else set()
            for cause in [c for c in faults if c.startswith(f"{FAULT_GROUP}:")]:
                if cause.partition(":")[2] not in others:  # that member left the group in a reload
                    driver.set_fault(cause, None)  # type: ignore[attr-defined]

    def member_fault(self, name: str, reason: str | None) -> None:
        """keepalived ``vrrp_sync_fault`` for a driver's own causes: member ``name`` has (``reason``) or no
        longer has (None) a VIP or link fault; every other member of its group gets or loses the cause
        ``sync_group:NAME``."""
        group = self.group_of(name)
        if group is None:
            return
        for m in group.members:
            d = self._drivers.get(m)
            if m == name or d is None or not hasattr(d, "set_fault"):
                continue
            why = None if reason is None else f"vrrp_sync_group {group.name}: {name} in fault ({reason})"
            d.set_fault(f"{FAULT_GROUP}:{name}", why)

    def status(self) -> list[dict[str, object]]:
        """One dict per group (see :meth:`SyncGroup.status`)."""
        self._refresh()
        return [g.status() for g in self.groups.values()]
