"""Who a script runs as, and whether it may run: keepalived's script security, on a :class:`Host`.

keepalived's rules (``check_script_secure``, ``enable_script_security``,
``script_user``), judged once here for ``vipd -t``, start-up and reload alike:

* identity: a script's own user (``notify_* CMD USER [GROUP]``, ``vrrp_script
  { user USER [GROUP] }``), else ``global_defs { script_user USER [GROUP] }``,
  else the user ``keepalived_script`` if it exists, else root (the daemon's own
  user). :func:`resolve_identity` is the one function that decides it; the
  script runner runs exactly the :class:`RunAs` planned.
* every command must exist and be executable by that user; a command that runs
  as root must not be replaceable by another user: every component of its path
  (and of its real path, after symlinks) must be owned by root, and no directory
  without the sticky bit and no file may be writable by a non-root group or by
  everyone. With ``enable_script_security`` an unsafe command is an error naming
  the component and who could write it; without it, a warning (keepalived runs it
  and reports a SECURITY VIOLATION). keepalived's ``</path`` form is run by the
  shell and not checked, as keepalived does.

Pure: every lookup goes through the :class:`~vipd.plan.host.Host` passed in.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vipd.plan.host import Host

if TYPE_CHECKING:
    from vipd.config.model import Config, Script

DEFAULT_SCRIPT_USER = "keepalived_script"
"""keepalived runs scripts as this user when it exists and ``script_user`` is not set."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The identity a script runs with.

    Attributes:
        user: user name; None = the daemon's own identity (root): the runner switches nothing.
        uid, gid: numeric ids (gid: the named group, else the user's primary group).
        groups: supplementary group ids the script gets (keepalived's default: none).
    """

    user: str | None
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def describe(self) -> str:
        """``nobody (uid 65534, gid 65534)``, for logs and errors."""
        return f"{self.user or 'the daemon user'} (uid {self.uid}, gid {self.gid})"


def default_script_user(config: Config, host: Host | None) -> tuple[str | None, str | None]:
    """keepalived's default script identity as (user, group) names.

    ``script_user`` [group], else ``keepalived_script`` if that user exists on
    ``host`` (never assumed without a host), else (None, None): the daemon's user.
    """
    g = config.global_defs
    if g.script_user:
        return g.script_user, g.script_group
    if host is not None and host.user(DEFAULT_SCRIPT_USER) is not None:
        return DEFAULT_SCRIPT_USER, None
    return None, None


def resolve_identity(
    script_user: str | None, script_group: str | None, default: tuple[str | None, str | None]
) -> tuple[str | None, str | None]:
    """The (user, group) names a script runs as: its own user wins over ``default``.

    keepalived: a script's own user comes with its own group (or the user's
    primary group); the default's group applies only with the default's user.
    """
    if script_user:
        return script_user, script_group
    return default


def resolve_user(user: str | None, group: str | None, host: Host) -> RunAs:
    """Look ``user`` [``group``] up on ``host``; None = the daemon's own identity.

    Raises:
        LookupError: the user or group does not exist (the message names it).
    """
    if user is None:
        uid = host.euid()
        return RunAs(None, uid, 0 if uid == 0 else uid)
    pw = host.user(user)
    if pw is None:
        raise LookupError(f"script user {user!r} does not exist")
    gid = pw.gid
    if group is not None:
        found = host.group(group)
        if found is None:
            raise LookupError(f"script group {group!r} does not exist")
        gid = found
    return RunAs(user, pw.uid, gid)


def _components(path: str) -> Iterator[str]:
    """``/a/b/c`` -> ``/``, ``/a``, ``/a/b``, ``/a/b/c``."""
    yield "/"
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:i])


def unsafe_component(path: str, host: Host) -> str | None:
    """The first component of absolute ``path`` another user could change, described; None if safe.

    keepalived's rule: owned by root; a directory without the sticky bit, or a
    regular file, must not be writable by a non-root group or by everyone.
    Components are examined with ``lstat`` (a symlink is judged by its owner).
    """
    for comp in _components(path):
        try:
            st = host.lstat(comp)
        except OSError as e:
            return f"{comp} cannot be examined ({e.strerror})"
        if st.st_uid != 0:
            return f"{comp} is owned by user {host.user_name(st.st_uid)} (uid {st.st_uid}), who can change it"
        checked = (stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_ISVTX) or stat.S_ISREG(st.st_mode)
        if not checked:
            continue
        if st.st_gid != 0 and st.st_mode & stat.S_IWGRP:
            return f"{comp} is writable by group {host.group_name(st.st_gid)} (gid {st.st_gid})"
        if st.st_mode & stat.S_IWOTH:
            return f"{comp} is writable by every user"
    return None


def _executable(mode: int, owner: int, group: int, who: RunAs) -> bool:
    if who.uid == 0:
        return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    if owner == who.uid:
        return bool(mode & stat.S_IXUSR)
    if group == who.gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def check_script(script: Script, who: RunAs, security: bool, host: Host) -> list[tuple[str, str]]:
    """keepalived ``check_script_secure`` for one command.

    Args:
        script: the command.
        who: the identity it runs as.
        security: ``enable_script_security`` is set.
        host: where to look the command up.
    Returns:
        ``[(severity, message)]``: ``"error"`` for a missing/non-executable
        command or (with ``security``) an unsafe path; ``"warning"`` for an unsafe
        path without ``security``. Empty when all is well.
    """
    if script.needs_shell:
        return []
    prog = script.argv[0]
    if "/" not in prog:
        found = host.which(prog)
        if found is None:
            return [("error", f"{prog}: not found in PATH; give the full path")]
        prog = found
    try:
        st = host.stat(prog)
    except OSError as e:
        return [("error", f"{prog}: {e.strerror}")]
    if not stat.S_ISREG(st.st_mode):
        return [("error", f"{prog}: not a regular file")]
    user = who.user or host.user_name(who.uid)
    if not _executable(st.st_mode, st.st_uid, st.st_gid, who):
        return [("error", f"{prog}: not executable by user {user} (uid {who.uid})")]
    as_root = who.uid == 0 or who.gid == 0
    setuid_root = st.st_uid == 0 and st.st_mode & stat.S_ISUID
    if not (as_root or setuid_root):
        return []
    absolute = prog if prog.startswith("/") else "/" + prog
    real = host.realpath(absolute)
    for path in dict.fromkeys((absolute, real)):
        why = unsafe_component(path, host)
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
