"""Command lines for the VRRP daemons the lab runs: vipd and keepalived."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .procs import Process

REPO_ROOT = Path(__file__).resolve().parents[3]
KINDS = ("vipd", "keepalived")


def vipd_argv(config: Path, pid_file: Path) -> list[str]:
    """vipd in the foreground; its control socket and dump files beside its pid file, since /run and /tmp are
    shared by the namespaces (and the machine): no links in /tmp; its --state-dir per node in the lab's directory."""
    return [
        sys.executable,
        "-m",
        "vipd",
        "-f",
        str(config),
        "--pid-file",
        str(pid_file),
        "--control-socket",
        str(pid_file.with_name("vipd.ctl")),
        "--dump-dir",
        str(pid_file.with_name("dump")),
        "--keepalived-links",
        "",
        # vipctl maintenance state: per node in the lab's directory (kept across restarts of that node's vipd),
        # never the host's /var/lib/vipd. The run directory is "run-<node>-<daemon>-<n>".
        "--state-dir",
        str(pid_file.parent.parent / f"state-{pid_file.parent.name.removeprefix('run-').rsplit('-', 2)[0]}"),
    ]


def vipd_env() -> dict[str, str]:
    """The test's own environment, with the checkout first on PYTHONPATH (no install needed).

    PYTHONDONTWRITEBYTECODE is dropped: an installed vipd runs from bytecode (pip
    compiles it), and compiling vipd from source at every start adds ~0.3 s.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def keepalived_argv(config: Path, run_dir: Path) -> list[str]:
    """Foreground keepalived, VRRP only, logging to the console, with pid files of its own.

    ``/run`` is shared between namespaces, so every instance needs its own
    ``-p/-r/-c/-b`` pid files or the second one exits at once.
    """
    return [
        "keepalived",
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--no-syslog",
        "--vrrp",
        "-f",
        str(config),
        "-p",
        str(run_dir / "keepalived.pid"),
        "-r",
        str(run_dir / "vrrp.pid"),
        "-c",
        str(run_dir / "checkers.pid"),
        "-b",
        str(run_dir / "bfd.pid"),
    ]


def keepalived_available() -> bool:
    return shutil.which("keepalived") is not None


def vipd_available() -> tuple[bool, str]:
    """Whether ``python -m vipd`` can run from this checkout, and if not why."""
    import subprocess

    try:
        out = subprocess.run(
            [sys.executable, "-m", "vipd", "--help"],
            env=vipd_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        return False, lines[-1] if lines else f"exit status {out.returncode}"
    return True, ""


class Daemon(Process):
    """A vipd or keepalived instance on one lab node."""

    def __init__(
        self,
        kind: str,
        node_name: str,
        ns: str,
        config_path: Path,
        run_dir: Path,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown daemon kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.node_name = node_name
        self.config_path = config_path
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        if kind == "vipd":
            argv = vipd_argv(config_path, run_dir / "vipd.pid")
            env = vipd_env()
            # the start-up plan memo stays in the lab (vipd.control.planmemo), unless the caller chose
            env.setdefault("CACHE_DIRECTORY", str(run_dir.parent / "plan-memo"))
            env.update(extra_env or {})
        else:
            argv = keepalived_argv(config_path, run_dir)
            env = dict(os.environ)
        super().__init__(f"{kind}@{node_name}", ns, argv, log_path, env=env, cwd=run_dir)

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<Daemon {self.name} pid {self.pid} {state}>"
