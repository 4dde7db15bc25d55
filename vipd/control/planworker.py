"""The reload worker: read and plan a configuration in a separate, bounded process.

``python -m vipd.control.planworker [--strict] [--no-host] FILE [CONFIG_ID]``
runs exactly what ``vipd -t`` runs (:func:`vipd.plan.check_file` against the live host) and writes
the pickled :class:`Result` (the :class:`~vipd.plan.Verdict`) to stdout. The daemon uses it for every
reload, so parsing never runs on the advert loop, and a hostile file (an include
fan-out, a parameter bomb) costs the loop nothing: the worker limits itself to
:data:`CPU_SECONDS` of CPU time and :data:`MEMORY_BYTES` of address space, and
the daemon kills it after :data:`WALL_SECONDS`.

Start-up uses it too (:func:`start_worker`, :func:`collect`): the plan comes
back as plain values (:mod:`vipd.config.values`), so the long-running daemon
never imports the validator (pydantic and the models, ~12 MiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from vipd.plan import Verdict

CPU_SECONDS = 2
"""CPU seconds the worker may use (RLIMIT_CPU): a hostile file is refused within about this long."""
MEMORY_BYTES = 1 << 30
"""Address space the worker may use (RLIMIT_AS)."""
WALL_SECONDS = 15.0
"""Wall-clock seconds the daemon waits for the worker (a loaded machine starts Python slowly)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``[--strict] [--no-host] [--record] FILE [CONFIG_ID]``; writes a pickled :class:`Result`; exit 0.

    ``--record``: also record every read (:mod:`vipd.control.planmemo`), for the start-up memo.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    flags = {a for a in args if a in ("--strict", "--no-host", "--record")}
    args = [a for a in args if a not in flags]
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    from vipd.control.planmemo import RecordingFiles, RecordingHost
    from vipd.linux.host import LiveHost
    from vipd.plan import check_file

    host: Any = None if "--no-host" in flags else asyncio.run(LiveHost.gather())
    files = RecordingFiles() if "--record" in flags else None
    if host is not None and files is not None:
        host = RecordingHost(host)
    verdict = check_file(
        args[0], config_id=args[1] if len(args) > 1 else None, host=host, strict="--strict" in flags, files=files
    )
    # Run as ``-m``, this module is ``__main__``: pickle the class by its importable name.
    from vipd.control.planworker import Result as Importable

    result = Importable(
        verdict,
        files.record if files is not None else None,
        host.record if isinstance(host, RecordingHost) else None,
    )
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


@dataclass(frozen=True, slots=True)
class Result:
    """What the worker writes: the verdict, and with ``--record`` what it read (files, host)."""

    verdict: Verdict
    files: list[Any] | None = None
    host: list[Any] | None = None


def _argv(
    path: str, config_id: str | None, *, strict: bool = False, no_host: bool = False, record: bool = False
) -> list[str]:
    flags = [*(["--strict"] if strict else []), *(["--no-host"] if no_host else []), *(["--record"] if record else [])]
    return [sys.executable, "-m", "vipd.control.planworker", *flags, path, *([config_id] if config_id else [])]


def _result(path: str, returncode: int | None, out: bytes, err: bytes) -> Result:
    """Decode what the worker wrote, or say why it wrote nothing."""
    if returncode != 0 or not out:
        if returncode in (-9, -24):  # SIGKILL / SIGXCPU from RLIMIT_CPU
            why = f"reading the configuration used more than {CPU_SECONDS}s of CPU (include fan-out or expansion?)"
        else:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {returncode}"]
            why = f"the configuration reader failed: {tail[0]}"
        return Result(Verdict(None, [], f"{path}: {why}; refused"))
    result = pickle.loads(out)
    assert isinstance(result, Result)
    return result


_TOO_LONG = "{path}: reading the configuration took longer than {wall:g}s; refused"


def start_worker(
    path: str, config_id: str | None, *, strict: bool = False, no_host: bool = False, record: bool = False
) -> subprocess.Popen[bytes]:
    """Start the worker on ``path`` at daemon start-up (before the event loop exists).

    The caller imports the runtime while the worker plans (two CPUs work at once),
    then calls :func:`collect`. The running daemon so never imports the
    validator (pydantic): the verdict comes back as plain values
    (:mod:`vipd.config.values`).
    """
    return subprocess.Popen(
        _argv(path, config_id, strict=strict, no_host=no_host, record=record),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def collect(proc: subprocess.Popen[bytes], path: str) -> Result:
    """Wait for a :func:`start_worker` process (at most :data:`WALL_SECONDS`) and return what it wrote."""
    try:
        out, err = proc.communicate(timeout=WALL_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return Result(Verdict(None, [], _TOO_LONG.format(path=path, wall=WALL_SECONDS)))
    return _result(path, proc.returncode, out, err)


async def plan_in_worker(path: str, config_id: str | None) -> Verdict:
    """Run the worker on ``path`` and return its verdict (never raises for a bad file).

    A worker killed at its CPU limit, out of memory or past :data:`WALL_SECONDS`
    gives a verdict with ``read_error`` saying so.
    """
    proc = await asyncio.create_subprocess_exec(
        *_argv(path, config_id),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WALL_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Verdict(None, [], _TOO_LONG.format(path=path, wall=WALL_SECONDS))
    return _result(path, proc.returncode, out, err).verdict


if __name__ == "__main__":
    sys.exit(main())
