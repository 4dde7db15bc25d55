"""The control socket: a Unix stream socket speaking one JSON line each way.

Request: ``{"cmd": "status" | "dump" | "reload"}`` followed by a newline.
Response: one JSON object and a newline, then the server closes the connection:
``{"ok": true, ...}`` or ``{"ok": false, "error": "why"}``. ``vipctl`` is the client.

Who may ask what: the socket is 0600 root's, or 0660 with group ``vipd`` when that
group exists (the Debian package creates it). The peer's uid comes from the kernel
(``SO_PEERCRED``, unix(7)): root (or the daemon's own uid) may run every command;
anyone else who can connect, i.e. a member of group ``vipd``, only ``status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from vipd.obs.fdguard import short_of_fds

log = logging.getLogger("vipd")

DEFAULT_PATH = "/run/vipd/vipd.ctl"
"""Default control socket path (``--control-socket`` changes it)."""

DEFAULT_GROUP = "vipd"
"""Members of this group may run the read-only commands (the socket is 0660 with it), if it exists."""
READ_ONLY = frozenset({"status", "explain", "events"})
"""Commands a non-root peer may run; ``dump`` (it carries the configuration, passwords
included) and ``reload`` stay root-only."""

MAX_REQUEST = 64 * 1024
READ_TIMEOUT = 5.0  # seconds to receive the request line
WRITE_TIMEOUT = 10.0  # seconds for the client to take the response
MAX_CONNECTIONS = 16
"""Connections served at once; more are closed at once, as are any accepted while the
file-descriptor reserve (:mod:`vipd.obs.fdguard`) is reached."""

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class SocketInUse(OSError):
    """Another live process answers on the control socket path."""


def peer_uid(sock: socket.socket | None) -> int | None:
    """Return the connected peer's uid from ``SO_PEERCRED`` (None if the kernel does not say)."""
    if sock is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def group_id(name: str | None) -> int | None:
    """Return the gid of group ``name``, or None if it is None or does not exist."""
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class ControlServer:
    """Serve ``handler`` on a Unix socket at ``path``: mode 0600, or 0660 with ``group``.

    Args:
        path: socket path; its directory is created (0755) if missing.
        handler: maps a request dict to a response dict (``ok`` is added if missing).
        group: members may connect and run :data:`READ_ONLY` commands; ignored when the
            group does not exist (then the socket is 0600). None: root only.
    """

    def __init__(self, path: str, handler: Handler, group: str | None = DEFAULT_GROUP) -> None:
        self.path = path
        self.handler = handler
        self.gid = group_id(group)
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
            if self.gid is not None:
                os.chown(self.path, -1, self.gid)
                os.chmod(self.path, 0o660)
            else:
                os.chmod(self.path, 0o600)
            self._server = await asyncio.start_unix_server(self._handle, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            raise
        if self.gid is not None:
            log.info("control socket %s (group %d may run: %s)", self.path, self.gid, ", ".join(sorted(READ_ONLY)))
        else:
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
                uid = peer_uid(writer.get_extra_info("socket"))
                if uid not in (0, os.getuid()) and req.get("cmd") not in READ_ONLY:
                    raise PermissionError(
                        f"{req.get('cmd')!r} needs root (other users may run: {', '.join(sorted(READ_ONLY))})"
                    )
                resp = await self.handler(req)
                resp.setdefault("ok", True)
            except PermissionError as e:
                resp = {"ok": False, "error": f"permission denied: {e}"}
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
