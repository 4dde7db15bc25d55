"""Control-socket answers that look inside the daemon: ``explain``, ``events``, ``capture``.

Each takes the :class:`~vipd.runtime.daemon.Daemon` and the request dict and
returns the answer dict; :mod:`vipd.control.operate` dispatches to them. Their
cost on the loop is bounded by the recorder's size (``vipd_recorder_size``) and
the number of instances.

Requests:
    ``{"cmd": "explain", "instance": NAME|null}``
    ``{"cmd": "events", "after": SEQ, "since": EPOCH_SECONDS|null, "instance": NAME|null}``
    ``{"cmd": "capture", "instance": NAME|null}`` -> ``{"pcap": BASE64, "adverts": N}``
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from vipd.obs.explain import explain
from vipd.obs.pcap import write_pcap
from vipd.runtime.view import instance_view
from vipd.wire.advert import VRRP_MCAST4, VRRP_MCAST6, IPAddress

if TYPE_CHECKING:
    from vipd.runtime.daemon import Daemon


def _unknown(daemon: Daemon, name: str) -> dict[str, Any]:
    names = ", ".join(d.name for d, _ in daemon.instances()) or "none"
    return {"ok": False, "error": f"no instance {name!r} (running: {names})"}


def explain_answer(
    daemon: Daemon, req: dict[str, Any], now: float, maintenance: set[str] | None = None
) -> dict[str, Any]:
    """``vipctl explain``: one view and its sentences per instance (or the one asked for)."""
    want = req.get("instance")
    out = []
    tracker = daemon.tracking.tracker if daemon.tracking is not None else None
    for driver, plan in daemon.instance_plans():
        if want is not None and plan.name != want:
            continue
        trackers = tracker.trackers_of(plan.name) if tracker is not None else []
        ev = tracker.evaluation(plan.name) if tracker is not None else None
        view = instance_view(
            driver,
            plan,
            now=now,
            trackers=trackers,
            faults=ev.faults if ev is not None else (),
            maintenance=plan.name in (maintenance or ()),
        )
        j = view.to_json()
        j["sentences"] = explain(j)
        out.append(j)
    if want is not None and not out:
        return _unknown(daemon, str(want))
    return {"ok": True, "instances": out}


def events_answer(daemon: Daemon, req: dict[str, Any]) -> dict[str, Any]:
    """``vipctl events``: the recorder's events after ``after`` (a seq), since ``since`` (epoch seconds)."""
    rec = daemon.recorder
    after = int(req.get("after") or 0)
    since = req.get("since")
    evs = rec.select(after_seq=after, since=None if since is None else float(since), instance=req.get("instance"))
    offset = time.time() - time.monotonic()
    return {
        "ok": True,
        "size": rec.events.maxlen,
        "last_seq": rec.seq,
        "events": [e.to_json(offset) for e in evs],
    }


def capture_answer(daemon: Daemon, req: dict[str, Any]) -> dict[str, Any]:
    """``vipctl capture``: the adverts around the recorded transitions as a pcap (base64), built by vipd.wire."""
    want = req.get("instance")
    offset = time.time() - time.monotonic()
    packets: list[tuple[float, IPAddress, IPAddress, Any, str]] = []
    found = False
    for driver, plan in daemon.instance_plans():
        if want is not None and plan.name != want:
            continue
        found = True
        rec = driver.recorder
        if rec is None:
            continue
        ours = driver.machine.params.primary_address
        group: IPAddress = VRRP_MCAST4 if plan.key.family == 4 else VRRP_MCAST6
        for at, direction, src, adv, checksum in rec.adverts_around():
            dst = group if plan.multicast else plan.dsts[0] if direction == "tx" and plan.dsts else ours
            packets.append((at + offset, src, dst, adv, checksum))
    if want is not None and not found:
        return _unknown(daemon, str(want))
    packets.sort(key=lambda p: p[0])
    data = write_pcap(packets)
    return {"ok": True, "adverts": len(packets), "pcap": base64.b64encode(data).decode("ascii")}
