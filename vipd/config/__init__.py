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

from vipd.config.diagnostics import ConfigError, Diagnostic
from vipd.config.loader import LoadResult, dump_config, load_config, load_config_string
from vipd.config.model import Authentication, Config, GlobalDefs, VirtualAddress, VrrpInstance

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
