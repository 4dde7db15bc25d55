"""What the long-running daemon does not load until it needs it: ``ssl``.

``import asyncio`` imports ``ssl``, which maps OpenSSL's libssl and libcrypto
(~4 MiB of resident memory, ~10 ms), and pyroute2's rtnetlink modules import it
too (for a probe vipd never sends). A daemon whose checks speak no TLS never
uses it. :func:`defer_ssl` imports asyncio with ``ssl`` unavailable (asyncio
supports that: its ``ssl`` is then None) and leaves a stand-in module under
the name ``ssl``; the first attribute read on the stand-in (a TLS check
building its context, say) imports the real module and hands it to asyncio's
modules, which then work exactly as if it had been there from the start.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class _DeferredSSL(types.ModuleType):
    """Stands in for ``ssl`` until an attribute is read; then loads it (see the module docstring)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(load_ssl(), name)


def load_ssl() -> types.ModuleType:
    """Import the real ``ssl`` (once) and give it to asyncio's modules; returns it."""
    current = sys.modules.get("ssl")
    if isinstance(current, _DeferredSSL):
        del sys.modules["ssl"]
    real = importlib.import_module("ssl")
    for name, module in list(sys.modules.items()):
        if name.startswith("asyncio.") and module is not None and getattr(module, "ssl", False) is None:
            module.ssl = real  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        sslproto.SSLAgainErrors = (real.SSLWantReadError, real.SSLSyscallError)  # type: ignore[attr-defined]
    return real


def defer_ssl() -> bool:
    """Import asyncio without ``ssl``, leaving a stand-in that loads it on first use.

    Call it first thing in the daemon's process, before anything imports asyncio.

    Returns:
        True if ssl is now deferred; False if asyncio or ssl was already imported
        (nothing changed: an embedding process, a test run).
    """
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # "import ssl" raises ImportError: asyncio runs without
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    sys.modules["ssl"] = _DeferredSSL("ssl", "stands in for ssl until it is used (vipd.control.lean)")
    return True
