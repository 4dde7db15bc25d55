"""The built-in checks, loaded through the vipd.checks entry points as a third-party plugin would be."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vipd.health.api import Check, CheckContext, CheckResult, CheckSpec, WatchingCheck
from vipd.health.process import ensure_child_watcher
from vipd.health.registry import UnknownCheckType, available, load
from vipd_checks.file import strtol
from vipd_checks.process import matches


def build(kind: str, ctx: CheckContext | None = None, **options: Any) -> Any:
    spec = CheckSpec(name=f"t-{kind}", type=kind, interval=0.5, timeout=1.0, options=options)
    return load(kind)(spec, ctx or CheckContext())


def run_once(check: Check) -> CheckResult:
    async def main() -> CheckResult:
        ensure_child_watcher()
        return await check.run()

    return asyncio.run(main())


def test_builtins_are_registered_as_entry_points() -> None:
    assert {"script", "interface", "file", "process", "tcp", "http"} <= set(available())


def test_unknown_type_names_the_installed_ones() -> None:
    with pytest.raises(UnknownCheckType, match="tcp"):
        load("no-such-check")


def test_script_exit_status() -> None:
    assert run_once(build("script", argv=["true"])).ok
    r = run_once(build("script", argv=["sh", "-c", "echo broken; exit 2"]))
    assert (r.ok, r.output) == (False, "exit 2: broken")


def test_script_shell_form() -> None:
    assert run_once(build("script", command="</dev/null", shell=True)).ok
    assert not run_once(build("script", command="</nonexistent/file", shell=True)).ok


def test_tcp_connect_and_refusal() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert run_once(build("tcp", connect_port=port)).ok
    r = run_once(build("tcp", connect_port=port))
    assert not r.ok and "refused" in r.output.lower()


def test_tcp_needs_a_port() -> None:
    with pytest.raises(ValueError, match="connect_port"):
        build("tcp")


def _http_server(status: int, body: bytes) -> Callable[[], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()
        writer.close()

    return lambda: asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("status", "body", "options", "ok"),
    [
        (200, b"ok", {}, True),
        (503, b"down", {}, False),
        (204, b"", {"status_code": "200 204"}, True),
        (200, b"state: ready", {"body_match": "ready"}, True),
        (200, b"state: starting", {"body_match": "ready"}, False),
    ],
)
def test_http_status_and_body(status: int, body: bytes, options: dict[str, str], ok: bool) -> None:
    async def main() -> CheckResult:
        server = await _http_server(status, body)()
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await build("http", url=f"http://127.0.0.1:{port}/health", **options).run()

    assert asyncio.run(main()).ok == ok


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"10\n", 10), (b"  -5", -5), (b"0x10", 16), (b"010", 8), (b"", 0), (b"abc", 0), (b"+7 rest", 7)],
)
def test_file_value_like_strtol(data: bytes, value: int) -> None:
    assert strtol(data) == value


def test_file_check_reads_value(tmp_path: Path) -> None:
    f = tmp_path / "prio"
    f.write_text("-20\n")
    r = run_once(build("file", file=str(f)))
    assert (r.ok, r.value) == (True, -20)
    assert run_once(build("file", file=str(tmp_path / "missing"))).value == 0


@pytest.mark.parametrize(
    ("argv", "comm", "name", "args", "pm", "full", "expected"),
    [
        (["/usr/sbin/haproxy", "-f", "/etc/h.cfg"], "haproxy", "haproxy", [], None, False, True),
        (["/usr/sbin/haproxy", "-f", "/etc/h.cfg"], "haproxy", "haproxy", ["-f"], None, False, False),
        (["/usr/sbin/haproxy", "-f", "/etc/h.cfg"], "haproxy", "haproxy", ["-f"], "initial", False, True),
        (["/usr/sbin/haproxy", "-f", "/etc/h.cfg"], "haproxy", "haproxy", ["-f", "/etc/h"], "partial", False, True),
        (["/usr/sbin/haproxy", "-f", "/etc/h.cfg"], "haproxy", "/usr/sbin/haproxy", [], None, True, True),
        (["/usr/sbin/haproxy"], "haproxy", "nginx", [], None, False, False),
    ],
)
def test_process_matching(
    argv: list[str], comm: str, name: str, args: list[str], pm: str | None, full: bool, expected: bool
) -> None:
    assert matches(argv, comm, name, args, pm, full) == expected


def test_process_quorum_counts_ourselves() -> None:
    import os

    comm = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert run_once(build("process", process=comm)).ok
    assert not run_once(build("process", process=comm, quorum=65535)).ok
    assert not run_once(build("process", process="no-such-process-xyz")).ok


def test_interface_check_follows_link_events() -> None:
    class Links:
        def __init__(self) -> None:
            self.cb: Callable[[bool], None] | None = None

        def link_up(self, ifname: str) -> bool | None:
            return True

        def subscribe(self, ifname: str, callback: Callable[[bool], None]) -> Callable[[], None]:
            self.cb = callback
            return lambda: setattr(self, "cb", None)

    links = Links()
    check = build("interface", CheckContext(links=links), interface="eth9")
    assert isinstance(check, WatchingCheck)
    seen: list[CheckResult] = []

    async def main() -> None:
        task = asyncio.ensure_future(check.watch(seen.append))
        await asyncio.sleep(0)
        assert links.cb is not None
        links.cb(False)
        links.cb(True)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert [r.ok for r in seen] == [True, False, True]
    assert seen[1].output == "eth9 down"
    assert links.cb is None, "unsubscribed when cancelled"
