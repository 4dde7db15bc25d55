"""The kernel side: the only code in vipd that touches sockets and netlink.

- ``sockets``: raw IP protocol 112 receive/transmit sockets (IPv4, IPv6).
- ``announce``: AF_PACKET sender for gratuitous ARP / unsolicited NA frames.
- ``netlink``: addresses and links through pyroute2's ``AsyncIPRoute``.
"""

import importlib
import importlib.util
import sys


def _defer_pyroute2_package() -> None:
    """Let ``pyroute2.<submodule>`` imports skip the package's ``__init__``.

    pyroute2's ``__init__`` imports every family it supports (NDB, IPDB, IPVS,
    nl80211, WireGuard, conntrack ...): 163 modules and ~12 MiB of RSS, of which
    vipd needs the rtnetlink ones only (~6 MiB). So, unless pyroute2 is already
    imported, its package is registered without running ``__init__``; the
    submodules import as usual. The first lookup of a top-level name
    (``from pyroute2 import IPRoute``, by a check plugin say) runs the real
    ``__init__`` then (PEP 562 module ``__getattr__``), so nothing else notices.
    """
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> object:  # PEP 562 hook
        if not name.startswith("__") and importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")  # ``from pyroute2 import config``
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'pyroute2' has no attribute {name!r}") from None

    package.__dict__["__getattr__"] = __getattr__
    sys.modules["pyroute2"] = package


_defer_pyroute2_package()
