"""Packet ages are immune to wall-clock steps in both directions (review "Lower severity": clock step).

The wall clock is never touched: the tests inject it (RxClock takes it per wake-up,
AdvertReader takes a ``wall_ns`` callable).
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipd.linux.sockets import RX_BATCH, SO_TIMESTAMPNS, AdvertReader, RxClock, RxPacket

WALL0 = 1_800_000_000 * 10**9  # some CLOCK_REALTIME, ns
HOUR = 3600 * 10**9


def test_stamps_map_onto_loop_time_without_a_step() -> None:
    c = RxClock(now=100.0)
    c.wake(100.0, WALL0)
    c.drained()
    c.wake(100.2, WALL0 + 200_000_000)
    assert c.rx_time(WALL0 + 150_000_000) == pytest.approx(100.15)  # arrived 50 ms before the wake-up
    assert c.rx_time(None) == 100.2


@pytest.mark.parametrize("step", [HOUR, -HOUR, 2 * 10**9, -(10**9)])
def test_a_wall_clock_step_never_ages_a_packet(step: int) -> None:
    c = RxClock(now=100.0)
    c.wake(100.0, WALL0)
    c.drained()
    # the advert arrives at loop time 100.09 (stamped in the old wall time), the clock steps, then we wake up
    stamp = WALL0 + 90_000_000
    c.wake(100.1, WALL0 + 100_000_000 + step)
    rx = c.rx_time(stamp)
    assert 100.0 <= rx <= 100.1, "never older than the last drain, never later than the wake-up"
    assert rx == 100.1, "a stepped wake-up falls back to the loop time"
    # a packet that arrives after the step, at the next wake-up, maps exactly again
    c.drained()
    c.wake(100.3, WALL0 + 300_000_000 + step)
    assert c.rx_time(WALL0 + 280_000_000 + step) == pytest.approx(100.28)


def test_a_packet_never_predates_the_last_drain_nor_one_second() -> None:
    c = RxClock(now=100.0)
    c.wake(100.0, WALL0)
    c.drained()
    c.wake(100.1, WALL0 + 100_000_000)
    assert c.rx_time(WALL0 - 5 * 10**9) == 100.0  # a stamp "before" the last drain is clamped to it
    c2 = RxClock(now=0.0)
    c2.wake(10.0, WALL0)  # never drained since 0.0
    assert c2.rx_time(WALL0 - 5 * 10**9) == 9.0  # at most MAX_AGE old


def test_slewing_is_not_a_step_but_undrained_batches_stay_untrusted_after_one() -> None:
    c = RxClock(now=0.0)
    c.wake(0.0, WALL0)
    c.drained()
    c.wake(1.0, WALL0 + 10**9 + 500_000)  # NTP slew: 0.5 ms in 1 s
    assert c.rx_time(WALL0 + 900_000_000) == pytest.approx(0.8995)
    c.wake(1.1, WALL0 + 1_100_500_000 + HOUR)  # step; this batch is not drained (RX_BATCH reached)
    c.wake(1.2, WALL0 + 1_200_500_000 + HOUR)  # next wake-up: no new step, but old-era stamps may remain
    assert c.rx_time(WALL0 + 1_050_500_000) == 1.2


def test_advert_reader_uses_the_injected_wall_clock_across_a_step() -> None:
    """A real datagram with a real SO_TIMESTAMPNS stamp, read while the (injected) wall clock jumps an hour."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setblocking(False)
    got: list[RxPacket] = []
    jump = [0]

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, got.append, lambda e: None, wall_ns=lambda: time.time_ns() + jump[0])
        tx.sendto(b"x" * 40, rx.getsockname())
        while not got:
            await asyncio.sleep(0.001)
        first = loop.time()
        jump[0] = HOUR  # the wall clock steps forward by an hour
        tx.sendto(b"y" * 40, rx.getsockname())
        while len(got) < 2:
            await asyncio.sleep(0.001)
        reader.close()
        return first

    first = asyncio.run(scenario())
    tx.close()
    assert got[1].rx_time >= first, f"an advert looked {first - got[1].rx_time:.3f} s old after a clock step"


def test_drain_reads_everything_received_before_the_given_time_and_stops_after_it() -> None:
    """``AdvertReader.drain`` (a Backup's overdue Master_Down_Timer): the whole backlog, past RX_BATCH,
    is read in one call; datagrams that arrived after ``until`` end it within one batch."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setblocking(False)
    got: list[RxPacket] = []
    before = 4 * RX_BATCH + 5

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        reader = AdvertReader(loop, rx, 4, got.append, lambda e: None)
        for i in range(before):
            tx.sendto(b"b%d" % i, rx.getsockname())
        until = loop.time()
        while time.monotonic() <= until + 0.001:  # the next ones are stamped after ``until``
            pass
        for i in range(4 * RX_BATCH):
            tx.sendto(b"a%d" % i, rx.getsockname())
        reader.drain(until)  # synchronously, before the loop's own reader callback runs
        n = len(got)
        reader.close()
        assert before <= n < before + RX_BATCH, n
        return until

    until = asyncio.run(scenario())
    tx.close()
    assert all(p.rx_time < until for p in got[:before])
    assert [p.data for p in got[:before]] == [b"b%d" % i for i in range(before)]
    assert got[before:] == [] or got[-1].rx_time >= until


@given(
    now=st.floats(min_value=0.0, max_value=1e5),
    later=st.floats(min_value=0.0, max_value=5.0),
    wall_ns=st.integers(min_value=10**18, max_value=2 * 10**18),
    stamps=st.lists(st.integers(min_value=-3 * 10**9, max_value=3 * 10**9), min_size=1, max_size=8),
    drained=st.booleans(),
    step=st.booleans(),
)
def test_bounds_map_a_stamp_exactly_as_rx_time(
    now: float, later: float, wall_ns: int, stamps: list[int], drained: bool, step: bool
) -> None:
    """The reader maps IPv4 stamps inline with ``bounds()``; it must agree with ``rx_time`` to the bit."""
    c = RxClock(now=now)
    c.wake(now, wall_ns)
    if drained:
        c.drained()
    c.wake(now + later, wall_ns + int(later * 1e9) + (10**9 if step else 0))
    b = c.bounds()
    for d in stamps:
        stamp = wall_ns + int(later * 1e9) + d
        want = c.rx_time(stamp)
        if b is None:
            assert want == now + later
            continue
        hi, offset_ns, lo = b
        at = (stamp - offset_ns) / 1e9
        at = hi if at > hi else lo if at < lo else at
        assert at == want
