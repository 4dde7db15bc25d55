"""The live :class:`~vipd.plan.host.Host`: this network namespace's links and addresses, users, files.

The planner reads the host only through this snapshot. Links and addresses
are dumped once over rtnetlink (:mod:`vipd.linux.rtnl`) when the snapshot is taken;
users, groups and files are looked up when asked (``pwd``, ``grp``, ``os.stat``).
"""

from __future__ import annotations

import grp
import os
import pwd

from vipd.linux.rtnl import Rtnl
from vipd.plan.host import LinkFacts, UserFacts
from vipd.wire.advert import IPAddress


class LiveHost:
    """A snapshot of this host for the planner; build it with ``await LiveHost.gather()``.

    Args:
        links: interface name -> facts, as dumped.
    """

    def __init__(self, links: dict[str, LinkFacts]) -> None:
        self._links = links
        self._local = frozenset(a for link in links.values() for a in link.addresses)

    @classmethod
    async def gather(cls) -> LiveHost:
        """Dump every link and address of this network namespace (two rtnetlink dumps).

        Raises:
            OSError: netlink refused the socket.
        """
        with Rtnl() as rtnl:
            names = {link.index: link.ifname for link in await rtnl.dump_links()}
            addrs: dict[int, list[IPAddress]] = {i: [] for i in names}
            for msg in await rtnl.dump_addrs():
                if msg.address is not None and msg.index in addrs:
                    addrs[msg.index].append(msg.address)
        return cls({n: LinkFacts(n, i, tuple(addrs[i])) for i, n in names.items()})

    def has_link(self, name: str) -> bool:
        """Whether an interface called ``name`` exists."""
        return name in self._links

    def is_local(self, address: IPAddress) -> bool:
        """Whether ``address`` is on an interface of this network namespace."""
        return address in self._local

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
        """``shutil.which``."""
        import shutil  # on first use: it imports bz2 and lzma (~4 ms of start-up)

        return shutil.which(program)

    def realpath(self, path: str) -> str:
        """``os.path.realpath``."""
        return os.path.realpath(path)

    def euid(self) -> int:
        """``os.geteuid()``."""
        return os.geteuid()
