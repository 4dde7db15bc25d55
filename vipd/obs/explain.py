"""``vipctl explain``: why an instance is in its state with its priority, in sentences an operator can act on.

Input: :meth:`vipd.runtime.view.InstanceView.to_json` (the daemon builds it on
request and sends it over the control socket). Output: a list of sentences, in
this order: the state and priority, the priority's terms (each tracker's
contribution and last result), FAULT reasons, the master last heard, preemption,
the running timer, what would change the state, the discards for this VRID, and
where adverts go from. Pure: no clock, no I/O (ages and countdowns are in the view).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHECKSUM_FORM = {
    "pseudo": "checksum over the IP pseudo-header (RFC 5798 §5.2.8; keepalived, FRR)",
    "plain": "checksum over the VRRP message only (VRRPv2 form; v3_checksum_as_v2, Cisco, Juniper)",
}


def _s(x: float | None) -> str:
    """Seconds with a precision that suits them: ``0.36 s``, ``12.3 s``."""
    if x is None:
        return "-"
    return f"{x:.2f} s" if abs(x) < 10 else f"{x:.1f} s"


def _tracker_sentence(t: Mapping[str, Any]) -> str:
    weight = f"weight {t['weight']}{' reverse' if t.get('reverse') else ''}"
    result = f"reads {t['value']}" if t.get("value") is not None else str(t.get("health", "unknown")).upper()
    last = ""
    if t.get("last_ok") is not None:
        out = " ".join(str(t.get("output") or "").split())[:80]
        dur = f" in {t['duration'] * 1000:.0f} ms" if t.get("duration") is not None else ""
        last = f"; last run {'succeeded' if t['last_ok'] else 'failed'}{dur}" + (f": {out}" if out else "")
    if t.get("fault"):
        effect = "holds the instance in FAULT"
    elif t.get("weight") == 0:
        effect = "would put it in FAULT when failing"
    else:
        effect = f"contributes {t['contribution']:+d}"
    return f"Tracker {t['name']} ({weight}): {result}, {effect}{last}."


def explain(v: Mapping[str, Any]) -> list[str]:
    """The sentences for one instance view (``InstanceView.to_json()``)."""
    m = v["machine"]
    name, state, prio, base = v["name"], m["state"], m["priority"], m["base_priority"]
    out: list[str] = []
    head = f"{name} (VRID {v['vrid']}, VRRPv{v['version']} on {v['interface']}) is {state}"
    if v.get("maintenance"):
        head += " in MAINTENANCE (vipctl maintenance on: it never becomes master until `vipctl maintenance off`)"
    if base == 255:
        out.append(f"{head} with priority 255: it owns the addresses (RFC 5798 §6.4.1), trackers cannot move it.")
    elif prio == base:
        out.append(f"{head} with priority {prio}, its configured priority.")
    else:
        out.append(f"{head} with priority {prio}: configured {base}, trackers {prio - base:+d}.")
    for t in v.get("trackers", []):
        out.append(_tracker_sentence(t))
    faults = v.get("faults") or []
    if state == "FAULT":
        why = ", ".join(faults) if faults else "a fault reported by its interface or sync group"
        out.append(f"FAULT because of: {why}. It leaves FAULT (to BACKUP) when that recovers.")
    master = v.get("master")
    if state == "BACKUP":
        if master:
            out.append(
                f"Master {master['address']} last heard {_s(master['age'])} ago: priority {master['priority']}, "
                f"interval {_s(master['interval'])}, {CHECKSUM_FORM.get(master['checksum'], master['checksum'])}."
            )
        else:
            out.append("No master heard since it entered BACKUP.")
    preempt = m["preempt"]
    if v.get("maintenance"):
        out.append("In maintenance it preempts no one and takes over from no one.")
    elif m.get("yielding"):
        out.append(
            "After `vipctl handover` it does not preempt the master it yielded to; it takes over again only "
            "if that master goes silent or leaves."
        )
    elif not preempt:
        out.append("nopreempt: it does not take over from a master of lower priority; only when the master goes.")
    elif m["preempt_delay"]:
        left = m.get("preempt_wait_left")
        wait = f"; waiting, {_s(left)} left" if left is not None and left > 0 else ""
        out.append(f"Preempts a lower-priority master after preempt_delay {_s(m['preempt_delay'])}{wait}.")
    else:
        out.append("Preempts a lower-priority master at once (preempt on, no preempt_delay).")
    out.extend(_timers_and_change(v, master))
    for d in v.get("discards", []):
        src = f", the last from {d['last_source']}" if d.get("last_source") else ""
        age = f" {_s(d['age'])} ago" if d.get("age") is not None else ""
        out.append(f"Discarded {d['count']} packet(s) for VRID {v['vrid']} as {d['reason']}{src}{age}.")
    dst = ", ".join(v.get("destinations", []))
    mode = "multicast to" if v.get("multicast") else "unicast to"
    out.append(f"Adverts go from {v['source']} ({v['source_why']}) {mode} {dst}.")
    return out


def _timers_and_change(v: Mapping[str, Any], master: Mapping[str, Any] | None) -> list[str]:
    m = v["machine"]
    state, prio = m["state"], m["priority"]
    out: list[str] = []
    if state == "MASTER":
        nxt = m.get("adver_timer_in")
        out.append(f"Adver_Timer: next advert in {_s(nxt)} (every {_s(m['advertisement_interval'])}).")
        if v.get("maintenance"):
            return out
        out.append(
            f"Stays master unless it hears priority above {prio} (or {prio} from an address above "
            f"{v['source']}), a tracker faults it, or it is stopped (then it sends priority 0)."
        )
        return out
    if state == "BACKUP":
        down = m.get("master_down_timer_in")
        reason = m.get("down_reason")
        formula = (
            f"3 x {_s(m['master_adver_interval'])} + skew {_s(m['skew_time'])}"
            if reason == "master_down_timer"
            else reason
        )
        if down is not None:
            out.append(f"Master_Down_Timer fires in {_s(down)} ({formula}); every advert from the master resets it.")
        if v.get("maintenance"):
            out.append("It will not become master while in maintenance, even if the master goes silent.")
        elif m.get("wants_master"):
            out.append("Its sync group holds it in BACKUP until every member can go master.")
        elif reason == "priority_zero_received" and down is not None:
            out.append(f"The master sent priority 0 (leaving): becomes master in {_s(down)} (Skew_Time).")
        elif reason == "preempt" and down is not None:
            who = master["address"] if master else "the master"
            out.append(f"Preempts {who} (lower priority) when the timer fires in {_s(down)}.")
        elif master and down is not None:
            out.append(
                f"Becomes master if {master['address']} stays silent for {_s(down)}, or at once after "
                f"Skew_Time {_s(m['skew_time'])} if it sends priority 0."
            )
            if m["preempt"] and master["priority"] < prio:
                out.append(f"Its priority {prio} is above the master's {master['priority']}: it will preempt.")
            elif master["priority"] >= prio:
                out.append(f"It would preempt if its priority rose above {master['priority']}.")
        elif down is not None:
            out.append(f"Becomes master in {_s(down)} unless an advert of priority {prio} or more arrives.")
    elif state == "INIT":
        out.append("Not running the protocol (starting, stopping or removed by a reload).")
    return out


def render_explain(resp: Mapping[str, Any]) -> str:
    """``vipctl explain``'s text: the sentences of every instance in the answer, one paragraph each."""
    paras = []
    for inst in resp.get("instances", []):
        paras.append("\n".join(f"  {s}" if i else s for i, s in enumerate(inst.get("sentences") or explain(inst))))
    return "\n\n".join(paras)
