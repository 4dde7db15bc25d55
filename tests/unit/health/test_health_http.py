"""The ``http`` check (keepalived HTTP_GET semantics) against real servers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd_checks.http import HttpCheck, host_header, parse_status_codes

Handler = Callable[[bytes], bytes]
"""The request head -> the raw response bytes."""


def check(url: str, **options: Any) -> HttpCheck:
    return HttpCheck(CheckSpec("web", "http", 1.0, 2.0, {"url": url, **options}), CheckContext())


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def serve(
    respond: Handler, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> tuple[asyncio.Server, int, list[bytes]]:
    """A one-response-per-connection server; returns it, its port and the request heads it saw."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(respond(head))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1], seen


def run_against(
    respond: Handler, make: Callable[[int], HttpCheck], host: str = "127.0.0.1"
) -> tuple[CheckResult, list[bytes]]:
    async def main() -> tuple[CheckResult, list[bytes]]:
        server, port, seen = await serve(respond, host)
        async with server:
            return await make(port).run(), seen

    return asyncio.run(main())


def fixed(status: int, body: bytes, chunked: bool = False) -> Handler:
    def respond(_head: bytes) -> bytes:
        if not chunked:
            return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)
        mid = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:mid], body[mid:]) if c)
        return b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n" % (status, chunks)

    return respond


def test_status_code_ranges_and_keepalived_default() -> None:
    assert parse_status_codes("200 204 300-399") == ((200, 200), (204, 204), (300, 399))
    for bad in ("2000", "99", "300-200", "abc", ""):
        with pytest.raises(ValueError, match="status_code"):
            parse_status_codes(bad)
    default = check("http://127.0.0.1/")
    assert default.status_ok(200) and default.status_ok(204) and default.status_ok(299)
    assert not default.status_ok(301) and not default.status_ok(503)
    ranged = check("http://127.0.0.1/", status_code="200-299 401")
    assert ranged.status_ok(401) and not ranged.status_ok(400)


@pytest.mark.parametrize(
    ("status", "options", "ok"),
    [(204, {}, True), (301, {}, False), (503, {}, False), (401, {"status_code": "200-299 401"}, True)],
)
def test_status_over_the_wire(status: int, options: dict[str, str], ok: bool) -> None:
    r, _ = run_against(fixed(status, b"x"), lambda port: check(f"http://127.0.0.1:{port}/h", **options))
    assert r.ok == ok, r.output


@pytest.mark.parametrize("chunked", [False, True])
def test_digest_is_md5_of_the_decoded_body(chunked: bool) -> None:
    body = b"<html>ready</html>\n" * 50
    good = hashlib.md5(body).hexdigest()
    r, _ = run_against(fixed(200, body, chunked), lambda port: check(f"http://127.0.0.1:{port}/", digest=good))
    assert r.ok, r.output
    r, _ = run_against(fixed(200, body + b"!", chunked), lambda port: check(f"http://127.0.0.1:{port}/", digest=good))
    assert not r.ok and "digest" in r.output


def test_chunked_body_is_decoded_before_body_match() -> None:
    # "ready" is split across two chunks: undecoded, the chunk-size line sits in the middle of it.
    def respond(_head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n"

    r, _ = run_against(respond, lambda port: check(f"http://127.0.0.1:{port}/", body_match="^ready$"))
    assert r.ok, r.output


def test_body_until_close_without_length() -> None:
    def respond(_head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstate: ready"

    r, _ = run_against(respond, lambda port: check(f"http://127.0.0.1:{port}/", body_match="ready"))
    assert r.ok, r.output


def test_garbage_is_a_failure_not_a_crash() -> None:
    r, _ = run_against(lambda _h: b"SSH-2.0-OpenSSH\r\n\r\n", lambda port: check(f"http://127.0.0.1:{port}/"))
    assert not r.ok and "bad HTTP response" in r.output


def test_host_header_and_request_line() -> None:
    assert host_header("::1", 8080, 80) == "[::1]:8080"
    assert host_header("::1", 80, 80) == "[::1]"
    assert host_header("web", 443, 443) == "web"
    r, seen = run_against(fixed(200, b""), lambda port: check(f"http://127.0.0.1:{port}/a?b=1"))
    assert r.ok
    assert seen[0].startswith(b"GET /a?b=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in seen[0].lower()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_literal_url_brackets_the_host_header() -> None:
    r, seen = run_against(fixed(200, b"ok"), lambda port: check(f"http://[::1]:{port}/health"), host="::1")
    assert r.ok, r.output
    port = check("http://[::1]:1/").port
    assert port == 1
    assert b"host: [::1]:" in seen[0].lower()


def test_virtualhost_override() -> None:
    r, seen = run_against(fixed(200, b""), lambda port: check(f"http://127.0.0.1:{port}/", host_header="www.example"))
    assert r.ok and b"host: www.example\r\n" in seen[0].lower()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_tls_verify_on_and_off(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    key, cert = certificate
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    body = b"secure ready"

    async def main(make: Callable[[int], HttpCheck]) -> CheckResult:
        server, port, _ = await serve(fixed(200, body, chunked=True), tls=server_ctx)
        async with server:
            return await make(port).run()

    def go(make: Callable[[int], HttpCheck]) -> CheckResult:
        return asyncio.run(main(make))

    # Not trusted: refused with verification, accepted without.
    r = go(lambda port: check(f"https://127.0.0.1:{port}/"))
    assert not r.ok and "certificate" in r.output.lower()
    r = go(lambda port: check(f"https://127.0.0.1:{port}/", tls_verify="off", digest=hashlib.md5(body).hexdigest()))
    assert r.ok, r.output

    # Trusted (our CA file): verification passes, the IP is in the certificate's names.
    def trusted(port: int) -> HttpCheck:
        c = check(f"https://127.0.0.1:{port}/", body_match="ready")
        assert c.tls is not None
        c.tls.load_verify_locations(cert)
        return c

    r = go(trusted)
    assert r.ok, r.output


def test_timeout_is_a_failure() -> None:
    async def main() -> CheckResult:
        async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server = await asyncio.start_server(stall, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            c = HttpCheck(CheckSpec("w", "http", 1.0, 0.2, {"url": f"http://127.0.0.1:{port}/"}), CheckContext())
            return await c.run()

    r = asyncio.run(main())
    assert not r.ok and "timed out" in r.output


def test_bad_options_are_refused() -> None:
    for options in ({"digest": "xyz"}, {"status_code": "600"}, {"body_match": "("}):
        with pytest.raises(ValueError, match="http check web"):
            check("http://127.0.0.1/", **options)
    with pytest.raises(ValueError, match="url"):
        check("ftp://127.0.0.1/")
    with pytest.raises(ValueError, match="url"):
        check("http://[::1/")


DEFERRED_SSL_CHILD = r"""
import sys
from vipd.control.lean import defer_ssl

assert defer_ssl(), "asyncio or ssl imported before defer_ssl"
import vipd.control.operate  # the whole runtime, as the daemon imports it
import vipd_checks.http

assert "_ssl" not in sys.modules, "the runtime loaded ssl"
import asyncio
import ssl  # the stand-in: its first attribute read loads the real module

key, cert = sys.argv[1], sys.argv[2]
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(cert, key)
assert "_ssl" in sys.modules


async def main():
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nready")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    async with server:
        from vipd.health.api import CheckContext, CheckSpec

        spec = CheckSpec("web", "http", 1.0, 2.0, {"url": f"https://127.0.0.1:{port}/", "tls_verify": "off"})
        result = await vipd_checks.http.HttpCheck(spec, CheckContext()).run()
    assert result.ok, result.output
    print("tls ok")


asyncio.run(main())
"""


def test_tls_check_works_when_the_daemon_deferred_ssl(certificate: tuple[Path, Path]) -> None:
    """The daemon imports asyncio without ssl (vipd.control.lean); a TLS check loads it and asyncio uses it."""
    key, cert = certificate
    out = subprocess.run(
        [sys.executable, "-c", DEFERRED_SSL_CHILD, str(key), str(cert)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "tls ok" in out.stdout, out.stderr
