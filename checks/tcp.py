"""``tcp``: OK when a TCP connection to host:port completes within the timeout.

Options: ``connect_ip`` (default 127.0.0.1), ``connect_port`` (required),
``bindto`` (source address, optional) — keepalived's TCP_CHECK names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import integer, text


class TcpCheck:
    """Connects, then closes at once (no data sent).

    Raises (constructor):
        ValueError: missing or invalid ``connect_port``.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        self.host = text(spec, "connect_ip", "127.0.0.1")
        self.port = integer(spec, "connect_port", lo=1, hi=65535)
        bind = spec.options.get("bindto")
        self.local = (str(bind), 0) if bind else None

    async def run(self) -> CheckResult:
        """Connect once; fails on refusal, unreachability or ``spec.timeout`` seconds."""
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self.spec.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port, local_addr=self.local)
        except TimeoutError:
            return CheckResult(False, f"connect {self.host}:{self.port}: timed out", time.monotonic() - t0)
        except OSError as e:
            why = os.strerror(e.errno) if e.errno else str(e)
            return CheckResult(False, f"connect {self.host}:{self.port}: {why}", time.monotonic() - t0)
        took = time.monotonic() - t0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return CheckResult(True, f"connected to {self.host}:{self.port}", took)
