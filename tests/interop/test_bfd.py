"""vipd's BFD against FRR's bfdd and keepalived's BFD (RFC 5880/5881), IPv4 and IPv6.

vipd's side is ``vipd.runtime.bfd`` itself, run alone by ``vipdlab.bfdpeer`` (the
daemon runs the same object for ``bfd_instance``); it reports each state change
with its ``loop.time()``, the CLOCK_MONOTONIC this test reads too.

For each peer, family and timer set (300 ms x 3 and 50 ms x 3, the range operators use):

- both sides are Up within ``UP_WITHIN``: one slow packet (1 s while not Up, RFC 5880
  §6.8.3) plus a few intervals;
- cutting BFD on vipd's node with nftables (both directions) takes both sides Down within
  Detect Mult x interval + ``MARGIN`` of the cut (vipd's instant from its own event; the
  peer's by polling vtysh / keepalived's log, so with a poll's slack more);
- healed, both are Up again; then the cut on the peer's node, the other direction, the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from vipdlab import Lab, Node, hold, wait_until
from vipdlab.bfdinterop import Bfdd, FrrPeer, KeepalivedBfd, cut, frr_available, heal
from vipdlab.bfdpeer import events, is_up, ready
from vipdlab.bfdpeer import start as start_bfd

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.slow]

MARGIN = 0.100  # vipd's own detection: the nft call's own time and one process's scheduling on a loaded 2-core machine
POLL_SLACK = 0.5  # the peer's state is read by polling (vtysh ~50 ms a call; keepalived's log)
SLOW = 1.0  # RFC 5880 §6.8.3: at most one packet a second while not Up

Record = Callable[..., None]


def _addr(node: Node, family: int) -> str:
    return node.ip4 if family == 4 else node.ip6


class Peer:
    """The other BFD implementation: ``up()`` / ``down()`` as it reports them."""

    def __init__(self, kind: str, lab: Lab, node: Node, vipd: Node, family: int, tx_ms: int, mult: int) -> None:
        self.kind = kind
        self.addr = _addr(vipd, family)
        if kind == "frr":
            if not frr_available():
                pytest.skip("FRR's bfdd is not installed (apt-get install frr)")
            self.frr = Bfdd(lab, node, [FrrPeer(self.addr, _addr(node, family), tx_ms, tx_ms, mult)])
        else:
            hop = "    hoplimit 255\n" if family == 6 else ""  # keepalived's IPv6 default is 64; RFC 5881 says 255
            self.ka = KeepalivedBfd(
                lab,
                node,
                f"bfd_instance vipd {{\n    neighbor_ip {self.addr}\n    source_ip {_addr(node, family)}\n"
                f"    min_rx {tx_ms}\n    min_tx {tx_ms}\n    multiplier {mult}\n{hop}}}\n",
            )

    def state(self) -> str | None:
        if self.kind == "frr":
            return self.frr.status(self.addr)
        s = self.ka.state("vipd")
        return s.lower() if s else None


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize(("tx_ms", "mult"), [(300, 3), (50, 3)])
@pytest.mark.parametrize("kind", ["frr", "keepalived"])
def test_bfd_interop_up_and_down_both_directions(
    kind: str, family: int, tx_ms: int, mult: int, record: Record, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tx = tx_ms / 1000
    detect = mult * tx
    up_within = SLOW + 4 * tx + 0.3
    with Lab(workdir=tmp_path_factory.mktemp("bfd")) as lab:
        me, other = lab.r1, lab.r2
        peer = Peer(kind, lab, other, me, family, tx_ms, mult)
        spec = f"p={_addr(other, family)},src={_addr(me, family)},tx={tx_ms},rx={tx_ms},mult={mult}"
        vipd = start_bfd(lab, me, spec)
        try:
            wait_until(lambda: ready(vipd), 15.0, message="vipd's BFD runtime started")
            t0 = time.monotonic()
            wait_until(lambda: is_up(vipd, "p") and peer.state() == "up", up_within + 3.0, message="both Up")
            took_up = time.monotonic() - t0
            for where in (me, other):
                time.sleep(3 * tx)  # a few packets at the fast rate, after any poll sequence
                t_cut = time.monotonic()
                cut(lab, where)
                wait_until(lambda: is_up(vipd, "p") is False, detect + MARGIN + 0.5, message="vipd sees Down")
                downs = [e for e in events(vipd) if e.get("name") == "p" and not e["up"] and float(e["t"]) > t_cut]  # type: ignore[arg-type]
                vipd_detect = float(downs[0]["t"]) - t_cut  # type: ignore[arg-type]
                wait_until(lambda: peer.state() == "down", detect + POLL_SLACK, message=f"{kind} sees Down")
                peer_detect = time.monotonic() - t_cut
                assert downs[0]["diag"] == 1  # Control Detection Time Expired
                assert vipd_detect <= detect + MARGIN, f"vipd detected after {vipd_detect * 1000:.1f} ms"
                t_heal = time.monotonic()
                heal(lab, where)
                wait_until(
                    lambda: is_up(vipd, "p") and peer.state() == "up", up_within + POLL_SLACK, message="Up again"
                )
                record(
                    peer=kind,
                    family=family,
                    timers=f"{tx_ms} ms x {mult}",
                    cut_at=where.name,
                    up_s=round(took_up, 3),
                    vipd_detect_ms=round(vipd_detect * 1000, 1),
                    peer_detect_ms_polled=round(peer_detect * 1000, 1),
                    reup_s=round(time.monotonic() - t_heal, 3),
                )
                timeline = [e for e in events(vipd) if e.get("name") == "p"]
                again = [e for e in timeline if e["up"] and float(e["t"]) > t_heal]  # type: ignore[arg-type]
                assert again, f"Up before the heal? cut {t_cut} heal {t_heal} {timeline}"
        finally:
            lab.assert_running()


def test_vipd_tracks_an_frr_upstream_router(record: Record, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The operator's case: vipd's track_bfd follows FRR's bfdd on the upstream router (the client here).

    r1 (200) tracks ``tor`` with weight -150, r2 (100) tracks nothing. Cutting BFD on the
    upstream router takes r1 to 50 within the detection time, so r2 takes over after its
    Master_Down_Interval; healed, r1 preempts back.
    """
    if not frr_available():
        pytest.skip("FRR's bfdd is not installed (apt-get install frr)")
    from vipdlab import Instance, render
    from vipdlab.lab.scenario import converge

    ai, vip = 0.1, "192.0.2.100"
    with Lab(workdir=tmp_path_factory.mktemp("bfdtrack")) as lab:
        Bfdd(lab, lab.client, [FrrPeer(lab.r1.ip4, lab.client.ip4, 50, 50, 3)])
        block = (
            f"bfd_instance tor {{\n    neighbor_ip {lab.client.ip4}\n    source_ip {lab.r1.ip4}\n"
            "    min_tx 50\n    min_rx 50\n    multiplier 3\n}\n"
        )
        inst = Instance(advert_int=ai, version=3, vips=(f"{vip}/24",))
        track = ("track_bfd {\n        tor weight -150\n    }",)
        lab.start_vipd(lab.r1, block + render(inst.with_(priority=200, extra=track)))
        lab.start_vipd(lab.r2, render(inst.with_(priority=100)))
        converge(lab, lab.r1, [lab.r2], vip, interval=ai, timeout=20.0)
        wait_until(
            lambda: any(a.priority == 200 for a in lab.sniffer.adverts(src=lab.r1.ip4, since=time.monotonic() - 0.3)),
            SLOW + 1.0,
            message="r1 at 200 (BFD Up)",
        )
        t = time.monotonic()
        cut(lab, lab.client)
        mdi = 3 * ai + (256 - 100) * ai / 256
        wait_until(lambda: lab.holders(vip) == [lab.r2], 0.15 + ai + mdi + 0.3, message="r2 takes over")
        moved = time.monotonic() - t
        heal(lab, lab.client)
        t = time.monotonic()
        wait_until(lambda: lab.holders(vip) == [lab.r1], SLOW + 4 * 0.05 + ai + 0.5, message="r1 preempts back")
        record(
            peer="frr", case="track_bfd upstream", vip_moved_s=round(moved, 3), back_s=round(time.monotonic() - t, 3)
        )


def test_multihop_with_frr_across_a_router_and_the_ttl_check(
    record: Record, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """RFC 5883 multihop (UDP 4784) through the routed lab's gateway, FRR ``peer ... multihop``.

    With ``max_hops 2`` the session comes Up (FRR's packets arrive with TTL 254); with the
    default ``max_hops 0`` vipd requires TTL 255, drops every packet as ``ttl`` and stays Down.
    """
    if not frr_available():
        pytest.skip("FRR's bfdd is not installed (apt-get install frr)")
    from vipdlab.lab.routed import RoutedLab

    with RoutedLab() as lab:
        r1, r2 = lab.r1, lab.r2
        Bfdd(lab, r2, [FrrPeer(r1.ip4, r2.ip4, 50, 50, 3, multihop=True)])
        base = f"={r2.ip4},src={r1.ip4},tx=50,rx=50,mult=3,multihop"
        vipd = start_bfd(lab, r1, "ok" + base + ",max_hops=2")
        wait_until(lambda: ready(vipd), 15.0, message="vipd's BFD runtime started")
        t0 = time.monotonic()
        wait_until(lambda: is_up(vipd, "ok"), SLOW + 4 * 0.05 + 1.0, message="multihop session Up")
        record(peer="frr", case="multihop via one router", up_s=round(time.monotonic() - t0, 3))
        vipd.stop()
        strict = start_bfd(lab, r1, "strict" + base, tag="bfdpeer-strict")
        wait_until(lambda: ready(strict), 15.0, message="vipd's BFD runtime restarted")
        # FRR sends once a second while Down: two of its packets at least fall in this window
        hold(lambda: not is_up(strict, "strict"), 2 * SLOW + 0.5, message="TTL 254 refused")
        strict.stop()
        (final,) = [e["status"] for e in events(strict) if "status" in e]
        (session,) = final  # type: ignore[misc]
        assert session["state"] != "up" and session["discards"].get("ttl", 0) >= 1, session
