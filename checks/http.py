"""``http``: GET a URL, OK when the status is expected (and the body matches, if asked).

Options: ``url`` (http:// or https://, required), ``status_code`` (one or more
codes, default 200), ``body_match`` (a regular expression searched in the first
64 KiB of the body, optional), ``tls_verify`` (on/off, default on),
``host_header`` (optional ``Host:`` override).

A minimal HTTP/1.1 client on asyncio streams (no third-party dependency, no
thread): ``Connection: close``, the body read up to 64 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from urllib.parse import urlsplit

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import flag, text

BODY_LIMIT = 65536


class HttpCheck:
    """One GET per ``run()``.

    Raises (constructor):
        ValueError: missing/invalid ``url``, bad ``status_code`` or ``body_match``.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        url = urlsplit(text(spec, "url"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"http check {spec.name}: url must be http://HOST[:PORT]/PATH or https://..., got {url.geturl()!r}"
            )
        self.url = url.geturl()
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        default_port = self.port == (443 if url.scheme == "https" else 80)
        self.host_header = str(spec.options.get("host_header") or (url.netloc if not default_port else self.host))
        codes = text(spec, "status_code", "200").replace(",", " ").split()
        try:
            self.codes = frozenset(int(c) for c in codes)
        except ValueError:
            raise ValueError(f"http check {spec.name}: status_code must be numbers, got {codes}") from None
        pattern = spec.options.get("body_match")
        try:
            self.body_re = re.compile(str(pattern).encode()) if pattern else None
        except re.error as e:
            raise ValueError(f"http check {spec.name}: body_match is not a valid regular expression: {e}") from None
        self.tls: ssl.SSLContext | None = None
        if url.scheme == "https":
            self.tls = ssl.create_default_context()
            if not flag(spec, "tls_verify", True):
                self.tls.check_hostname = False
                self.tls.verify_mode = ssl.CERT_NONE

    async def run(self) -> CheckResult:
        """GET the URL once within ``spec.timeout`` seconds."""
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self.spec.timeout):
                status, body = await self._get()
        except TimeoutError:
            return CheckResult(False, f"GET {self.url}: timed out", time.monotonic() - t0)
        except (OSError, ValueError, ssl.SSLError) as e:
            return CheckResult(False, f"GET {self.url}: {e}", time.monotonic() - t0)
        took = time.monotonic() - t0
        if status not in self.codes:
            return CheckResult(False, f"HTTP {status}", took)
        if self.body_re is not None and not self.body_re.search(body):
            return CheckResult(False, f"HTTP {status}, body does not match {self.body_re.pattern.decode()!r}", took)
        return CheckResult(True, f"HTTP {status}", took)

    async def _get(self) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
        )
        try:
            request = (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host_header}\r\nUser-Agent: vipd-check\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            await writer.drain()
            line = await reader.readline()
            parts = line.decode("latin-1").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ValueError(f"not an HTTP response: {line[:60]!r}")
            status = int(parts[1])
            body = b""
            if self.body_re is not None:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                chunks = bytearray()
                while len(chunks) < BODY_LIMIT and (chunk := await reader.read(BODY_LIMIT - len(chunks))):
                    chunks += chunk
                body = bytes(chunks)
            return status, body
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
