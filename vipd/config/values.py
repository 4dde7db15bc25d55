"""The validated configuration as plain frozen values: what the running daemon holds.

The config layer validates with pydantic (:mod:`vipd.config.model`); the running
daemon does not need the validator, only the values it produced. pydantic and
the models cost ~12 MiB of resident memory and ~200 ms of start-up, so the
planner hands the runtime :func:`freeze`-d copies: one :class:`Value` per model
object, with the model's class name, the same field names in the same order,
and the same properties (the ``*Facts`` mixins below, which the pydantic models
inherit too, so each property is written once). Plans cross the process
boundary (reload and start-up plan in a worker process) pickled as values, and
unpickling them imports this module only.

Semantics kept from the models: attributes are read-only; two values are equal
when they are of the same kind with equal fields, ``line`` excepted (moving a
VIP or a route in the file does not change it, as in the models); lists stay
lists and dicts stay dicts.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from vipd.wire.advert import IPAddress

_V = TypeVar("_V")

NOT_COMPARED = frozenset({"line"})
"""Fields that are not part of a value's equality (where it was written)."""


class VirtualAddressFacts:
    """What a ``virtual_ipaddress`` entry derives (model and value alike)."""

    __slots__ = ()

    if TYPE_CHECKING:  # the fields, for type checkers only (pydantic must not see them)
        address: IPAddress

    @property
    def family(self) -> Literal[4, 6]:
        """Address family: 4 or 6."""
        return 6 if isinstance(self.address, IPv6Address) else 4


class ScriptFacts:
    """What a command (``notify_*``, ``script``) derives."""

    __slots__ = ()

    if TYPE_CHECKING:  # the fields, for type checkers only (pydantic must not see them)
        command: str

    @property
    def needs_shell(self) -> bool:
        """True for keepalived's ``</path`` form, which only a shell can run."""
        return self.command.lstrip().startswith("<")


class VrrpInstanceFacts:
    """What a ``vrrp_instance`` derives."""

    __slots__ = ()

    if TYPE_CHECKING:  # the fields, for type checkers only (pydantic must not see them)
        native_ipv6: bool
        virtual_ipaddress: list[Any]
        unicast_src_ip: IPAddress | None
        unicast_peer: list[IPAddress]

    @property
    def family(self) -> Literal[4, 6]:
        """Address family of the instance: from its VIPs, else its unicast addresses, else 4."""
        if self.native_ipv6:
            return 6
        for vip in self.virtual_ipaddress:
            family: Literal[4, 6] = vip.family
            return family
        for addr in (self.unicast_src_ip, *self.unicast_peer):
            if addr is not None:
                return 6 if isinstance(addr, IPv6Address) else 4
        return 4


class GarpGroupFacts:
    """What a ``garp_group`` derives."""

    __slots__ = ()

    if TYPE_CHECKING:  # the fields, for type checkers only (pydantic must not see them)
        interface: str | None
        interfaces: list[str]

    @property
    def members(self) -> list[str]:
        """The interfaces the spacing applies to."""
        return [self.interface] if self.interface is not None else list(self.interfaces)


_FACTS: dict[str, type] = {
    "VirtualAddress": VirtualAddressFacts,
    "Script": ScriptFacts,
    "VrrpInstance": VrrpInstanceFacts,
    "GarpGroup": GarpGroupFacts,
}


class Value:
    """One validated keepalived block (a model object) as read-only attributes.

    ``type(v).__name__`` is the model's class name (``"VrrpInstance"``...);
    :func:`field_names` lists its fields in the model's order. Each kind is a
    class with ``__slots__`` (a ``vrrp_instance`` has ~100 fields: slots hold
    them in a fifth of a dict's memory).
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init__(self, **fields: Any) -> None:
        if fields.keys() != set(self._fields):
            raise TypeError(f"{type(self).__name__}: fields {sorted(fields)} are not {sorted(self._fields)}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._fields]

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self._fields if k not in NOT_COMPARED)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value):
            return NotImplemented
        return type(self).__name__ == type(other).__name__ and self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._compared()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._items())
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self).__name__, self._fields, tuple(getattr(self, k) for k in self._fields)))


_KINDS: dict[tuple[str, tuple[str, ...]], type[Value]] = {}


def kind(name: str, fields: tuple[str, ...]) -> type[Value]:
    """The value class for model class ``name`` with ``fields`` (made once; with its ``*Facts`` properties)."""
    cls = _KINDS.get((name, fields))
    if cls is None:
        bases: tuple[type, ...] = (Value,) if name not in _FACTS else (_FACTS[name], Value)
        namespace = {"__module__": __name__, "__qualname__": name, "__slots__": fields, "_fields": fields}
        cls = type(name, bases, namespace)
        _KINDS[(name, fields)] = cls
    return cls


def _make(cls: type[Value], values: tuple[Any, ...]) -> Value:
    """A value of ``cls`` with ``values`` in its field order (no check: callers pass all of them)."""
    obj = object.__new__(cls)
    for name, value in zip(cls._fields, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _rebuild(name: str, fields: tuple[str, ...], values: tuple[Any, ...]) -> Value:
    """Unpickle: a value of kind ``name`` (pickle's reconstructor; see :meth:`Value.__reduce__`)."""
    return _make(kind(name, fields), values)


_PLAIN = frozenset({str, int, float, bool, bytes, type(None), IPv4Address, IPv6Address})
_MODEL_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _model_fields(t: type) -> tuple[str, ...] | None:
    names = _MODEL_FIELDS.get(t, ())
    if names == ():
        fields = getattr(t, "model_fields", None)
        names = _MODEL_FIELDS[t] = tuple(fields) if isinstance(fields, Mapping) else None
    return names


def freeze(obj: Any) -> Any:
    """A pydantic model object (and everything in it) as :class:`Value` objects.

    Args:
        obj: a model object, or a list/tuple/dict/set holding them, or a plain value.
    Returns:
        the same structure with every model object replaced by a value of the
        same kind; plain values (str, int, float, addresses, None) are shared.
    """
    t = type(obj)
    if t in _PLAIN:
        return obj
    names = _model_fields(t)
    if names is not None:
        return _make(kind(t.__name__, names), tuple(freeze(getattr(obj, name)) for name in names))
    if isinstance(obj, list):
        return [freeze(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(freeze(x) for x in obj)
    if isinstance(obj, dict):
        return {k: freeze(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return type(obj)(freeze(x) for x in obj)
    return obj


def field_names(value: Any) -> tuple[str, ...]:
    """The fields of ``value`` (a :class:`Value`), in the model's order."""
    names: tuple[str, ...] = value._fields
    return names


def replace(value: _V, **update: Any) -> _V:
    """A copy of ``value`` (a :class:`Value`) with ``update`` applied (the model's ``model_copy(update=...)``).

    Raises:
        AttributeError: a name in ``update`` is not a field of ``value``.
    """
    fields = dict(value._items())  # type: ignore[attr-defined]
    for name in update:
        if name not in fields:
            raise AttributeError(f"{type(value).__name__} has no field {name!r}")
    fields.update(update)
    copy: _V = type(value)(**fields)
    return copy


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON types: values as objects (field order kept), addresses as strings."""
    if isinstance(obj, Value):
        return {k: jsonable(v) for k, v in obj._items()}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def dump_json(config: Any) -> str:
    """The normalised configuration as indented JSON (every default filled in).

    Args:
        config: a :class:`Value` of kind ``Config`` (or a model object: it is frozen first).
    Returns:
        JSON text; durations are seconds (floats), addresses strings, ``priority_implied``
        marks a priority of 255 that came from ``state MASTER`` without ``priority``.
    """
    return json.dumps(jsonable(freeze(config)), indent=2, ensure_ascii=False)
