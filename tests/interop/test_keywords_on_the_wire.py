"""Issue 17's keywords that show on the wire, next to Debian's keepalived 2.2.7.

* ``owner_ignore_adverts`` (keepalived 2.3+; 2.2.7 lacks it): two address owners on one VRID.
  vipd, the lower-address owner, with ``owner_ignore_adverts`` drops the higher-address owner's
  adverts (RFC 5798 §6.4.3 would make it yield), as keepalived 2.3's ``vrrp_check_packet`` does,
  and stays master; keepalived 2.2.7, the other owner, logs "both configured as address owner"
  and gives way by itself.
* ``garp_extra_if all DELAY`` (keepalived 2.2.7 ``vrrp_gratuitous_arp_vmac_update_thread``): the
  same config run by keepalived and by vipd, one after the other, announces the VIP on the
  instance's other interface every DELAY seconds; the periods are compared.

With ``VIPD_INTEROP_REPORT=/path.jsonl`` each test appends what it observed.
"""

from __future__ import annotations

import ipaddress
import itertools
import statistics
import time
from collections.abc import Callable

import pytest
from vipdlab import Lab, Sniffer, render, timing, wait_until
from vipdlab.lab.interop import MODES, instance, ready
from vipdlab.lab.sniff import Advert, Arp

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.slow]

STARTUP = 8.0
Record = Callable[..., None]


def test_owner_ignore_adverts_keeps_vipd_master_against_a_keepalived_owner(record: Record) -> None:
    mode = MODES["v3"]
    vip = mode.vip_address
    with Lab() as lab:
        low, high = sorted(lab.routers, key=lambda n: ipaddress.ip_address(n.ip4))
        vipd = lab.start_vipd(
            low, render(instance(mode, lab, low, 255, state="MASTER", extra=("owner_ignore_adverts",)))
        )
        wait_until(lambda: ready(vipd) and lab.holds(low, vip), STARTUP, message=lambda: lab.logs(20))
        t0 = time.monotonic()
        ka = lab.start_keepalived(high, render(instance(mode, lab, high, 255, state="MASTER")))
        wait_until(lambda: ready(ka), STARTUP, message=lambda: lab.logs(20))
        window = 3 * timing.master_down_interval(3, 255, mode.advert_int)
        theirs = lab.sniffer.wait_for(
            Advert, STARTUP, since=t0, where=lambda a: a.src == high.ip4 and a.priority == 255
        )
        time.sleep(window)  # keepalived's owner adverts (equal priority, higher address) keep reaching vipd
        assert lab.holds(low, vip), lab.logs(30)
        vlog = (lab.workdir / f"{low.name}-vipd.log").read_text()
        assert "Entering BACKUP STATE (equal_priority_higher_address" not in vlog, vlog[-1500:]
        assert "we are the address owner" in vlog
        klog = (lab.workdir / f"{high.name}-keepalived.log").read_text()
        # keepalived 2.2.7 hears vipd's owner adverts and, itself, gives way
        assert "both configured as address owner" in klog, klog[-1500:]
        record(
            check="owner_ignore_adverts", mode=mode.name, keepalived_owner_advert=theirs.priority, vipd_kept_master=True
        )


def test_garp_extra_if_period_matches_keepalived(record: Record) -> None:
    delay = 1
    extra_vip = "198.51.100.1"
    periods: dict[str, list[float]] = {}
    for kind in ("keepalived", "vipd"):
        with Lab() as lab:
            r1 = lab.r1
            ipr = lab.ipr(r1.ns)
            ipr.link("add", ifname="x0", kind="veth", peer={"ifname": "x1"})
            for name in ("x0", "x1"):
                (idx,) = ipr.link_lookup(ifname=name)
                ipr.link("set", index=idx, state="up")
            inst = instance(
                MODES["v3"],
                lab,
                r1,
                150,
                extra=(f"garp_extra_if all {delay}", "garp_master_delay 0", "garp_master_repeat 1"),
            ).with_(vips=("192.0.2.100/24", f"{extra_vip}/24 dev x0"))
            with Sniffer(r1.ns, "x1") as tap:
                d = lab.start_daemon(kind, r1, render(inst))
                wait_until(
                    lambda d=d, r1=r1: ready(d) and lab.holds(r1, extra_vip),  # type: ignore[misc]
                    STARTUP,
                    message=lambda: lab.logs(20),
                )

                def garps() -> list[Arp]:
                    return [a for a in tap.find(Arp) if a.gratuitous and a.spa == extra_vip]

                got = wait_until(
                    lambda: len(garps()) >= 5 and garps(), STARTUP + 5 * delay, message=lambda: lab.logs(20)
                )
            periods[kind] = [b.t - a.t for a, b in itertools.pairwise(got[1:])]  # after the takeover burst
    ka, vd = statistics.median(periods["keepalived"]), statistics.median(periods["vipd"])
    print(f"garp_extra_if {delay}s: keepalived median {ka:.3f}s, vipd median {vd:.3f}s")
    assert abs(ka - delay) < 0.2, periods
    assert abs(vd - ka) < 0.2, periods
    record(check="garp_extra_if", delay=delay, keepalived_period=round(ka, 3), vipd_period=round(vd, 3))


def test_use_vmac_addr_makes_the_same_vmac_as_keepalived(record: Record) -> None:
    """The same config under keepalived 2.2.7 and under vipd: a VMAC with the same name, MAC and parent
    on the VIP's other interface, the VIP on it, its GARPs from the virtual MAC."""
    extra_vip = "198.51.100.1"
    seen: dict[str, tuple[str, str, str, set[str]]] = {}
    for kind in ("keepalived", "vipd"):
        with Lab() as lab:
            r1 = lab.r1
            ipr = lab.ipr(r1.ns)
            ipr.link("add", ifname="x0", kind="veth", peer={"ifname": "x1"})
            for name in ("x0", "x1"):
                (idx,) = ipr.link_lookup(ifname=name)
                ipr.link("set", index=idx, state="up")
            inst = instance(MODES["v3"], lab, r1, 150, extra=("use_vmac_addr",)).with_(
                vips=("192.0.2.100/24", f"{extra_vip}/24 dev x0")
            )
            with Sniffer(r1.ns, "x1") as tap:
                d = lab.start_daemon(kind, r1, render(inst))
                wait_until(
                    lambda d=d, r1=r1: ready(d) and lab.holds(r1, extra_vip),  # type: ignore[misc]
                    STARTUP,
                    message=lambda: lab.logs(20),
                )
                garps = wait_until(
                    lambda tap=tap: [a for a in tap.find(Arp) if a.gratuitous and a.spa == extra_vip],  # type: ignore[misc]
                    STARTUP,
                    message=lambda: lab.logs(20),
                )
                by_index = {int(x["index"]): str(x.get("ifname")) for x in ipr.get_links()}
                holder = next(a for a in ipr.get_addr() if a.get_attr("IFA_ADDRESS") == extra_vip)
                dev = by_index[int(holder["index"])]
                link = ipr.get_links(ifname=dev)[0] if dev else None
                kind_of = link.get(("linkinfo", "kind")) if link is not None else None
                parent = by_index.get(int(link.get("link") or 0), "") if link is not None else ""
                seen[kind] = (dev, str(link.get("address")), f"{kind_of} on {parent}", {a.sha for a in garps})
    print(f"use_vmac_addr: keepalived {seen['keepalived']}, vipd {seen['vipd']}")
    assert seen["vipd"] == seen["keepalived"], seen
    record(check="use_vmac_addr", keepalived=str(seen["keepalived"]), vipd=str(seen["vipd"]))
