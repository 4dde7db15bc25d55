"""The lab's fixtures: what the integration and interop tests, the demo and the benchmarks build on.

- :mod:`.topo`: :class:`Lab`, the namespaces, bridge and routers; :mod:`.twolinks`, :mod:`.routed`: other topologies.
- :mod:`.daemons`, :mod:`.procs`: vipd and keepalived processes in the namespaces.
- :mod:`.conf`: keepalived.conf text both daemons read.
- :mod:`.sniff`: the one packet tap (:class:`Tap`) and its frame recorder (:class:`Sniffer`).
- :mod:`.timing`: the RFC timer formulas (those of :mod:`vipd.fsm`) and the crash window.
- :mod:`.wait`: polling with deadlines; :mod:`.scenario`: converge / takeover steps.
- :mod:`.faults`, :mod:`.control`, :mod:`.services`, :mod:`.interop`: fault-suite, control-socket,
  stand-in service and keepalived-interop helpers.
"""

from . import control, timing
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
    "control",
    "hold",
    "keepalived_available",
    "pids_in_namespace",
    "render",
    "sweep",
    "timing",
    "vipd_available",
    "wait_until",
]
