"""The hostile-input injector: malformed and hostile VRRP frames from an extra lab namespace.

- :mod:`vipdlab.inject.frames`: the frame builders (:class:`Builder` for IPv4,
  :class:`Builder6` for IPv6), each category's expected counters, the sender.
- :mod:`vipdlab.inject.paced`: paced sending with its per-category check, and the
  checks that the daemons were not disturbed.
"""

from .frames import Builder, Builder6, Category, Expect, Injector
from .paced import Baseline, assert_flat_and_unqueued, assert_undisturbed, inject_all, inject_paced

__all__ = [
    "Baseline",
    "Builder",
    "Builder6",
    "Category",
    "Expect",
    "Injector",
    "assert_flat_and_unqueued",
    "assert_undisturbed",
    "inject_all",
    "inject_paced",
]
