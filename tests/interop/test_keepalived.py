"""vipd and Debian's keepalived as the two routers of one virtual router.

For each wire mode (VRRPv2 with PASS auth, VRRPv3/IPv4 multicast, VRRPv3/IPv4
unicast across a gateway, VRRPv3/IPv6) and each direction (vipd the higher
priority, or keepalived):

* the higher priority wins the election, whichever daemon it is;
* graceful failover (SIGTERM: priority 0) lands Skew_Time after the priority-0
  advert, crash failover (SIGKILL of every process) Master_Down_Interval after
  the last advert, within a stated margin;
* the stopped winner, restarted, preempts back;
* at equal priority, after a partition heals, both daemons agree that the
  higher primary address wins (RFC 5798 §6.4.3);
* neither daemon logs a packet error about the other;
* tshark dissects every vipd advert with a correct checksum.

Timings are read off the lab sniffer (kernel timestamps). With
``VIPD_INTEROP_REPORT=/path.jsonl`` each test appends its measurements there
(``docs/interop.md`` is written from that file).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

import pytest
from vipdlab import Advert, Lab, Node, hold, render, timing, wait_until
from vipdlab.lab.interop import (
    MODES,
    Capture,
    Mode,
    advert_source,
    heal,
    instance,
    log_of,
    make_lab,
    packet_errors,
    partition,
    ready,
)

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.slow]

HIGH, LOW, EQUAL = 150, 100, 100
STARTUP = 8.0  # seconds a daemon may take from exec to taking part (CPython imports, keepalived fork)
# Early tolerance: the sniffer stamps both frames on one clock; a timer may fire a hair early.
EARLY = 0.015

Record = Callable[..., None]


def _margin(mode: Mode) -> float:
    """Late tolerance for a failover: scheduling of two processes and the sniffer thread."""
    return 0.06 if mode.advert_int < 1 else 0.12


def _other(kind: str) -> str:
    return "keepalived" if kind == "vipd" else "vipd"


def _same(a: str, b: str) -> bool:
    return ipaddress.ip_address(a) == ipaddress.ip_address(b)


def _adverts(lab: Lab, src: str, *, since: float | None = None, live: bool = False) -> list[Advert]:
    assert lab.sniffer is not None
    out = [a for a in lab.sniffer.adverts(since=since) if _same(a.src, src)]
    return [a for a in out if a.priority > 0] if live else out


def _converge(lab: Lab, mode: Mode, master: Node, other: Node) -> None:
    """Both daemons run; ``master`` alone holds the VIP and advertises; ``other`` has gone quiet (backup)."""
    vip = mode.vip_address
    for d in lab.daemons:
        if d.returncode is None and d.running:
            wait_until(lambda d=d: ready(d), STARTUP, message=f"{d.name} entered its first state")
    wait_until(
        lambda: lab.holders(vip) == [master],
        STARTUP + 4 * mode.advert_int + 1,
        message=lambda: f"{master} alone holds {vip} (holders: {lab.holders(vip)})",
    )
    src_m, src_o = advert_source(mode, master), advert_source(mode, other)
    # One interval for a yielding peer's last advert to clear, then watch three of the master's.
    first = time.monotonic() + mode.advert_int
    count = 3 if mode.advert_int < 1 else 1
    wait_until(lambda: len(_adverts(lab, src_m, since=first)) >= count, (count + 2) * mode.advert_int + 1)
    extra = _adverts(lab, src_o, since=first, live=True)
    assert not extra, f"{other} still advertises after {master} won: {extra[:3]}"
    assert lab.holders(vip) == [master]


def _check_logs_and_capture(lab: Lab, mode: Mode, vipd_node: Node, cap: Capture, record: Record) -> None:
    cap.stop()
    for kind in ("vipd", "keepalived"):
        errors = packet_errors(log_of(lab, kind), kind)
        assert not errors, f"{kind} logged packet errors:\n" + "\n".join(errors[:20])
    rows = cap.adverts(advert_source(mode, vipd_node))
    assert rows, "tshark found no vipd advert in the capture"
    bad = [r for r in rows if r.get("vrrp.checksum.status") != "1" or r.get("_ws.malformed")]
    assert not bad, f"tshark flags {len(bad)} of {len(rows)} vipd adverts: {bad[:3]}"
    versions = {r["vrrp.version"] for r in rows}
    assert versions == {str(mode.version)}, versions
    ttls = {r.get("ip.ttl") or r.get("ipv6.hlim") for r in rows}
    record(check="tshark", vipd_adverts=len(rows), checksum_good=len(rows), ttl=sorted(ttls))


def _kinds(winner: str) -> tuple[str, str]:
    return winner, _other(winner)


@pytest.mark.parametrize("winner", ["vipd", "keepalived"])
@pytest.mark.parametrize("mode_name", list(MODES))
def test_election_and_failover(mode_name: str, winner: str, record: Record) -> None:
    """The higher priority wins; graceful and crash failover to the other daemon within bounds; preempt back."""
    mode = MODES[mode_name]
    win_kind, lose_kind = _kinds(winner)
    vip = mode.vip_address
    skew = timing.skew_time(mode.version, LOW, mode.advert_int)
    mdi = timing.master_down_interval(mode.version, LOW, mode.advert_int)
    margin = _margin(mode)
    with make_lab(mode) as lab:
        assert lab.sniffer is not None
        r_win, r_lose = lab.r1, lab.r2
        vipd_node = r_win if win_kind == "vipd" else r_lose
        src_w, src_l = advert_source(mode, r_win), advert_source(mode, r_lose)
        conf_w = render(instance(mode, lab, r_win, HIGH), comment=f"{mode.name}: {win_kind} wins")
        conf_l = render(instance(mode, lab, r_lose, LOW), comment=f"{mode.name}: {lose_kind} backs up")
        cap = Capture(lab, vipd_node)
        try:
            lab.start_daemon(lose_kind, r_lose, conf_l)
            d_w = lab.start_daemon(win_kind, r_win, conf_w)
            _converge(lab, mode, r_win, r_lose)
            record(check="election", mode=mode.name, winner=win_kind, ok=True)

            # Graceful: the winner sends priority 0; the backup takes over after Skew_Time (RFC 5798 §6.4.2).
            t_stop = time.monotonic()
            d_w.stop()
            p0 = lab.sniffer.wait_for(
                Advert, 3.0, since=t_stop, where=lambda a: _same(a.src, src_w) and a.priority == 0
            )
            first = lab.sniffer.wait_for(
                Advert, mdi + 2, since=p0.t, where=lambda a: _same(a.src, src_l) and a.priority > 0
            )
            graceful = first.t - p0.t
            record(check="graceful", mode=mode.name, frm=win_kind, to=lose_kind, measured=graceful, bound=skew)
            assert skew - EARLY <= graceful <= skew + margin, (
                f"graceful takeover {graceful * 1000:.1f} ms, Skew_Time {skew * 1000:.1f} ms"
            )
            wait_until(lambda: lab.holders(vip) == [r_lose], 2.0, message=f"{r_lose} alone holds {vip}")

            # The winner comes back and preempts (RFC 5798 §6.4.3: higher priority, Preempt_Mode).
            d_w = lab.start_daemon(win_kind, r_win, conf_w)
            _converge(lab, mode, r_win, r_lose)
            record(check="preempt-back", mode=mode.name, winner=win_kind, ok=True)

            # Crash: every process of the winner SIGKILLed; Master_Down_Interval after its last advert.
            t_kill = d_w.crash()
            first = lab.sniffer.wait_for(
                Advert, mdi + 2, since=t_kill, where=lambda a: _same(a.src, src_l) and a.priority > 0
            )
            last = [a for a in _adverts(lab, src_w) if a.t < first.t][-1]
            crash = first.t - last.t
            record(check="crash", mode=mode.name, frm=win_kind, to=lose_kind, measured=crash, bound=mdi)
            assert mdi - EARLY <= crash <= mdi + margin, (
                f"crash takeover {crash * 1000:.1f} ms after the last advert, Master_Down_Interval {mdi * 1000:.1f} ms"
            )
            wait_until(lambda: lab.holds(r_lose, vip), 2.0, message=f"{r_lose} holds {vip}")
            _check_logs_and_capture(lab, mode, vipd_node, cap, record)
        except BaseException:
            print(lab.sniffer.summary(limit=40))
            print(lab.logs(60))
            raise
        finally:
            cap.stop()


@pytest.mark.parametrize("vipd_on", ["r1", "r2"])
@pytest.mark.parametrize("mode_name", list(MODES))
def test_equal_priority_tie_break(mode_name: str, vipd_on: str, record: Record) -> None:
    """Two masters at equal priority (a healed partition): both agree the higher primary address wins."""
    mode = MODES[mode_name]
    vip = mode.vip_address
    with make_lab(mode) as lab:
        assert lab.sniffer is not None
        routers = lab.routers
        kinds = {n.name: ("vipd" if n.name == vipd_on else "keepalived") for n in routers}
        vipd_node = lab.node(vipd_on)
        primary = {n.name: ipaddress.ip_address(advert_source(mode, n)) for n in routers}
        expected = max(routers, key=lambda n: primary[n.name])
        cap = Capture(lab, vipd_node)
        try:
            started = [
                lab.start_daemon(kinds[node.name], node, render(instance(mode, lab, node, EQUAL))) for node in routers
            ]
            for d in started:
                wait_until(lambda d=d: ready(d), STARTUP, message=f"{d.name} entered its first state")
            wait_until(lambda: len(lab.holders(vip)) == 1, STARTUP + 4 * mode.advert_int + 1)
            partition(lab, routers)
            mdi = timing.master_down_interval(mode.version, EQUAL, mode.advert_int)
            wait_until(
                lambda: len(lab.holders(vip)) == 2,
                mdi + 2,
                message=lambda: f"both routers master during the partition (holders {lab.holders(vip)})",
            )
            heal(lab, routers)
            t_heal = time.monotonic()
            wait_until(
                lambda: lab.holders(vip) == [expected],
                3 * mode.advert_int + 1,
                message=lambda: f"{expected} ({kinds[expected.name]}) alone holds {vip}: {lab.holders(vip)}",
            )
            resolved = time.monotonic() - t_heal
            hold(lambda: lab.holders(vip) == [expected], max(1.0, 3 * mode.advert_int))
            record(
                check="tie-break",
                mode=mode.name,
                vipd_on=vipd_on,
                winner=f"{expected.name} ({kinds[expected.name]})",
                resolved_after=resolved,
                ok=True,
            )
            _check_logs_and_capture(lab, mode, vipd_node, cap, record)
        except BaseException:
            print(lab.sniffer.summary(limit=40))
            print(lab.logs(60))
            raise
        finally:
            cap.stop()
