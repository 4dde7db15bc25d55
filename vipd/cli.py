"""The ``vipd`` command: keepalived's flags where they exist.

vipd always runs in the foreground (no forking) and logs to stderr (with sd-daemon
``<N>`` severities under journald), so a ``DAEMON_ARGS`` copied from
``/etc/default/keepalived`` works. keepalived's logging and run flags, with their meaning:

    -D             debug level;   -S N   also to syslog, facility local N (0-7, localN, user, daemon);
    -G             no syslog;     -l     keep stderr when -S would replace it under journald;
    -g [FILE]      also to FILE (default /tmp/keepalived.log);
    -d             log the normalised configuration at start;
    --signum NAME  print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON, exit;
    -x             SNMP: accepted and ignored with a warning (vipd has no SNMP agent);
    -n, -P         accepted, change nothing (vipd never forks and only does VRRP).

Exit status:
    0  clean run / clean config (``-t``);
    1  config errors (every one printed as ``FILE:LINE: keyword: reason``) or start-up failure;
    2  bad command-line usage;
    3  ``-t --strict``: the config has warnings only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from vipd import __version__

if TYPE_CHECKING:
    from vipd.plan import Verdict

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_WARNINGS = 3
DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DEFAULT_LOG_FILE = "/tmp/keepalived.log"  # keepalived's -g default
SIGNUMS = {"STOP": 15, "RELOAD": 1, "DATA": 10, "STATS": 12, "STATS_CLEAR": 63, "JSON": 36}
"""keepalived 2.2.7's ``--signum`` answers on Linux (SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGRTMIN+29, SIGRTMIN+2)."""


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
    p.add_argument(
        "--no-plan-memo",
        action="store_true",
        help="at start, always read and plan the file (no start-up memo; also VIPD_PLAN_MEMO=off)",
    )
    p.add_argument("-i", "--config-id", metavar="ID", help="select @ID conditional config lines (default: host name)")
    p.add_argument("--pid-file", metavar="PATH", help="write the daemon's pid here")
    p.add_argument("-p", "--pid", dest="pid_file_keepalived", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("-D", "--log-detail", action="store_true", help="log at debug level")
    p.add_argument(
        "-S", "--log-facility", metavar="FACILITY", help="also log to syslog: 0-7 (local0-7), localN, user, daemon"
    )
    p.add_argument("-G", "--no-syslog", action="store_true", help="never log to syslog (overrides -S)")
    p.add_argument(
        "-g",
        "--log-file",
        metavar="FILE",
        nargs="?",
        const=DEFAULT_LOG_FILE,
        help="also log to FILE (reopened on rotate)",
    )
    p.add_argument("-l", "--log-console", action="store_true", help="keep stderr when -S replaces it under journald")
    p.add_argument("-d", "--dump-conf", action="store_true", help="log the normalised configuration at start")
    p.add_argument("-x", "--snmp", action="store_true", help="accepted and ignored: vipd has no SNMP agent")
    p.add_argument(
        "--signum", metavar="SIGFUNC", help="print the signal number for STOP, RELOAD, DATA, STATS, ... and exit"
    )
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format (default text)")
    p.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics there (off by default; host 127.0.0.1)"
    )
    p.add_argument(
        "--control-socket",
        metavar="PATH",
        default="/run/vipd/vipd.ctl",
        help="vipctl socket: 0600, 0660 with group vipd if it exists ('' = off)",
    )
    p.add_argument("--dump-dir", metavar="DIR", default="/run/vipd", help="where SIGUSR1/SIGUSR2/SIGJSON dump files go")
    p.add_argument(
        "--keepalived-links",
        metavar="DIR",
        default="/tmp",
        help="link keepalived's dump paths (DIR/keepalived.data...) to the dump files ('' = no links)",
    )
    p.add_argument("--notify-timeout", metavar="SECONDS", type=float, default=30.0, help="notify script timeout")
    p.add_argument(
        "--state-dir", metavar="DIR", default="/var/lib/vipd", help="state kept across restarts (maintenance)"
    )
    for flag in ("-n", "--dont-fork", "-P", "--vrrp"):
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="version", version=f"vipd {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``vipd`` command; returns the exit status (see module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.signum is not None:
        if args.signum.upper() not in SIGNUMS:
            print(f"Unknown sigfunc {args.signum}", file=sys.stderr)
            return EXIT_ERROR
        print(SIGNUMS[args.signum.upper()])
        return EXIT_OK
    from vipd.obs.log import LogTargets, parse_facility

    try:
        targets = LogTargets(
            facility=None if args.log_facility is None else parse_facility(args.log_facility),
            no_syslog=args.no_syslog,
            console=args.log_console,
            log_file=args.log_file,
        )
    except ValueError as e:
        parser.error(str(e))
    from vipd.config.values import dump_json

    plan_source = ""
    if args.config_test or args.dump_config:
        verdict = _check_here(args)
        if verdict is None:
            return EXIT_ERROR
    else:
        # Start-up: the worker process reads and plans the file (one verdict, as -t and reload)
        # while this process imports the runtime; the daemon so never loads the validator,
        # nor ssl unless a check speaks TLS (vipd.control.lean).
        # No cyclic collection until the daemon has built everything (Daemon.run collects once,
        # freezes the start-up heap, then enables the collector): ~50 collections over a heap
        # that only grows cost ~10 % of the start.
        import gc

        gc.disable()
        from vipd.control.lean import defer_ssl

        defer_ssl()
        from vipd.control import planmemo

        memo = planmemo.enabled(args.no_plan_memo)
        found = (
            planmemo.lookup(args.use_file, args.config_id, strict=args.strict, no_host=args.no_host) if memo else None
        )
        if found is not None:
            verdict = found
            plan_source = "from the start-up memo: the file and the host read the same as at the last start"
        else:
            from vipd.control.planworker import collect, start_worker

            worker = start_worker(args.use_file, args.config_id, strict=args.strict, no_host=args.no_host, record=memo)
            import vipd.control.operate  # noqa: F401  (the runtime, imported while the worker plans)

            result = collect(worker, args.use_file)
            verdict = result.verdict
            plan_source = "read and planned by the worker process"
            if memo and result.files is not None:
                planmemo.store(
                    args.use_file,
                    args.config_id,
                    strict=args.strict,
                    no_host=args.no_host,
                    verdict=verdict,
                    files=result.files,
                    host=result.host,
                )
    for line in verdict.lines():
        print(line, file=sys.stderr)
    if verdict.plan is None:
        if verdict.errors:
            print(f"{args.use_file}: {len(verdict.errors)} error(s); configuration refused", file=sys.stderr)
        return EXIT_ERROR
    plan = verdict.plan
    if args.dump_config:
        print(dump_json(plan.config))
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

    try:
        setup_logging(logging.DEBUG if args.log_detail else logging.INFO, args.log_format, targets)
    except OSError as e:
        print(f"vipd: cannot start: log file {args.log_file}: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    if plan_source:
        logging.getLogger("vipd").info("configuration %s: %s", args.use_file, plan_source)
    if args.snmp:
        logging.getLogger("vipd").warning("-x (SNMP) ignored: vipd has no SNMP agent; use --metrics-listen")
    if args.dump_conf:
        for line in dump_json(plan.config).splitlines():
            logging.getLogger("vipd").info("config: %s", line)
    ops = Operations(
        plan,
        Options(
            config_file=args.use_file,
            config_id=args.config_id,
            # the flag wins over global_defs { vipd_metrics_listen HOST:PORT }
            metrics_listen=args.metrics_listen or plan.config.global_defs.vipd_metrics_listen,
            metrics_from_flag=bool(args.metrics_listen),
            control_socket=args.control_socket or None,
            notify_timeout=args.notify_timeout,
            dump_dir=args.dump_dir,
            keepalived_links=args.keepalived_links or None,
            state_dir=args.state_dir,
        ),
        pid_file=args.pid_file or args.pid_file_keepalived,
    )
    import asyncio

    try:
        status = asyncio.run(ops.run())
        return EXIT_ERROR if ops.failed else status
    except KeyboardInterrupt:
        return EXIT_OK


def _check_here(args: argparse.Namespace) -> Verdict | None:
    """``vipd -t`` / ``--dump-config``: read and plan in this process (it exits after); None: no host view."""
    import asyncio

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
            return None
    # One verdict: the same checks as start-up and reload (vipd.plan), every error as FILE:LINE.
    return check_file(args.use_file, config_id=args.config_id, host=host, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
