"""vipdlab: network-namespace lab for vipd (and keepalived) tests, demo and benchmarks.

Typical use::

    from vipdlab import Lab, Instance, render, wait_until, timing

    with Lab() as lab:                       # r1, r2, client on a bridge; sniffer on the client
        cfg = Instance(priority=150)
        r1 = lab.start_vipd(lab.r1, render(cfg))
        wait_until(lambda: lab.holds(lab.r1, "192.0.2.100"), 5)
        t_kill = r1.crash()
        garp = lab.sniffer.wait_announcement("192.0.2.100", 2, mac=lab.r2.mac, since=t_kill)
"""

from . import timing
from .conf import Instance, render
from .daemons import KINDS, Daemon, keepalived_available, vipd_available
from .procs import Process
from .sniff import Advert, Arp, Frame, NeighAdvert, NeighSolicit, Sniffer
from .topo import Lab, Neighbour, Node, pids_in_namespace, sweep
from .wait import HoldBroken, WaitTimeout, hold, wait_until

__all__ = [
    "KINDS",
    "Advert",
    "Arp",
    "Daemon",
    "Frame",
    "HoldBroken",
    "Instance",
    "Lab",
    "NeighAdvert",
    "NeighSolicit",
    "Neighbour",
    "Node",
    "Process",
    "Sniffer",
    "WaitTimeout",
    "hold",
    "keepalived_available",
    "pids_in_namespace",
    "render",
    "sweep",
    "timing",
    "vipd_available",
    "wait_until",
]
