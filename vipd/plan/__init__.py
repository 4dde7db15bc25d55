"""The planner: between the config (:mod:`vipd.config`) and the runtime (:mod:`vipd.runtime`).

``config -> plan -> runtime``: :func:`check_file` reads a keepalived.conf,
validates it and plans it, giving one verdict (``FILE:LINE: keyword: reason``
for every error) that ``vipd -t``, start-up and reload all use. A
:class:`~vipd.plan.model.Plan` holds one frozen
:class:`~vipd.plan.model.InstancePlan` per instance; reload applies
:func:`~vipd.plan.diff.diff_plans` of the running and the new plan.

Pure, like ``wire``, ``fsm`` and ``config``: imports nothing from ``linux``,
``runtime``, ``obs``, ``control``, ``asyncio`` or ``pyroute2`` (a unit test
enforces it); the host is read only through a :class:`~vipd.plan.host.Host`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vipd.plan.host import Host
from vipd.plan.model import HookPlan, InstanceKey, InstancePlan, Plan, SyncGroupPlan, VipPlan, VmacPlan

if TYPE_CHECKING:
    from vipd.config.diagnostics import Diagnostic
    from vipd.config.lexer import Files
    from vipd.plan.diff import PlanDiff, diff_plans
    from vipd.plan.planner import PlanResult, plan_config


def __getattr__(name: str) -> Any:
    # The planner needs the config models (pydantic); a daemon that only runs plans never loads it.
    if name in ("PlanResult", "plan_config"):
        from vipd.plan import planner

        return getattr(planner, name)
    if name in ("PlanDiff", "diff_plans"):  # reload only
        from vipd.plan import diff

        return getattr(diff, name)
    raise AttributeError(f"module 'vipd.plan' has no attribute {name!r}")


__all__ = [
    "HookPlan",
    "Host",
    "InstanceKey",
    "InstancePlan",
    "Plan",
    "PlanDiff",
    "PlanResult",
    "SyncGroupPlan",
    "Verdict",
    "VipPlan",
    "VmacPlan",
    "check_file",
    "diff_plans",
    "plan_config",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The one verdict on a configuration file.

    Attributes:
        plan: the plan, or None if refused.
        diagnostics: every error and warning (config layer and planner), file/line order.
        read_error: set when the file could not be read at all (then no diagnostics).
    """

    plan: Plan | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    read_error: str | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        """Diagnostics that refuse the file."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Diagnostics that do not."""
        return [d for d in self.diagnostics if d.severity != "error"]

    def lines(self) -> list[str]:
        """Every diagnostic as ``FILE:LINE: keyword: reason`` (warnings say so)."""
        out = []
        for d in self.diagnostics:
            out.append(str(d) if d.severity == "error" else f"{d.file}:{d.line}: warning: {d.keyword}: {d.message}")
        if self.read_error:
            out.append(self.read_error)
        return out


def check_file(
    path: str | os.PathLike[str],
    *,
    config_id: str | None = None,
    host: Host | None = None,
    strict: bool = False,
    files: Files | None = None,
) -> Verdict:
    """Read, validate and plan ``path``: what ``vipd -t``, start-up and reload all call.

    Args:
        path: the keepalived.conf.
        config_id: keepalived ``-i`` for ``@ID`` lines (default: the host name).
        host: host snapshot for keepalived's host checks, or None (file only).
        strict: ``vipd -t --strict``: the config layer's warnings are errors.
        files: what the file and its includes are read through (None: the live system;
            the start-up memo passes a recorder, :mod:`vipd.control.planmemo`).
    Returns:
        a :class:`Verdict`; never raises for a bad file.
    """
    from vipd.config.diagnostics import ConfigError
    from vipd.config.loader import load_config
    from vipd.plan.planner import plan_config

    try:
        loaded = load_config(path, config_id=config_id, strict=strict, files=files)
    except ConfigError as e:
        return Verdict(None, sorted(e.diagnostics, key=lambda d: d.sort_key()))
    except OSError as e:
        return Verdict(None, [], f"{path}: cannot read: {e.strerror or e}")
    except Exception as e:  # a config must never produce a traceback
        return Verdict(
            None,
            [],
            f"{path}: internal error while reading the configuration ({type(e).__name__}: {e}); "
            "configuration refused. Please report this with the file.",
        )
    result = plan_config(loaded.config, loaded.locs, host)
    diagnostics = sorted([*loaded.warnings, *result.diagnostics], key=lambda d: d.sort_key())
    return Verdict(result.plan, diagnostics)
