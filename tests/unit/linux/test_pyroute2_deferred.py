"""vipd.linux registers pyroute2 without its ``__init__`` (RSS), yet top-level names still work."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip()


def test_the_daemons_runtime_imports_no_pyroute2_module() -> None:
    """Links, addresses and events go through vipd.linux.rtnl; pyroute2 loads only for routes, rules and VMACs."""
    out = _run(
        """
        import sys
        import vipd.linux.netlink, vipd.linux.vmac, vipd.runtime.links, vipd.runtime.daemon, vipd.linux.host
        print(sorted(m for m in sys.modules if m.startswith("pyroute2")))
        import vipd.linux.routes
        print("pyroute2.netlink.exceptions" in sys.modules, "pyroute2.ndb.main" in sys.modules)
        """
    )
    runtime, routes = out.splitlines()
    assert runtime == "['pyroute2']"  # the stand-in package of vipd.linux, nothing under it
    assert routes == "True False"


def test_top_level_names_load_the_real_package_on_first_use() -> None:
    out = _run(
        """
        import vipd.linux
        from pyroute2 import config            # a submodule: no full load
        import sys
        print("pyroute2.ndb.main" in sys.modules)
        from pyroute2 import IPRoute, NDB      # a top-level name: the real __init__ runs
        import pyroute2
        print(IPRoute.__name__, NDB.__name__, pyroute2.__version__ != "unknown")
        try:
            pyroute2.no_such_name
        except AttributeError as err:
            print("AttributeError", "no_such_name" in str(err))
        """
    )
    assert out.splitlines() == ["False", "IPRoute NDB True", "AttributeError True"]


def test_an_already_imported_pyroute2_is_left_alone() -> None:
    out = _run(
        """
        import pyroute2
        real = pyroute2.IPRoute
        import vipd.linux
        import sys
        print(sys.modules["pyroute2"].IPRoute is real)
        """
    )
    assert out == "True"
