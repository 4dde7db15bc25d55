"""keepalived's dump files (SIGUSR1 data, SIGUSR2 stats, SIGJSON json), written so nothing planted can block them.

keepalived writes ``/tmp/keepalived.data`` (and ``.stats``, ``.json``) in a
world-writable directory. vipd's first version did it with a plain ``open()`` of
``/tmp/keepalived.data.<pid>.tmp`` on the event loop: a FIFO planted there by any
user blocked the loop, hence no adverts and a second master (review finding 8).

Choices (documented in ``docs/operations.md``):

- The files live in a directory vipd owns, :data:`DUMP_DIR` (``/run/vipd``), created
  ``0755`` by root if missing. An existing directory is used only if it is a real
  directory (not a link), owned by vipd's user and writable by nobody else; otherwise
  the dump is refused with a log line. ``0755`` and not ``0700`` because exporters
  often run as their own user and must read the files through the links below;
  nobody but root can create anything there, which is what keeps FIFOs and links out.
- Each file is written to ``NAME.<pid>.tmp`` opened relative to the directory's
  descriptor with ``O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC`` (mode ``0644``,
  as keepalived's ``0666 & ~umask``), then renamed over ``NAME``: readers never see a
  half-written file and nothing at the path is ever opened.
- keepalived's paths stay valid for exporters: ``/tmp/keepalived.data`` and friends
  become symbolic links into :data:`DUMP_DIR`. A link is made as a fresh name
  (``symlink()`` never follows or overwrites) and renamed over the old path;
  ``rename()`` replaces whatever is there (a file, a FIFO, someone's link) without
  opening or following it. A directory at the path is left alone (logged). The link
  is checked with ``readlink()`` on every dump and re-made if it changed. Root
  follows a root-owned link in sticky ``/tmp`` whatever ``fs.protected_symlinks`` says
  (the link's owner is the directory's owner).

Writes happen on the loop: a few hundred KiB into tmpfs, measured in
``docs/performance.md``; no call here can block on a file someone else controls.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat

log = logging.getLogger("vipd")

DUMP_DIR = "/run/vipd"
"""Where vipd writes keepalived.data / .stats / .json (``--dump-dir``)."""
LINK_DIR = "/tmp"
"""Where keepalived's own paths are kept as links into :data:`DUMP_DIR` (``--keepalived-links``; '' = none)."""

DATA, STATS, JSON = "keepalived.data", "keepalived.stats", "keepalived.json"
"""keepalived's file names (``make_tmp_filename`` in keepalived's lib/utils.c)."""

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeDirectory(OSError):
    """The dump directory exists but is a link, not ours, or writable by others."""


class DumpWriter:
    """Write keepalived's dump files into ``directory`` and link keepalived's paths in ``link_dir`` to them.

    Args:
        directory: the private directory (created ``0755`` if missing).
        link_dir: directory for keepalived's paths as links, or None for no links.
    """

    def __init__(self, directory: str = DUMP_DIR, link_dir: str | None = LINK_DIR) -> None:
        self.directory = directory
        self.link_dir = link_dir or None

    def write(self, name: str, content: str | bytes) -> str | None:
        """Write ``content`` to ``directory/name`` atomically, then refresh the link; return the path.

        Never raises: every failure is logged (``cannot write ...``) and None returned.
        """
        data = content.encode() if isinstance(content, str) else content
        path = os.path.join(self.directory, name)
        try:
            dfd = self._open_dir()
        except OSError as e:
            log.error("cannot write %s: %s", path, e)
            return None
        tmp = f"{name}.{os.getpid()}.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)  # left by a crash; only root can write here
            fd = os.open(tmp, _OPEN_FLAGS, 0o644, dir_fd=dfd)
            try:
                os.fchmod(fd, 0o644)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as e:
            log.error("cannot write %s: %s", path, e)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            return None
        finally:
            os.close(dfd)
        if self.link_dir is not None:
            self._link(name, path)
        return path

    def _open_dir(self) -> int:
        """Create the directory if missing, check it, and return an ``O_DIRECTORY|O_NOFOLLOW`` descriptor.

        Raises:
            UnsafeDirectory: a link, not owned by us, or group/other-writable.
            OSError: cannot create or open it.
        """
        try:
            os.mkdir(self.directory, 0o755)
        except FileExistsError:
            pass
        else:
            os.chmod(self.directory, 0o755)  # whatever the umask
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(fd)
        why = None
        if st.st_uid != os.geteuid():
            why = f"owned by uid {st.st_uid}, not {os.geteuid()}"
        elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            why = f"mode {stat.S_IMODE(st.st_mode):04o} lets others write"
        if why is not None:
            os.close(fd)
            raise UnsafeDirectory(errno.EPERM, f"{self.directory} is unsafe for dump files: {why}")
        return fd

    def _link(self, name: str, target: str) -> None:
        assert self.link_dir is not None
        path = os.path.join(self.link_dir, name)
        try:
            if os.readlink(path) == target:
                return
        except OSError:
            pass  # missing, or not a link: replace it
        tmp = os.path.join(self.link_dir, f".{name}.vipd-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.symlink(target, tmp)
            os.rename(tmp, path)
        except OSError as e:
            log.warning("cannot link %s to %s: %s (readers of keepalived's path will not see it)", path, target, e)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
