"""``vipctl``: talk to a running vipd over its control socket.

Commands:
    vipctl status [--json]   every instance: state, priority and why, master, last transition;
                             the checks and the sync groups
    vipctl reload            re-read the config; an invalid file is refused and the daemon keeps running
    vipctl dump              keepalived's data dump, as JSON (status + counters + normalised config)
    vipctl check [--expect master|backup|any] [INSTANCE]
                             a monitoring verdict with Nagios exit codes (:mod:`vipd.control.nagios`)
    vipctl explain [INSTANCE] [--json]
                             why each instance is in its state with its priority (:mod:`vipd.obs.explain`)
    vipctl events [--follow] [--json] [--since WHEN] [INSTANCE]
                             the flight recorder (:mod:`vipd.obs.recorder`); --json prints JSON lines
    vipctl capture -w FILE [INSTANCE]
                             the adverts around recorded transitions as a pcap (:mod:`vipd.obs.pcap`)
    vipctl maintenance on|off [INSTANCE|--all] [--force]
                             take instances out of service (hand over if master), kept across restarts
    vipctl handover INSTANCE [--force]
                             the master yields once (:mod:`vipd.control.maintenance`)

Members of group ``vipd`` may run ``status``, ``check``, ``explain`` and ``events``;
``reload``, ``dump``, ``capture`` (v2 adverts carry ``auth_pass``), ``maintenance`` and
``handover`` need root. ``maintenance`` and ``handover`` refuse (exit 1, with the reason)
when no other node would hold the VIP, unless ``--force``.

Exit status: 0 success; 1 the daemon answered with an error (e.g. invalid config
on reload); 2 usage; 3 cannot reach the daemon. ``check`` exits with Nagios's
codes instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from typing import Any

from vipd import __version__
from vipd.control.server import DEFAULT_PATH, request


def _rows(resp: dict[str, Any]) -> str:
    from vipd.obs.status import render_status_text

    return render_status_text(resp)


def build_parser() -> argparse.ArgumentParser:
    """Return ``vipctl``'s argument parser (the man page and the completion are built from it)."""
    p = argparse.ArgumentParser(prog="vipctl", description="Query and control a running vipd.")
    p.add_argument("-s", "--socket", default=DEFAULT_PATH, help=f"control socket (default {DEFAULT_PATH})")
    p.add_argument("-v", "--version", action="version", version=f"vipctl {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("status", help="instances, states, priorities, masters")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("reload", help="re-read and apply the configuration (root only)")
    sub.add_parser("dump", help="keepalived-style data dump as JSON (root only)")
    ck = sub.add_parser("check", help="monitoring verdict: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    ck.add_argument(
        "--expect", choices=("master", "backup", "any"), default="any", help="the state this node should be in"
    )
    ck.add_argument("instance", nargs="?", help="one instance (default: every instance)")
    ex = sub.add_parser("explain", help="why each instance is in its state with its priority, and what would change it")
    ex.add_argument("instance", nargs="?", help="one instance (default: every instance)")
    ex.add_argument("--json", action="store_true", help="machine-readable output (the view and its sentences)")
    ev = sub.add_parser("events", help="the flight recorder: transitions, priorities, trackers, VIPs, GARPs, hooks")
    ev.add_argument("instance", nargs="?", help="one instance's events (and the daemon's)")
    ev.add_argument("-f", "--follow", action="store_true", help="keep printing new events (polls twice a second)")
    ev.add_argument("--json", action="store_true", help="one JSON object per line, with the adverts")
    ev.add_argument("--since", metavar="WHEN", help="only newer events: 90s, 5m, 2h ago, or epoch seconds")
    cp = sub.add_parser("capture", help="write the adverts around recorded transitions as a pcap (root only)")
    cp.add_argument("-w", dest="file", metavar="FILE", required=True, help="pcap file to write (- for stdout)")
    cp.add_argument("instance", nargs="?", help="one instance (default: every instance)")
    mt = sub.add_parser("maintenance", help="take instances out of service or back (root only; kept across restarts)")
    mt.add_argument("mode", choices=("on", "off"))
    mt.add_argument("instance", nargs="?", help="the instance (default: the only one)")
    mt.add_argument("--all", action="store_true", help="every instance")
    mt.add_argument("--force", action="store_true", help="even if no other node would hold the VIP")
    ho = sub.add_parser("handover", help="the master yields once to a backup (root only)")
    ho.add_argument("instance", help="the instance")
    ho.add_argument("--force", action="store_true", help="even if no other node takes over")
    return p


def parse_since(text: str, now: float) -> float:
    """``--since``: ``90s``/``5m``/``2h``/``1d`` ago, or absolute epoch seconds; returns epoch seconds.

    Raises:
        ValueError: not a duration nor a number.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip()
    if t and t[-1] in units:
        return now - float(t[:-1]) * units[t[-1]]
    return float(t)


def _explain(args: argparse.Namespace, resp: dict[str, Any]) -> int:
    from vipd.obs.explain import render_explain

    if args.json:
        resp.pop("ok", None)
        print(json.dumps(resp, indent=2))
    else:
        print(render_explain(resp))
    return 0


def _event_line(e: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(e["time"])) + f".{int(e['time'] % 1 * 1000):03d}"
    who = e.get("instance") or "-"
    line = f"{stamp} {who} {e['kind']}: {e['text']}"
    ads = e.get("adverts")
    if ads:
        line += (
            f" [{len(ads)} adverts kept: "
            + ", ".join(f"{a['dir']} {a['src']} p{a['priority']}" for a in ads[-3:])
            + (" ...]" if len(ads) > 3 else "]")
        )
    return line


def _events(args: argparse.Namespace) -> int:
    base: dict[str, Any] = {"cmd": "events", "instance": args.instance}
    if args.since:
        try:
            base["since"] = parse_since(args.since, time.time())
        except ValueError:
            print(f"vipctl: --since {args.since!r}: expected 90s, 5m, 2h, 1d or epoch seconds", file=sys.stderr)
            return 2
    after = 0
    while True:
        try:
            resp = request(args.socket, {**base, "after": after})
        except (OSError, ValueError) as e:
            print(f"vipctl: cannot talk to vipd at {args.socket}: {e}", file=sys.stderr)
            return 3
        if not resp.get("ok"):
            print(f"vipctl: {resp.get('error', 'failed')}", file=sys.stderr)
            return 1
        for event in resp.get("events", []):
            print(json.dumps(event) if args.json else _event_line(event), flush=True)
            after = max(after, int(event["seq"]))
        after = max(after, int(resp.get("last_seq", after)))
        if not args.follow:
            return 0
        try:
            time.sleep(0.5)
        except KeyboardInterrupt:
            return 0


def _capture(args: argparse.Namespace, resp: dict[str, Any]) -> int:
    data = base64.b64decode(resp["pcap"])
    if args.file == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.file, "wb") as f:
            f.write(data)
        print(f"{resp['adverts']} advert(s) written to {args.file}", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> int:
    """``vipctl check``: one line on stdout, Nagios exit code."""
    from vipd.control.nagios import judge, unknown

    try:
        resp = request(args.socket, {"cmd": "status"})
    except (OSError, ValueError) as e:
        verdict = unknown(f"cannot talk to vipd at {args.socket}: {e}")
    else:
        verdict = judge(resp, args.expect, args.instance) if resp.get("ok") else unknown(str(resp.get("error")))
    print(verdict.line)
    return verdict.code


def main(argv: list[str] | None = None) -> int:
    """Run ``vipctl``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.cmd == "check":
        return _check(args)
    if args.cmd == "events":
        try:
            return _events(args)
        except KeyboardInterrupt:
            return 0
    req: dict[str, Any] = {"cmd": args.cmd}
    if args.cmd in ("explain", "capture", "maintenance", "handover"):
        req["instance"] = args.instance
    if args.cmd == "maintenance":
        req.update(on=args.mode == "on", all=args.all, force=args.force)
    elif args.cmd == "handover":
        req["force"] = args.force
    try:
        resp = request(args.socket, req)
    except (OSError, ValueError) as e:
        print(f"vipctl: cannot talk to vipd at {args.socket}: {e}", file=sys.stderr)
        return 3
    if not resp.get("ok"):
        print(f"vipctl: {resp.get('error', 'failed')}", file=sys.stderr)
        for d in resp.get("diagnostics", []):
            print(d, file=sys.stderr)
        return 1
    if args.cmd == "explain":
        return _explain(args, resp)
    if args.cmd in ("maintenance", "handover"):
        for name, what in resp.get("results", {}).items():
            print(f"{name}: {what}")
        return 0
    if args.cmd == "capture":
        return _capture(args, resp)
    if args.cmd == "status" and not args.json:
        print(_rows(resp))
    elif args.cmd == "reload":
        diff = resp.get("diff", {})
        print("; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in diff.items()))
    else:
        resp.pop("ok", None)
        print(json.dumps(resp, indent=2, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
