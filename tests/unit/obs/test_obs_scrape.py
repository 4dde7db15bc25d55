"""``/metrics`` cannot starve the loop: one render per interval, sliced rendering, caps, timeouts, fd reserve."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_obs_metrics import make_row, snapshot

from vipd.obs import fdguard
from vipd.obs.metrics import make_registry
from vipd.obs.scrape import ScrapeServer, render
from vipd.obs.status import InstanceRow

ROWS = [make_row(f"VI_{i}", i) for i in range(1, 41)]


def families(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            if not s.name.startswith("process_"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_sliced_render_equals_one_pass_and_yields_between_slices() -> None:
    reg = make_registry(lambda: snapshot(ROWS))
    whole = generate_latest(reg)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def scenario() -> bytes:
        t = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        body = await render(reg, budget=1e-6)  # forces one instance per slice
        t.cancel()
        return body

    sliced = asyncio.run(scenario())
    assert families(sliced) == families(whole)
    assert sliced.count(b"# TYPE keepalived_vrrp_state gauge") == 1
    assert ticks >= len(ROWS) // 2, "the loop ran between slices"
    assert b"process_resident_memory_bytes" in sliced
    assert b"keepalived_vrrp_excluded_state" in sliced


async def _get(port: int, path: str = "/metrics", method: str = "GET") -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await asyncio.wait_for(r.read(), 5)
    w.close()
    return data


def _serve(rows: list[InstanceRow], body: Callable[[ScrapeServer], Awaitable[None]], **limits: float) -> ScrapeServer:
    async def scenario() -> ScrapeServer:
        srv = ScrapeServer(make_registry(lambda: snapshot(rows)), "127.0.0.1", 0)
        for k, v in limits.items():
            setattr(srv, k, v)
        await srv.start()
        try:
            await body(srv)
        finally:
            await srv.close()
        return srv

    return asyncio.run(scenario())


def test_parallel_scrapes_within_max_age_share_one_render() -> None:
    results: list[bytes] = []

    async def body(srv: ScrapeServer) -> None:
        results.extend(await asyncio.gather(*(_get(srv.port) for _ in range(8))))
        results.append(await _get(srv.port, method="HEAD"))
        results.append(await _get(srv.port, "/nope"))

    srv = _serve(ROWS, body, MIN_AGE=60.0, MAX_AGE=60.0)
    assert srv.counters["renders"] == 1
    assert all(r.startswith(b"HTTP/1.1 200 OK") and b'keepalived_vrrp_state{iname="VI_40"' in r for r in results[:8])
    assert len({r for r in results[:8]}) == 1, "every scraper got the same cached bytes"
    head = results[8]
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
    assert results[9].startswith(b"HTTP/1.1 404")


def test_a_stale_cache_is_rendered_again() -> None:
    async def body(srv: ScrapeServer) -> None:
        await _get(srv.port)
        await asyncio.sleep(0.05)
        await _get(srv.port)

    assert _serve(ROWS[:2], body, MIN_AGE=0.01, MAX_AGE=0.01).counters["renders"] == 2


def test_idle_connections_are_capped_evicted_for_scrapers_and_timed_out() -> None:
    got: dict[str, object] = {}

    async def body(srv: ScrapeServer) -> None:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(20)]
        await asyncio.sleep(0.1)
        got["open_after_flood"] = srv.connections
        got["scrape"] = await _get(srv.port)  # evicts the oldest idle connection
        deadline = time.monotonic() + 3
        while srv.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        got["open_after_timeout"] = srv.connections
        for s in idle:
            s.close()

    srv = _serve(ROWS[:1], body, MAX_CONNECTIONS=4, READ_TIMEOUT=0.3, MIN_IDLE_TO_EVICT=0.05)
    assert got["open_after_flood"] == 4
    assert isinstance(got["scrape"], bytes) and got["scrape"].startswith(b"HTTP/1.1 200 OK")
    assert got["open_after_timeout"] == 0
    assert srv.counters["evicted"] >= 1 and srv.counters["timeouts"] >= 1


def test_a_client_that_never_reads_is_dropped_at_the_write_timeout() -> None:
    got: dict[str, int] = {}

    async def body(srv: ScrapeServer) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.2)
        got["during"] = srv.connections
        deadline = time.monotonic() + 3
        while srv.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        got["after"] = srv.connections
        s.close()

    srv = _serve(ROWS, body, WRITE_TIMEOUT=0.5, SNDBUF=4096)  # ~130 KiB body, small buffers on both sides
    assert got == {"during": 1, "after": 0}
    assert srv.counters["timeouts"] == 1


def test_connections_are_refused_when_the_fd_reserve_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fdguard, "_soft_limit", 1)  # every new descriptor is "too high"
    got: list[bytes] = []

    async def body(srv: ScrapeServer) -> None:
        got.append(await _get(srv.port))

    srv = _serve(ROWS[:1], body)
    assert got[0].startswith(b"HTTP/1.1 503")
    assert srv.counters["refused_fds"] == 1


def test_raise_nofile_sets_soft_to_hard() -> None:
    soft, hard = fdguard.raise_nofile()
    assert soft == hard or hard == -1
    assert fdguard.short_of_fds(soft - 10)
    assert not fdguard.short_of_fds(3) or soft < fdguard.RESERVE + 4
