"""``vipctl maintenance on|off`` and ``vipctl handover``: take a node out of service, or move the master role.

The protocol part is the FSM's (:class:`vipd.fsm.MaintenanceChanged`,
:class:`vipd.fsm.Handover`): a master yields with one priority-0 advert, so a
Backup takes over after Skew_Time (RFC 5798 §6.4.2), and never becomes master
again while in maintenance. This module decides whether to ask at all, waits
for the outcome and keeps maintenance across restarts and reboots.

Refusals (each overridden by ``force``), so that the VIP is never left on no node:

- a Backup whose master is not heard (no advert within Master_Down_Interval) would
  be the one to take over: refused, since in maintenance it would not;
- a Master cannot hear its Backups (they are silent in VRRP), so it *probes*: it
  yields, and if no other router's advert arrives within
  :data:`~vipd.fsm.machine.HANDOVER_WAIT_ADVERTS` advert intervals it takes the
  VIP back at once and the command answers that it was refused. The VIP is then
  absent for that long (0.2 s at 0.1 s adverts, 2 s at 1 s).

Persistence: the names of the instances in maintenance, one JSON document at
``STATE_DIR/maintenance.json`` (``vipd --state-dir``, default ``/var/lib/vipd``),
written atomically (temporary file, fsync, rename) on every change and read at
start, before any instance starts, so a restart or a reboot keeps them out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vipd.fsm import Handover, MaintenanceChanged, State
from vipd.fsm.machine import HANDOVER_WAIT_ADVERTS
from vipd.runtime.instance import InstanceDriver

if TYPE_CHECKING:
    from vipd.runtime.daemon import Daemon

log = logging.getLogger("vipd")

STATE_DIR = "/var/lib/vipd"
"""Default directory of vipd's persistent state (``vipd --state-dir``)."""

PROBE_MARGIN = 0.05
"""Seconds added to the FSM's hand-over probe before reading its outcome (scheduling slack)."""


def load(state_dir: str) -> set[str]:
    """Instance names in maintenance recorded under ``state_dir`` (empty if none or unreadable: logged)."""
    path = Path(state_dir) / "maintenance.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as e:
        log.error("cannot read %s: %s; no instance is in maintenance", path, e)
        return set()
    names = doc.get("instances") if isinstance(doc, dict) else None
    if not isinstance(names, list):
        log.error('%s: expected {"instances": [...]}; no instance is in maintenance', path)
        return set()
    return {str(n) for n in names}


def save(state_dir: str, names: set[str]) -> None:
    """Write ``names`` atomically to ``state_dir/maintenance.json`` (directory created 0755).

    Raises:
        OSError: the directory or file cannot be written.
    """
    d = Path(state_dir)
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = d / ".maintenance.json.tmp"
    with open(tmp, "w") as f:
        json.dump({"instances": sorted(names)}, f)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, d / "maintenance.json")


def _master_heard(driver: InstanceDriver, now: float) -> str | None:
    """The master a Backup follows, if its last advert is younger than Master_Down_Interval."""
    m = driver.machine
    rec = driver.recorder
    if m.master_address is None or rec is None:
        return None
    last = rec.heard.get(m.master_address)
    if last is None or now - last[0] > m.master_down_interval:
        return None
    return str(m.master_address)


def _targets(daemon: Daemon, req: dict[str, Any]) -> list[InstanceDriver] | str:
    names = [d.name for d, _ in daemon.instances()]
    if req.get("all"):
        return [daemon.drivers[n] for n in names]
    want = req.get("instance")
    if want is None:
        if len(names) == 1:
            return [daemon.drivers[names[0]]]
        return f"name an instance or give --all (running: {', '.join(names) or 'none'})"
    if want not in daemon.drivers:
        return f"no instance {want!r} (running: {', '.join(names) or 'none'})"
    return [daemon.drivers[str(want)]]


async def _probe(driver: InstanceDriver, flag: str) -> str | None:
    """Wait for the FSM's hand-over probe; None if another router took over, else the refusal."""
    m = driver.machine
    wait = HANDOVER_WAIT_ADVERTS * m.master_adver_interval + PROBE_MARGIN
    await asyncio.sleep(wait)
    if m.state is State.MASTER and not getattr(m, flag):
        return f"no other router took over within {wait:.2f} s: {driver.name} took the VIP back and stays master"
    return None


async def maintenance(daemon: Daemon, state_dir: str, req: dict[str, Any]) -> dict[str, Any]:
    """``{"cmd": "maintenance", "on": bool, "instance": NAME|null, "all": bool, "force": bool}``."""
    targets = _targets(daemon, req)
    if isinstance(targets, str):
        return {"ok": False, "error": targets}
    on, force = bool(req.get("on")), bool(req.get("force"))
    loop = asyncio.get_running_loop()
    now = loop.time()
    if on and not force:
        for d in targets:
            if d.machine.state is State.BACKUP and not d.machine.maintenance and _master_heard(d, now) is None:
                return {
                    "ok": False,
                    "error": f"{d.name}: refused: no master heard within Master_Down_Interval "
                    f"({d.machine.master_down_interval:.2f} s); in maintenance no node would hold the VIP "
                    "(--force to do it anyway)",
                }
    results: dict[str, str] = {}
    probes = []
    for d in targets:
        was_master = d.machine.state is State.MASTER
        if d.recorder is not None:  # before the transition it causes
            d.recorder.note("maintenance", f"maintenance {'on' if on else 'off'}" + (" (forced)" if force else ""))
        d.feed(MaintenanceChanged(on, force))
        if on:
            results[d.name] = "yielded (forced)" if was_master and force else "in maintenance"
            if was_master and not force:
                probes.append(d)
        else:
            results[d.name] = "back in service"
    outcomes = await asyncio.gather(*(_probe(d, "maintenance") for d in probes))
    refusals = dict(zip((d.name for d in probes), outcomes, strict=True))
    for name, why in refusals.items():
        results[name] = f"refused: {why}" if why else f"handed over to {daemon.drivers[name].machine.master_address}"
    names = {d.name for d in daemon.drivers.values() if d.machine.maintenance}
    daemon.maintenance = names
    try:
        save(state_dir, names)
    except OSError as e:
        return {"ok": False, "error": f"state changed but not saved to {state_dir}: {e}", "results": results}
    failed = [n for n, r in results.items() if r.startswith("refused")]
    if failed:
        return {"ok": False, "error": "; ".join(f"{n}: {results[n]}" for n in failed), "results": results}
    return {"ok": True, "results": results, "maintenance": sorted(names)}


async def handover(daemon: Daemon, req: dict[str, Any]) -> dict[str, Any]:
    """``{"cmd": "handover", "instance": NAME, "force": bool}``: the master yields once."""
    targets = _targets(daemon, req)
    if isinstance(targets, str):
        return {"ok": False, "error": targets}
    [d] = targets[:1]
    if d.machine.state is not State.MASTER:
        return {"ok": False, "error": f"{d.name} is {d.machine.state.value}, not MASTER: nothing to hand over"}
    if d.machine.maintenance:
        return {"ok": False, "error": f"{d.name} is in maintenance"}
    force = bool(req.get("force"))
    if d.recorder is not None:
        d.recorder.note("handover", "handover" + (" (forced)" if force else ""))
    d.feed(Handover(force))
    if force:
        return {"ok": True, "results": {d.name: "yielded (forced)"}}
    why = await _probe(d, "yielding")
    if why:
        return {"ok": False, "error": f"{d.name}: refused: {why}"}
    return {"ok": True, "results": {d.name: f"handed over to {d.machine.master_address}"}}
