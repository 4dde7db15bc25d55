"""Start-up: process start to the first advert sent, vipd vs keepalived.

``lab.py bench-startup``. One router, one VRRPv3 instance (priority 100,
state BACKUP, 0.1 s adverts), no peer: the daemon starts in Backup, waits
Master_Down_Interval (360.9 ms), then sends its first advert. The trials
alternate between the daemons in the same lab, each started on the same file
(as an operator's keepalived.conf); vipd runs twice, with its start-up plan
memo (``vipd.control.planmemo``: the file and host read the same as at the
previous start) and with it off (``VIPD_PLAN_MEMO=off``: the worker process
reads and plans the file, as for a new or edited file). Reported per trial:

* start -> first advert: from just before the lab's ``Popen`` (the process
  start) to the client's kernel receive time of the first advert;
* minus Master_Down_Interval: the daemon's own start-up time (exec, imports,
  config, sockets) before its Master_Down timer began;
* start -> 224.0.0.18 joined: polled every 5 ms in /proc/net/igmp (so +-5 ms),
  the moment its VRRP socket was open;
* start -> quiet: the end of the first 50 ms window after joining in which the
  daemon used under 10 % of a CPU (it has finished starting; +-50 ms).

For vipd, ``python -X importtime`` splits the start-up further: the
interpreter alone, and importing ``vipd.cli`` and what the daemon imports. ``-t`` on
the same file is timed too (the issue's "``vipd -t`` on 255 instances").
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from ..lab import timing
from ..lab.conf import Instance, render
from ..lab.daemons import REPO_ROOT, vipd_env
from ..lab.sniff import Advert
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import begin, kinds_of, load_line, ms, ratio, report, summary, wait_quiet

AI = 0.1
PRIORITY = 100
# cumulative imports, each step adding to the previous: where vipd's resident memory comes from.
# pyroute2 is not among them: the daemon speaks rtnetlink itself (vipd.linux.rtnl) and imports
# pyroute2 only for routes, rules and VMACs; prometheus_client only when metrics are asked for.
DAEMON_IMPORTS = (
    "from vipd.control.lean import defer_ssl; defer_ssl(); "
    "import vipd.cli, vipd.control.operate, vipd.control.planmemo, vipd.linux.host"
)
"""What a vipd daemon imports before it starts (ssl deferred; no pydantic: vipd.config.values)."""
IMPORT_STEPS = (
    ("python", "pass"),
    ("+ asyncio (ssl deferred)", "from vipd.control.lean import defer_ssl; defer_ssl()"),
    ("+ vipd's runtime (the daemon)", DAEMON_IMPORTS),
    ("+ pyroute2's AsyncIPRoute (only with routes, rules or use_vmac)", DAEMON_IMPORTS + ", pyroute2.iproute.linux"),
    ("+ pydantic and the config models (the worker and -t only)", DAEMON_IMPORTS + ", vipd.config.loader"),
)
HEAVY = {
    "pydantic",
    "pyroute2",
    "pyroute2.iproute.linux",
    "asyncio",
    "vipd.config.model",
    "vipd.linux.netlink",
    "logging",
}


def import_costs(repeat: int = 5) -> dict[str, object]:
    """Median wall time of ``python -c pass`` and of importing vipd's entry modules, plus the top imports."""

    def wall(code: str) -> float:
        times = []
        for _ in range(repeat):
            t = time.monotonic()
            subprocess.run([sys.executable, "-c", code], env=vipd_env(), check=True, capture_output=True)
            times.append(time.monotonic() - t)
        return summary(times)["median"]

    out: dict[str, object] = {
        "python_c_pass": wall("pass"),
        "import_vipd_cli": wall("import vipd.cli"),
        "import_vipd_daemon": wall(DAEMON_IMPORTS),
    }
    rss: dict[str, float] = {}
    for label, code in IMPORT_STEPS:
        probe = code + "; print([x for x in open('/proc/self/status') if x.startswith('VmRSS')][0].split()[1])"
        done = subprocess.run([sys.executable, "-c", probe], env=vipd_env(), capture_output=True, text=True)
        rss[label] = int(done.stdout.split()[-1]) * 1024 if done.returncode == 0 and done.stdout.split() else -1
    out["rss_after_import"] = rss
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", DAEMON_IMPORTS],
        env=vipd_env(),
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        # cumulative time of the packages vipd pulls in, wherever they are first imported
        if m and (m.group(4) in HEAVY or len(m.group(3)) <= 1):
            rows.append((int(m.group(2)) / 1e6, m.group(4)))
    best: dict[str, float] = {}
    for sec, name in rows:
        best[name] = max(sec, best.get(name, 0.0))
    out["top_imports"] = sorted(((sec, name) for name, sec in best.items()), reverse=True)[:12]
    return out


def config_test_times(lab: Lab, text: str, kinds: list[str], repeat: int = 5) -> dict[str, float]:
    """Median wall time of ``-t`` (check the file, with the host checks) per daemon, in r1's namespace."""
    conf = lab.workdir / "config-test.conf"
    conf.write_text(text)
    out: dict[str, float] = {}
    for kind in kinds:
        if kind == "vipd":
            argv = [sys.executable, "-m", "vipd", "-t", "-f", str(conf)]
            env = vipd_env()
        else:
            argv = ["keepalived", "-t", "-f", str(conf)]
            env = None
        times = []
        for _ in range(repeat):
            t = time.monotonic()
            done = subprocess.run(["ip", "netns", "exec", lab.r1.ns, *argv], env=env, capture_output=True)
            times.append(time.monotonic() - t)
            if done.returncode != 0:
                raise RuntimeError(f"{kind} -t refused the bench's config: {done.stderr.decode()[-300:]}")
        out[kind] = summary(times)["median"]
    return out


def main(args: argparse.Namespace) -> int:
    return report(collect(args), markdown)


def collect(args: argparse.Namespace) -> dict[str, object]:
    """Run the benchmark as ``args`` say; return (and save nothing of) its results."""
    kinds = kinds_of(args.daemon)
    mdi = timing.master_down_interval(3, PRIORITY, AI)
    # As installed: vipd's bytecode exists before the first start (pip compiles at install).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "vipd", "checks"], cwd=REPO_ROOT, check=True)
    params = {
        "interval": AI,
        "priority": PRIORITY,
        "master_down_interval": mdi,
        "trials": args.trials,
        "vrids": args.vrids,
    }
    # vipd twice: as an operator restarts it (the same file, its start-up plan memo valid:
    # vipd.control.planmemo), and with the memo off (a new or edited file: read and planned
    # by the worker process). An untimed start first writes the memo.
    variants = [(k, k, {}) for k in kinds]
    if "vipd" in kinds:
        variants.insert(1, ("vipd, memo off", "vipd", {"VIPD_PLAN_MEMO": "off"}))
    results = begin("startup", kinds, params, rows={name: [] for name, _, _ in variants})
    if args.vrids == 1:
        text, first_vip = render(Instance(priority=PRIORITY, advert_int=AI, version=3)), "192.0.2.100"
    else:  # as bench-scale's: VRIDs 1..N on one interface; the first advert of any counts
        from .scale import config, vip_of

        text, first_vip = config(args.vrids, PRIORITY), vip_of(1).split("/")[0]
    with Lab(routers=1) as lab:
        r1, sn = lab.r1, lab.sniffer
        assert sn is not None

        def one(kind: str, env: dict[str, str]) -> dict[str, float]:
            d = lab.start_daemon(kind, r1, text, same_file=True, env=env)
            t_start = d.started_at
            t_join = wait_until(lambda: lab.vrrp_joined(r1) and time.monotonic(), 30, interval=0.005)
            t_quiet = t_start + (t_join - t_start) + wait_quiet(d.pid, window=0.05, max_share=0.1)
            adv = sn.wait_for(
                Advert, 30, since=t_start, src=r1.ip4, where=lambda a: a.priority > 0, message="first advert"
            )
            d.stop()
            wait_until(lambda: not lab.vrrp_joined(r1) and not lab.holds(r1, first_vip), 30)
            row = {"first_advert": adv.t - t_start, "joined": t_join - t_start, "quiet": t_quiet - t_start}
            row["startup"] = row["first_advert"] - mdi
            return row

        results["config_test"] = config_test_times(lab, text, kinds)
        if "vipd" in kinds:
            one("vipd", {})  # writes the memo
        for i in range(args.trials):
            for name, kind, env in variants:
                row = one(kind, env)
                results["rows"][name].append(row)  # type: ignore[index]
                print(
                    f"  {name} {i + 1}/{args.trials}: first advert {ms(row['first_advert'], 1)}, "
                    f"joined {ms(row['joined'], 0)}",
                    file=sys.stderr,
                    flush=True,
                )
    if "vipd" in kinds:
        results["vipd_imports"] = import_costs()
    results["summary"] = {
        k: {key: summary(r[key] for r in rows) for key in ("first_advert", "startup", "joined", "quiet")}
        for k, rows in results["rows"].items()  # type: ignore[attr-defined]
    }
    return results


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    p = results["params"]
    lines = [
        f"Run: {load_line(results)}. " + ", ".join(f"{k} {x}" for k, x in results["versions"].items()) + ".",
        "",
        f"{p.get('vrids', 1)} VRID(s).",
        "",
        "| daemon | trials | start -> first advert median / p95 "
        f"| minus Master_Down_Interval ({ms(p['master_down_interval'], 1)}) "
        "| vipd / keepalived | start -> 224.0.0.18 joined median | start -> quiet median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    sm = results["summary"]
    for kind, s in sm.items():
        rel = (
            ratio(s["startup"]["median"], sm["keepalived"]["startup"]["median"])
            if kind.startswith("vipd") and "keepalived" in sm
            else ""
        )
        lines.append(
            f"| {kind} | {s['first_advert']['n']} "
            f"| {ms(s['first_advert']['median'], 1)} / {ms(s['first_advert']['p95'], 1)} "
            f"| {ms(s['startup']['median'], 1)} | {rel} | {ms(s['joined']['median'], 0)} "
            f"| {ms(s['quiet']['median'], 0)} |"
        )
    ct = results.get("config_test")
    if ct:
        lines += [
            "",
            "`-t` (check the file with the host checks, exit; median of 5): "
            + ", ".join(f"{k} {ms(v, 0)}" for k, v in ct.items())
            + ".",
        ]
    imp = results.get("vipd_imports")
    if imp:
        lines += [
            "",
            f"vipd's start-up, split (medians of 5 runs): `python -c pass` {ms(imp['python_c_pass'], 0)}, "
            f"`import vipd.cli` {ms(imp['import_vipd_cli'], 0)}, the daemon's imports "
            f"{ms(imp['import_vipd_daemon'], 0)}. Largest top-level imports (cumulative, `-X importtime`): "
            + ", ".join(f"{name} {sec * 1000:.0f} ms" for sec, name in imp["top_imports"][:6])
            + ".",
            "",
            "VmRSS of a bare interpreter after each cumulative import step: "
            + ", ".join(f"{k} {v / (1 << 20):.1f} MiB" for k, v in imp.get("rss_after_import", {}).items())
            + ".",
        ]
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-startup", help="process start to first advert, vipd vs keepalived")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--vrids", type=int, default=1, help="instances (VRIDs 1..N on one interface, as bench-scale)")
    p.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    p.set_defaults(func=main)
