"""How long starting one script holds the event loop: as root, as another user via setpriv, via fork.

``python -m vipdlab.bench.spawn [N]`` (root: the user switch needs it). The
process first imports what the daemon imports (so its RSS, hence the cost of a
fork, is the daemon's), then times the synchronous part of
:func:`vipd.linux.spawn.run` (everything before its first ``await``: the
spawn and the pidfd) for ``/bin/true``:

* ``root``: ``posix_spawn`` of the command itself (no user switch);
* ``setpriv``: ``posix_spawn`` of the setpriv trampoline that switches to ``nobody``;
* ``fork``: the fallback without setpriv, ``subprocess.Popen(user=..., group=...)``,
  which CPython 3.11 runs with fork(), not vfork().

The three are interleaved so that they share the machine's load. Prints
p50/p99/max in milliseconds (linear-interpolation percentiles, bench.common).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from vipd.health.identity import script_run_as
from vipd.linux import spawn
from vipdlab.bench.common import percentile


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _one(mode: str) -> float:
    run_as = None if mode == "root" else script_run_as("nobody", None, (None, None))
    saved = spawn._setpriv[:]
    if mode == "fork":
        spawn._setpriv[:] = [None]
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    try:
        t0 = time.perf_counter()
        pid = spawn._spawn(["/bin/true"], run_as, wfd, spawn.script_env())
        pidfd = os.pidfd_open(pid)
        took = time.perf_counter() - t0
    finally:
        os.close(wfd)
        spawn._setpriv[:] = saved
    os.waitpid(pid, 0)
    os.close(pidfd)
    os.close(rfd)
    return took * 1000


def main(argv: list[str]) -> int:
    """Run the measurement; returns the exit status."""
    if os.geteuid() != 0:
        print("needs root (switches to user nobody)", file=sys.stderr)
        return 2
    n = int(argv[0]) if argv else 300
    for mod in ("vipd.control.operate", "vipd.obs.metrics", "vipd.runtime.daemon"):
        importlib.import_module(mod)  # the daemon's imports: its RSS is what a fork copies
    spawn.setpriv_path()
    modes = ("root", "setpriv", "fork")
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(n):
        for m in modes:
            times[m].append(_one(m))
    print(f"RSS {_rss_mib():.0f} MiB, {n} spawns each, loop held per spawn (ms):")
    for m in modes:
        xs = times[m]
        print(f"  {m:8s} p50 {percentile(xs, 50):6.3f}  p99 {percentile(xs, 99):6.3f}  max {max(xs):6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
