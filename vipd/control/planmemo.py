"""The start-up plan memo: a configuration that reads the same is not planned again.

Reading and planning a keepalived.conf needs the validator (pydantic and the
models, ~300 ms of imports in the worker process, :mod:`vipd.control.planworker`).
The verdict is a pure function of what :func:`vipd.plan.check_file` read: the
files, include globs, ``${_ENV}`` values and paths (through
:class:`vipd.config.files.Files`), the host facts (through
:class:`vipd.plan.host.Host`: links, addresses, users, script files), the
options (config id, ``--strict``, ``--no-host``) and vipd's own code. So the
worker records every one of those reads with its answer; after a successful
start the daemon keeps the verdict beside the record, and the next start asks
the same questions again (a few file reads, one netlink dump, ``stat`` calls)
and uses the kept verdict only if every answer is the same. Any difference,
even one byte of an included file or a script's mode, reads and plans afresh.

The memo lives in ``$CACHE_DIRECTORY`` (systemd ``CacheDirectory=vipd``) or
``/var/cache/vipd``, one file per configuration path and config id; it is read
only if the directory and the file belong to vipd's user and nobody else can
write them (it is a pickle). ``vipd --no-plan-memo`` or ``VIPD_PLAN_MEMO=off``
turns it off. Reload never uses it: reload always plans in the worker.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
import sys
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vipd.config.files import Files

if TYPE_CHECKING:
    from vipd.plan import Verdict
    from vipd.plan.host import Host

FORMAT = 1
"""Bumped when the memo's layout changes (an older memo is ignored)."""
DEFAULT_DIR = "/var/cache/vipd"

Read = tuple[str, tuple[Any, ...], Any]
"""One recorded read: (method, arguments, normalised answer)."""


def _normalise(value: Any) -> Any:
    """An answer in a form that compares equal exactly when it would plan the same."""
    if isinstance(value, os.stat_result):  # not atime: reading a script changes it
        return ("stat", value.st_mode, value.st_uid, value.st_gid, value.st_size, value.st_mtime_ns, value.st_ino)
    return value


def _answer(fn: Callable[..., Any], *args: Any) -> tuple[Any, Any, bool]:
    """Call ``fn(*args)``: (the answer as recorded and compared, the result or exception, whether it raised)."""
    try:
        result = fn(*args)
    except OSError as e:
        return ("raise", type(e).__name__, e.errno), e, True
    except LookupError as e:
        return ("raise", type(e).__name__, str(e)), e, True
    return _normalise(result), result, False


def _ask(record: list[Read], method: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)``, recording (method, args, answer or the exception's kind); returns or raises as it did."""
    seen, result, raised = _answer(fn, *args)
    record.append((method, args, seen))
    if raised:
        raise result
    return result


class RecordingFiles(Files):
    """The live :class:`~vipd.config.files.Files`, recording every read in ``record``."""

    def __init__(self) -> None:
        self.record: list[Read] = []

    def read(self, path: str) -> bytes:
        """See :meth:`Files.read`."""
        data: bytes = _ask(self.record, "read", super().read, path)
        return data

    def glob(self, pattern: str) -> list[str]:
        """See :meth:`Files.glob`."""
        found: list[str] = _ask(self.record, "glob", super().glob, pattern)
        return found

    def env(self, name: str) -> str:
        """See :meth:`Files.env`."""
        value: str = _ask(self.record, "env", super().env, name)
        return value

    def realpath(self, path: str) -> str:
        """See :meth:`Files.realpath`."""
        real: str = _ask(self.record, "realpath", super().realpath, path)
        return real

    def abspath(self, path: str) -> str:
        """See :meth:`Files.abspath`."""
        absolute: str = _ask(self.record, "abspath", super().abspath, path)
        return absolute


class RecordingHost:
    """A :class:`~vipd.plan.host.Host` that records every question and answer in ``record``."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.record: list[Read] = []

    def __getattr__(self, method: str) -> Callable[..., Any]:
        fn = getattr(self._host, method)
        return lambda *args: _ask(self.record, method, fn, *args)


def _replays(record: list[Read], target: object) -> bool:
    """Whether asking ``target`` every recorded question gives every recorded answer."""
    return all(_answer(getattr(target, method), *args)[0] == expected for method, args, expected in record)


def _code() -> tuple[Any, ...]:
    """vipd's own code (every module's size and mtime) and the interpreter: a new vipd plans afresh."""
    import vipd

    out: list[tuple[str, int, int]] = []
    root = os.path.dirname(os.path.abspath(vipd.__file__))
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                st = os.stat(os.path.join(base, name))
                out.append((os.path.relpath(os.path.join(base, name), root), st.st_size, st.st_mtime_ns))
    return (vipd.__version__, sys.version, tuple(out))


def _plugins(verdict: Verdict) -> tuple[Any, ...]:
    """The check plugins' module files (size, mtime) the plan names."""
    import importlib.util

    out = []
    factories = verdict.plan.trackers.factories if verdict.plan is not None else {}
    for ref in sorted(set(factories.values())):
        module = ref.partition(":")[0].strip()
        try:
            spec = importlib.util.find_spec(module)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            st, origin = None, None
        out.append((module, origin, None if st is None else (st.st_size, st.st_mtime_ns)))
    return tuple(out)


def _key(path: str, config_id: str | None, strict: bool, no_host: bool) -> tuple[Any, ...]:
    from vipd.config.files import default_config_id

    return (FORMAT, os.path.abspath(path), config_id or default_config_id(), strict, no_host, os.geteuid())


def enabled(flag_off: bool = False) -> bool:
    """Whether the memo is used: not with ``--no-plan-memo`` or ``VIPD_PLAN_MEMO=off``."""
    return not flag_off and os.environ.get("VIPD_PLAN_MEMO", "on").lower() not in ("off", "0", "no", "false")


def directory() -> str:
    """Where memos are kept: ``$CACHE_DIRECTORY`` (systemd) or :data:`DEFAULT_DIR`."""
    return os.environ.get("CACHE_DIRECTORY", "").split(":")[0] or DEFAULT_DIR


def _file(path: str, config_id: str | None) -> str:
    name = f"{os.path.abspath(path)}\0{config_id or ''}".encode("utf-8", "surrogateescape")
    return os.path.join(directory(), f"plan-{zlib.crc32(name):08x}.pickle")


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def lookup(path: str, config_id: str | None, *, strict: bool, no_host: bool) -> Verdict | None:
    """The kept verdict for ``path`` if every recorded read still gives the same answer, else None.

    Never raises: an unreadable, foreign or stale memo is a miss.
    """
    memo = _file(path, config_id)
    try:
        if not _private(os.stat(os.path.dirname(memo))):
            return None
        fd = os.open(memo, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not _private(os.fstat(fh.fileno())):
                return None
            kept = pickle.load(fh)
        if not isinstance(kept, dict) or kept.get("key") != _key(path, config_id, strict, no_host):
            return None
        verdict = kept["verdict"]
        if kept["code"] != (_code(), _plugins(verdict)) or not _replays(kept["files"], Files()):
            return None
        if kept["host"] is not None and not _replays(kept["host"], _live_host()):
            return None
    except Exception:  # a memo is never worth a failed start
        return None
    from vipd.plan import Verdict

    return verdict if isinstance(verdict, Verdict) and verdict.plan is not None else None


def _live_host() -> object:
    import asyncio

    from vipd.linux.host import LiveHost

    return asyncio.run(LiveHost.gather())


def store(
    path: str,
    config_id: str | None,
    *,
    strict: bool,
    no_host: bool,
    verdict: Verdict,
    files: list[Read],
    host: list[Read] | None,
) -> bool:
    """Keep ``verdict`` (with a plan) and what it was read from; returns whether it was written.

    Written to a new file then renamed, mode 0600, in a 0700 directory made if missing.
    """
    if verdict.plan is None:
        return False
    memo = _file(path, config_id)
    kept = {
        "key": _key(path, config_id, strict, no_host),
        "code": (_code(), _plugins(verdict)),
        "files": files,
        "host": host,
        "verdict": verdict,
    }
    tmp = f"{memo}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(memo), mode=0o700, exist_ok=True)
        if not _private(os.stat(os.path.dirname(memo))):
            return False
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(kept, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, memo)
    except (OSError, pickle.PicklingError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True
