"""Receive coalescing (``vipd.linux.sockets``, module docstring): at a high rate the reader drains every
``max_delay()`` seconds; nothing is lost, reordered or restamped, a Backup's ``pending()`` cuts the wait
short, and a low rate (or a bound under ``COALESCE_MIN``) keeps it woken per datagram.

Real datagrams on a loopback UDP socket with SO_TIMESTAMPNS stand in for the raw socket. Traffic is
paced by the sender; every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable

import pytest

from vipd.linux import sockets
from vipd.linux.sockets import SO_TIMESTAMPNS, AdvertReader, RxPacket

RATE_GAP = 0.0005  # seconds between datagrams of the fast sender: 2,000 a second


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "COALESCE_WINDOW", 0.02)  # decide in 20 ms, not 250


def _pair() -> tuple[socket.socket, socket.socket]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return rx, tx


async def _until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, f"not reached within {timeout} s: {what}"
        await asyncio.sleep(0.0005)


async def _send_until(tx: socket.socket, addr: object, pred: Callable[[], bool], timeout: float) -> int:
    """Send numbered datagrams every RATE_GAP until ``pred()``; returns how many were sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    n = 0
    while not pred():
        assert loop.time() < deadline, "the reader did not start coalescing"
        tx.sendto(n.to_bytes(4, "big"), addr)
        n += 1
        await asyncio.sleep(RATE_GAP)
    return n


async def _coalescing_reader(rx: socket.socket, tx: socket.socket, got: list[RxPacket]) -> AdvertReader:
    """A reader whose bound is 5 ms until it coalesces, then 5 s; returned once it coalesces."""
    reader: AdvertReader | None = None

    def bound() -> float:  # 5 ms to start with; once coalescing, drains 5 s apart
        return 5.0 if reader is not None and reader.coalescing else 0.005

    reader = AdvertReader(asyncio.get_running_loop(), rx, 4, got.append, lambda e: None, max_delay=bound)
    await _send_until(tx, rx.getsockname(), lambda: reader.coalescing == 5.0, 5.0)
    return reader


def test_a_high_rate_is_drained_in_batches_in_order_with_kernel_stamps() -> None:
    rx, tx = _pair()
    got: list[RxPacket] = []
    read_at: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def on_packet(pkt: RxPacket) -> None:
            got.append(pkt)
            read_at.append(loop.time())

        reader = AdvertReader(loop, rx, 4, on_packet, lambda e: None, max_delay=lambda: 0.005)
        assert reader.coalescing == 0.0
        sent = await _send_until(tx, rx.getsockname(), lambda: reader.coalescing > 0, 5.0)
        assert reader.coalescing == 0.005
        for i in range(sent, sent + 50):  # a burst while coalescing
            tx.sendto(i.to_bytes(4, "big"), rx.getsockname())
        await _until(lambda: len(got) == sent + 50, 5.0, "every datagram read")
        reader.close()

    asyncio.run(scenario())
    tx.close()
    assert [int.from_bytes(p.data, "big") for p in got] == list(range(len(got))), "lost or reordered"
    assert all(a.rx_time <= b.rx_time for a, b in itertools.pairwise(got)), "stamps out of order"
    assert all(p.rx_time <= t for p, t in zip(got, read_at, strict=True)), "a packet stamped after it was read"


def test_pending_reads_on_the_next_loop_turn_instead_of_waiting_for_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "COALESCE_MAX", 10.0)  # a wait that no test could sit out
    rx, tx = _pair()
    got: list[RxPacket] = []

    async def scenario() -> None:
        reader = await _coalescing_reader(rx, tx, got)
        before = len(got)
        tx.sendto(b"last", rx.getsockname())
        await _until(reader.pending, 5.0, "the datagram queued")
        assert len(got) == before  # queued, not read: the next drain is seconds away
        assert reader.pending()  # what a Backup asks before its Master_Down_Timer may fire
        for _ in range(3):
            await asyncio.sleep(0)
        assert got and got[-1].data == b"last", "pending() must have the datagram read on the loop's next turn"
        reader.close()

    asyncio.run(scenario())
    tx.close()


def test_a_bound_under_coalesce_min_keeps_waking_per_datagram() -> None:
    rx, tx = _pair()
    got: list[RxPacket] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, got.append, lambda e: None, max_delay=lambda: sockets.COALESCE_MIN / 2)
        start = loop.time()
        n = await _send_until(tx, rx.getsockname(), lambda: loop.time() - start > 0.1, 5.0)
        await _until(lambda: len(got) == n, 5.0, "every datagram read")
        assert reader.coalescing == 0.0
        reader.close()

    asyncio.run(scenario())
    tx.close()


def test_when_the_rate_falls_the_reader_watches_the_socket_again() -> None:
    rx, tx = _pair()
    got: list[RxPacket] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, got.append, lambda e: None, max_delay=lambda: 0.005)
        n = await _send_until(tx, rx.getsockname(), lambda: reader.coalescing > 0, 5.0)
        await _until(lambda: len(got) == n, 5.0, "every datagram read")
        # Quiet now: the reader stops draining on a timer and watches the socket (see "Bursts").
        await _until(lambda: reader._watching or reader.coalescing == 0.0, 5.0, "watching the socket")
        start = loop.time()
        await _until(lambda: loop.time() - start > sockets.COALESCE_WINDOW, 1.0, "a quiet rate window")
        tx.sendto(b"alone", rx.getsockname())
        await _until(lambda: got[-1].data == b"alone", 5.0, "a datagram read while watching the socket")
        assert reader.coalescing == 0.0, "back to one wake-up per datagram"
        reader.close()

    asyncio.run(scenario())
    tx.close()


def test_drain_while_coalescing_keeps_one_tick_chain() -> None:
    """drain() (an overdue Backup) and pending() read early; the reader must still drain once per delay.

    Each early read used to schedule a new tick beside the pending one: two, then three chains of
    periodic drains, each an extra wake-up of the loop for good.
    """
    rx, tx = _pair()
    drains: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, lambda pkt: None, lambda e: None, max_delay=lambda: 0.005)
        await _send_until(tx, rx.getsockname(), lambda: reader.coalescing > 0, 5.0)
        original = reader._drain

        def counted() -> None:
            drains.append(loop.time())
            original()

        reader._drain = counted  # type: ignore[method-assign]
        for _ in range(5):  # five early reads while coalescing
            tx.sendto(b"x", rx.getsockname())
            await _until(reader.pending, 1.0, "a datagram queued")
            reader.drain(loop.time())
        drains.clear()
        start = loop.time()
        await asyncio.sleep(0.1)  # a quiet socket: only the one chain of ticks may run (every 5 ms)
        elapsed = loop.time() - start
        reader.close()
        assert len(drains) <= elapsed / 0.005 + 2, f"{len(drains)} drains in {elapsed * 1000:.0f} ms"

    asyncio.run(scenario())


def test_a_quiet_socket_is_watched_not_polled_and_a_burst_is_read_in_one_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A master of many VRIDs sends in bursts; drains on a timer between them found nothing (module docstring)."""
    rx, tx = _pair()
    got: list[RxPacket] = []
    drains: list[int] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, got.append, lambda e: None, max_delay=lambda: 0.005)
        n = await _send_until(tx, rx.getsockname(), lambda: reader.coalescing > 0, 5.0)
        await _until(lambda: len(got) == n and reader._watching, 5.0, "every datagram read, then watching")
        original = reader._drain

        def counted() -> None:
            before = len(got)
            original()
            drains.append(len(got) - before)

        reader._drain = counted  # type: ignore[method-assign]
        monkeypatch.setattr(sockets, "COALESCE_WINDOW", 10.0)  # the quiet spell below must not end coalescing
        start = loop.time()
        await asyncio.sleep(0.05)  # a quiet socket: ten drains on a timer before, none now
        assert drains == [], f"{len(drains)} drains of a quiet socket in {(loop.time() - start) * 1000:.0f} ms"
        burst = sockets.RX_BATCH - 2
        for i in range(burst):
            tx.sendto(i.to_bytes(4, "big"), rx.getsockname())
        await _until(lambda: len(got) == n + burst and reader._watching, 5.0, "the burst read, then watching")
        assert reader.coalescing == 0.005
        assert drains[0] == burst, f"the burst took {drains} drains"
        assert all(d == 0 for d in drains[1:]) and len(drains) <= 2, drains
        reader.close()

    asyncio.run(scenario())
    tx.close()


@pytest.mark.parametrize("arrived_first", [False, True], ids=["before-wakeup", "after-wakeup"])
def test_pending_while_watching_reads_on_the_next_loop_turn(
    monkeypatch: pytest.MonkeyPatch, arrived_first: bool
) -> None:
    """The Backup's promise holds after an empty drain too: a waiting datagram is not held for the delay."""
    monkeypatch.setattr(sockets, "COALESCE_MAX", 10.0)
    rx, tx = _pair()
    got: list[RxPacket] = []

    async def scenario() -> None:
        reader = await _coalescing_reader(rx, tx, got)
        await _until(lambda: not reader.pending(), 5.0, "the socket emptied")
        for _ in range(3):
            await asyncio.sleep(0)
        reader._drain()  # an empty drain
        assert reader._watching
        before = len(got)
        tx.sendto(b"last", rx.getsockname())
        if arrived_first:  # the loop saw it arrive and started the 5 s wait
            await _until(lambda: not reader._watching, 5.0, "the arrival seen")
            assert reader._tick is not None and len(got) == before
        assert reader.pending()
        for _ in range(3):
            await asyncio.sleep(0)
        assert got and got[-1].data == b"last", "pending() must have the datagram read on the loop's next turn"
        reader.close()

    asyncio.run(scenario())
    tx.close()
