"""The control socket: a root-only (0600) Unix stream socket speaking one JSON line each way.

Request: ``{"cmd": "status" | "dump" | "reload"}`` followed by a newline.
Response: one JSON object and a newline, then the server closes the connection:
``{"ok": true, ...}`` or ``{"ok": false, "error": "why"}``. ``vipctl`` is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from vipd.obs.fdguard import short_of_fds

log = logging.getLogger("vipd")

DEFAULT_PATH = "/run/vipd/vipd.ctl"
"""Default control socket path (``--control-socket`` changes it)."""

MAX_REQUEST = 64 * 1024
READ_TIMEOUT = 5.0  # seconds to receive the request line
WRITE_TIMEOUT = 10.0  # seconds for the client to take the response
MAX_CONNECTIONS = 16
"""Connections served at once; more are closed at once, as are any accepted while the
file-descriptor reserve (:mod:`vipd.obs.fdguard`) is reached."""

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class SocketInUse(OSError):
    """Another live process answers on the control socket path."""


class ControlServer:
    """Serve ``handler`` on a Unix socket at ``path`` (mode 0600).

    Args:
        path: socket path; its directory is created (0755) if missing.
        handler: maps a request dict to a response dict (``ok`` is added if missing).
    """

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._active = 0

    async def start(self) -> None:
        """Bind the socket (replacing a stale one) and start serving.

        Raises:
            SocketInUse: a live process already listens there.
            OSError: the path cannot be bound.
        """
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.path)
            except OSError:
                os.unlink(self.path)  # stale: nobody listens
            else:
                raise SocketInUse(f"{self.path}: another vipd answers there")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            # The socket is born 0600 (no window where others could connect). umask is
            # process-wide: set and restore it around bind() alone, with no await in
            # between, so hooks and checks spawned meanwhile never inherit 0177.
            old = os.umask(0o177)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            self._server = await asyncio.start_unix_server(self._handle, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            raise
        log.info("control socket %s", self.path)

    async def close(self) -> None:
        """Stop serving and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if self._active >= MAX_CONNECTIONS or (sock is not None and short_of_fds(sock.fileno())):
            writer.close()
            return
        self._active += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._active -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            try:
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("request must be a JSON object")
                resp = await self.handler(req)
                resp.setdefault("ok", True)
            except ValueError as e:
                resp = {"ok": False, "error": f"bad request: {e}"}
            except Exception as e:
                log.exception("control request failed")
                resp = {"ok": False, "error": f"internal error: {e!r}"}
            writer.write(json.dumps(resp).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


def request(path: str, req: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one request and return the response (blocking; for ``vipctl``).

    Raises:
        OSError: cannot connect (daemon not running, no permission).
        ValueError: the answer is not JSON.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    out = json.loads(b"".join(chunks))
    if not isinstance(out, dict):
        raise ValueError("response is not a JSON object")
    return out
