"""TimerQueue: many timers on one timerfd (vipd.linux.timerfd), on a real loop and a real timerfd.

Deadlines are checked against the monotonic clock when each callback runs (never early);
the waits are the timers' own, bounded by a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time

import pytest

from vipd.linux import timerfd
from vipd.linux.timerfd import TimerQueue, shared_timer

pytestmark = pytest.mark.skipif(timerfd._LIBC is None, reason="no libc timerfd_create")


async def _until(cond: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.001)


def test_timers_run_in_deadline_order_never_early_and_due_ones_share_one_wake_up() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        q = TimerQueue.create(loop)
        assert q is not None
        ran: list[tuple[int, float]] = []
        now = time.monotonic()
        deadlines = {i: now + 0.02 + 0.001 * (7 - i) for i in range(8)}  # set in reverse deadline order
        timers = {i: q.timer(lambda i=i: ran.append((i, time.monotonic()))) for i in deadlines}
        for i, t in timers.items():
            t.set(deadlines[i])
        wakes = 0
        real = q._expired

        def counting() -> None:
            nonlocal wakes
            wakes += 1
            real()

        loop.remove_reader(q._fd)
        loop.add_reader(q._fd, counting)
        await _until(lambda: len(ran) == 8)
        assert [i for i, _ in ran] == [7, 6, 5, 4, 3, 2, 1, 0]
        assert all(at >= deadlines[i] for i, at in ran), "a timer ran before its deadline"
        # timers due together run from one wake-up of the loop
        ran.clear()
        wakes = 0
        at = time.monotonic() + 0.01
        for t in timers.values():
            t.set(at)
        await _until(lambda: len(ran) == 8)
        assert wakes == 1
        assert all(t >= at for _, t in ran)
        for t in timers.values():
            t.close()

    asyncio.run(scenario())


def test_a_timer_moved_later_or_disarmed_does_not_run_at_its_old_deadline() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        q = TimerQueue.create(loop)
        assert q is not None
        ran: list[str] = []
        a, b, c = (q.timer(lambda n=n: ran.append(n)) for n in "abc")
        now = time.monotonic()
        a.set(now + 0.005)
        b.set(now + 0.005)
        c.set(now + 0.030)
        a.set(now + 0.020)  # moved later: the timerfd stays armed at 5 ms (no system call), a runs at 20 ms
        b.set(None)
        await _until(lambda: ran == ["a", "c"] or len(ran) > 2)
        assert ran == ["a", "c"]
        for t in (a, b, c):
            t.close()

    asyncio.run(scenario())


def test_a_failing_callback_does_not_stop_the_others() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
        q = TimerQueue.create(loop)
        assert q is not None
        ran: list[str] = []

        def boom() -> None:
            raise RuntimeError("boom")

        bad, good = q.timer(boom), q.timer(lambda: ran.append("good"))
        now = time.monotonic()
        bad.set(now + 0.002)
        good.set(now + 0.002)
        await _until(lambda: ran == ["good"])
        assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
        bad.close()
        good.close()

    asyncio.run(scenario())


def test_a_timer_set_in_the_past_from_a_callback_runs_on_the_next_pass() -> None:
    """A callback re-arming itself at a past deadline cannot hold the loop: it runs again on the next pass."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        q = TimerQueue.create(loop)
        assert q is not None
        passes: list[int] = []
        other_ran = []

        def again() -> None:
            passes.append(1)
            if len(passes) < 3:
                t.set(time.monotonic() - 1.0)

        t = q.timer(again)
        t.set(time.monotonic())
        loop.call_soon(lambda: other_ran.append(len(passes)))
        await _until(lambda: len(passes) == 3)
        assert other_ran and other_ran[0] < 3  # the loop ran other work between the passes
        t.close()

    asyncio.run(scenario())


def test_the_shared_queue_is_one_per_loop_and_closed_with_its_last_timer() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = shared_timer(loop, lambda: None), shared_timer(loop, lambda: None)
        assert a is not None and b is not None
        assert a._queue is b._queue
        queue = a._queue
        assert queue is not None
        fd = queue._fd
        a.close()
        assert timerfd._QUEUES.get(loop) is queue
        b.close()
        assert loop not in timerfd._QUEUES
        with pytest.raises(OSError):
            import os

            os.fstat(fd)
        b.set(time.monotonic())  # a closed timer ignores set

    asyncio.run(scenario())


def test_timers_moved_later_many_times_run_once_each_at_their_last_deadline_and_the_list_stays_bounded() -> None:
    """A Backup re-armed on every advert: old entries are left stale, never run, and are dropped."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        q = TimerQueue.create(loop)
        assert q is not None
        ran: list[tuple[int, float]] = []
        timers = [q.timer(lambda i=i: ran.append((i, time.monotonic()))) for i in range(20)]
        now = time.monotonic()
        last: dict[int, float] = {}
        for step in range(200):  # each timer moved later 200 times, interleaved, mostly appended
            for i, t in enumerate(timers):
                last[i] = now + 0.01 + 0.0001 * step + 0.00001 * i
                t.set(last[i])
            assert len(q._queue) <= 2 * len(timers) + timerfd.STALE_SLACK + 1
        # one moved earlier than the rest (bisect, not append) still runs first and on time
        last[19] = now + 0.005
        timers[19].set(last[19])
        await _until(lambda: len(ran) == 20)
        assert ran[0][0] == 19
        assert sorted(i for i, _ in ran) == list(range(20)), "a timer ran twice or not at all"
        assert all(at >= last[i] for i, at in ran), "a timer ran before its last deadline"
        assert [i for i, _ in ran[1:]] == list(range(19)), "not in deadline order"
        assert q._wake_time() is None and not q._queue and q._stale == 0
        for t in timers:
            t.close()

    asyncio.run(scenario())


def test_stale_entries_do_not_set_the_wake_up_time() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        q = TimerQueue.create(loop)
        assert q is not None
        a, b = q.timer(lambda: None), q.timer(lambda: None)
        now = time.monotonic()
        a.set(now + 10.0)
        b.set(now + 20.0)
        a.set(now + 30.0)  # a's entry at 10 s is stale now
        assert q._wake_time() == now + 20.0
        b.set(None)
        assert q._wake_time() == now + 30.0
        a.set(None)
        assert q._wake_time() is None
        a.close()
        b.close()

    asyncio.run(scenario())
