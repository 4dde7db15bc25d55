"""Paced injection of hostile frames with its exact per-category check, and the checks after.

What test_faults_hostile.py (IPv4) and test_faults_hostile_ipv6.py share: the
daemons' counters before the frames (:class:`Baseline`), the paced sending
(:func:`inject_paced`) and the checks that nothing was disturbed. The frames
themselves are built in :mod:`vipdlab.inject.frames`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..lab.daemons import Daemon
from ..lab.faults import Counters, counters, instance, kernel_counters, raw_socket_drops, raw_sockets, rss_kib, status
from ..lab.topo import Lab, Node
from ..lab.wait import wait_until
from .frames import Category, Expect, Injector


@dataclass
class Baseline:
    """What the daemons had counted and used before the hostile frames (per node name)."""

    counters: dict[str, Counters]
    advert_sent: dict[str, dict[str, int]]  # node -> instance -> adverts sent
    rss_kib: dict[str, int]
    raw_drops: dict[str, int]  # receive-buffer overflows of the receiving raw sockets

    @classmethod
    def take(
        cls, lab: Lab, nodes: dict[str, Node], daemons: dict[str, Daemon], instances: Iterable[str], family: int = 4
    ) -> Baseline:
        return cls(
            counters={n: counters(lab, n, family) for n in nodes},
            advert_sent={n: {i: instance(status(lab, n), i)["stats"]["advert_sent"] for i in instances} for n in nodes},
            rss_kib={n: rss_kib(daemons[n].pid) for n in nodes},
            raw_drops={n: raw_socket_drops(lab, nodes[n], family=family) for n in nodes},
        )


def inject_all(
    lab: Lab,
    injector: Node,
    cats: Iterable[Category],
    nodes: dict[str, Node],
    *,
    family: int = 4,
    chunk: int = 256,
    kernel_first: bool = False,
    received_at: str | None = None,
) -> tuple[float, float, list[str]]:
    """Send every category from ``injector`` with :func:`inject_paced`. Returns the time spent sending,
    the whole run's time (with pacing and checks) and a report line per category and receiver."""
    t0 = time.monotonic()
    send_time = 0.0
    report: list[str] = []
    with Injector(injector) as inj:
        for cat in cats:
            send_time += inject_paced(
                lab, inj, cat, nodes, report,
                family=family, chunk=chunk, kernel_first=kernel_first, received_at=received_at,
            )  # fmt: skip
    return send_time, time.monotonic() - t0, report


def inject_paced(
    lab: Lab,
    injector: Injector,
    cat: Category,
    nodes: dict[str, Node],
    report: list[str],
    *,
    family: int = 4,
    chunk: int = 256,
    kernel_first: bool = False,
    received_at: str | None = None,
) -> float:
    """Send one category, paced; check every receiver counted exactly what it had to. Returns send time.

    ``chunk`` frames at a time, then wait until every receiver has read them, so the test measures vipd,
    not the receive buffer size. ``kernel_first``: wait for the kernel's own drops (the category's
    ``kernel`` counters) before checking vipd's counters, so that vipd must have counted none of them;
    otherwise after. ``received_at``: the receiver at which exactly the adverts its instances discard
    reach them (the master: the backup is silent, so nothing else arrives there)."""
    before = {n: counters(lab, n, family) for n in nodes}
    snmp0 = {n: kernel_counters(lab, nodes[n], family) for n in nodes}
    reaching = {n: cat.expect[n].reaching for n in nodes}
    total = len(cat.frames)
    send_time = 0.0
    for at in range(0, total, chunk):
        frames = cat.frames[at : at + chunk]
        t = time.monotonic()
        injector.send(frames)
        send_time += time.monotonic() - t
        done = at + len(frames)
        for n in nodes:
            # legit adverts also raise rx_packets; they only let the wait end a little early
            want = reaching[n] * done // total
            wait_until(
                lambda n=n, want=want: counters(lab, n, family).rx_packets - before[n].rx_packets >= want,
                10.0,
                interval=0.002,
                message=f"{n} reads {cat.name} up to frame {done}",
            )

    for n in nodes:
        e = cat.expect[n]
        port_total = sum(e.port.values()) + e.port_unknown
        inst_total = sum(e.inst.values()) + e.inst_unknown

        def counted(n: str = n) -> Counters:
            return counters(lab, n, family).minus(before[n])

        def moved(n: str = n) -> dict[str, int]:
            s1 = kernel_counters(lab, nodes[n], family)
            return {k: s1[k] - snmp0[n][k] for k in cat.expect[n].kernel}

        def kernel_dropped(n: str = n, e: Expect = e) -> None:
            wait_until(lambda: moved(n) == dict(e.kernel), 5.0, message=lambda: f"{n} kernel {moved(n)}")

        if e.kernel and kernel_first:
            # The kernel drops these before any socket: wait for its counters, then vipd must have
            # counted nothing at all, under any reason.
            kernel_dropped()

        def caught_up(port_total: int = port_total, inst_total: int = inst_total) -> bool:
            c = counted()
            return sum(c.rx_errors.values()) >= port_total and sum(c.discards.values()) >= inst_total

        wait_until(
            caught_up,
            10.0,
            interval=0.005,
            message=lambda n=n, e=e: f"{n} counts {cat.name}: {counted()} vs {e}",  # type: ignore[misc]
        )
        got = counted()
        if e.port_unknown == 0:
            assert got.rx_errors == dict(e.port), f"{cat.name} at {n}: rx_errors {got.rx_errors} != {dict(e.port)}"
        else:
            assert sum(got.rx_errors.values()) == port_total, f"{cat.name} at {n}: {got.rx_errors} != {port_total}"
        if e.inst_unknown == 0:
            assert got.discards == dict(e.inst), f"{cat.name} at {n}: discards {got.discards} != {dict(e.inst)}"
        else:
            assert sum(got.discards.values()) == inst_total, f"{cat.name} at {n}: {got.discards} != {inst_total}"
        if e.kernel and not kernel_first:
            kernel_dropped()
        if n == received_at:
            assert sum(got.received.values()) == e.fsm_total, f"{cat.name} at {n}: {got.received} reached VI_*"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(got.rx_errors.items()))
        fsm = ", ".join(f"{i}/{k} {v}" for (i, k), v in sorted(got.discards.items()))
        kern = ", ".join(f"{k} {v}" for k, v in sorted(e.kernel.items()))
        report.append(f"  {cat.name:24s} {n}: {total:6d} sent | port: {reasons or '-'} | inst: {fsm or '-'}"
                      + (f" | kernel: {kern}" if kern else ""))  # fmt: skip
    return send_time


def assert_undisturbed(
    lab: Lab, nodes: dict[str, Node], base: Baseline, master: Node, vips: Iterable[str], family: int = 4
) -> None:
    """Both daemons alive, ``master`` holds every VIP, no instance changed state, and nothing was lost
    in the receive buffers."""
    lab.assert_running()
    assert all(lab.holders(v) == [master] for v in vips), {v: lab.holders(v) for v in vips}
    end = {n: counters(lab, n, family) for n in nodes}
    for n in nodes:
        assert end[n].transitions == base.counters[n].transitions, f"{n} changed state: {end[n].transitions}"
        assert end[n].states == base.counters[n].states
        assert raw_socket_drops(lab, nodes[n], family=family) == base.raw_drops[n], (
            f"{n}: the receive buffer overflowed"
        )


def assert_flat_and_unqueued(
    lab: Lab, nodes: dict[str, Node], growth: dict[str, int], limit_kib: int, family: int = 4
) -> None:
    """RSS grew by less than ``limit_kib``; nothing is queued on the transmit sockets."""
    unbound = "0.0.0.0" if family == 4 else "::"
    for n in nodes:
        assert growth[n] < limit_kib, f"{n} RSS grew by {growth[n]} KiB"
        # vipd never reads its transmit sockets: the kernel must not queue unicast VRRP there
        tx = [s for s in raw_sockets(lab, nodes[n], family=family) if s.local != unbound]
        assert tx and all(s.rx_queue == 0 for s in tx), f"{n}: data queued on a transmit socket: {tx}"
