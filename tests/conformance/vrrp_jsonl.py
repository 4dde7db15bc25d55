"""JSON lines for FSM replay (after holo-vrrp's conformance cases): events in, effects out.

A case is a directory with three files:

- ``routers.json``: ``{name: Params}``, addresses as strings.
- ``events.jsonl``: one input per line, in time order:
  ``{"t": 3.21875, "router": "A", "event": {"type": "TimerExpired"}}``.
- ``effects.jsonl``: one line per input line, what the machine returned and where it ended up:
  ``{"t": ..., "router": "A", "effects": [{"type": "SendAdvert", "advert": {...}}, ...],
  "state": "MASTER", "next_deadline": 4.21875}``.

Floats are written with ``repr`` (Python's json does), so they round-trip exactly and
the comparison is exact. Bytes are hex.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from vipd.fsm import (
    AdvertReceived,
    Event,
    FaultChanged,
    Params,
    PriorityChanged,
    Shutdown,
    Startup,
    TimerExpired,
    VrrpMachine,
)
from vipd.wire.advert import Advert

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (Startup, Shutdown, TimerExpired, AdvertReceived, PriorityChanged, FaultChanged)
}


def to_json(value: Any) -> Any:
    """Turn events, effects, adverts and params into plain JSON values (dataclasses get a "type" key)."""
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {} if isinstance(value, Advert | Params) else {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            if isinstance(value, TimerExpired) and getattr(value, f.name) == f.default:
                continue  # the runtime's scheduling hints (align, grid), absent from the recorded cases
            out[f.name] = to_json(getattr(value, f.name))
        return out
    return value


def advert_from_json(d: dict[str, Any]) -> Advert:
    return Advert(
        version=d["version"],
        vrid=d["vrid"],
        priority=d["priority"],
        max_adver_int=d["max_adver_int"],
        addresses=tuple(ip_address(a) for a in d["addresses"]),
        auth_type=d["auth_type"],
        auth_data=bytes.fromhex(d["auth_data"]),
    )


def params_from_json(d: dict[str, Any]) -> Params:
    d = dict(d)
    d["primary_address"] = ip_address(d["primary_address"])
    d["addresses"] = tuple(ip_address(a) for a in d["addresses"])
    d["auth_data"] = bytes.fromhex(d["auth_data"])
    return Params(**d)


def event_from_json(d: dict[str, Any]) -> Event:
    kind = EVENT_TYPES[d["type"]]
    if kind is AdvertReceived:
        return AdvertReceived(ip_address(d["src"]), advert_from_json(d["advert"]))
    args = {k: v for k, v in d.items() if k != "type"}
    event: Event = kind(**args)
    return event


def dump_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in rows))


def load_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replay(case: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Feed ``events.jsonl`` to fresh machines built from ``routers.json``; yield (line number, output row)."""
    routers = json.loads((case / "routers.json").read_text())
    machines = {name: VrrpMachine(params_from_json(p)) for name, p in routers.items()}
    for lineno, row in enumerate(load_lines(case / "events.jsonl"), 1):
        m = machines[row["router"]]
        effects = m.handle(event_from_json(row["event"]), row["t"])
        yield (
            lineno,
            {
                "t": row["t"],
                "router": row["router"],
                "effects": to_json(effects),
                "state": m.state.name,
                "next_deadline": m.next_deadline(),
            },
        )
