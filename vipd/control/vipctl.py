"""``vipctl``: talk to a running vipd over its control socket.

Commands:
    vipctl status [--json]   every instance: state, priority and why, master, last transition;
                             the checks and the sync groups
    vipctl reload            re-read the config; an invalid file is refused and the daemon keeps running
    vipctl dump              keepalived's data dump, as JSON (status + counters + normalised config)
    vipctl check [--expect master|backup|any] [INSTANCE]
                             a monitoring verdict with Nagios exit codes (:mod:`vipd.control.nagios`)

Members of group ``vipd`` may run ``status``; ``reload`` and ``dump`` need root.

Exit status: 0 success; 1 the daemon answered with an error (e.g. invalid config
on reload); 2 usage; 3 cannot reach the daemon. ``check`` exits with Nagios's
codes instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    return p


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
    try:
        resp = request(args.socket, {"cmd": args.cmd})
    except (OSError, ValueError) as e:
        print(f"vipctl: cannot talk to vipd at {args.socket}: {e}", file=sys.stderr)
        return 3
    if not resp.get("ok"):
        print(f"vipctl: {resp.get('error', 'failed')}", file=sys.stderr)
        for d in resp.get("diagnostics", []):
            print(d, file=sys.stderr)
        return 1
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
