"""Takeover after a crash: BFD master-down at 1 s adverts beside plain VRRP at short adverts.

``lab.py bench-bfd``. r1 (priority 200) is master, r2 (100) backup, VRRPv3, one VIP.
Cases:

- ``bfd T``: adverts every 1 s, a BFD session between r1 and r2 at T ms x 3, and r2's
  ``vipd_bfd_master_down`` naming it: r2 takes over when the session's detection time
  (3 x T) runs out, not after Master_Down_Interval (3 s + Skew_Time);
- ``vrrp A``: plain VRRP at A-second adverts: Master_Down_Interval = 3 A + Skew_Time.

Each trial waits a random fraction of the fastest timer, SIGKILLs r1's vipd (every
process frozen, then killed), and reads the time from the kill to r2's first GARP for
the VIP on the client (kernel receive stamps, see scenario.py); r1's VIP is removed,
r1 restarted and preempts back. CPU per session: r2's and r1's whole process trees over
an idle window of ``--idle`` seconds before the trials (one VRRP instance and, for
``bfd``, one BFD session each), as a share of one CPU.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from ..lab.conf import Instance, render
from ..lab.scenario import STARTUP_ALLOWANCE, converge, takeover_garp
from ..lab.topo import Lab, Node
from ..lab.wait import wait_until
from .common import begin, ms, report, summary, tree_cost, wait_quiet

VIP = "192.0.2.100"
VIP_CIDR = f"{VIP}/24"
MULT = 3


def _bfd(peer: Node, me: Node, tx_ms: float) -> str:
    return (
        f"bfd_instance peer {{\n    neighbor_ip {peer.ip4}\n    source_ip {me.ip4}\n"
        f"    min_tx {tx_ms:g}\n    min_rx {tx_ms:g}\n    multiplier {MULT}\n}}\n"
    )


def configs(lab: Lab, case: str, value: float) -> tuple[str, str, float]:
    """(r1's config, r2's config, advert interval) for ``case`` ("bfd" with ms, or "vrrp" with seconds)."""
    ai = 1.0 if case == "bfd" else value
    inst = Instance(advert_int=ai, version=3, vips=(VIP_CIDR,))
    if case == "vrrp":
        return render(inst.with_(priority=200)), render(inst.with_(priority=100)), ai
    c1 = _bfd(lab.r2, lab.r1, value) + render(inst.with_(priority=200))
    c2 = _bfd(lab.r1, lab.r2, value) + render(inst.with_(priority=100, extra=("vipd_bfd_master_down peer",)))
    return c1, c2, ai


def run_case(case: str, value: float, trials: int, idle: float, verbose: bool) -> dict[str, object]:
    rows: list[float] = []
    with Lab() as lab:
        r1, r2 = lab.r1, lab.r2
        c1, c2, ai = configs(lab, case, value)
        settle = STARTUP_ALLOWANCE + 3 * ai + 2.0
        d1 = lab.start_vipd(r1, c1)
        d2 = lab.start_vipd(r2, c2)
        try:
            converge(lab, r1, [r2], VIP, interval=ai, adverts=2, timeout=settle)
            wait_quiet(d1.pid)
            wait_quiet(d2.pid)
            a1, a2 = tree_cost(d1.pid), tree_cost(d2.pid)
            time.sleep(idle)
            b1, b2 = tree_cost(d1.pid), tree_cost(d2.pid)
            cpu = {"master": (b1.cpu - a1.cpu) / (b1.t - a1.t), "backup": (b2.cpu - a2.cpu) / (b2.t - a2.t)}
            fastest = value / 1000 if case == "bfd" else ai
            for i in range(trials):
                time.sleep(random.uniform(0, fastest) + (0.5 if case == "bfd" else 0.0))
                t_kill = d1.crash()
                _adv, garp = takeover_garp(lab, r2, VIP, t_kill, timeout=3 * ai + 3.0)
                rows.append(garp.t - t_kill)
                if verbose:
                    print(f"  {case} {value:g}: {i + 1}/{trials} kill->GARP {rows[-1] * 1e3:.1f} ms", file=sys.stderr)
                lab.del_address(r1, VIP_CIDR)
                d1 = lab.start_vipd(r1, c1)
                converge(lab, r1, [r2], VIP, interval=ai, adverts=2, timeout=settle)
                if case == "bfd":
                    wait_until(lambda ups=i + 2: d2.log_text().count("-> UP (diag") >= ups, 5.0, message="BFD Up again")
                wait_quiet(d1.pid)
        except BaseException:
            print(lab.logs(30), file=sys.stderr)
            raise
        finally:
            for d in (d1, d2):
                d.stop()
    return {"case": case, "value": value, "advert_int": ai, "trials": trials, "kill_to_garp": rows,
            "summary": summary(rows), "cpu_share": cpu}  # fmt: skip


def main(args: argparse.Namespace) -> int:
    cases = [("bfd", float(x)) for x in args.bfd.split(",") if x] + [
        ("vrrp", float(x)) for x in args.vrrp.split(",") if x
    ]
    params = {"cases": cases, "trials": args.trials, "idle": args.idle}
    results = begin("bfd", ["vipd"], params, runs=[])
    for case, value in cases:
        print(f"bench-bfd: {case} {value:g}, {args.trials} trials ...", file=sys.stderr, flush=True)
        load0 = os.getloadavg()
        res = run_case(case, value, args.trials, args.idle, args.verbose)
        res["loadavg"] = [load0, os.getloadavg()]
        results["runs"].append(res)  # type: ignore[attr-defined]
    return report(results, markdown)


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    lines = [
        "| case | detection bound | kill -> GARP median | p95 | max | CPU master | CPU backup | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        if r["case"] == "bfd":
            name = f"BFD master-down {r['value']:g} ms x {MULT}, adverts 1 s"
            bound = r["value"] * MULT / 1000
        else:
            name = f"plain VRRP, adverts {r['value']:g} s"
            bound = 3 * r["value"] + (256 - 100) * r["value"] / 256
        s = r["summary"]
        lines.append(
            f"| {name} | {ms(bound)} | {ms(s['median'])} | {ms(s['p95'])} | {ms(s['max'])} "
            f"| {r['cpu_share']['master'] * 100:.2f} % | {r['cpu_share']['backup'] * 100:.2f} % "
            f"| {r['loadavg'][0][0]:.2f} |"
        )
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-bfd", help="crash takeover with BFD master-down (1 s adverts) vs plain VRRP")
    p.add_argument("--trials", type=int, default=10, help="trials per case (default 10)")
    p.add_argument("--bfd", default="100,50,20", help="BFD min_tx/min_rx in ms, x 3 (default 100,50,20)")
    p.add_argument("--vrrp", default="0.1,0.01", help="plain VRRP advert intervals in s (default 0.1,0.01)")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measurement per case")
    p.add_argument("-v", "--verbose", action="store_true", help="print every trial")
    p.set_defaults(func=main)
