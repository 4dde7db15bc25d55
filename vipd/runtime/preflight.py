"""Checks on a loaded configuration that need the file system or the plugins (not the pure config layer).

Run by ``vipd -t`` and at start-up, after the config loaded:

* **script security** (keepalived ``check_script_secure``, ``enable_script_security``,
  ``script_user``): every command of a ``vrrp_script`` and of the notify hooks
  must exist and be executable by the user it runs as; a command that runs as
  root must not be replaceable by another user: every component of its path
  (and of its real path, after symlinks) must be owned by root, and no
  directory without the sticky bit and no file may be writable by a non-root
  group or by everyone. With ``enable_script_security`` an unsafe command is an
  error naming the exact component and the user or group who could write it;
  without it, a warning (keepalived runs it and reports a SECURITY VIOLATION).
  keepalived's ``</path`` form is run by the shell and not checked, as keepalived does.
* **plugins**: every ``vrrp_check`` type is installed (entry-point group
  ``vipd.checks``) and accepts its options; so are the built-in trackers.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from collections.abc import Iterator, Mapping

from vipd.config.diagnostics import Diagnostic
from vipd.config.grammar import Loc, Path
from vipd.config.model import Config, Script
from vipd.health.api import CheckContext
from vipd.health.identity import (  # the one resolution function: the runner uses it too
    DEFAULT_SCRIPT_USER,
    RunAs,
    default_script_user,
    resolve_script_user,
)
from vipd.health.registry import load

__all__ = ["DEFAULT_SCRIPT_USER", "RunAs", "check_script", "default_script_user", "preflight", "unsafe_component"]

_HOOKS = (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify",
)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _components(path: str) -> Iterator[str]:
    """``/a/b/c`` -> ``/``, ``/a``, ``/a/b``, ``/a/b/c``."""
    yield "/"
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:i])


def unsafe_component(path: str) -> str | None:
    """The first component of absolute ``path`` another user could change, described; None if safe.

    keepalived's rule: owned by root; a directory without the sticky bit, or a
    regular file, must not be writable by a non-root group or by everyone.
    Components are examined with ``lstat`` (a symlink is judged by its owner).
    """
    for comp in _components(path):
        try:
            st = os.lstat(comp)
        except OSError as e:
            return f"{comp} cannot be examined ({e.strerror})"
        if st.st_uid != 0:
            return f"{comp} is owned by user {_user_name(st.st_uid)} (uid {st.st_uid}), who can change it"
        checked = (stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_ISVTX) or stat.S_ISREG(st.st_mode)
        if not checked:
            continue
        if st.st_gid != 0 and st.st_mode & stat.S_IWGRP:
            return f"{comp} is writable by group {_group_name(st.st_gid)} (gid {st.st_gid})"
        if st.st_mode & stat.S_IWOTH:
            return f"{comp} is writable by every user"
    return None


def _executable(st: os.stat_result, who: RunAs) -> bool:
    if who.uid == 0:
        return bool(st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    if st.st_uid == who.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == who.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def check_script(script: Script, who: RunAs, security: bool) -> list[tuple[str, str]]:
    """keepalived ``check_script_secure`` for one command.

    Args:
        script: the command.
        who: the identity it runs as.
        security: ``enable_script_security`` is set.
    Returns:
        ``[(severity, message)]``: ``"error"`` for a missing/non-executable
        command or (with ``security``) an unsafe path; ``"warning"`` for an unsafe
        path without ``security``. Empty when all is well.
    """
    if script.needs_shell:
        return []
    prog = script.argv[0]
    if "/" not in prog:
        found = shutil.which(prog)
        if found is None:
            return [("error", f"{prog}: not found in PATH ({os.environ.get('PATH', '')}); give the full path")]
        prog = found
    try:
        st = os.stat(prog)
    except OSError as e:
        return [("error", f"{prog}: {e.strerror}")]
    if not stat.S_ISREG(st.st_mode):
        return [("error", f"{prog}: not a regular file")]
    user = who.user or _user_name(who.uid)
    if not _executable(st, who):
        return [("error", f"{prog}: not executable by user {user} (uid {who.uid})")]
    as_root = who.uid == 0 or who.gid == 0
    setuid_root = st.st_uid == 0 and st.st_mode & stat.S_ISUID
    if not (as_root or setuid_root):
        return []
    absolute = os.path.abspath(prog)
    real = os.path.realpath(absolute)
    for path in dict.fromkeys((absolute, real)):
        why = unsafe_component(path)
        if why is None:
            continue
        msg = f"{prog} runs as root but {why}: that user could make root run anything"
        if security:
            return [("error", msg + " (enable_script_security)")]
        return [
            (
                "warning",
                msg + "; keepalived runs it anyway (SECURITY VIOLATION); set enable_script_security to refuse it",
            )
        ]
    return []


def _loc(locs: Mapping[Path, Loc], source: str, *path: str | int) -> Loc:
    key: Path = tuple(path)
    while key:
        if key in locs:
            return locs[key]
        key = key[:-1]
    return Loc(source, 0, str(path[-1]) if path else "config")


def preflight(config: Config, locs: Mapping[Path, Loc] | None = None) -> list[Diagnostic]:
    """Run every check of this module on a loaded config.

    Args:
        config: the validated configuration.
        locs: value locations from ``LoadResult.locs`` (for ``FILE:LINE``).
    Returns:
        diagnostics (errors refuse the configuration, warnings are printed), in
        file/line order.
    """
    from vipd.runtime.tracking import plan

    locs = locs or {}
    out: list[Diagnostic] = []
    g = config.global_defs
    security = g.enable_script_security

    def report(severity: str, loc: Loc, message: str) -> None:
        out.append(Diagnostic(loc.file, loc.line, loc.keyword, message, "error" if severity == "error" else "warning"))

    default_user, default_group = default_script_user(config)
    scripts: list[tuple[Script, tuple[str | int, ...]]] = []
    for name, s in config.vrrp_scripts.items():
        scripts.append(
            (s.script.model_copy(update={"user": s.user, "group": s.group}), ("vrrp_scripts", name, "script"))
        )
    for section, objs in (("vrrp_instances", config.vrrp_instances), ("vrrp_sync_groups", config.vrrp_sync_groups)):
        for name, obj in objs.items():
            for hook in _HOOKS:
                script = getattr(obj, hook, None)
                if isinstance(script, Script):
                    scripts.append((script, (section, name, hook)))
    if security and default_user is None and any(s.user is None for s, _ in scripts):
        loc = _loc(locs, config.source, "global_defs", "enable_script_security")
        report(
            "error",
            loc,
            f"scripts without a user run as {DEFAULT_SCRIPT_USER}, which does not exist (keepalived refuses them too): "
            "create that user or set script_user",
        )
    unknown_users: set[tuple[str | int, ...]] = set()
    for script, path in scripts:
        loc = _loc(locs, config.source, *path)
        try:
            who = resolve_script_user(script.user, script.group, (default_user, default_group))
        except LookupError as e:
            report("error", loc, str(e))
            unknown_users.add(path[:2])
            continue
        for severity, message in check_script(script, who, security):
            report(severity, loc, message)

    try:
        specs, _ = plan(config)
    except KeyError:
        specs = {}
    ctx = CheckContext(script_user=default_user, script_group=default_group)
    for (kind, name), (spec, _) in specs.items():
        if kind == "interface":
            continue
        if kind == "script" and ("vrrp_scripts", name) in unknown_users:
            continue  # its unknown user is reported above, at its line
        section = {"script": "vrrp_scripts", "file": "track_files", "process": "vrrp_track_processes"}.get(
            kind, "vrrp_checks"
        )
        loc = _loc(locs, config.source, section, name)
        try:
            load(spec.type)(spec, ctx)
        except (LookupError, ImportError, ValueError) as e:
            report("error", loc, str(e))
    out.sort(key=lambda d: d.sort_key())
    return out
