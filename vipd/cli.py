"""The ``vipd`` command: keepalived's flags where they exist.

vipd always runs in the foreground (no forking) and logs to stderr; keepalived's
``-n``/``-l``/``-D``/``-P`` are accepted for drop-in unit files and change nothing.

Exit status:
    0  clean run / clean config (``-t``);
    1  config errors (every one printed as ``FILE:LINE: keyword: reason``) or start-up failure;
    2  bad command-line usage;
    3  ``-t --strict``: the config has warnings only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vipd import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_WARNINGS = 3
DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (flags named as keepalived's where they exist)."""
    p = argparse.ArgumentParser(
        prog="vipd",
        description="VRRP (v2/v3, IPv4/IPv6) virtual-IP failover daemon reading keepalived.conf.",
    )
    p.add_argument("-f", "--use-file", metavar="FILE", default=DEFAULT_CONFIG, help="configuration file")
    p.add_argument("-t", "--config-test", action="store_true", help="check the configuration and exit")
    p.add_argument("--dump-config", action="store_true", help="print the normalised configuration as JSON")
    p.add_argument("--strict", action="store_true", help="with -t: warnings make the check fail (exit 3)")
    p.add_argument(
        "--no-host",
        action="store_true",
        help="with -t: check the file alone (no interface, address, user or script checks: for build machines)",
    )
    p.add_argument("-i", "--config-id", metavar="ID", help="select @ID conditional config lines (default: host name)")
    p.add_argument("--pid-file", metavar="PATH", help="write the daemon's pid here")
    p.add_argument("-p", "--pid", dest="pid_file_keepalived", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("-D", "--log-detail", action="store_true", help="log at debug level")
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format (default text)")
    p.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics there (off by default; host 127.0.0.1)"
    )
    p.add_argument(
        "--control-socket", metavar="PATH", default="/run/vipd/vipd.ctl", help="vipctl socket, mode 0600 ('' = off)"
    )
    p.add_argument("--dump-dir", metavar="DIR", default="/run/vipd", help="where SIGUSR1/SIGUSR2/SIGJSON dump files go")
    p.add_argument(
        "--keepalived-links",
        metavar="DIR",
        default="/tmp",
        help="link keepalived's dump paths (DIR/keepalived.data...) to the dump files ('' = no links)",
    )
    p.add_argument("--notify-timeout", metavar="SECONDS", type=float, default=30.0, help="notify script timeout")
    for flag in ("-n", "--dont-fork", "-l", "--log-console", "-P", "--vrrp"):
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="version", version=f"vipd {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``vipd`` command; returns the exit status (see module docstring)."""
    args = build_parser().parse_args(argv)
    from vipd.config import dump_config
    from vipd.plan import check_file

    host = None
    if not args.no_host:
        from vipd.linux.host import LiveHost

        try:
            host = asyncio.run(LiveHost.gather())
        except OSError as e:
            print(
                f"cannot read this host's interfaces over netlink ({e}); use --no-host to check the file alone",
                file=sys.stderr,
            )
            return EXIT_ERROR
    # One verdict: the same checks as start-up and reload (vipd.plan), every error as FILE:LINE.
    verdict = check_file(args.use_file, config_id=args.config_id, host=host, strict=args.strict)
    for line in verdict.lines():
        print(line, file=sys.stderr)
    if verdict.plan is None:
        if verdict.errors:
            print(f"{args.use_file}: {len(verdict.errors)} error(s); configuration refused", file=sys.stderr)
        return EXIT_ERROR
    plan = verdict.plan
    if args.dump_config:
        print(dump_config(plan.config))
        return EXIT_OK
    if args.config_test:
        if args.strict and verdict.warnings:
            return EXIT_WARNINGS
        checked = (
            "; checked on this host: " + ", ".join(plan.host_checked)
            if plan.host_checked
            else ("; host checks skipped (--no-host)")
        )
        print(f"{args.use_file}: configuration OK{checked}", file=sys.stderr)
        return EXIT_OK

    # --- fail loudly at start: capabilities, then the fd limit (vipd.linux.caps, vipd.obs.fdguard)
    from vipd.linux.caps import capability_error
    from vipd.obs.fdguard import raise_nofile

    if (why := capability_error()) is not None:
        print(why, file=sys.stderr)
        return EXIT_ERROR
    raise_nofile()
    # ---
    from vipd.control.operate import Operations, Options
    from vipd.obs.log import setup_logging

    setup_logging(logging.DEBUG if args.log_detail else logging.INFO, args.log_format)
    ops = Operations(
        plan,
        Options(
            config_file=args.use_file,
            config_id=args.config_id,
            # the flag wins over global_defs { vipd_metrics_listen HOST:PORT }
            metrics_listen=args.metrics_listen or plan.config.global_defs.vipd_metrics_listen,
            control_socket=args.control_socket or None,
            notify_timeout=args.notify_timeout,
            dump_dir=args.dump_dir,
            keepalived_links=args.keepalived_links or None,
        ),
        pid_file=args.pid_file or args.pid_file_keepalived,
    )
    try:
        return asyncio.run(ops.run())
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
