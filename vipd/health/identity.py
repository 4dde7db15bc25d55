"""Who a script runs as, at run time: the planner's resolution, applied to the live password database.

The rules live in :mod:`vipd.plan.scripts` (keepalived's: the script's own
``USER [GROUP]``, else ``script_user [GROUP]``, else ``keepalived_script`` if it
exists, else root): :func:`~vipd.plan.scripts.resolve_identity` picks the
names and :func:`~vipd.plan.scripts.resolve_user` turns them into a
:class:`~vipd.plan.scripts.RunAs` on a :class:`~vipd.plan.host.Host`. The
planner (``vipd -t``, start-up, reload) judges each script with exactly these
two functions; the notify hooks and the ``script`` check resolve through
:func:`script_run_as` below, which calls the same two on the live host, so the
identity that was checked is the identity that runs.

Supplementary groups: keepalived calls ``setgroups()`` before every script
with an EMPTY list unless ``global_defs { set_supplementary_groups }``, which
gives each script its user's groups (``getgrouplist(user, user's gid)``);
vipd's runner does the same (``RunAs.groups``, filled by :func:`script_run_as`
with ``supplementary=True``). A script running as root (no user) keeps the
daemon's groups, as it switches nothing.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd

from vipd.plan.host import LinkFacts, UserFacts
from vipd.plan.scripts import DEFAULT_SCRIPT_USER, RunAs, resolve_identity, resolve_user
from vipd.wire.advert import IPAddress

__all__ = ["DEFAULT_SCRIPT_USER", "Accounts", "RunAs", "script_run_as"]


class Accounts:
    """The live host as far as identities go (``pwd``, ``grp``, our euid): a :class:`~vipd.plan.host.Host`
    without links or files (those methods answer "nothing", which identity resolution never asks)."""

    def link(self, name: str) -> LinkFacts | None:
        """No links known."""
        return None

    def local_addresses(self) -> frozenset[IPAddress]:
        """No addresses known."""
        return frozenset()

    def user(self, name: str) -> UserFacts | None:
        """``getpwnam``, or None."""
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            return None
        return UserFacts(pw.pw_name, pw.pw_uid, pw.pw_gid)

    def group(self, name: str) -> int | None:
        """``getgrnam(name).gr_gid``, or None."""
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    def user_name(self, uid: int) -> str:
        """The name of ``uid``."""
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid {uid}"

    def group_name(self, gid: int) -> str:
        """The name of ``gid``."""
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return f"gid {gid}"

    def stat(self, path: str) -> os.stat_result:
        """``os.stat``."""
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        """``os.lstat``."""
        return os.lstat(path)

    def which(self, program: str) -> str | None:
        """Not used for identities."""
        return None

    def realpath(self, path: str) -> str:
        """``os.path.realpath``."""
        return os.path.realpath(path)

    def euid(self) -> int:
        """``os.geteuid()``."""
        return os.geteuid()


def script_run_as(
    user: str | None, group: str | None, default: tuple[str | None, str | None], *, supplementary: bool = False
) -> RunAs:
    """The identity a script runs as, resolved now on this host.

    Args:
        user, group: the script's own ``USER [GROUP]`` names (None when not given).
        default: the plan's ``script_default`` (keepalived's default (user, group) names).
        supplementary: keepalived ``set_supplementary_groups``: the user's supplementary
            groups (``os.getgrouplist`` with the user's primary gid), else none.
    Returns:
        the :class:`~vipd.plan.scripts.RunAs` (``user`` None: the daemon's own identity, no switch).
    Raises:
        LookupError: a named user or group does not exist (the message names it).
    """
    name, grp_name = resolve_identity(user, group, default)
    who = resolve_user(name, grp_name, Accounts())
    if supplementary and who.user is not None:
        primary = pwd.getpwnam(who.user).pw_gid
        who = dataclasses.replace(who, groups=tuple(os.getgrouplist(who.user, primary)))
    return who
