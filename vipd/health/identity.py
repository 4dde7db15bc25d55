"""Who a script runs as: keepalived's ``script_user`` rules, resolved once for preflight and for the runner.

keepalived (``core/notify.c``, ``set_uid_gid`` and ``set_default_script_user``):

1. a per-script user wins: ``notify_master CMD USER [GROUP]``, ``vrrp_script { user USER [GROUP] }``;
   without GROUP the user's primary group;
2. else the global ``script_user USER [GROUP]``;
3. else the user ``keepalived_script`` if it exists;
4. else the daemon's own identity (root).

Supplementary groups: keepalived calls ``setgroups()`` before every script and,
unless ``set_supplementary_groups`` is set globally or the group is written
``:GROUP`` (``:`` alone = the user's primary group), the list is EMPTY. So by
default a script running as ``nobody`` is in no supplementary group, even if
``/etc/group`` lists it somewhere. The ``:`` form is honoured here; the global
keyword is passed in as ``supplementary``.

:func:`resolve_script_user` is the one resolution function: ``vipd -t`` (the
preflight), the notify hooks and the ``script`` check plugin all call it, so the
identity the preflight judged is the identity that runs. It reads the password
and group databases (``pwd``/``grp``) and nothing else: no asyncio, no kernel
state beyond our own euid/egid.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from typing import Any

DEFAULT_SCRIPT_USER = "keepalived_script"
"""keepalived runs scripts as this user when it exists and ``script_user`` is not set."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The identity a script runs with.

    Attributes:
        user: user name; None = the daemon's own identity (no switch at all).
        uid, gid: numeric ids the script gets (real, effective and saved).
        groups: supplementary group ids (keepalived default: none).
    """

    user: str | None
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    @property
    def switches(self) -> bool:
        """True when running as this identity needs a user/group switch in the child."""
        return self.user is not None and not (
            self.uid == os.geteuid() and self.gid == os.getegid() and set(self.groups) == set(os.getgroups())
        )

    def describe(self) -> str:
        """``nobody (uid 65534, gid 65534)`` style text for logs and errors."""
        return f"{self.user or 'the daemon user'} (uid {self.uid}, gid {self.gid})"


def daemon_identity() -> RunAs:
    """The daemon's own identity (keepalived's last fallback)."""
    return RunAs(None, os.geteuid(), os.getegid())


def resolve_user(user: str | None, group: str | None = None, *, supplementary: bool = False) -> RunAs:
    """Look ``user`` [``group``] up in the password and group databases.

    Args:
        user: user name (keepalived: ``getpwnam``); None = the daemon's own identity.
        group: group name; None = the user's primary group; ``:GROUP`` / ``:`` = also set the
            user's supplementary groups (keepalived syntax).
        supplementary: keepalived's global ``set_supplementary_groups``.
    Returns:
        the :class:`RunAs`.
    Raises:
        LookupError: the user or group does not exist (the message names it).
    """
    if user is None:
        return daemon_identity()
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"script user {user!r} does not exist") from None
    if group is not None and group.startswith(":"):
        supplementary = True
        group = group[1:] or None
    gid = pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise LookupError(f"script group {group!r} does not exist") from None
    groups = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid)) if supplementary else ()
    return RunAs(user, pw.pw_uid, gid, groups)


def default_script_user(global_defs: Any) -> tuple[str | None, str | None]:
    """keepalived's default script identity (steps 2-4 above), as names.

    Args:
        global_defs: the config's ``global_defs`` (``script_user``, ``script_group``), or a
            whole ``Config`` (its ``global_defs`` is used).
    Returns:
        ``(user, group)``: ``script_user`` [group], else ``("keepalived_script", None)`` if that
        user exists, else ``(None, None)`` = the daemon's own identity.
    """
    g = getattr(global_defs, "global_defs", global_defs)
    user = getattr(g, "script_user", None)
    if user:
        return user, getattr(g, "script_group", None)
    try:
        pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        return None, None
    return DEFAULT_SCRIPT_USER, None


def resolve_script_user(
    user: str | None,
    group: str | None,
    default: tuple[str | None, str | None],
    *,
    supplementary: bool = False,
) -> RunAs:
    """The identity one script runs as: its own user [group], else ``default`` (keepalived's order).

    Args:
        user, group: the script's own ``USER [GROUP]`` (None when not given).
        default: :func:`default_script_user` of the config.
        supplementary: keepalived's global ``set_supplementary_groups``.
    Returns:
        the :class:`RunAs`.
    Raises:
        LookupError: a named user or group does not exist.
    """
    if user:
        return resolve_user(user, group, supplementary=supplementary)
    return resolve_user(default[0], default[1], supplementary=supplementary)
