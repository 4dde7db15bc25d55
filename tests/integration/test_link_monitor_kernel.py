"""LinkMonitor on the kernel's own events (vipd.linux.rtnl), in a network namespace of its own.

What VIP repair, ``interface`` checks and following interfaces by name rely on:
a carrier loss is "down" (IFF_RUNNING goes), a rename is the old name
disappearing and the new one appearing with the same ifindex, a deletion is
reported, and address additions and deletions reach the listener with their
ifindex and prefix length. The namespace is the ``veth_netns`` fixture's: its own,
removed after, even on failure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.netns

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, subprocess, sys
    from vipd.runtime.links import LinkMonitor

    NS = sys.argv[1]
    seen = []

    class Listener:
        def link_changed(self, ifname, link):
            seen.append(["link", ifname, None if link is None else [link.index, link.mac.hex(), link.up]])

        def address_changed(self, added, ifindex, address, prefixlen):
            seen.append(["addr", added, ifindex, str(address), prefixlen])

        def resynced(self):
            seen.append(["resynced"])

    def ip(*args):
        subprocess.run(["ip", *args], check=True)

    async def until(what, timeout=5.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not what():
            if loop.time() > end:
                raise TimeoutError(f"waited {timeout}s; seen: {seen}")
            await asyncio.sleep(0.01)

    async def main():
        mon = LinkMonitor()
        mon.listener = Listener()
        ups = []
        mon.subscribe("va", ups.append)
        await mon.start()
        out = {"start": [mon.link_up("va"), mon.link_up("vb"), mon.link_up("nosuch")]}
        index = mon.link("va").index
        ip("link", "set", "vb", "down")  # carrier loss on va: IFF_RUNNING goes
        await until(lambda: mon.link_up("va") is False)
        ip("link", "set", "vb", "up")
        await until(lambda: mon.link_up("va") is True)
        ip("addr", "add", "192.0.2.7/24", "dev", "va")
        await until(lambda: any(s[0] == "addr" and s[3] == "192.0.2.7" for s in seen))
        out["addr_up"] = mon.link_up("address 192.0.2.7")
        out["on_va"] = [str(a) for a in mon.addresses_on(index) if a.version == 4]
        ip("addr", "del", "192.0.2.7/24", "dev", "va")
        await until(lambda: mon.link_up("address 192.0.2.7") is False)
        ip("link", "set", "va", "name", "vc")
        await until(lambda: mon.link("vc") is not None and mon.link("va") is None)
        out["renamed_index_kept"] = mon.link("vc").index == index
        ip("link", "del", "vc")
        await until(lambda: mon.link("vc") is None and mon.link_up("vb") is None)
        out["ups"] = ups
        out["seen"] = seen
        await mon.close()
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_link_monitor_follows_the_kernels_events(veth_netns: Callable[..., Any]) -> None:
    out = veth_netns(SCRIPT)
    assert out["start"] == [True, True, None]
    assert out["addr_up"] is True and out["on_va"] == ["192.0.2.7"]
    assert out["renamed_index_kept"] is True
    assert out["ups"][:3] == [True, False, True]  # the start's state, the carrier loss and its end
    addr_events = [s[1:] for s in out["seen"] if s[0] == "addr" and s[3] == "192.0.2.7"]
    assert [e[0] for e in addr_events] == [True, False] and {e[3] for e in addr_events} == {24}
    links = [s[1:] for s in out["seen"] if s[0] == "link"]
    assert ["va", None] in links and ["vc", None] in links  # renamed away, then deleted
    assert any(name == "vc" and state is not None and state[1] == "02766c0000aa" for name, state in links)
    assert out["seen"].count(["resynced"]) == 1  # once, after the first dump
