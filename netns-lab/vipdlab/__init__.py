"""vipdlab: network-namespace lab for vipd (and keepalived) tests, demo and benchmarks.

Three parts, kept apart:

- :mod:`vipdlab.lab`: the fixtures the tests and the benchmarks build on: topology
  (:class:`Lab`), daemons, keepalived.conf rendering, waits, the packet tap
  (:class:`Sniffer`), timer formulas, scenarios, fault-suite helpers.
- :mod:`vipdlab.inject`: the hostile-input injector (malformed VRRP frames and their
  expected counters).
- :mod:`vipdlab.bench`: the benchmarks against keepalived (``lab.py bench-*``).

This package re-exports the fixtures, so ``from vipdlab import Lab`` works.

Typical use::

    from vipdlab import Lab, Instance, render, wait_until, timing

    with Lab() as lab:                       # r1, r2, client on a bridge; sniffer on the client
        cfg = Instance(priority=150)
        r1 = lab.start_vipd(lab.r1, render(cfg))
        wait_until(lambda: lab.holds(lab.r1, "192.0.2.100"), 5)
        t_kill = r1.crash()
        garp = lab.sniffer.wait_announcement("192.0.2.100", 2, mac=lab.r2.mac, since=t_kill)
"""

from . import lab as _lab
from .lab import *  # noqa: F403  (the fixtures: one list of names, vipdlab.lab.__all__)

__all__ = list(_lab.__all__)
