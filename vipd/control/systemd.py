"""systemd's notify protocol over ``$NOTIFY_SOCKET`` without libsystemd (sd_notify(3)).

``READY=1`` when every instance runs, ``RELOADING=1`` + ``MONOTONIC_USEC`` around a
reload (``Type=notify-reload`` needs it), ``STOPPING=1``, ``STATUS=`` lines, and
``WATCHDOG=1`` every ``WATCHDOG_USEC/2`` from the event loop (a stalled loop stops
the pings, which is the point).
"""

from __future__ import annotations

import os
import socket
import time


def sd_notify(*lines: str) -> bool:
    """Send ``lines`` to systemd; return False when not run by systemd (no ``$NOTIFY_SOCKET``).

    Errors sending are swallowed (returns False): systemd going away must not stop VRRP.
    """
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall("\n".join(lines).encode())
    except OSError:
        return False
    return True


def monotonic_usec() -> str:
    """Return the ``MONOTONIC_USEC=`` line systemd wants with ``RELOADING=1``."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def watchdog_interval() -> float | None:
    """Return seconds between ``WATCHDOG=1`` pings (half of ``WATCHDOG_USEC``), or None if not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
