"""Receive path: CPU per received advert at 255 VRIDs and 0.1 s, vipd vs keepalived, and where vipd's goes.

``lab.py bench-receive [--vrids 255] [--seconds 30] [--daemon both] [--stall 0.6]``. Two parts
(and, with ``--stall``, a third: does the backup recover from being frozen that long?):

* In the lab, for each daemon (one after the other, each in a fresh lab): r1 is
  master of VRIDs 1..N at 0.1 s (priority 150), r2 backup of the same VRIDs
  (priority 100), as in ``bench-scale``. Over the window, the backup's process
  CPU time is divided by the adverts it received (r1's adverts the client saw in
  the window: the same frames reach r2 through the bridge). Two clocks: on-CPU
  time from ``/proc/PID/task/*/schedstat`` (ns resolution, user + system of every
  thread of the tree) and utime + stime (10 ms ticks). A backup does nothing
  else at a steady state (no advert to send, its timers re-armed by each advert),
  so this is the whole receive path: the kernel's delivery to the raw socket,
  the event loop's wake-up, ``recvmsg``, decode, dispatch, state machine, timer
  re-arm.
* In-process (vipd only, no lab): the pieces of that path timed on the real code
  with real encoded adverts (one per VRID, as r1 sends them, with an IPv4 header
  as the raw socket returns it), median of ``--repeats`` runs of 20 passes over
  the N adverts, in microseconds of thread CPU time per advert:

  - ``decode``: ``vipd.wire.decode_ipv4`` on a repeat of the same bytes (the
    steady state; the codec memoises on the bytes) and ``decode_cold`` with the
    memo cleared before every call (every check, the checksum, the objects);
  - ``checks``: the instance-level receive checks of ``VrrpMachine``
    (``_instance_checks``); ``fsm``: ``VrrpMachine.handle(AdvertReceived)`` of a
    Backup, checks included;
  - ``driver``: ``InstanceDriver.on_advert``: counters, ``handle``, effects, the
    timer re-arm (a real timerfd ``settime``);
  - ``dispatch``: ``Daemon._on_packet`` with drivers that do nothing, minus
    ``decode``: the daemon's per-packet work around the codec;
  - ``full``: ``Daemon._on_packet`` into real drivers: everything after
    ``recvmsg``.

  The lab figure minus ``full`` is what the event loop, ``recvmsg`` and the
  kernel cost per advert.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import statistics
import struct
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..lab.faults import raw_socket_drops
from ..lab.topo import Lab
from ..lab.wait import wait_until
from .common import AdvertTap, CostMeter, begin, count_lines, kinds_of, load_line, ratio, report
from .scale import AI, ENTERING, config, vip_of

STALL_WATCH = 10.0  # seconds watched after a --stall
PIECES = ("decode", "decode_cold", "checks", "fsm", "driver", "dispatch", "full")


# --------------------------------------------------------------------------- in the lab
def run_lab(kind: str, n: int, seconds: float, stall: float = 0.0) -> dict[str, object]:
    """Backup CPU per received advert for one daemon (see the module docstring).

    ``stall`` > 0: after the window, freeze the backup's whole process group (SIGSTOP) for
    that many seconds, let it go on, and count its transitions and the receive socket's
    drops over the next ``STALL_WATCH`` seconds: a daemon that recovers has none."""
    with Lab(sniff=False) as lab, AdvertTap(lab.client.ns) as tap:
        r1, r2 = lab.r1, lab.r2
        log2 = Path(lab.workdir / f"r2-{kind}.log")
        d1 = lab.start_daemon(kind, r1, config(n, 150))
        want = {vip_of(v).split("/")[0] for v in range(1, n + 1)}
        wait_until(lambda: want <= {a.split("/")[0] for a in lab.addresses(r1)}, 30 + 4 * AI, message="r1 master")
        d2 = lab.start_daemon(kind, r2, config(n, 100))
        wait_until(lambda: count_lines(log2, ENTERING) >= n, 30, interval=0.05, message=f"r2 logged {n} Backups")
        mark = time.monotonic()
        wait_until(
            lambda: all(len(tap.times(r1.ip4, v, mark)) >= 3 for v in range(1, n + 1)),
            10 + 10 * AI,
            interval=0.1,
            message="three adverts per VRID from r1 after r2 started",
        )
        ent2 = count_lines(log2, ENTERING)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        costs = CostMeter({"r1": d1.pid, "r2": d2.pid}, every=5.0).run(seconds, on_tick=lab.assert_running)
        t1 = time.monotonic()
        received = tap.count(r1.ip4, t0, t1)
        backup, master = costs["r2"], costs["r1"]
        sched = backup.end.sched - backup.start.sched
        res: dict[str, object] = {
            "kind": kind,
            "vrids": n,
            "seconds": t1 - t0,
            "loadavg": [load0, os.getloadavg()],
            "adverts": received,
            "adverts_expected": round(n * (t1 - t0) / AI),
            "backup": backup.as_dict(),
            "master": master.as_dict(),
            "us_per_advert_sched": 1e6 * sched / received if received else float("nan"),
            "us_per_advert_cpu": 1e6 * backup.cpu / received if received else float("nan"),
            "master_us_per_advert_sent_sched": (
                1e6 * (master.end.sched - master.start.sched) / received if received else float("nan")
            ),
            "backup_transitions": count_lines(log2, ENTERING) - ent2,
        }
        if stall > 0:
            before, drops = count_lines(log2, ENTERING), raw_socket_drops(lab, r2)
            os.killpg(d2.pid, signal.SIGSTOP)
            time.sleep(stall)  # the stall itself is what is measured, not a synchronisation
            os.killpg(d2.pid, signal.SIGCONT)
            time.sleep(STALL_WATCH)  # a fixed observation window after it
            lab.assert_running()
            res["stall"] = {
                "seconds": stall,
                "watch": STALL_WATCH,
                "backup_transitions_after": count_lines(log2, ENTERING) - before,
                "receive_drops_after": raw_socket_drops(lab, r2) - drops,
            }
        for d in (d2, d1):
            d.stop(timeout=15.0)
    return res


# --------------------------------------------------------------------------- in-process
def _datagram(vrid: int, src: IPv4Address, priority: int) -> bytes:
    """r1's advert for ``vrid`` as an IPv4 raw socket returns it: IP header (TTL 255, protocol 112) + VRRP."""
    from vipd.wire.advert import VRRP_MCAST4, Advert
    from vipd.wire.codec import encode_advert

    vip = IPv4Address(vip_of(vrid).split("/")[0])
    msg = encode_advert(Advert(3, vrid, priority, AI, (vip,)), src=src, dst=VRRP_MCAST4)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(msg), 0, 0x4000, 255, 112, 0, src.packed, VRRP_MCAST4.packed
    )
    return header + msg


def _median_us(fn: Callable[[], object], per: int, repeats: int, loops: int) -> float:
    """Median over ``repeats`` runs of ``loops`` calls of ``fn`` (each handling ``per`` adverts), in us per advert.

    Timed with this thread's CPU clock (``CLOCK_THREAD_CPUTIME_ID``), not the wall clock, so
    time spent waiting for a CPU on a busy machine is not counted (the lab figure counts
    CPU time too)."""
    fn()  # warm up
    runs = []
    for _ in range(repeats):
        t = time.thread_time_ns()
        for _ in range(loops):
            fn()
        runs.append((time.thread_time_ns() - t) / loops / per / 1e3)
    return statistics.median(runs)


class _Addresses:
    """Netlink stand-in: a Backup's receive path touches no address."""

    def prepare(self, vip: object) -> None:
        pass

    def add(self, vip: object, done: object) -> None:
        pass

    def remove(self, vip: object, done: object) -> None:
        pass

    def probe(self, vip: object) -> int:
        return 0


class _NullDriver:
    """Receives what the dispatch hands on and does nothing (isolates the dispatch's own cost)."""

    def __init__(self) -> None:
        from vipd.obs.stats import InstanceStats

        self.stats = InstanceStats()

    def on_advert(self, received: object, rx_time: float | None = None) -> None:
        pass


def profile_split(n: int, repeats: int = 15, loops: int = 20) -> dict[str, Any]:
    """Time each piece of vipd's receive path in this process (see the module docstring); us per advert."""
    from vipd.fsm import AdvertReceived, Params, Startup, VrrpMachine
    from vipd.linux.sockets import RxPacket
    from vipd.linux.timerfd import Waker
    from vipd.runtime.instance import InstanceDriver
    from vipd.wire import codec
    from vipd.wire.codec import decode_ipv4

    src, me = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
    packets = [_datagram(v, src, 150) for v in range(1, n + 1)]

    def params(v: int) -> Params:
        vip = IPv4Address(vip_of(v).split("/")[0])
        return Params(vrid=v, version=3, priority=100, advertisement_interval=AI, primary_address=me, addresses=(vip,))

    machines = [VrrpMachine(params(v)) for v in range(1, n + 1)]
    for m in machines:
        m.handle(Startup(), 0.0)
    received = [decode_ipv4(p) for p in packets]
    events = [AdvertReceived(r.src, r.advert) for r in received]
    clock = [1.0]

    def decode() -> None:
        for p in packets:
            decode_ipv4(p)

    memo: list[Any] = [getattr(codec, name) for name in ("_decode_ipv4_cached", "_ipv4_list") if hasattr(codec, name)]

    def decode_cold() -> None:
        for p in packets:
            for cache in memo:
                cache.cache_clear()
            decode_ipv4(p)

    def checks() -> None:
        for m, e in zip(machines, events, strict=True):
            m._instance_checks(e)

    def fsm() -> None:
        clock[0] += AI
        now = clock[0]
        for m, e in zip(machines, events, strict=True):
            m.handle(e, now)

    out: dict[str, Any] = {"vrids": n, "repeats": repeats, "loops": loops}
    out["decode"] = _median_us(decode, n, repeats, loops)
    out["decode_cold"] = _median_us(decode_cold, n, repeats, max(1, loops // 4))
    out["checks"] = _median_us(checks, n, repeats, loops)
    out["fsm"] = _median_us(fsm, n, repeats, loops)

    loop = asyncio.new_event_loop()
    try:
        drivers = []
        for v in range(1, n + 1):
            d = InstanceDriver(
                name=f"VI_{v}",
                machine=VrrpMachine(params(v)),
                send_advert=lambda advert: None,
                vips=(),
                announce=(),
                addresses=_Addresses(),
                loop=loop,
                timer=functools.partial(Waker.create, loop),
            )
            d.feed(Startup(), loop.time())
            drivers.append(d)

        def driver() -> None:
            now = loop.time()
            for d, r in zip(drivers, received, strict=True):
                d.on_advert(r, now)

        out["driver"] = _median_us(driver, n, repeats, loops)
        try:
            from vipd.obs.log import RateLimiter
            from vipd.runtime.daemon import Daemon, _Port  # private: the daemon's dispatch as it is today

            daemon = Daemon.__new__(Daemon)
            daemon._limiter = RateLimiter()
            inst = SimpleNamespace(name="VI", unicast_peer=[], unicast_peer_ttl={}, virtual_ipaddress=[object()])
            null_port, real_port = _Port("eth0", 4, None), _Port("eth0", 4, None)  # type: ignore[arg-type]
            for v, d in zip(range(1, n + 1), drivers, strict=True):
                null_port.drivers[v] = (_NullDriver(), inst)  # type: ignore[assignment]
                real_port.drivers[v] = (d, inst)  # type: ignore[assignment]

            def rx(port: Any) -> Callable[[], None]:
                def go() -> None:
                    now = loop.time()
                    for p in packets:
                        daemon._on_packet(port, RxPacket(p, src, None, -1, 2, False, now))

                return go

            out["dispatch"] = _median_us(rx(null_port), n, repeats, loops) - out["decode"]
            out["full"] = _median_us(rx(real_port), n, repeats, loops)
        except Exception as e:  # the dispatch's private API moved (the lead is restructuring it)
            out["dispatch_error"] = repr(e)
        for d in drivers:
            if d._waker is not None:
                d._waker.close()
    finally:
        loop.close()
    return out


def cprofile_text(n: int, passes: int = 200, top: int = 20) -> str:
    """cProfile of the in-process ``full`` path (shares are what to read: cProfile inflates times)."""
    import cProfile
    import io
    import pstats

    from vipd.linux.sockets import RxPacket
    from vipd.obs.log import RateLimiter
    from vipd.runtime.daemon import Daemon, _Port

    src = IPv4Address("192.0.2.1")
    packets = [_datagram(v, src, 150) for v in range(1, n + 1)]
    daemon = Daemon.__new__(Daemon)
    daemon._limiter = RateLimiter()
    port = _Port("eth0", 4, None)  # type: ignore[arg-type]
    inst = SimpleNamespace(name="VI", unicast_peer=[], unicast_peer_ttl={}, virtual_ipaddress=[object()])
    for v in range(1, n + 1):
        port.drivers[v] = (_NullDriver(), inst)  # type: ignore[assignment]
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(passes):
        for p in packets:
            daemon._on_packet(port, RxPacket(p, src, None, -1, 2, False, 0.0))
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# --------------------------------------------------------------------------- the benchmark
def collect(args: argparse.Namespace) -> dict[str, object]:
    """Run the benchmark as ``args`` say; return its results."""
    kinds = kinds_of(args.daemon)
    params = {
        "interval": AI,
        "vrids": args.vrids,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "stall": args.stall,
    }
    results = begin("receive", kinds, params, runs=[])
    print(f"bench-receive: in-process split, {args.vrids} adverts ...", file=sys.stderr, flush=True)
    results["split"] = profile_split(args.vrids, args.repeats)
    for kind in kinds:
        print(f"bench-receive: {kind}, {args.vrids} VRIDs, {args.seconds:g} s ...", file=sys.stderr, flush=True)
        results["runs"].append(run_lab(kind, args.vrids, args.seconds, args.stall))  # type: ignore[attr-defined]
    return results


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    by = {r["kind"]: r for r in results["runs"]}
    k = by.get("keepalived")
    lines = [
        f"Run: {load_line(results)}. " + ", ".join(f"{d} {x}" for d, x in results["versions"].items()) + ".",
        "",
        "| daemon | VRIDs | window | adverts received / expected | backup on-CPU per advert | "
        "backup utime+stime per advert | vs keepalived (on-CPU) | backup CPU | backup transitions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        rel = ratio(r["us_per_advert_sched"], k["us_per_advert_sched"]) if k and r["kind"] != "keepalived" else ""
        lines.append(
            f"| {r['kind']} | {r['vrids']} | {r['seconds']:.0f} s | {r['adverts']} / {r['adverts_expected']} "
            f"| {r['us_per_advert_sched']:.1f} us | {r['us_per_advert_cpu']:.1f} us | {rel} "
            f"| {r['backup']['cpu_percent']:.2f} % | {r['backup_transitions']} |"
        )
    stalls = [r for r in results["runs"] if "stall" in r]
    if stalls:
        lines += [
            "",
            f"After the window the backup was frozen (SIGSTOP of its process group) for "
            f"{stalls[0]['stall']['seconds']:g} s, then watched for {stalls[0]['stall']['watch']:g} s:",
            "",
            "| daemon | backup transitions after the stall | receive socket drops after the stall |",
            "|---|---:|---:|",
        ]
        for r in stalls:
            st = r["stall"]
            lines.append(f"| {r['kind']} | {st['backup_transitions_after']} | {st['receive_drops_after']} |")
    s = results["split"]
    names = {
        "decode": "decode, repeat of the same bytes (`vipd.wire.decode_ipv4`, memoised)",
        "decode_cold": "decode, first sight (memo cleared: every check, checksum, objects)",
        "checks": "instance checks (`VrrpMachine._instance_checks`)",
        "fsm": "state machine with its checks (`VrrpMachine.handle`, Backup)",
        "driver": "driver (`InstanceDriver.on_advert`: counters, handle, effects, timerfd re-arm)",
        "dispatch": "dispatch (`Daemon._on_packet` around the codec, null drivers)",
        "full": "everything after `recvmsg` (`Daemon._on_packet` into real drivers)",
    }
    lines += [
        "",
        f"In-process split (vipd, {s['vrids']} real encoded adverts, median of {s['repeats']} runs, us per advert):",
        "",
        "| piece | us per advert |",
        "|---|---:|",
    ]
    for key in PIECES:
        if key in s:
            lines.append(f"| {names[key]} | {s[key]:.2f} |")
    if "dispatch_error" in s:
        lines.append(f"| dispatch | not measured: {s['dispatch_error']} |")
    v = by.get("vipd")
    if v and "full" in s:
        rest = v["us_per_advert_sched"] - s["full"]
        lines.append(f"| the rest of the lab figure: event loop, `recvmsg`, kernel delivery | {rest:.1f} |")
    lines += [
        "",
        "On-CPU = schedstat run time of every thread of the daemon's process tree over the window, divided by "
        "the adverts of the master the client saw in it (the backup hears the same frames).",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.split_only:
        res = profile_split(args.vrids, args.repeats)
        for key in PIECES:
            if key in res:
                print(f"{key:12} {res[key]:7.2f} us per advert")
        if args.cprofile:
            print(cprofile_text(args.vrids))
        return 0
    return report(collect(args), markdown)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench-receive", help="CPU per received advert at 255 VRIDs, 0.1 s; in-process split")
    p.add_argument("--vrids", type=int, default=255)
    p.add_argument("--seconds", type=float, default=30.0, help="lab window per daemon (default 30)")
    p.add_argument("--repeats", type=int, default=15, help="in-process runs per piece (default 15)")
    p.add_argument("--daemon", choices=["vipd", "keepalived", "both"], default="both")
    p.add_argument(
        "--stall", type=float, default=0.0, help="after the window, freeze the backup this many seconds (robustness)"
    )
    p.add_argument("--split-only", action="store_true", help="only the in-process split (no lab, no root)")
    p.add_argument("--cprofile", action="store_true", help="with --split-only: also a cProfile of the path")
    p.set_defaults(func=main)
