"""Reload as a diff of two plans, matched by (interface, VRID, family), never by name (pure).

keepalived keeps an instance across a reload when its interface, VRID and
family are unchanged, whatever its name; so does vipd: renaming an instance is
not a transition. For each key:

* only in the old plan: ``removed`` (the instance stops: priority 0 if master);
* only in the new plan: ``added`` (built before anything changes, started after
  its trackers have reported once);
* in both, equal apart from name, position and hooks: ``unchanged`` (hooks are
  swapped without touching the instance; a rename is recorded in ``renamed``);
* in both and different: ``changed``, applied in place, or ``restarted`` when the
  virtual router itself changes (:data:`RESTART_WHEN`): version, VMAC, or
  between multicast and unicast (the receive socket joins the group only for
  multicast).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vipd.config import values
from vipd.plan.model import InstanceKey, InstancePlan, Plan

RESTART_WHEN = ("version", "use_vmac / vmac_name / vmac_xmit_base / use_vmac_addr", "multicast <-> unicast")
"""What makes reload restart an instance instead of changing it in place."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One instance in both plans: its old and new plan (names may differ)."""

    old: InstancePlan
    new: InstancePlan


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """What a reload changes (see the module docstring).

    Attributes:
        unchanged, changed, restarted: instances in both plans (``restarted`` is
            disjoint from ``changed``).
        renamed: the pairs among those whose name changed.
        added: new-only plans; removed: old-only plans.
    """

    unchanged: list[Pair] = field(default_factory=list)
    changed: list[Pair] = field(default_factory=list)
    restarted: list[Pair] = field(default_factory=list)
    added: list[InstancePlan] = field(default_factory=list)
    removed: list[InstancePlan] = field(default_factory=list)

    @property
    def renamed(self) -> list[Pair]:
        """Pairs whose instance name changed."""
        return [p for p in (*self.unchanged, *self.changed, *self.restarted) if p.old.name != p.new.name]

    def summary(self) -> dict[str, list[str]]:
        """``{"unchanged": [names], "added": ..., "removed": ..., "changed": ..., "restarted": ..., "renamed":
        ["OLD->NEW"]}`` (new names, except ``removed``), for logs and ``vipctl reload``."""
        return {
            "unchanged": [p.new.name for p in self.unchanged],
            "added": [p.name for p in self.added],
            "removed": [p.name for p in self.removed],
            "changed": [p.new.name for p in self.changed + self.restarted],
            "restarted": [p.new.name for p in self.restarted],
            "renamed": [f"{p.old.name}->{p.new.name}" for p in self.renamed],
        }


def _essence(p: InstancePlan) -> InstancePlan:
    """``p`` without what a reload may change without touching the instance: name, place, hooks."""
    blank = {f: None for f in values.field_names(p.config) if f.startswith("notify")}
    return dataclasses.replace(
        p, name="", loc=p.loc.__class__("", 0, ""), hooks={}, config=values.replace(p.config, name="", **blank)
    )


def needs_restart(old: InstancePlan, new: InstancePlan) -> bool:
    """Whether the virtual router itself changes (:data:`RESTART_WHEN`); the key is equal by construction."""
    return (
        old.config.version != new.config.version
        or old.vmac != new.vmac
        or old.addr_vmacs != new.addr_vmacs
        or old.multicast != new.multicast
    )


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """Compare two plans instance by instance, matched by :class:`~vipd.plan.model.InstanceKey`."""
    old_keys: dict[InstanceKey, InstancePlan] = old.by_key()
    new_keys = new.by_key()
    d = PlanDiff()
    for key, o in old_keys.items():
        n = new_keys.get(key)
        if n is None:
            d.removed.append(o)
        elif _essence(o) == _essence(n):
            d.unchanged.append(Pair(o, n))
        elif needs_restart(o, n):
            d.restarted.append(Pair(o, n))
        else:
            d.changed.append(Pair(o, n))
    d.added.extend(n for key, n in new_keys.items() if key not in old_keys)
    return d
