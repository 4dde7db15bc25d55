"""keepalived.conf reader: tokenizer, parser and the validated pydantic model.

Usage::

    from vipd.config import load_config, ConfigError
    try:
        result = load_config("/etc/keepalived/keepalived.conf", config_id="node1")
    except ConfigError as err:
        for d in err.errors:          # every error, each "FILE:LINE: keyword: reason"
            print(d)
    else:
        for w in result.warnings:
            print("warning:", w)
        config = result.config        # Config: global_defs, vrrp_instances (file order)

Pipeline: :mod:`~vipd.config.lexer` (comments, quotes, ``include``, ``@ID``
conditionals, ``$NAME`` parameters) -> :mod:`~vipd.config.tree` (blocks, brace
errors) -> :mod:`~vipd.config.grammar` + :mod:`~vipd.config.keywords` (keyword
tables, raw dict with a FILE:LINE for every value) -> :mod:`~vipd.config.model`
(pydantic, frozen, ``extra="forbid"``) -> :mod:`~vipd.config.rules` (cross-field
checks).

This package is pure: no sockets, no asyncio, no netlink, no subprocesses.
"""

from typing import TYPE_CHECKING, Any

from vipd.config.diagnostics import ConfigError, Diagnostic

if TYPE_CHECKING:
    from vipd.config.loader import LoadResult, dump_config, load_config, load_config_string
    from vipd.config.model import Authentication, Config, GlobalDefs, VirtualAddress, VrrpInstance

# The loader and the models import pydantic (~12 MiB, ~200 ms): only what reads a
# file needs them, not the running daemon (vipd.config.values), so they load on
# first use (PEP 562) and ``import vipd.config.routes`` stays light.
_LAZY = {
    "LoadResult": "vipd.config.loader",
    "dump_config": "vipd.config.loader",
    "load_config": "vipd.config.loader",
    "load_config_string": "vipd.config.loader",
    "Authentication": "vipd.config.model",
    "Config": "vipd.config.model",
    "GlobalDefs": "vipd.config.model",
    "VirtualAddress": "vipd.config.model",
    "VrrpInstance": "vipd.config.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vipd.config' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Authentication",
    "Config",
    "ConfigError",
    "Diagnostic",
    "GlobalDefs",
    "LoadResult",
    "VirtualAddress",
    "VrrpInstance",
    "dump_config",
    "load_config",
    "load_config_string",
]
