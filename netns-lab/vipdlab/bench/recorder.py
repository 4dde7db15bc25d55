"""What the flight recorder costs per advert: ``InstanceDriver.on_advert`` and an advert send, with and without it.

``python -m vipdlab.bench.recorder [N]`` (no root, no namespaces: the driver runs
against fakes, so only the CPU cost on the advert path is measured). For each of
``rx`` (a received advert from the master: ``on_advert``, the FSM, the recorder)
and ``tx`` (the master's Adver_Timer: ``_fire``, the FSM, the send, the recorder),
it times N calls in batches of 1000, interleaving "recorder on" and "recorder off"
so that both share the machine's load, and prints the per-call p50/p99 in
microseconds and their difference: the recorder's cost. The ring holds what is
documented in ``vipd.obs.recorder`` whatever N is (bounded memory).
"""

from __future__ import annotations

import asyncio
import sys
import time
from ipaddress import ip_address

from vipd.fsm import Params, State, VrrpMachine
from vipd.obs.recorder import FlightRecorder
from vipd.runtime.instance import InstanceDriver
from vipd.wire.advert import VRRP_MCAST4, Advert, ChecksumKind, Received
from vipdlab.bench.common import percentile

VIP = ip_address("192.0.2.100")
R1, R2 = ip_address("192.0.2.1"), ip_address("192.0.2.2")
BATCH = 1000


class _NoAddresses:
    def prepare(self, vip: object) -> None: ...

    def add(self, vip: object, done: object) -> None: ...

    def remove(self, vip: object, done: object) -> None: ...


def _driver(loop: asyncio.AbstractEventLoop, priority: int, recorder: bool) -> InstanceDriver:
    m = VrrpMachine(Params(51, 3, priority, 0.1, R2, (VIP,), garp_master_delay=0))
    ring = FlightRecorder(1000)
    return InstanceDriver(
        name="VI_1",
        machine=m,
        send_advert=lambda a: None,
        vips=(),
        announce=(),
        addresses=_NoAddresses(),  # type: ignore[arg-type]
        loop=loop,
        recorder=ring.instance("VI_1") if recorder else None,
    )


def _per_call(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50) * 1e6, percentile(samples, 99) * 1e6


async def _bench(n: int) -> None:
    loop = asyncio.get_running_loop()
    rx = Received(Advert(3, 51, 150, 0.1, (VIP,)), R1, VRRP_MCAST4, 255, ChecksumKind.PSEUDO)
    backups = {on: _driver(loop, 100, on) for on in (False, True)}
    masters = {on: _driver(loop, 255, on) for on in (False, True)}
    for d in (*backups.values(), *masters.values()):
        d.start()
    assert all(d.machine.state is State.BACKUP for d in backups.values())
    assert all(d.machine.state is State.MASTER for d in masters.values())
    times: dict[tuple[str, bool], list[float]] = {(k, on): [] for k in ("rx", "tx") for on in (False, True)}
    for _ in range(max(1, n // BATCH)):
        for on in (False, True):
            d = backups[on]
            t0 = time.perf_counter()
            now = loop.time()
            for _ in range(BATCH):
                d.on_advert(rx, now)
            times[("rx", on)].append((time.perf_counter() - t0) / BATCH)
            d = masters[on]
            t0 = time.perf_counter()
            for _ in range(BATCH):
                deadline = d.machine.next_deadline()
                assert deadline is not None
                d._fire(deadline)
            times[("tx", on)].append((time.perf_counter() - t0) / BATCH)
    for kind in ("rx", "tx"):
        off50, off99 = _per_call(times[(kind, False)])
        on50, on99 = _per_call(times[(kind, True)])
        print(
            f"{kind} (whole advert path): without recorder p50 {off50:.2f} us p99 {off99:.2f} us; "
            f"with p50 {on50:.2f} us p99 {on99:.2f} us; "
            f"recorder adds {on50 - off50:.2f} us at p50"
        )
    ring = backups[True].recorder
    assert ring is not None
    calls = []
    for _ in range(max(1, n // BATCH)):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            ring.advert(1.0, "rx", R1, rx.advert, "pseudo")
        calls.append((time.perf_counter() - t0) / BATCH)
    c50, c99 = _per_call(calls)
    print(f"InstanceRecorder.advert alone: p50 {c50:.2f} us p99 {c99:.2f} us")
    print(
        f"ring after {n} adverts: {len(ring.ring.events)} events, {len(ring.recent)} recent adverts, "
        f"{len(ring.heard)} source(s)"
    )
    for d in (*backups.values(), *masters.values()):
        await d.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; argv[0] is the number of adverts per variant (default 200000)."""
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(_bench(int(args[0]) if args else 200_000))


if __name__ == "__main__":
    main()
