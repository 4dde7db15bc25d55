"""What the planner may know about the host: a snapshot handed in, never looked up by the planner.

The planner (:mod:`vipd.plan.planner`) is pure. The checks keepalived's ``-t``
makes on the host itself (interfaces exist, ``unicast_src_ip`` is local, script
users exist, scripts are executable and safe) read a :class:`Host`: the live
one is :class:`vipd.linux.host.LiveHost` (netlink, ``stat``, ``pwd``); tests
pass a fake; ``vipd -t --no-host`` passes None and those checks are skipped
and reported as skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from vipd.wire.advert import IPAddress

HOST_CHECKS = (
    "interfaces exist",
    "unicast_src_ip/mcast_src_ip are local addresses",
    "script users and groups exist",
    "scripts exist, are executable by their user and safe to run as root",
)
"""What ``vipd -t`` checks on the host (said on its output), skipped with ``--no-host``."""


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """One interface as the host had it when the snapshot was taken.

    Attributes:
        name: interface name.
        index: ifindex (informational: the runtime re-resolves it by name).
        addresses: every address on it, IPv4 and IPv6.
    """

    name: str
    index: int
    addresses: tuple[IPAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class UserFacts:
    """A user as ``getpwnam`` gives it: name, uid, primary gid."""

    name: str
    uid: int
    gid: int


class Host(Protocol):
    """Read-only view of the host for the planner (all lookups; nothing is changed).

    Each question is as narrow as the check that asks it (does this interface exist? is
    this address local?), so the start-up plan memo (:mod:`vipd.control.planmemo`),
    which records the answers, misses only when an answer the verdict depends on
    changes (not when, say, a crashed master left its VIPs on the interface).
    File methods raise ``OSError`` as ``os.stat``/``os.lstat`` do.
    """

    def has_link(self, name: str) -> bool:
        """Whether an interface called ``name`` exists."""
        ...

    def is_local(self, address: IPAddress) -> bool:
        """Whether ``address`` is configured on an interface of this network namespace."""
        ...

    def user(self, name: str) -> UserFacts | None:
        """``getpwnam(name)``, or None if there is no such user."""
        ...

    def group(self, name: str) -> int | None:
        """``getgrnam(name).gr_gid``, or None."""
        ...

    def user_name(self, uid: int) -> str:
        """Name of ``uid`` (``"uid N"`` if unknown)."""
        ...

    def group_name(self, gid: int) -> str:
        """Name of ``gid`` (``"gid N"`` if unknown)."""
        ...

    def stat(self, path: str) -> os.stat_result:
        """``os.stat``."""
        ...

    def lstat(self, path: str) -> os.stat_result:
        """``os.lstat``."""
        ...

    def which(self, program: str) -> str | None:
        """``shutil.which``: the full path of a command name, or None."""
        ...

    def realpath(self, path: str) -> str:
        """``os.path.realpath``."""
        ...

    def euid(self) -> int:
        """The uid vipd runs as (scripts without a user run as it)."""
        ...
