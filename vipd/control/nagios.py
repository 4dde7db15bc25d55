"""``vipctl check``: a monitoring verdict with Nagios/Icinga plugin exit codes.

The verdict is a pure function of ``vipctl status --json``'s answer
(:meth:`vipd.obs.status.Snapshot.to_json`), so it needs only the read-only
``status`` command (members of group ``vipd`` may run it).

Exit codes (Nagios plugin guidelines, "Plugin Return Codes"):

==  ========  ==========================================================
0   OK        every selected instance is in the expected state
1   WARNING   in the expected state but degraded: effective priority below the
              configured one (a tracker failed), in maintenance, a Backup that
              hears no master, or INIT (starting or stopping)
2   CRITICAL  FAULT, or MASTER/BACKUP where the other was expected
3   UNKNOWN   vipd cannot be reached, or the instance does not exist
==  ========  ==========================================================

The summary is one line: ``VRRP <STATUS> - <instance> <what>; ...`` followed by
performance data after ``|`` (``<instance>_priority=<effective>;;;0;255``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
"""Nagios plugin exit codes."""

NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}

EXPECT = ("master", "backup", "any")
"""``--expect`` values: ``any`` accepts MASTER and BACKUP alike."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a check.

    Attributes:
        code: 0..3 (:data:`OK` .. :data:`UNKNOWN`), the process exit status.
        line: the one-line summary with performance data.
    """

    code: int
    line: str


def unknown(why: str) -> Verdict:
    """An UNKNOWN verdict with ``why`` (vipd unreachable, bad answer)."""
    return Verdict(UNKNOWN, f"VRRP UNKNOWN - {why}")


def judge_instance(inst: Mapping[str, Any], expect: str) -> tuple[int, str]:
    """Judge one instance row (``InstanceRow.to_json()``); returns ``(code, text)``.

    Args:
        inst: the instance's status dict (``state``, ``priority``, ``master_address``, ``maintenance``).
        expect: ``master``, ``backup`` or ``any``.
    Raises:
        ValueError: ``expect`` is not one of :data:`EXPECT`.
    """
    if expect not in EXPECT:
        raise ValueError(f"--expect must be one of {', '.join(EXPECT)}, got {expect!r}")
    state = str(inst.get("state", "?"))
    name = str(inst.get("name", "?"))
    prio = inst.get("priority") or {}
    eff, base = prio.get("effective"), prio.get("base")
    text = f"{name} {state} prio {eff}"
    if state == "FAULT":
        return CRITICAL, f"{text} (FAULT)"
    if state in ("MASTER", "BACKUP") and expect != "any" and state != expect.upper():
        return CRITICAL, f"{text} (expected {expect.upper()})"
    if inst.get("maintenance"):
        return WARNING, f"{text} (maintenance)"
    if state not in ("MASTER", "BACKUP"):
        return WARNING, f"{text} (not running the protocol yet)"
    if isinstance(eff, int) and isinstance(base, int) and eff < base:
        return WARNING, f"{text} (degraded from {base} by trackers)"
    if state == "BACKUP" and not inst.get("master_address"):
        return WARNING, f"{text} (no master heard)"
    if state == "BACKUP":
        return OK, f"{text} master {inst.get('master_address')}"
    return OK, text


def judge(status: Mapping[str, Any], expect: str = "any", instance: str | None = None) -> Verdict:
    """The verdict over the status answer: the worst of the selected instances.

    Args:
        status: ``vipctl status --json``'s answer.
        expect: ``master``, ``backup`` or ``any``.
        instance: one instance name, or None for every instance.
    Raises:
        ValueError: ``expect`` is not one of :data:`EXPECT`.
    """
    rows: Sequence[Mapping[str, Any]] = status.get("instances") or []
    if instance is not None:
        rows = [r for r in rows if r.get("name") == instance]
        if not rows:
            return unknown(f"no instance {instance!r} in this vipd")
    if not rows:
        return unknown("vipd runs no instance")
    judged = [judge_instance(r, expect) for r in rows]
    worst = max(code for code, _ in judged)
    # Problems first, so a truncated line still shows them.
    texts = [t for c, t in sorted(judged, key=lambda ct: -ct[0])]
    perf = " ".join(f"{r.get('name')}_priority={(r.get('priority') or {}).get('effective', 0)};;;0;255" for r in rows)
    return Verdict(worst, f"VRRP {NAMES[worst]} - {'; '.join(texts)} | {perf}")
