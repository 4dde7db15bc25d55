"""Logging: targets (stderr, journald, syslog, a file), severities, rate-limited warnings.

Log lines follow keepalived's shape where one exists, e.g. ``(VI_1) Entering
MASTER STATE``, so operators' grep patterns keep working.

Targets, chosen from keepalived's flags by :func:`setup_logging`:

- stderr, always (vipd never forks). When stderr is journald's stream
  (``$JOURNAL_STREAM`` names stderr's device:inode, see systemd.exec(5)) each line
  starts with the sd-daemon(3) ``<N>`` syslog priority and carries no timestamp
  (journald stamps it), so ``journalctl -p err`` works;
- syslog (``/dev/log``) with keepalived's ``-S`` facility; ``-G`` turns it off.
  Under journald with ``-S`` and without ``-l`` stderr is dropped, since journald
  also receives ``/dev/log`` and would show every line twice;
- a file (keepalived's ``-g FILE``), reopened when logrotate moves it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateLimiter:
    """Allow ``burst`` messages per key every ``period`` seconds; count the rest.

    ``allow(key, now)`` returns ``(allowed, suppressed_since_last)``.
    """

    period: float = 10.0
    burst: int = 5
    _window: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """Return whether to log now, and how many were suppressed before this one (seconds)."""
        start, used, suppressed = self._window.get(key, (now, 0, 0))
        if now - start >= self.period:
            self._window[key] = (now, 1, 0)
            return True, suppressed
        if used < self.burst:
            self._window[key] = (start, used + 1, suppressed)
            return True, 0
        self._window[key] = (start, used, suppressed + 1)
        return False, 0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (epoch seconds), ``level``, ``instance`` (from the
    ``(NAME)`` prefix, or null), ``msg`` (without the prefix), ``pid``; plus ``exc`` if any."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one JSON line."""
        msg = record.getMessage()
        instance = None
        if msg.startswith("(") and ") " in msg:
            instance, msg = msg[1:].split(") ", 1)
        out: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "instance": instance,
            "msg": msg,
            "pid": record.process,
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,  # LOG_CRIT
    logging.ERROR: 3,  # LOG_ERR
    logging.WARNING: 4,  # LOG_WARNING
    logging.INFO: 6,  # LOG_INFO
    logging.DEBUG: 7,  # LOG_DEBUG
}
"""Python level -> syslog priority (RFC 5424 section 6.2.1 severities); NOTICE (5) is unused."""

FACILITIES = {"user": 1, "daemon": 3, **{f"local{n}": 16 + n for n in range(8)}}
"""keepalived's ``-S`` names: ``0``-``7`` mean ``local0``-``local7``; ``user``, ``daemon`` (its default).
The values are RFC 5424 §6.2.1 facility codes, ``SysLogHandler.LOG_*`` (a test holds them equal)."""

SYSLOG_ADDRESS = "/dev/log"
TEXT_FORMAT = "%(asctime)s.%(msecs)03d vipd[%(process)d]: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

log = logging.getLogger("vipd")


def syslog_priority(levelno: int) -> int:
    """Return the syslog priority (0-7) for a Python logging level (levels between round down)."""
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


def parse_facility(text: str) -> int:
    """Return the SysLogHandler facility for keepalived's ``-S`` value.

    Accepts ``0``-``7`` (``LOG_LOCAL0``-``LOG_LOCAL7``), ``local0``-``local7``, ``user``, ``daemon``.

    Raises:
        ValueError: anything else (the message lists what is accepted).
    """
    key = text.strip().lower()
    if key.isdigit() and int(key) < 8:
        key = f"local{key}"
    if key not in FACILITIES:
        raise ValueError(f"log facility {text!r}: expected 0-7, local0-local7, user or daemon")
    return FACILITIES[key]


def stderr_is_journal(environ: dict[str, str] | None = None, fd: int = 2) -> bool:
    """True when ``fd`` is the stream systemd connected to journald (``$JOURNAL_STREAM`` = ``DEV:INODE``).

    systemd.exec(5): compare the variable with the fd's ``st_dev``/``st_ino``; a child
    whose stderr was redirected keeps the variable, so the variable alone is not enough.
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class JournalFormatter(logging.Formatter):
    """sd-daemon(3) lines for journald: ``<N>`` (the syslog priority) before every line, no timestamp.

    Args:
        inner: formats the text after the prefix (the message, or :class:`JsonFormatter`).
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the record with ``<N>`` before each of its lines (a traceback keeps its severity)."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).splitlines() or [""])


@dataclass(frozen=True, slots=True)
class LogTargets:
    """Where logs go, from keepalived's flags.

    Attributes:
        facility: ``-S``: log to syslog with this SysLogHandler facility (None: no syslog).
        no_syslog: ``-G``: never log to syslog, even with ``-S``.
        console: ``-l``: keep stderr even when syslog replaces it under journald.
        log_file: ``-g FILE``: also append to this file.
    """

    facility: int | None = None
    no_syslog: bool = False
    console: bool = False
    log_file: str | None = None


def setup_logging(level: int = logging.INFO, fmt: str = "text", targets: LogTargets | None = None) -> None:
    """Install the handlers on the root logger (see the module docstring for the rules).

    Args:
        level: logging level (``-D`` gives DEBUG).
        fmt: ``"text"`` (keepalived-like lines) or ``"json"`` (:class:`JsonFormatter`).
        targets: syslog / file / console choices; default stderr only.

    Raises:
        OSError: ``-g FILE`` cannot be opened (the caller exits 1 with the reason).

    A syslog socket that cannot be reached is reported once on stderr and skipped:
    keepalived starts without a syslog daemon too.
    """
    targets = targets or LogTargets()
    journal = stderr_is_journal()
    body: logging.Formatter = JsonFormatter() if fmt == "json" else logging.Formatter("%(message)s")
    stamped: logging.Formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT, DATE_FORMAT)
    handlers: list[logging.Handler] = []
    problems: list[str] = []
    syslog: logging.Handler | None = None
    if targets.facility is not None and not targets.no_syslog:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                probe.connect(SYSLOG_ADDRESS)  # SysLogHandler itself only complains on every emit
            from logging.handlers import SysLogHandler  # only with syslog or a log file: pickle, queue...

            syslog = SysLogHandler(SYSLOG_ADDRESS, facility=targets.facility)
        except OSError as e:
            problems.append(f"cannot log to syslog at {SYSLOG_ADDRESS}: {e.strerror or e}; logging to stderr")
        else:
            # RFC 3164 tag; SysLogHandler maps the level to the priority itself
            syslog.setFormatter(logging.Formatter("vipd[%(process)d]: %(message)s"))
            handlers.append(syslog)
    if syslog is None or not journal or targets.console:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(JournalFormatter(body) if journal else stamped)
        handlers.append(stderr)
    if targets.log_file:
        from logging.handlers import WatchedFileHandler

        handler = WatchedFileHandler(targets.log_file)
        handler.setFormatter(stamped)
        handlers.append(handler)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(max(level, logging.INFO))  # -D is vipd's detail, not pyroute2's per-message debug
    log.setLevel(level)
    for problem in problems:
        log.warning("%s", problem)
