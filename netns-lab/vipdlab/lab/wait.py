"""Polling with deadlines: the only way the lab synchronises with daemons.

Nothing in the lab sleeps for a fixed time to "let things settle". Code either
waits for an observable condition with a deadline (:func:`wait_until`), or
asserts that a condition keeps holding for a stated window (:func:`hold`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_POLL = 0.005


class WaitTimeout(AssertionError):
    """A condition was not reached before its deadline (an AssertionError, so pytest shows it)."""


class HoldBroken(AssertionError):
    """A condition that had to hold for a window stopped holding."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = DEFAULT_POLL,
    message: str | Callable[[], str] = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that value.

    Raises :class:`WaitTimeout` when ``timeout`` seconds (monotonic) pass first.
    The predicate is always called at least once more after the deadline so a
    condition reached exactly at the deadline still counts.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = predicate()
        if last:
            return last
        now = time.monotonic()
        if now >= deadline:
            last = predicate()
            if last:
                return last
            text = message() if callable(message) else message
            raise WaitTimeout(f"timed out after {timeout:.3f} s: {text or predicate!r} (last value: {last!r})")
        time.sleep(min(interval, max(0.0, deadline - now)))


def hold(
    predicate: Callable[[], object],
    duration: float,
    *,
    interval: float = DEFAULT_POLL,
    message: str | Callable[[], str] = "",
) -> None:
    """Assert that ``predicate`` stays truthy for ``duration`` seconds.

    This is an observation window with a stated length, not synchronisation:
    it fails at the first poll where the condition is false.
    """
    start = time.monotonic()
    deadline = start + duration
    while True:
        value = predicate()
        if not value:
            text = message() if callable(message) else message
            raise HoldBroken(
                f"stopped holding after {time.monotonic() - start:.3f} s of {duration:.3f} s: "
                f"{text or predicate!r} (value: {value!r})"
            )
        now = time.monotonic()
        if now >= deadline:
            return
        time.sleep(min(interval, deadline - now))
