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
        srv = ControlServer(path, handler)
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
