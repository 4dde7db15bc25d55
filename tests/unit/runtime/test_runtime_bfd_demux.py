"""The BFD runtime's receive path without sockets: demultiplexing (RFC 5880 §6.8.6, RFC 5881 §3) and TTL (§5)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

from vipd.bfd import ControlPacket, Diag, SessionState, encode
from vipd.linux.bfd import BfdDatagram
from vipd.runtime.bfd import BfdConfig, BfdRuntime, BfdSessionDriver

NBR = ip_address("192.0.2.2")
ME = ip_address("192.0.2.1")


_LOOPS: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def _close_loops() -> Iterator[None]:
    yield
    while _LOOPS:
        _LOOPS.pop().close()


def runtime(**kw: object) -> tuple[BfdRuntime, BfdSessionDriver]:
    loop = asyncio.new_event_loop()  # never run: the driver only reads loop.time()
    _LOOPS.append(loop)
    cfg = BfdConfig("p", NBR, ME, min_tx=0.05, min_rx=0.05, multiplier=3, **kw)  # type: ignore[arg-type]
    rt = BfdRuntime([cfg], timer=lambda _cb: None)
    d = BfdSessionDriver(loop, cfg, 0x1234)
    rt.sessions["p"] = d
    rt._by_discr[0x1234] = d
    from vipd.bfd import Start

    d.session.handle(Start(), 0.0)
    return rt, d


def dgram(pkt: ControlPacket, src=NBR, ttl: int = 255, dst=ME) -> BfdDatagram:  # type: ignore[no-untyped-def]
    return BfdDatagram(encode(pkt), src, 49200, dst, ttl, 2, 1.0)


def down(your: int = 0) -> ControlPacket:
    return ControlPacket(SessionState.DOWN, Diag.NONE, 3, 0x9999, your, 1_000_000, 50_000)


def test_zero_your_discriminator_selects_by_addresses() -> None:
    rt, d = runtime()
    rt._on_datagram(3784, dgram(down()))
    assert d.session.session_state is SessionState.INIT and d.stats.rx == 1


def test_nonzero_your_discriminator_selects_by_discriminator_else_dropped() -> None:
    rt, d = runtime()
    rt._on_datagram(3784, dgram(down(your=0x1234)))
    assert d.session.session_state is SessionState.INIT
    rt._on_datagram(3784, dgram(down(your=0x7777)))
    assert rt.unmatched["no_session"] == 1


def test_rfc5881_5_ttl_below_255_is_dropped() -> None:
    rt, d = runtime()
    rt._on_datagram(3784, dgram(down(), ttl=254))
    assert d.stats.discards["ttl"] == 1 and d.session.session_state is SessionState.DOWN


def test_keepalived_max_hops_accepts_a_reduced_ttl() -> None:
    rt, d = runtime(max_hops=2)
    rt._on_datagram(3784, dgram(down(), ttl=253))
    assert d.session.session_state is SessionState.INIT


def test_another_source_is_dropped_even_with_our_discriminator() -> None:
    rt, d = runtime()
    rt._on_datagram(3784, dgram(down(your=0x1234), src=ip_address("192.0.2.66")))
    assert d.stats.discards["source"] == 1


def test_junk_is_counted_by_reason() -> None:
    rt, _d = runtime()
    rt._on_datagram(3784, BfdDatagram(b"\x20" * 10, NBR, 49200, ME, 255, 2, 1.0))
    assert rt.unmatched["length"] == 1


def test_multihop_session_does_not_take_single_hop_packets() -> None:
    rt, d = runtime(multihop=True)
    rt._on_datagram(3784, dgram(down()))
    assert rt.unmatched["no_session"] == 1
    rt._on_datagram(4784, dgram(down()))
    assert d.session.session_state is SessionState.INIT
