"""Kernel faults (issue 13 items 1-2): the VIP is the truth, interfaces are followed by name.

Two vipd routers, r1 (priority 150) master and r2 (100), adverts every 0.1 s.
Throughout each scenario a sampler reads both routers' state (``vipctl status``
over the control socket) and whether they hold the VIP, every time a wait polls
(every ~5-15 ms: a status round trip plus an address dump per router); at no
sample may an instance report MASTER without its VIP for longer than one advert
interval (plus one sampling step).

* r1's eth0 is deleted and re-created under its name (new ifindex, same MAC and
  addresses): r2 alone holds the VIP within Master_Down_Interval(r2) + MARGIN
  (r1 cannot send priority 0 on a device that is gone); r1 reports FAULT with
  the reason ``link: interface eth0 is gone``; once eth0 is back, r1 re-resolves
  it, re-opens its sockets, leaves FAULT, hears r2's lower priority and preempts
  after its own Master_Down_Interval: within RELINK_MARGIN + Master_Down_Interval(r1).
* an IPv6 VIP (``virtual_ipaddress_excluded``) on r1 while IPv6 is disabled on
  eth0 (``net.ipv6.conf.eth0.disable_ipv6=1``: the kernel removes it, the re-add
  gets EACCES): r1 goes FAULT with reason ``vip: cannot re-add ...EACCES``,
  sends priority 0, so r2 takes over within Skew_Time(r2) + MARGIN; IPv6
  enabled again: r1 leaves FAULT at the next probe (an address event triggers
  it at once) and preempts within Master_Down_Interval(r1) + RELINK_MARGIN.
* r1's MAC changed while master: no FAULT, no transition, a GARP from the new
  MAC within 1 s (measured: ~8 ms); eth0 renamed away: FAULT ``link`` and r2
  takes over within Master_Down_Interval(r2) + MARGIN, also once the renamed
  device is up again; the name back: r1 master again, as after a re-creation.
* an IPv6 instance (VIP 2001:db8::100, link-local source) with IPv6 disabled on
  r1's eth0: FAULT, r2 takes over within Master_Down_Interval(r2) + MARGIN
  (r1 has no source left for a priority-0 advert); enabled again: r1 re-opens
  its IPv6 sockets, joins ff02::12 again and preempts.
* a second VIP on another device (``dev vd0``) whose device is deleted on r1:
  FAULT ``link: interface vd0 is gone`` (and the re-add's ENODEV), priority 0
  on eth0, so r2 takes over within Skew_Time(r2) + MARGIN; vd0 created again:
  r1 re-resolves it and preempts.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from vipdlab import Instance, Lab, Node, hold, timing, wait_until
from vipdlab.lab.faults import instance, ready, status, vipd_with_control
from vipdlab.lab.scenario import STARTUP_ALLOWANCE, converge
from vipdlab.lab.twolinks import delete_link, recreate_link

pytestmark = pytest.mark.netns

AI = 0.1
VIP = "192.0.2.100"
VIP6 = "2001:db8::100"
MARGIN = 0.100
"""Seconds on top of a protocol bound: event delivery, a loaded 2-core VM, the sampler's step."""
RELINK_MARGIN = 0.5
"""Seconds for r1 to see eth0 again, re-resolve it and re-open its sockets (measured: tens of ms)."""
BASE = Instance(advert_int=AI, version=3, vips=(f"{VIP}/24",))
MDI_R1 = timing.master_down_interval(3, 150, AI)
MDI_R2 = timing.master_down_interval(3, 100, AI)
SKEW_R2 = timing.skew_time(3, 100, AI)


@dataclass
class Sampler:
    """Samples (time, state, holds VIP) of every router; finds MASTER-without-VIP runs."""

    lab: Lab
    vip: str
    samples: dict[str, list[tuple[float, str, bool]]] = field(default_factory=dict)

    def sample(self) -> None:
        for node in self.lab.routers:
            t = time.monotonic()
            try:
                state = str(instance(status(self.lab, node, timeout=1.0))["state"])
            except (OSError, AssertionError, ValueError, KeyError):
                state = "?"
            self.samples.setdefault(node.name, []).append((t, state, self.lab.holds(node, self.vip)))

    def until(self, pred: Any) -> Any:
        """A wait_until predicate that samples first."""

        def check() -> bool:
            self.sample()
            return bool(pred())

        return check

    def worst_master_without_vip(self) -> tuple[str, float]:
        """(router, seconds): the longest time between two samples of one run reporting MASTER without the VIP."""
        worst = ("-", 0.0)
        for name, rows in self.samples.items():
            start: float | None = None
            for t, state, holds in rows:
                if state == "MASTER" and not holds:
                    if start is None:
                        start = t
                    if t - start > worst[1]:
                        worst = (name, t - start)
                else:
                    start = None
        return worst

    def median_step(self) -> float:
        """Median seconds between two samples of one router (what "sampled instant" means here)."""
        steps = sorted(b[0] - a[0] for rows in self.samples.values() for a, b in itertools.pairwise(rows))
        return steps[len(steps) // 2] if steps else 0.0


@pytest.fixture
def ctl(lab: Lab, routers: Any) -> Any:
    if routers.kind != "vipd":
        pytest.skip("reads vipd's control socket and FAULT reasons")
    with vipd_with_control(lab):
        yield


def _start(lab: Lab, node: Node, cfg: Instance) -> None:
    from vipdlab import render

    lab.start_vipd(node, render(cfg))
    wait_until(lambda: ready(lab, node), STARTUP_ALLOWANCE, message=f"{node}'s control socket answers")


def _check_sampler(s: Sampler) -> None:
    who, worst = s.worst_master_without_vip()
    n = sum(len(rows) for rows in s.samples.values())
    step = s.median_step() * 1000
    print(f"{n} samples (median step {step:.1f} ms); worst MASTER-without-VIP: {who} {worst * 1000:.1f} ms")
    assert worst <= AI, f"{who} reported MASTER without its VIP for {worst * 1000:.0f} ms"


def test_master_interface_deleted_and_recreated_fails_over_and_comes_back_by_itself(
    lab: Lab, routers: Any, ctl: None
) -> None:
    _start(lab, lab.r1, BASE.with_(priority=150))
    _start(lab, lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    s = Sampler(lab, VIP)
    s.sample()

    t_del = delete_link(lab, lab.r1)
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r2]),
        MDI_R2 + MARGIN,
        interval=0.002,
        message=lambda: f"r2 alone holds the VIP (holders {lab.holders(VIP)})",
    )
    took = time.monotonic() - t_del
    r1 = instance(status(lab, lab.r1))
    assert r1["state"] == "FAULT", r1
    causes = {f["cause"]: f["reason"] for f in r1["faults"]}
    assert causes.get("link") == "interface eth0 is gone", causes
    # Exactly one holder while r1's interface is gone.
    hold(s.until(lambda: lab.holders(VIP) == [lab.r2]), 3 * AI, interval=0.01, message="r2 stays the only holder")

    t_new, _node = recreate_link(lab, lab.r1)
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r1]),
        RELINK_MARGIN + MDI_R1 + MARGIN,
        interval=0.005,
        message=lambda: f"r1 back as the only holder (holders {lab.holders(VIP)}, r1 {instance(status(lab, lab.r1))})",
    )
    back = time.monotonic() - t_new
    r1 = instance(status(lab, lab.r1))
    assert r1["state"] == "MASTER" and r1["faults"] == [], r1
    wait_until(s.until(lambda: instance(status(lab, lab.r2))["state"] == "BACKUP"), AI + MARGIN)
    # It advertises on the new device: r2 stays backup for several Master_Down_Intervals.
    hold(s.until(lambda: lab.holders(VIP) == [lab.r1]), 2 * MDI_R2, interval=0.02, message="r1 stays the master")
    print(
        f"\neth0 deleted -> r2 sole holder {took * 1000:.0f} ms (bound {(MDI_R2 + MARGIN) * 1000:.0f}); "
        f"re-created -> r1 master again {back * 1000:.0f} ms (bound {(RELINK_MARGIN + MDI_R1 + MARGIN) * 1000:.0f})"
    )
    _check_sampler(s)
    log = (lab.workdir / "r1-vipd.log").read_text()
    assert "re-resolved eth0 by name" in log, log[-3000:]


def test_vip_add_refused_by_the_kernel_faults_the_master_and_recovers_when_the_cause_goes(
    lab: Lab, routers: Any, ctl: None
) -> None:
    v6 = ("virtual_ipaddress_excluded {", f"    {VIP6}/64", "}")
    _start(lab, lab.r1, BASE.with_(priority=150, extra=v6))
    _start(lab, lab.r2, BASE.with_(priority=100, extra=v6))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    wait_until(lambda: lab.holds(lab.r1, VIP6), AI + MARGIN, message="r1 holds the IPv6 VIP")
    s = Sampler(lab, VIP)
    s.sample()

    t_off = time.monotonic()
    lab.sysctl(lab.r1.ns, "net/ipv6/conf/eth0/disable_ipv6", 1)
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r2]),
        SKEW_R2 + MARGIN,
        interval=0.002,
        message=lambda: f"r2 alone holds the VIP (holders {lab.holders(VIP)})",
    )
    took = time.monotonic() - t_off
    r1 = instance(status(lab, lab.r1))
    assert r1["state"] == "FAULT", r1
    causes = {f["cause"]: f["reason"] for f in r1["faults"]}
    assert "vip" in causes and "EACCES" in causes["vip"] and VIP6 in causes["vip"], causes
    assert lab.holds(lab.r2, VIP6)
    # Retries with backoff while the cause stays: r1 never comes back meanwhile.
    hold(s.until(lambda: lab.holders(VIP) == [lab.r2]), 1.0, interval=0.02, message="r2 stays the master")
    assert instance(status(lab, lab.r1))["state"] == "FAULT"

    t_on = time.monotonic()
    lab.sysctl(lab.r1.ns, "net/ipv6/conf/eth0/disable_ipv6", 0)
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r1] and lab.holds(lab.r1, VIP6)),
        RELINK_MARGIN + MDI_R1 + MARGIN,
        interval=0.005,
        message=lambda: f"r1 master again (holders {lab.holders(VIP)}, r1 {instance(status(lab, lab.r1))})",
    )
    back = time.monotonic() - t_on
    assert instance(status(lab, lab.r1))["faults"] == []
    log = (lab.workdir / "r1-vipd.log").read_text()
    assert f"Entering FAULT STATE (fault: cannot re-add {VIP6}/64: Permission denied (EACCES)" in log, log[-3000:]
    print(
        f"\nIPv6 disabled -> r2 sole holder {took * 1000:.0f} ms (bound {(SKEW_R2 + MARGIN) * 1000:.0f}); "
        f"enabled -> r1 master again {back * 1000:.0f} ms (bound {(RELINK_MARGIN + MDI_R1 + MARGIN) * 1000:.0f})"
    )
    _check_sampler(s)


def test_rename_faults_until_the_name_is_back_and_a_mac_change_is_announced_without_a_transition(
    lab: Lab, routers: Any, ctl: None
) -> None:
    assert lab.sniffer is not None
    _start(lab, lab.r1, BASE.with_(priority=150))
    _start(lab, lab.r2, BASE.with_(priority=100))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    s = Sampler(lab, VIP)
    s.sample()
    h = lab.ipr(lab.r1.ns)
    idx = lab.r1.ifindex

    # MAC change while master: same device, so no FAULT and no transition; the VIP is announced from the new MAC.
    before = dict(instance(status(lab, lab.r1))["stats"]["transitions"])
    new_mac = "02:76:6c:00:01:01"
    t_mac = time.monotonic()
    h.link("set", index=idx, address=new_mac)
    garp = lab.sniffer.wait_announcement(VIP, 1.0, mac=new_mac, since=t_mac)
    print(f"\nMAC changed -> GARP from the new MAC after {(garp.t - t_mac) * 1000:.1f} ms")
    hold(s.until(lambda: lab.holders(VIP) == [lab.r1]), 2 * MDI_R2, interval=0.02, message="r1 stays the master")
    r1 = instance(status(lab, lab.r1))
    assert r1["state"] == "MASTER" and r1["stats"]["transitions"] == before, r1

    # Rename (the device must be down for it): FAULT while no device is called eth0; r2 takes over.
    t_ren = time.monotonic()
    h.link("set", index=idx, state="down")
    h.link("set", index=idx, ifname="eth0x")
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r2]),
        MDI_R2 + MARGIN,
        interval=0.002,
        message=lambda: f"r2 alone holds the VIP (holders {lab.holders(VIP)})",
    )
    took = time.monotonic() - t_ren
    r1 = instance(status(lab, lab.r1))
    causes = {f["cause"]: f["reason"] for f in r1["faults"]}
    assert r1["state"] == "FAULT" and causes.get("link") == "interface eth0 is gone", r1
    h.link("set", index=idx, state="up")  # up under the wrong name: still FAULT
    hold(s.until(lambda: lab.holders(VIP) == [lab.r2]), MDI_R1 + MARGIN, interval=0.02, message="r1 stays out")
    assert instance(status(lab, lab.r1))["state"] == "FAULT"

    h.link("set", index=idx, state="down")
    h.link("set", index=idx, ifname="eth0")
    t_back = time.monotonic()
    h.link("set", index=idx, state="up")
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r1]),
        RELINK_MARGIN + MDI_R1 + MARGIN,
        interval=0.005,
        message=lambda: f"r1 back (holders {lab.holders(VIP)}, r1 {instance(status(lab, lab.r1))})",
    )
    back = time.monotonic() - t_back
    assert instance(status(lab, lab.r1))["faults"] == []
    print(f"renamed -> r2 sole holder {took * 1000:.0f} ms; name back -> r1 master {back * 1000:.0f} ms")
    _check_sampler(s)


def test_ipv6_instance_faults_while_ipv6_is_disabled_and_rejoins_when_enabled(
    lab: Lab, routers: Any, ctl: None
) -> None:
    """An IPv6 instance loses its link-local source (and the device its IPv6 state) with disable_ipv6."""
    cfg = Instance(advert_int=AI, version=3, vips=(f"{VIP6}/64",))
    _start(lab, lab.r1, cfg.with_(priority=150))
    _start(lab, lab.r2, cfg.with_(priority=100))
    wait_until(lambda: lab.holders(VIP6) == [lab.r1], STARTUP_ALLOWANCE, message="r1 the only holder")
    wait_until(lambda: lab.vrrp_joined(lab.r2, 6), STARTUP_ALLOWANCE, message="r2 joined ff02::12")
    wait_until(lambda: instance(status(lab, lab.r2))["state"] == "BACKUP", MDI_R2 + MARGIN)
    s = Sampler(lab, VIP6)
    s.sample()

    t_off = time.monotonic()
    lab.sysctl(lab.r1.ns, "net/ipv6/conf/eth0/disable_ipv6", 1)
    wait_until(
        s.until(lambda: lab.holders(VIP6) == [lab.r2]),
        MDI_R2 + MARGIN,
        interval=0.002,
        message=lambda: f"r2 alone holds the VIP (holders {lab.holders(VIP6)})",
    )
    took = time.monotonic() - t_off
    r1 = instance(status(lab, lab.r1))
    causes = {f["cause"]: f["reason"] for f in r1["faults"]}
    assert r1["state"] == "FAULT" and "link" in causes, r1
    hold(s.until(lambda: lab.holders(VIP6) == [lab.r2]), MDI_R1 + MARGIN, interval=0.02, message="r1 stays out")

    t_on = time.monotonic()
    lab.sysctl(lab.r1.ns, "net/ipv6/conf/eth0/disable_ipv6", 0)
    lab.add_address(lab.r1, f"{lab.r1.ip6}/64")  # the lab's global address went with IPv6; vipd uses the link-local
    wait_until(
        s.until(lambda: lab.holders(VIP6) == [lab.r1]),
        RELINK_MARGIN + MDI_R1 + MARGIN,
        interval=0.005,
        message=lambda: f"r1 back (holders {lab.holders(VIP6)}, r1 {instance(status(lab, lab.r1))})",
    )
    back = time.monotonic() - t_on
    assert instance(status(lab, lab.r1))["faults"] == []
    assert lab.vrrp_joined(lab.r1, 6), "r1 joined ff02::12 again on eth0"
    # r1 hears r2 again: r2 stays backup (it would take over if r1's adverts did not arrive) and r1 stays master.
    hold(s.until(lambda: lab.holders(VIP6) == [lab.r1]), 2 * MDI_R2, interval=0.02, message="r1 stays the master")
    print(f"\nIPv6 off -> r2 sole holder {took * 1000:.0f} ms; on -> r1 master again {back * 1000:.0f} ms")
    _check_sampler(s)


def _dummy(lab: Lab, node: Node, name: str) -> int:
    h = lab.ipr(node.ns)
    h.link("add", ifname=name, kind="bridge")  # no dummy module in every kernel; a portless bridge will do
    (idx,) = h.link_lookup(ifname=name)
    h.link("set", index=idx, state="up")
    return int(idx)


def test_vip_device_deleted_faults_with_its_name_and_recreated_returns(lab: Lab, routers: Any, ctl: None) -> None:
    """A VIP on another device (``dev vd0``) whose device is deleted: ENODEV for the VIP, FAULT, priority 0."""
    vips = (f"{VIP}/24", "198.18.0.1/32 dev vd0")
    for node in (lab.r1, lab.r2):
        _dummy(lab, node, "vd0")
    _start(lab, lab.r1, BASE.with_(priority=150, vips=vips))
    _start(lab, lab.r2, BASE.with_(priority=100, vips=vips))
    converge(lab, lab.r1, [lab.r2], VIP, interval=AI)
    wait_until(lambda: lab.holds(lab.r1, "198.18.0.1"), AI + MARGIN, message="r1 holds the VIP on vd0")
    s = Sampler(lab, VIP)
    s.sample()

    h = lab.ipr(lab.r1.ns)
    (idx,) = h.link_lookup(ifname="vd0")
    t_del = time.monotonic()
    h.link("del", index=idx)
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r2]),
        SKEW_R2 + MARGIN,  # r1's eth0 still works: it sends priority 0
        interval=0.002,
        message=lambda: f"r2 alone holds the VIP (holders {lab.holders(VIP)})",
    )
    took = time.monotonic() - t_del
    r1 = instance(status(lab, lab.r1))
    causes = {f["cause"]: f["reason"] for f in r1["faults"]}
    assert r1["state"] == "FAULT" and causes.get("link") == "interface vd0 is gone", r1
    hold(s.until(lambda: lab.holders(VIP) == [lab.r2]), MDI_R1 + MARGIN, interval=0.02, message="r1 stays out")

    t_new = time.monotonic()
    _dummy(lab, lab.r1, "vd0")
    wait_until(
        s.until(lambda: lab.holders(VIP) == [lab.r1] and lab.holds(lab.r1, "198.18.0.1")),
        RELINK_MARGIN + MDI_R1 + MARGIN,
        interval=0.005,
        message=lambda: f"r1 back (holders {lab.holders(VIP)}, r1 {instance(status(lab, lab.r1))})",
    )
    back = time.monotonic() - t_new
    assert instance(status(lab, lab.r1))["faults"] == []
    print(f"\nvd0 deleted -> r2 sole holder {took * 1000:.0f} ms; re-created -> r1 master {back * 1000:.0f} ms")
    _check_sampler(s)
