"""``http``: GET a URL, OK when the status, digest and body match are as asked (keepalived HTTP_GET).

Options: ``url`` (http:// or https://, required; IPv6 literals in brackets,
``http://[::1]:8080/health``), ``status_code`` (codes and inclusive ranges,
``200 204`` or ``200-299 401``; default ``200-299``, keepalived's default),
``digest`` (MD5 of the whole body in hex, keepalived's HTTP_GET ``digest`` as
``genhash`` prints it), ``body_match`` (a regular expression searched in the
first 64 KiB of the body), ``tls_verify`` (on/off, default on), ``host_header``
(``Host:`` override, keepalived's ``virtualhost``).

HTTP/1.1 is spoken with ``h11`` (sans-I/O: it parses, asyncio streams carry
the bytes; no thread): the ``Host`` header is ``[::1]:PORT`` for an IPv6
literal, chunked and ``Content-Length`` bodies are decoded before ``digest`` and
``body_match`` see them, ``Connection: close``. The body is read only when a
digest or body match needs it. Every check runs within ``spec.timeout``
seconds (a timeout is a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl
import time
from urllib.parse import urlsplit

import h11

from vipd.health.api import CheckContext, CheckResult, CheckSpec

from ._options import flag, text

BODY_LIMIT = 65536
"""Bytes of the body that ``body_match`` searches."""
READ_SIZE = 65536
DEFAULT_STATUS = "200-299"


def parse_status_codes(words: str) -> tuple[tuple[int, int], ...]:
    """``"200 204 300-399"`` -> ((200, 200), (204, 204), (300, 399)).

    Raises:
        ValueError: a word is not a code 100..599 or a LOW-HIGH range of them.
    """
    out = []
    for word in words.replace(",", " ").split():
        lo, _, hi = word.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"status_code: {word!r} is not a code or a LOW-HIGH range") from None
        if not 100 <= a <= b <= 599:
            raise ValueError(f"status_code: {word!r} is not within 100..599 (LOW <= HIGH)")
        out.append((a, b))
    if not out:
        raise ValueError("status_code: no code given")
    return tuple(out)


def host_header(host: str, port: int, default_port: int) -> str:
    """The ``Host`` value for a URL's host and port: IPv6 literals bracketed, the port unless default."""
    name = f"[{host}]" if ":" in host else host
    return name if port == default_port else f"{name}:{port}"


class HttpCheck:
    """One GET per ``run()``.

    Raises (constructor):
        ValueError: missing/invalid ``url``, bad ``status_code``, ``digest`` or ``body_match``.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        raw = text(spec, "url")
        try:
            url = urlsplit(raw)
            port = url.port
        except ValueError as e:
            raise ValueError(f"http check {spec.name}: bad url {raw!r}: {e}") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"http check {spec.name}: url must be http://HOST[:PORT]/PATH or https://..., got {raw!r}")
        self.url = url.geturl()
        self.host = url.hostname
        default_port = 443 if url.scheme == "https" else 80
        self.port = port or default_port
        self.target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.host_header = str(spec.options.get("host_header") or host_header(self.host, self.port, default_port))
        try:
            self.codes = parse_status_codes(text(spec, "status_code", DEFAULT_STATUS))
        except ValueError as e:
            raise ValueError(f"http check {spec.name}: {e}") from None
        digest = spec.options.get("digest")
        self.digest = str(digest).lower() if digest else None
        if self.digest is not None and not re.fullmatch(r"[0-9a-f]{32}", self.digest):
            raise ValueError(f"http check {spec.name}: digest must be 32 hex digits (MD5), got {digest!r}")
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

    def status_ok(self, status: int) -> bool:
        """Whether ``status`` is one of the accepted codes or ranges."""
        return any(lo <= status <= hi for lo, hi in self.codes)

    async def run(self) -> CheckResult:
        """GET the URL once within ``spec.timeout`` seconds."""
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self.spec.timeout):
                status, md5, body = await self._get()
        except TimeoutError:
            return CheckResult(False, f"GET {self.url}: timed out", time.monotonic() - t0)
        except h11.ProtocolError as e:
            return CheckResult(False, f"GET {self.url}: bad HTTP response: {e}", time.monotonic() - t0)
        except (OSError, ValueError, ssl.SSLError) as e:
            return CheckResult(False, f"GET {self.url}: {e}", time.monotonic() - t0)
        took = time.monotonic() - t0
        if not self.status_ok(status):
            return CheckResult(False, f"HTTP {status}", took)
        if self.digest is not None and md5 != self.digest:
            return CheckResult(False, f"HTTP {status}, digest {md5} != {self.digest}", took)
        if self.body_re is not None and not self.body_re.search(body):
            return CheckResult(False, f"HTTP {status}, body does not match {self.body_re.pattern.decode()!r}", took)
        return CheckResult(True, f"HTTP {status}", took)

    async def _get(self) -> tuple[int, str | None, bytes]:
        """``(status, md5 hex of the body or None, first BODY_LIMIT bytes of the body)``."""
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
        )
        try:
            conn = h11.Connection(h11.CLIENT)
            request = h11.Request(
                method="GET",
                target=self.target,
                headers=[
                    ("Host", self.host_header),
                    ("User-Agent", "vipd-check"),
                    ("Accept", "*/*"),
                    ("Connection", "close"),
                ],
            )
            writer.write(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
            await writer.drain()
            want_body = self.digest is not None or self.body_re is not None
            status = 0
            md5 = hashlib.md5(usedforsecurity=False) if self.digest is not None else None
            body = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(READ_SIZE))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    if not want_body:
                        break
                elif isinstance(event, h11.Data):
                    if md5 is not None:
                        md5.update(event.data)
                    if self.body_re is not None and len(body) < BODY_LIMIT:
                        body += event.data[: BODY_LIMIT - len(body)]
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            return status, md5.hexdigest() if md5 is not None else None, bytes(body)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
