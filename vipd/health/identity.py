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
import os
import pwd

from vipd.linux.host import LiveHost
from vipd.plan.scripts import DEFAULT_SCRIPT_USER, RunAs, resolve_identity, resolve_user

__all__ = ["DEFAULT_SCRIPT_USER", "Accounts", "RunAs", "script_run_as"]


class Accounts(LiveHost):
    """The live host as far as identities go (``pwd``, ``grp``, our euid): a
    :class:`~vipd.linux.host.LiveHost` with no links, which identity resolution never asks for."""

    def __init__(self) -> None:
        super().__init__({})


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
