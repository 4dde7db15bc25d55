"""A Debian bookworm root file system booted with systemd as PID 1 in a container, for tests/system.

- :func:`rootfs_tarball`: ``mmdebstrap --variant=minbase`` once per package list, cached
  under ``/var/cache/vipd-test/`` (``$VIPD_TEST_CACHE``), keyed by the suite and the list;
- :class:`Container`: ``systemd-nspawn -D ROOT --register=no --keep-unit -b`` inside a
  network namespace the test owns (``--network-namespace-path``), commands run in it
  with ``nsenter -t <its init> -a``, stopped with SIGTERM to nspawn (systemd powers off
  cleanly) and, if that fails, SIGKILL to the container's init by its own PID: a SIGKILL
  to nspawn alone would leave that systemd running as an orphan.

Never boots anything on the machine's own root file system: ``ROOT`` is always a fresh
extraction of the cached tarball in a temporary directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "iproute2", "python3", "procps")
"""What the image holds besides minbase: systemd as init, and vipd.deb's dependencies,
so that ``apt install ./vipd_*.deb`` works in the container without a network."""
CACHE = Path(os.environ.get("VIPD_TEST_CACHE", "/var/cache/vipd-test"))
TOOLS = ("mmdebstrap", "systemd-nspawn", "nsenter", "dpkg-deb", "ip")


def missing_tools() -> list[str]:
    """Programs this module needs that are not on PATH (``.ci/install`` installs them)."""
    return [t for t in TOOLS if shutil.which(t) is None]


def rootfs_tarball(packages: tuple[str, ...] = PACKAGES, suite: str = SUITE) -> Path:
    """Return the cached root file system tarball, building it first if needed (~25 s).

    The key is a hash of the suite and the sorted package list: changing the list
    builds a new image. A lock file serialises concurrent builders.

    Raises:
        subprocess.CalledProcessError: mmdebstrap failed (its output is in the exception).
    """
    key = hashlib.sha256(f"{suite} minbase {' '.join(sorted(packages))}".encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"rootfs-{suite}-{key}.tar"
    with open(CACHE / f"rootfs-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.exists():
            partial = tarball.with_suffix(".partial.tar")
            subprocess.run(
                [
                    "mmdebstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(packages),
                    suite,
                    str(partial),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=900,
            )
            partial.rename(tarball)
    return tarball


def extract(tarball: Path, root: Path) -> None:
    """Unpack the image into ``root`` (numeric owners, device nodes and all)."""
    root.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xpf", str(tarball)], check=True, timeout=300)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, which this machine's PID 1 may never reap, is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Container:
    """systemd booted in ``root``, in the network namespace ``netns`` (a name in /run/netns).

    Use as a context manager: it always stops the container and reaps what it started.
    """

    def __init__(self, root: Path, netns: str, log: Path, machine: str = "vipdsys") -> None:
        self.root = root
        self.netns = netns
        self.log = log
        self.machine = machine
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.init_pid: int | None = None

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def boot(self, timeout: float = 120.0) -> str:
        """Start nspawn and wait for ``systemctl is-system-running --wait``; return its answer.

        Raises:
            RuntimeError: nspawn exited, or systemd did not come up within ``timeout`` seconds.
        """
        with open(self.log, "wb") as out:
            self.nspawn = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "-D",
                    str(self.root),
                    "--register=no",
                    "--keep-unit",
                    "-b",
                    f"--machine={self.machine}",
                    f"--network-namespace-path=/run/netns/{self.netns}",
                    # nspawn grants CAP_NET_ADMIN only with --private-network; the namespace is
                    # the test's own, so give the container what a real host's root has
                    "--capability=CAP_NET_ADMIN",
                    "--console=read-only",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.init_pid is None:
            if self.nspawn.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited with {self.nspawn.returncode}: {self.log.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("no init process appeared under systemd-nspawn")
            # nspawn's first child is its own helper, which clones the container's PID 1 and
            # exits: wait for the child that runs systemd (nspawn is its subreaper)
            kids = [k for k in _children(self.nspawn.pid) if _comm(k) == "systemd"]
            if kids:
                self.init_pid = kids[0]
            else:
                time.sleep(0.05)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"systemd did not finish booting: {self.log.read_text()[-2000:]}")
            run = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=left)
            state = run.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.1)  # "Failed to connect to bus" while systemd starts: poll again

    def run(
        self, argv: list[str], *, check: bool = True, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container (all its namespaces); return the completed process."""
        assert self.init_pid is not None, "boot() first"
        done = subprocess.run(
            ["nsenter", "-t", str(self.init_pid), "-a", "--wd=/", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"in the container: {argv} exited {done.returncode}: {done.stdout}{done.stderr}")
        return done

    def sh(self, script: str, **kw: object) -> subprocess.CompletedProcess[str]:
        """Run a shell script inside the container."""
        return self.run(["/bin/sh", "-c", script], **kw)  # type: ignore[arg-type]

    def stop(self, timeout: float = 60.0) -> None:
        """Power off: SIGTERM to nspawn (clean shutdown); then SIGKILL init by its PID, and nspawn."""
        proc = self.nspawn
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                if self.init_pid is not None and _alive(self.init_pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.init_pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(30)
        if self.init_pid is not None:
            deadline = time.monotonic() + 10
            while _alive(self.init_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.nspawn = None
