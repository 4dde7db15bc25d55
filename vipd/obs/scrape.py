"""``/metrics`` over HTTP with a bounded cost on the advert loop, whatever the number of scrapers.

The body with 255 instances is ~850 KiB and took 57-82 ms of loop time to render in
one go (review finding 4): six parallel scrapes stalled the loop longer than
Master_Down_Interval at 0.1 s adverts. Here:

- **One render per interval.** The rendered response is cached and every scraper
  in that window gets the same bytes; scrapers arriving during a render wait for it
  (no second render). The interval follows the render's own cost so that rendering
  takes at most :attr:`ScrapeServer.DUTY` (5 %) of the loop's time: ~50 ms with one
  instance, ~2 s with 255 (:attr:`ScrapeServer.max_age`).
- **Rendered in slices.** :func:`render` builds the per-instance families a few
  instances at a time, each slice sized to take about :data:`SLICE_BUDGET` seconds,
  and yields to the loop between slices, so advert timers run in between.
- **Connections capped and timed out.** At most :attr:`ScrapeServer.MAX_CONNECTIONS`
  at once; beyond that the oldest connection that has sent no request for
  :attr:`~ScrapeServer.MIN_IDLE_TO_EVICT` is dropped for the next one, or, if there is
  none, accepting pauses (the kernel's backlog waits, at no cost to the loop) until a
  connection closes. A request head must arrive
  within :attr:`~ScrapeServer.READ_TIMEOUT`, the response must be taken within
  :attr:`~ScrapeServer.WRITE_TIMEOUT`; one sweep timer enforces both.
- **No task, no stream per connection.** Raw non-blocking sockets with
  ``add_reader``/``add_writer``; accepts are batched (:attr:`~ScrapeServer.ACCEPT_BATCH`
  per wake-up) and each connection gets one ``send`` of at most
  :attr:`~ScrapeServer.SEND_CHUNK` per wake-up, so neither a connection flood nor
  eight scrapers served at once hold the loop for long.
- **File-descriptor reserve.** A connection accepted when fewer than
  :data:`vipd.obs.fdguard.RESERVE` descriptors would remain is closed at once.

The text format is Prometheus 0.0.4 (``Accept`` asking for OpenMetrics also gets it,
which Prometheus accepts); no gzip (compressing 850 KiB would cost the loop more
than sending it on loopback). Numbers and measurements: ``docs/metrics.md``,
``docs/performance.md``.

(Over 400 lines on purpose: the sliced renderer, the cache and the connection state
machine share one set of limits and counters, and are read together when tuning them.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from vipd.obs.fdguard import short_of_fds
from vipd.obs.instancefams import HEADERS, instance_text

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from vipd.obs.metrics import VipdRegistry

log = logging.getLogger("vipd")

SLICE_BUDGET = 0.001
"""Seconds of loop time one rendering slice aims at (a slice holds at least one instance)."""


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _add(blocks: dict[str, list[bytes]], family: Metric) -> None:
    """Append ``family``'s text to ``blocks``: the first time with its HELP/TYPE header, then samples only."""
    text = generate_latest(_Families((family,)))
    parts = blocks.get(family.name)
    if parts is None:
        blocks[family.name] = [text]
    else:
        parts.append(text[text.index(b"\n", text.index(b"\n") + 1) + 1 :])


async def render(registry: VipdRegistry, budget: float = SLICE_BUDGET, cost: list[float] | None = None) -> bytes:
    """Render ``registry`` as Prometheus text 0.0.4, yielding to the loop between slices.

    Args:
        registry: what ``/metrics`` serves (its snapshot is taken once, at the start).
        budget: seconds of loop time each slice aims at; the slice size adapts to
            the measured cost of the previous one.
        cost: if given, the loop time the render took (seconds, slices only, not the
            pauses between them) is appended to it.

    Returns:
        The body: the same samples as ``generate_latest(registry)`` for the same state,
        the per-instance families written by :func:`vipd.obs.instancefams.instance_text`.
    """
    t0 = time.perf_counter()
    snap = registry.vipd.snapshot()
    rows = snap.instances
    lines: list[list[str]] = [[] for _ in HEADERS]
    done, size, busy = 0, 1, 0.0
    while done < len(rows):
        chunk = rows[done : done + size]
        for acc, new in zip(lines, instance_text(chunk), strict=True):
            acc += new
        done += len(chunk)
        if done >= len(rows):
            break
        spent = time.perf_counter() - t0
        busy += spent
        size = max(1, min(256, int(size * budget / max(spent, 1e-6))))
        await asyncio.sleep(0)
        t0 = time.perf_counter()
    busy += time.perf_counter() - t0
    await asyncio.sleep(0)  # the assembly below is ~1 MiB of joining: a slice of its own
    t0 = time.perf_counter()
    blocks: dict[str, list[bytes]] = {
        f"#{i}": [(head + "".join(acc)).encode()] for i, (head, acc) in enumerate(zip(HEADERS, lines, strict=True))
    }
    for family in registry.vipd.global_families(snap):
        _add(blocks, family)
    for other in registry.others:
        for family in other.collect():
            _add(blocks, family)
    body = b"".join(b"".join(parts) for parts in blocks.values())
    if cost is not None:
        cost.append(busy + time.perf_counter() - t0)
    return body


_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


def _plain(status: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


_NOT_FOUND = _plain("404 Not Found", "not found\n")
_BAD_METHOD = _plain("405 Method Not Allowed", "GET or HEAD\n")
_BAD_REQUEST = _plain("400 Bad Request", "bad request\n")
_FAILED = _plain("500 Internal Server Error", "metrics could not be rendered; see the daemon's log\n")


class _Conn:
    __slots__ = ("accepted", "buf", "deadline", "fd", "out", "sock", "waiting")

    def __init__(self, sock: socket.socket, now: float, deadline: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.accepted = now
        self.deadline = deadline
        self.buf = bytearray()
        self.out: memoryview | None = None
        self.waiting = False


class _ServerCollector(Collector):
    """The ``/metrics`` server's own counters, so its cost is measured where it is paid."""

    def __init__(self, server: ScrapeServer) -> None:
        self._server = server

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        srv = self._server
        req = CounterMetricFamily("vipd_metrics_requests", "/metrics connections by outcome", labels=["result"])
        for key, n in sorted(srv.counters.items()):
            if key != "renders":
                req.add_metric([key], float(n))
        renders = CounterMetricFamily("vipd_metrics_renders", "Times the /metrics body was rendered")
        renders.add_metric([], float(srv.counters["renders"]))
        busy = CounterMetricFamily(
            "vipd_metrics_render_loop_seconds", "Event-loop time spent rendering /metrics (slices only)"
        )
        busy.add_metric([], srv.render_cost_total)
        last = GaugeMetricFamily("vipd_metrics_last_render_loop_seconds", "Event-loop time of the last render")
        last.add_metric([], srv.last_render_cost)
        age = GaugeMetricFamily("vipd_metrics_cache_seconds", "How long a rendered body is served (max_age)")
        age.add_metric([], srv.max_age)
        conns = GaugeMetricFamily("vipd_metrics_connections", "Open /metrics connections")
        conns.add_metric([], float(srv.connections))
        return [req, renders, busy, last, age, conns]


class ScrapeServer:
    """HTTP/1.1 ``GET``/``HEAD`` ``/metrics`` (and ``/``) on the running loop; ``Connection: close``.

    Args:
        registry: a :class:`vipd.obs.metrics.VipdRegistry`.
        host, port: where to listen (port 0 picks one; ``self.port`` is the bound one).

    The class attributes are the limits (seconds or counts); tests and the benchmark
    may override them on an instance before :meth:`start`.
    """

    DUTY = 0.05  # at most this fraction of the loop's time goes to rendering, however many scrapers
    MIN_AGE = 0.05  # seconds: a response is always served from the cache for at least this long
    MAX_AGE = 5.0  # seconds: and never for longer
    MAX_CONNECTIONS = 32  # open connections at once
    READ_TIMEOUT = 2.0  # seconds from accept to a complete request head
    WRITE_TIMEOUT = 10.0  # seconds for the client to take the whole response
    ACCEPT_BATCH = 16  # accepts per wake-up of the listening socket
    MIN_IDLE_TO_EVICT = 0.5  # seconds: a connection silent this long may be dropped for a new one
    MAX_HEAD = 8192  # bytes of request head
    SWEEP = 0.25  # seconds between timeout sweeps
    SNDBUF: int | None = None  # SO_SNDBUF of accepted connections (None: the kernel's autotuning)
    SEND_CHUNK = 64 * 1024  # bytes per send() call, one call per connection per wake-up

    def __init__(self, registry: VipdRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._listen: socket.socket | None = None
        self._conns: dict[int, _Conn] = {}
        self._response: bytes | None = None
        self._header_len = 0
        self._rendered_at = float("-inf")
        self._render_task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        self.counters: dict[str, int] = dict.fromkeys(
            ("served", "renders", "paused", "refused_fds", "evicted", "timeouts", "bad_requests"), 0
        )
        self.last_render_seconds = 0.0  # wall time of the last render, slices and the pauses between them
        self.last_render_cost = 0.0  # loop time of the last render (its slices only)
        self.render_cost_total = 0.0  # loop time of every render so far
        registry.add(_ServerCollector(self))

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: the address cannot be resolved or bound.
        """
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST
        )
        if not infos:
            raise OSError(f"cannot resolve {self.host!r}")
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self._listen, self._loop = sock, loop
        self.port = sock.getsockname()[1]
        loop.add_reader(sock.fileno(), self._accept)
        self._sweeper = loop.call_later(self.SWEEP, self._sweep)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        """Stop listening, drop every connection and any render in progress."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._listen is not None and self._loop is not None:
            self._loop.remove_reader(self._listen.fileno())
            self._listen.close()
            self._listen = None
        for c in list(self._conns.values()):
            self._drop(c)
        if self._render_task is not None:
            self._render_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._render_task
            self._render_task = None

    @property
    def max_age(self) -> float:
        """Seconds the cached response is served: the last render's loop time / :attr:`DUTY`,
        within [:attr:`MIN_AGE`, :attr:`MAX_AGE`]. A render costing 100 ms of loop time
        (255 instances) is thus repeated at most every 2 s, one costing 1 ms every 50 ms."""
        return min(self.MAX_AGE, max(self.MIN_AGE, self.last_render_cost / self.DUTY))

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._conns)

    # ------------------------------------------------------------------ accept, read

    def _accept(self) -> None:
        assert self._listen is not None and self._loop is not None
        now = self._loop.time()
        for _ in range(self.ACCEPT_BATCH):
            if len(self._conns) >= self.MAX_CONNECTIONS and not self._evict_idle(now):
                # full of connections that are being served: stop accepting (the kernel's backlog
                # holds the rest at no cost to the loop) until one closes
                self.counters["paused"] += 1
                self._loop.remove_reader(self._listen.fileno())
                self._paused = True
                return
            try:
                sock, _addr = self._listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE/ENFILE...: pause (a level-triggered reader would spin); the sweep resumes
                log.debug("metrics: accept failed: %s", e)
                self.counters["refused_fds"] += 1
                self._loop.remove_reader(self._listen.fileno())
                self._paused = True
                return
            if short_of_fds(sock.fileno()):
                self.counters["refused_fds"] += 1
                self._refuse(sock)
                continue
            sock.setblocking(False)
            if self.SNDBUF is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.SNDBUF)
            c = _Conn(sock, now, now + self.READ_TIMEOUT)
            self._conns[c.fd] = c
            self._loop.add_reader(c.fd, self._readable, c)

    @staticmethod
    def _refuse(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(_BUSY)
        sock.close()

    def _evict_idle(self, now: float) -> bool:
        """Drop the oldest connection that has sent no complete request for a while; True if one was."""
        oldest: _Conn | None = None
        for c in self._conns.values():
            idle = c.out is None and not c.waiting and now - c.accepted >= self.MIN_IDLE_TO_EVICT
            if idle and (oldest is None or c.accepted < oldest.accepted):
                oldest = c
        if oldest is None:
            return False
        self.counters["evicted"] += 1
        self._drop(oldest)
        return True

    def _readable(self, c: _Conn) -> None:
        try:
            data = c.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(c)
            return
        if not data:
            self._drop(c)
            return
        c.buf += data
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(c.buf) > self.MAX_HEAD:
                self._answer(c, memoryview(_BAD_REQUEST))
            return
        assert self._loop is not None
        self._loop.remove_reader(c.fd)
        first = bytes(c.buf[: c.buf.find(b"\r\n")]).decode("latin-1").split(" ")
        if len(first) != 3:
            self.counters["bad_requests"] += 1
            self._answer(c, memoryview(_BAD_REQUEST))
            return
        method, target = first[0], first[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            self._answer(c, memoryview(_BAD_METHOD))
        elif target not in ("/", "/metrics"):
            self._answer(c, memoryview(_NOT_FOUND))
        else:
            c.buf = bytearray(b"H" if method == "HEAD" else b"")  # remember HEAD; the head is no longer needed
            self._serve(c)

    # ------------------------------------------------------------------ the cached response

    def _serve(self, c: _Conn) -> None:
        assert self._loop is not None
        if self._response is not None and self._loop.time() - self._rendered_at < self.max_age:
            self._answer_cached(c)
            return
        c.waiting = True
        c.deadline = self._loop.time() + self.WRITE_TIMEOUT
        if self._render_task is None:
            self._render_task = self._loop.create_task(self._render(), name="vipd-metrics-render")

    async def _render(self) -> None:
        assert self._loop is not None
        t0 = self._loop.time()
        try:
            cost: list[float] = []
            body = await render(self.registry, cost=cost)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("metrics: rendering failed")
            self._render_task = None
            for c in [c for c in self._conns.values() if c.waiting]:
                c.waiting = False
                self._answer(c, memoryview(_FAILED))
            return
        header = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        self._response, self._header_len = header + body, len(header)
        self._rendered_at = self._loop.time()
        self.last_render_seconds = self._rendered_at - t0
        self.last_render_cost = cost[0]
        self.render_cost_total += cost[0]
        self.counters["renders"] += 1
        self._render_task = None
        for c in [c for c in self._conns.values() if c.waiting]:
            c.waiting = False
            self._answer_cached(c)

    def _answer_cached(self, c: _Conn) -> None:
        assert self._response is not None
        self.counters["served"] += 1
        view = memoryview(self._response)
        self._answer(c, view[: self._header_len] if c.buf == b"H" else view)

    # ------------------------------------------------------------------ write, close

    def _answer(self, c: _Conn, data: memoryview) -> None:
        assert self._loop is not None
        self._loop.remove_reader(c.fd)
        c.out = data
        c.deadline = self._loop.time() + self.WRITE_TIMEOUT
        self._flush(c)

    def _flush(self, c: _Conn) -> None:
        assert c.out is not None and self._loop is not None
        try:
            # One bounded send per wake-up: on loopback the kernel does the receiver's TCP work
            # inside send(), ~1-5 ms per MiB, so a whole body per call for 8 scrapers at once
            # would hold the loop for tens of ms. The rest goes out at the next wake-ups.
            if c.out:
                sent = c.sock.send(c.out[: self.SEND_CHUNK])
                c.out = c.out[sent:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(c)
            return
        if c.out:
            self._loop.add_writer(c.fd, self._flush, c)
            return
        with contextlib.suppress(OSError):
            c.sock.shutdown(socket.SHUT_WR)
        self._drop(c)

    def _drop(self, c: _Conn) -> None:
        if self._conns.pop(c.fd, None) is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(c.fd)
            self._loop.remove_writer(c.fd)
        c.sock.close()
        if self._paused and self._listen is not None and self._loop is not None:
            self._paused = False
            self._loop.add_reader(self._listen.fileno(), self._accept)

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for c in [c for c in self._conns.values() if c.deadline <= now]:
            self.counters["timeouts"] += 1
            self._drop(c)
        if self._paused and self._listen is not None:
            # connections may have become old enough to evict: look again (_accept pauses anew if not)
            self._paused = False
            self._loop.add_reader(self._listen.fileno(), self._accept)
        self._sweeper = self._loop.call_later(self.SWEEP, self._sweep)
