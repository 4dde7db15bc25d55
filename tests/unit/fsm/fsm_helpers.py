"""Helpers for the FSM tables: one virtual router, adverts built by hand, time moved by hand.

Nothing here sleeps or reads a clock. A test keeps its own ``now`` (``now = 0.0``,
then ``now += ...``) and passes it to every ``handle()``, as aioquic's tests do.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

from vipd.fsm import AdvertReceived, Effect, Params, Startup, State, TimerExpired, VrrpMachine
from vipd.wire.advert import Advert, IPAddress

VRID = 51
ME = IPv4Address("192.0.2.10")  # our primary address
LOWER = IPv4Address("192.0.2.5")  # a peer whose primary address is below ours
HIGHER = IPv4Address("192.0.2.20")  # a peer whose primary address is above ours
VIPS: tuple[IPAddress, ...] = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.101"))

# A tick far below anything the protocol can tell apart, and far above float noise at these magnitudes.
TICK = 1e-6


def params(*, version: int = 3, priority: int = 100, interval: float = 1.0, **overrides: Any) -> Params:
    """Return Params for VRID 51 on 192.0.2.10 with two VIPs; keyword overrides win."""
    base = Params(
        vrid=VRID,
        version=version,
        priority=priority,
        advertisement_interval=interval,
        primary_address=ME,
        addresses=VIPS,
    )
    return replace(base, **overrides)


def machine(**kw: Any) -> VrrpMachine:
    """Return a machine in Initialize built from ``params(**kw)``."""
    return VrrpMachine(params(**kw))


def advert(m: VrrpMachine, priority: int, **fields: Any) -> Advert:
    """Return an advert a well-configured peer of ``m`` would send, with ``fields`` overridden."""
    p = m.params
    base = Advert(
        version=p.version,
        vrid=p.vrid,
        priority=priority,
        max_adver_int=p.advertisement_interval,
        addresses=p.addresses,
        auth_type=p.auth_type if p.version == 2 else 0,
        auth_data=p.auth_data if p.version == 2 else b"",
    )
    return replace(base, **fields)


def rx(m: VrrpMachine, now: float, priority: int, src: IPAddress = HIGHER, **fields: Any) -> list[Effect]:
    """Deliver a peer's advert to ``m`` at ``now`` and return the effects."""
    return m.handle(AdvertReceived(src, advert(m, priority, **fields)), now)


def start(m: VrrpMachine, now: float = 0.0) -> list[Effect]:
    """Deliver Startup at ``now``."""
    return m.handle(Startup(), now)


def fire(m: VrrpMachine) -> tuple[float, list[Effect]]:
    """Fire the next deadline exactly when it is due; return (now, effects)."""
    due = m.next_deadline()
    assert due is not None, "no timer is running"
    return due, m.handle(TimerExpired(), due)


def to_master(m: VrrpMachine) -> float:
    """Start ``m`` as a backup and let its Master_Down_Timer run out; return the time it became master."""
    start(m, 0.0)
    now, _ = fire(m)
    assert m.state is State.MASTER
    return now
