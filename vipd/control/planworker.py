"""The reload worker: read and plan a configuration in a separate, bounded process.

``python -m vipd.control.planworker FILE [CONFIG_ID]`` runs exactly what
``vipd -t`` runs (:func:`vipd.plan.check_file` against the live host) and writes
the pickled :class:`~vipd.plan.Verdict` to stdout. The daemon uses it for every
reload, so parsing never runs on the advert loop, and a hostile file (an include
fan-out, a parameter bomb) costs the loop nothing: the worker limits itself to
:data:`CPU_SECONDS` of CPU time and :data:`MEMORY_BYTES` of address space, and
the daemon kills it after :data:`WALL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import resource
import sys

from vipd.plan import Verdict

CPU_SECONDS = 2
"""CPU seconds the worker may use (RLIMIT_CPU): a hostile file is refused within about this long."""
MEMORY_BYTES = 1 << 30
"""Address space the worker may use (RLIMIT_AS)."""
WALL_SECONDS = 15.0
"""Wall-clock seconds the daemon waits for the worker (a loaded machine starts Python slowly)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``FILE [CONFIG_ID]``; writes a pickled ``Verdict`` to stdout; exit 0."""
    args = sys.argv[1:] if argv is None else argv
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    from vipd.linux.host import LiveHost
    from vipd.plan import check_file

    host = asyncio.run(LiveHost.gather())
    verdict = check_file(args[0], config_id=args[1] if len(args) > 1 else None, host=host)
    sys.stdout.buffer.write(pickle.dumps(verdict, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


async def plan_in_worker(path: str, config_id: str | None) -> Verdict:
    """Run the worker on ``path`` and return its verdict (never raises for a bad file).

    A worker killed at its CPU limit, out of memory or past :data:`WALL_SECONDS`
    gives a verdict with ``read_error`` saying so.
    """
    args = [sys.executable, "-m", "vipd.control.planworker", path, *([config_id] if config_id else [])]
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WALL_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Verdict(None, [], f"{path}: reading the configuration took longer than {WALL_SECONDS:g}s; refused")
    if proc.returncode != 0 or not out:
        if proc.returncode in (-9, -24):  # SIGKILL / SIGXCPU from RLIMIT_CPU
            why = f"reading the configuration used more than {CPU_SECONDS}s of CPU (include fan-out or expansion?)"
        else:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            why = f"the configuration reader failed: {tail[0]}"
        return Verdict(None, [], f"{path}: {why}; refused")
    verdict = pickle.loads(out)
    assert isinstance(verdict, Verdict)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
