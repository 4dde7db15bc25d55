"""vipd.linux.rtnl against the kernel, in a network namespace of its own; pyroute2 as the oracle.

Dumps read the same links and addresses as pyroute2's ``IPRoute``; requests are
acknowledged or refused with the kernel's errno; the event socket sees the
changes. The namespace is the ``veth_netns`` fixture's: its own, removed after,
even on failure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.netns

SCRIPT = textwrap.dedent(
    """
    import asyncio, errno, json
    from ipaddress import ip_address
    from pyroute2 import IPRoute
    from vipd.linux import rtnl
    from vipd.linux.netlink import AddressWriter, Netlink, VipSpec

    def oracle():
        with IPRoute() as ipr:
            links = sorted(
                (l["index"], l.get("ifname"), l["flags"], l.get("address") or "", l.get("operstate"))
                for l in ipr.link("dump")
            )
            addrs = sorted(
                (a["index"], a.get("local") or a.get("address"), a["prefixlen"], a["scope"], a.get("label") or "")
                for a in ipr.addr("dump")
            )
        return links, addrs

    OPER = {0: "UNKNOWN", 2: "DOWN", 6: "UP"}

    async def main():
        out = {}
        with rtnl.Rtnl() as r:
            # the veth pair is down: bring it up to have two links, a MAC and an operstate
            lo = await r.get_link("lo")
            va = await r.get_link("va")
            for vip in (
                VipSpec(ip_address("192.0.2.1"), 24, va.index, label="va:vip", broadcast=ip_address("192.0.2.255")),
                VipSpec(ip_address("2001:db8::1"), 64, va.index),
                VipSpec(ip_address("198.51.100.7"), 32, lo.index, scope=254),
            ):
                await r.request(AddressWriter._encode(vip, rtnl.RTM_NEWADDR))
            mon = rtnl.RtnlEvents(rtnl.RTMGRP_IPV4_IFADDR | rtnl.RTMGRP_LINK)
            links = await r.dump_links()
            addrs = await r.dump_addrs()
            want_links, want_addrs = await asyncio.to_thread(oracle)  # IPRoute runs its own loop
            out["links"] = sorted(
                (l.index, l.ifname, l.flags, ":".join(f"{b:02x}" for b in l.mac), OPER.get(l.operstate, "?"))
                for l in links
            )
            out["oracle_links"] = want_links
            out["addrs"] = sorted((a.index, str(a.address), a.prefixlen, a.scope, a.label) for a in addrs)
            out["oracle_addrs"] = want_addrs
            out["only_va"] = sorted(str(a.address) for a in await r.dump_addrs(va.index))
            try:
                await r.get_link("nosuch0")
            except rtnl.RtnlError as e:
                out["nosuch"] = e.errno
            extra = VipSpec(ip_address("192.0.2.50"), 32, va.index)
            try:
                await r.request(AddressWriter._encode(VipSpec(ip_address("192.0.2.1"), 24, va.index), rtnl.RTM_NEWADDR))
            except rtnl.RtnlError as e:
                out["again"] = e.errno
            try:
                await r.request(AddressWriter._encode(extra, rtnl.RTM_DELADDR))
            except rtnl.RtnlError as e:
                out["absent"] = e.errno
            await r.request(AddressWriter._encode(extra, rtnl.RTM_NEWADDR))
            await r.request(AddressWriter._encode(extra, rtnl.RTM_DELADDR))
            events = []
            while len(events) < 2:
                for m in await asyncio.wait_for(mon.next_batch(), 5):
                    if isinstance(m, rtnl.RtAddr) and str(m.address) == "192.0.2.50":
                        events.append(m.event)
            out["events"] = events
            mon.close()
        nl = Netlink()
        info = await nl.link_info("va")
        nl.close()
        out["info"] = [info.index == va.index, [str(a) for a in info.ipv4], info.mac.hex(), info.oper_up]
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_rtnl_reads_and_writes_as_the_kernel_and_pyroute2_do(veth_netns: Callable[..., Any]) -> None:
    out = veth_netns(SCRIPT)
    assert out["links"] == [list(x) for x in out["oracle_links"]]
    assert out["addrs"] == [list(x) for x in out["oracle_addrs"]]
    assert ["192.0.2.1", "va:vip"] in [[a[1], a[4]] for a in out["addrs"]]
    assert "198.51.100.7" not in out["only_va"] and "192.0.2.1" in out["only_va"]
    assert out["nosuch"] == 19  # ENODEV
    assert out["again"] == 17  # EEXIST
    assert out["absent"] == 99  # EADDRNOTAVAIL
    assert out["events"] == [20, 21]  # RTM_NEWADDR, RTM_DELADDR
    assert out["info"] == [True, ["192.0.2.1"], "02766c0000aa", True]
