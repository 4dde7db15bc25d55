"""Control socket (0600, JSON lines), sd_notify datagrams, JSON log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from vipd.control.server import ControlServer, SocketInUse, request
from vipd.control.systemd import sd_notify
from vipd.obs.log import JsonFormatter


def test_socket_is_0600_answers_json_and_refuses_a_second_server(tmp_path: Path) -> None:
    path = str(tmp_path / "d" / "vipd.ctl")

    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        return {"echo": req["cmd"]}

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any]]:
        srv = ControlServer(path, handler, group=None)
        await srv.start()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            ok = await asyncio.to_thread(request, path, {"cmd": "status"})
            with pytest.raises(SocketInUse):
                await ControlServer(path, handler).start()
            r, w = await asyncio.open_unix_connection(path)
            w.write(b"not json\n")
            bad = json.loads(await r.readline())
            w.close()
            return mode, ok, bad
        finally:
            await srv.close()

    mode, ok, bad = asyncio.run(scenario())
    assert mode == 0o600
    assert ok == {"echo": "status", "ok": True}
    assert bad["ok"] is False and "bad request" in bad["error"]
    assert not os.path.exists(path)


def test_sd_notify_sends_one_datagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    addr = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(addr)
        monkeypatch.setenv("NOTIFY_SOCKET", addr)
        assert sd_notify("READY=1", "STATUS=1 instance(s): VI_1=MASTER")
        assert s.recv(1024) == b"READY=1\nSTATUS=1 instance(s): VI_1=MASTER"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sd_notify("READY=1")


def test_json_log_line_splits_the_instance_prefix() -> None:
    rec = logging.LogRecord("vipd", logging.INFO, __file__, 1, "(%s) Entering %s STATE", ("VI_1", "MASTER"), None)
    out = json.loads(JsonFormatter().format(rec))
    assert out["instance"] == "VI_1" and out["msg"] == "Entering MASTER STATE" and out["level"] == "info"


def _as_nobody(path: str, cmds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Fork a child that drops to uid/gid 65534 and sends each command; return the answers."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no imports, no interpreter of root's, just the socket
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = [request(path, {"cmd": c}, timeout=10) for c in cmds]
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return list(json.loads(data or b"[]"))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs a client as uid/gid 65534 (nobody/nogroup)")
def test_group_members_may_run_status_only() -> None:
    """0660 + group: a non-root peer (SO_PEERCRED uid 65534) gets status; reload and dump are refused."""
    import grp
    import tempfile

    group = grp.getgrgid(65534).gr_name
    top = tempfile.mkdtemp(prefix="vipd-ctl-")  # pytest's tmp_path is 0700: nobody could not reach it
    os.chmod(top, 0o755)
    path = os.path.join(top, "vipd.ctl")

    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        return {"echo": req["cmd"]}

    async def scenario() -> tuple[int, int, list[dict[str, Any]], dict[str, Any]]:
        srv = ControlServer(path, handler, group=group)
        await srv.start()
        try:
            st = os.stat(path)
            answers = await asyncio.to_thread(_as_nobody, path, ("status", "reload", "dump"))
            as_root = await asyncio.to_thread(request, path, {"cmd": "reload"})
            return stat.S_IMODE(st.st_mode), st.st_gid, answers, as_root
        finally:
            await srv.close()
            os.rmdir(top)

    mode, gid, answers, as_root = asyncio.run(scenario())
    assert (mode, gid) == (0o660, 65534)
    status, reload, dump = answers
    assert status == {"echo": "status", "ok": True}
    for refused in (reload, dump):
        assert refused["ok"] is False and refused["error"].startswith("permission denied:"), refused
    assert as_root == {"echo": "reload", "ok": True}


def test_socket_without_the_group_stays_root_only(tmp_path: Path) -> None:
    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        return {}

    assert ControlServer(str(tmp_path / "vipd.ctl"), handler, group="no-such-group-vipd").gid is None


def test_start_never_leaves_umask_0177_visible_to_other_tasks(tmp_path: Path) -> None:
    """Review "Lower severity": hooks spawned while the socket is created must not inherit umask 0177."""
    seen: list[int] = []

    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def watcher() -> None:
        while True:
            old = os.umask(0o022)
            os.umask(old)
            seen.append(old)
            await asyncio.sleep(0)

    async def scenario() -> None:
        w = asyncio.create_task(watcher())
        await asyncio.sleep(0)
        srv = ControlServer(str(tmp_path / "vipd.ctl"), handler)
        await srv.start()
        await asyncio.sleep(0)
        w.cancel()
        assert stat.S_IMODE(os.stat(tmp_path / "vipd.ctl").st_mode) == 0o600
        await srv.close()

    before = os.umask(0o022)
    try:
        asyncio.run(scenario())
    finally:
        os.umask(before)
    assert seen and set(seen) == {0o022}


def test_connections_beyond_the_cap_are_closed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vipd.control.server as server

    monkeypatch.setattr(server, "MAX_CONNECTIONS", 2)
    path = str(tmp_path / "vipd.ctl")

    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        return {"echo": req["cmd"]}

    async def scenario() -> tuple[bytes, dict[str, Any]]:
        srv = ControlServer(path, handler)
        await srv.start()
        try:
            idle = [await asyncio.open_unix_connection(path) for _ in range(2)]
            await asyncio.sleep(0.05)
            r, w = await asyncio.open_unix_connection(path)
            w.write(b'{"cmd": "status"}\n')
            try:
                refused = await asyncio.wait_for(r.read(), 2)
            except ConnectionResetError:
                refused = b""  # closed unread: the kernel answers the request with a reset
            for _r, iw in idle:
                iw.write(b'{"cmd": "x"}\n')
                await _r.read()
            ok = await asyncio.to_thread(request, path, {"cmd": "status"})
            return refused, ok
        finally:
            await srv.close()

    refused, ok = asyncio.run(scenario())
    assert refused == b""
    assert ok == {"echo": "status", "ok": True}
