"""A file-descriptor reserve for checks, hooks and netlink: endpoints refuse before the process runs out.

Running out of descriptors (EMFILE) fails every ``pipe2``/``socket``: every script,
TCP and HTTP check fails and instances go to FAULT (review finding 4). vipd
therefore

- raises ``RLIMIT_NOFILE``'s soft limit to its hard limit at start
  (:func:`raise_nofile`; systemd's default is 1024 soft / 524288 hard);
- has every endpoint that accepts connections (``/metrics``, the control socket)
  close a freshly accepted connection when :func:`short_of_fds` says fewer than
  :data:`RESERVE` descriptors would remain.

The test is O(1): Linux hands out the lowest free descriptor, so a new descriptor
numbered N means 0..N-1 are all in use, and at most ``soft - N - 1`` remain.
(Free holes below N cannot exist; holes above N can, so the test may refuse a
little early, never late.)
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("vipd")

RESERVE = 128
"""Descriptors kept free for checks, hooks and the daemon's own sockets (each check run needs 2-4)."""

_soft_limit: int | None = None


def raise_nofile() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return ``(soft, hard)`` afterwards.

    Never raises: a failure (e.g. a seccomp filter) is logged and the old limit kept.
    Children (checks, hooks) inherit the raised soft limit.
    """
    global _soft_limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError) as e:
            log.warning("cannot raise RLIMIT_NOFILE from %d to %d: %s", soft, hard, e)
    _soft_limit = soft
    return soft, hard


def soft_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` (read once, then cached; :func:`raise_nofile` refreshes it)."""
    global _soft_limit
    if _soft_limit is None:
        _soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _soft_limit


def short_of_fds(newest_fd: int, reserve: int = RESERVE) -> bool:
    """True if, with ``newest_fd`` just allocated, fewer than ``reserve`` descriptors remain.

    Args:
        newest_fd: the number of the descriptor the caller has just been given
            (e.g. by ``accept``).
        reserve: how many must stay free.
    """
    limit = soft_limit()
    if limit == resource.RLIM_INFINITY or limit <= 0:
        return False
    return limit - newest_fd - 1 < reserve
