"""Fault suite, the network: partition and heal, advert loss, link flap.

VRRPv3, 0.1 s adverts; r1 at priority 150 is the master, r2 at 100 the backup.
Faults are made in the bridge namespace with nftables (bridge family, forward
hook) or by setting r1's bridge port down (carrier loss on r1's eth0).

Bounds (RFC 5798 section 6.1; failover-timing.md sections 2 and 6), each with
MARGIN = 50 ms on top (half an advert interval: vipd's measured overhead past
a protocol deadline is 2-9 ms, see test_faults_crash.py; a daemon that waits
an extra interval fails):

* heal of a partition: both sides advertise every AI, so within one AI each
  hears the other; the lower priority yields at once and the winner, hearing a
  lower priority, re-announces (GARP). So: one master and its GARP within
  AI + MARGIN of the heal.
* advert loss: a backup takes over only when no advert arrives for
  Master_Down_Interval (3*AI + Skew_Time = 0.3609 s at priority 100). Two
  consecutive losses leave a 0.3 s gap (61 ms under MDI): no transition. Three
  leave 0.4 s (39 ms over): a takeover is then what the protocol demands.
* link down on the master: keepalived's FAULT (vipd tracks an instance's own
  interface): the VIP leaves r1 at once; r2 takes over MDI(100) after r1's last
  advert. Link up: r1 becomes a backup and preempts after MDI(150).
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import pytest
from vipdlab import Advert, Instance, Lab, hold, timing, wait_until
from vipdlab.lab.faults import nft_counter, nft_delete, nft_table
from vipdlab.lab.scenario import converge

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
MARGIN = 0.050
PROCESSING = 0.010  # seconds from a fired Master_Down_Timer to its advert on the wire (measured < 1 ms)
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
MDI_R2 = timing.master_down_interval(3, 100, AI)
MDI_R1 = timing.master_down_interval(3, 150, AI)
# 60 s as the issue asks (the protocol expects 600 * 0.05**3 = 0.075 takeovers in it).
# VIPD_FAULT_LOSS_SECONDS shortens it for a quick local run.
LOSS_SECONDS = float(os.environ.get("VIPD_FAULT_LOSS_SECONDS", "60"))


def _start_pair(lab: Lab, routers: Any) -> None:
    routers.start(lab.r1, BASE.with_(priority=150))
    routers.start(lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)


# --------------------------------------------------------------------------- partition
def test_partition_two_masters_then_one_within_an_interval_of_the_heal(lab: Lab, routers: Any) -> None:
    assert lab.sniffer is not None
    _start_pair(lab, routers)
    t_cut = time.monotonic()
    nft_table(lab, lab.sw_ns, "bridge", "vlpart", "ip protocol 112 drop")
    # both sides now think the other is dead: r2 takes over one MDI after r1's last advert
    wait_until(
        lambda: lab.holders(VIP) == [lab.r1, lab.r2],
        MDI_R2 + AI + MARGIN,
        message=lambda: f"two masters during the partition (holders {lab.holders(VIP)})",
    )
    # the client follows r2's takeover GARP (it had an entry for r1)
    hold(
        lambda: lab.holders(VIP) == [lab.r1, lab.r2],
        max(0.0, t_cut + 2.0 - time.monotonic()),
        interval=0.02,
        message=lambda: f"both stay master while partitioned (holders {lab.holders(VIP)})",
    )

    t_heal = time.monotonic()
    nft_delete(lab, lab.sw_ns, "bridge", "vlpart")
    wait_until(
        lambda: lab.holders(VIP) == [lab.r1],
        AI + MARGIN,
        message=lambda: f"one master within one interval of the heal (holders {lab.holders(VIP)})",
    )
    garp = lab.sniffer.wait_announcement(VIP, AI + MARGIN, mac=lab.r1.mac, since=t_heal)
    took = garp.t - t_heal
    print(f"\nheal -> r1's GARP {took * 1000:.1f} ms, one holder at {1000 * (time.monotonic() - t_heal):.0f} ms")
    assert took <= AI + MARGIN
    # and it stays that way: no flapping after the heal
    hold(lambda: lab.holders(VIP) == [lab.r1], 3 * MDI_R2, interval=0.02, message="r1 stays the only master")
    late = [a for a in lab.sniffer.adverts(src=lab.r2.ip4, since=t_heal + AI + MARGIN) if a.priority > 0]
    assert not late, f"r2 still advertising after the heal: {late[:3]}"


# --------------------------------------------------------------------------- loss
def _loss_rule(expr: str) -> str:
    # the bridge drops only on the port towards r2, so the client still sees every advert and
    # a sniffer on r2 sees exactly what r2 received
    return f'oifname "p-r2" ip protocol 112 {expr} counter drop'


def _gaps(adverts: list[Advert]) -> list[tuple[float, float]]:
    return [(a.t, b.t - a.t) for a, b in itertools.pairwise(adverts)]


def test_two_consecutive_lost_adverts_never_trigger_and_three_do(lab: Lab, routers: Any) -> None:
    """Deterministic loss with nftables ``numgen inc``: the boundary of Master_Down_Interval."""
    assert lab.sniffer is not None
    _start_pair(lab, routers)
    # 2 of every 10 adverts lost: a 0.3 s gap every second, under MDI(100) = 0.361 s
    nft_table(lab, lab.sw_ns, "bridge", "vlloss", _loss_rule("numgen inc mod 10 < 2"))
    t0 = time.monotonic()
    hold(
        lambda: lab.holders(VIP) == [lab.r1] and not lab.sniffer.adverts(src=lab.r2.ip4, since=t0),  # type: ignore[union-attr]
        3.0,
        interval=0.02,
        message="two consecutive losses must not make r2 take over",
    )
    dropped, _ = nft_counter(lab, lab.sw_ns, "bridge", "vlloss")
    assert dropped >= 5, f"only {dropped} adverts dropped"
    nft_delete(lab, lab.sw_ns, "bridge", "vlloss")

    # 3 of every 10 lost: a 0.4 s gap, over MDI: r2 must take over (the protocol demands it)
    t1 = time.monotonic()
    nft_table(lab, lab.sw_ns, "bridge", "vlloss", _loss_rule("numgen inc mod 10 < 3"))
    lab.sniffer.wait_for(Advert, 1.0 + MDI_R2 + MARGIN, since=t1, src=lab.r2.ip4, message="r2 takes over")
    nft_delete(lab, lab.sw_ns, "bridge", "vlloss")
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)


@pytest.mark.slow
def test_five_percent_random_advert_loss_no_transition(lab: Lab, routers: Any) -> None:
    """5 % random loss towards the backup for LOSS_SECONDS: no takeover unless 3 adverts in a row
    were lost (the sniffer on r2 shows what r2 received; the protocol expects 0.075 such runs a minute)."""
    assert lab.sniffer is not None
    at_r2 = lab.start_sniffer(lab.r2)
    _start_pair(lab, routers)
    t0 = time.monotonic()
    nft_table(lab, lab.sw_ns, "bridge", "vlloss", _loss_rule("numgen random mod 100 < 5"))
    hold(lambda: lab.r1 in lab.holders(VIP), LOSS_SECONDS, interval=0.05, message="r1 keeps the VIP")
    t1 = time.monotonic()
    dropped, _ = nft_counter(lab, lab.sw_ns, "bridge", "vlloss")
    nft_delete(lab, lab.sw_ns, "bridge", "vlloss")

    sent = lab.sniffer.adverts(src=lab.r1.ip4, since=t0, until=t1)
    got = at_r2.adverts(src=lab.r1.ip4, since=t0, until=t1)
    gaps = _gaps(got)
    long_gaps = [(t, g) for t, g in gaps if g > MDI_R2]
    r2_adverts = [a for a in lab.sniffer.adverts(src=lab.r2.ip4, since=t0, until=t1) if a.priority > 0]
    worst = max(g for _, g in gaps)
    print(
        f"\n{LOSS_SECONDS:.0f} s at 5 % loss: {len(sent)} adverts, {dropped} dropped "
        f"({100 * dropped / max(1, len(sent)):.1f} %), longest gap at r2 {worst * 1000:.0f} ms, "
        f"gaps over MDI {len(long_gaps)}, r2 adverts {len(r2_adverts)}"
    )
    # binomial(n, 0.05): mean 5 %, sd ~0.9 % at 600 adverts; 1-10 % is > 4 sd either way
    assert 0.01 * len(sent) <= dropped <= 0.10 * len(sent), f"{dropped} of {len(sent)} dropped"
    assert len(sent) - len(got) == dropped, "the sniffer on r2 must see exactly what the bridge let through"
    # every r2 advert must fall in a gap longer than MDI (3+ consecutive losses), else it was spurious
    for a in r2_adverts:
        # The timer fires at t + MDI; its advert leaves a little later, possibly just after the
        # next (late) advert from r1 arrived: allow PROCESSING past the gap's end.
        assert any(t + MDI_R2 - 0.005 <= a.t <= t + g + PROCESSING for t, g in long_gaps), (
            f"r2 advertised at {a.t:.3f} without a gap over MDI in what it received (gaps over MDI: {long_gaps})"
        )
    if not long_gaps:
        assert not r2_adverts
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)


# --------------------------------------------------------------------------- link flap
def _set_port(lab: Lab, port: str, state: str) -> float:
    ipr = lab.ipr(lab.sw_ns)
    (idx,) = ipr.link_lookup(ifname=port)
    t = time.monotonic()
    ipr.link("set", index=idx, state=state)
    return t


def test_link_flap_on_the_master(lab: Lab, routers: Any) -> None:
    assert lab.sniffer is not None
    _start_pair(lab, routers)
    lab.set_neighbour(lab.client, VIP, lab.r1.mac)

    t_down = _set_port(lab, "p-r1", "down")
    # FAULT: r1 drops the VIP at once (netlink event); r2 takes over one MDI after r1's last advert
    wait_until(lambda: not lab.holds(lab.r1, VIP), AI + MARGIN, message="r1 in FAULT drops the VIP")
    garp = lab.sniffer.wait_announcement(VIP, MDI_R2 + AI + MARGIN, mac=lab.r2.mac, since=t_down)
    last = [a for a in lab.sniffer.adverts(src=lab.r1.ip4, until=garp.t) if a.priority > 0][-1]
    assert garp.t - (last.t + MDI_R2) <= MARGIN, f"r2 took over {1000 * (garp.t - last.t):.1f} ms after r1's last"
    hold(lambda: lab.holders(VIP) == [lab.r2], 1.0, interval=0.02, message="r2 alone while r1's link is down")

    t_up = _set_port(lab, "p-r1", "up")
    # r1 leaves FAULT as a backup, discards r2's lower priority and preempts after MDI(150)
    garp1 = lab.sniffer.wait_announcement(VIP, MDI_R1 + AI + 1.0, mac=lab.r1.mac, since=t_up)
    took = garp1.t - t_up
    print(f"\nlink down -> r2 GARP {1000 * (garp.t - t_down):.0f} ms; link up -> r1 GARP {took * 1000:.0f} ms")
    # carrier comes back on the veth within a few ms; allow AI for the event and the first advert
    assert took <= MDI_R1 + AI + MARGIN, f"r1 preempted {took * 1000:.0f} ms after link up (MDI {MDI_R1 * 1000:.0f})"
    wait_until(
        lambda: lab.holders(VIP) == [lab.r1],
        AI + MARGIN,
        message=lambda: f"exactly one master after the flap ({lab.holders(VIP)})",
    )
    wait_until(
        lambda: (e := lab.neighbour(lab.client, VIP)) is not None and e.lladdr == lab.r1.mac,
        MARGIN,
        message="client's entry back on r1",
    )
    hold(lambda: lab.holders(VIP) == [lab.r1], 3 * MDI_R1, interval=0.02, message="no flapping after the flap")
