"""keepalived ``interface_up_down_delays`` in the link monitor: a change reaches subscribers only
after it has lasted its delay; a flap shorter than the delay is never seen (keepalived's
``down_debounce_timer`` / ``up_debounce_timer``). Events are fed by hand, time by the loop."""

from __future__ import annotations

import asyncio

from vipd.runtime.links import LinkMonitor


async def _scenario(
    delays: dict[str, tuple[float, float]], steps: list[tuple[float, bool]]
) -> list[tuple[float, bool]]:
    mon = LinkMonitor(delays)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    seen: list[tuple[float, bool]] = []
    mon._set("eth0", True)  # the dump: known state, reported at once
    mon.subscribe("eth0", lambda up: seen.append((round(loop.time() - t0, 2), up)))
    for at, up in steps:
        await asyncio.sleep(max(0.0, t0 + at - loop.time()))
        mon._set("eth0", up)
    await asyncio.sleep(max(0.0, t0 + 1.0 - loop.time()))
    await mon.close()
    return seen


def test_a_down_longer_than_down_delay_is_reported_after_the_delay() -> None:
    seen = asyncio.run(_scenario({"eth0": (0.2, 0.0)}, [(0.1, False)]))
    assert len(seen) == 1 and seen[0][1] is False
    assert 0.28 <= seen[0][0] <= 0.4, seen


def test_a_flap_shorter_than_down_delay_is_never_reported() -> None:
    assert asyncio.run(_scenario({"eth0": (0.3, 0.3)}, [(0.1, False), (0.2, True)])) == []


def test_up_delay_holds_the_recovery() -> None:
    seen = asyncio.run(_scenario({"eth0": (0.0, 0.3)}, [(0.1, False), (0.2, True)]))
    assert [up for _, up in seen] == [False, True]
    assert seen[0][0] < 0.15 and 0.45 <= seen[1][0] <= 0.6, seen


def test_a_link_without_delays_is_reported_at_once() -> None:
    seen = asyncio.run(_scenario({"eth9": (0.5, 0.5)}, [(0.1, False)]))
    assert [up for _, up in seen] == [False] and seen[0][0] < 0.15
