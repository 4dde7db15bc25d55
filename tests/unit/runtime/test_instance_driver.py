"""InstanceDriver against fakes: effects executed in RFC order on a real event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address, ip_address

from vipd.fsm import Params, State, VrrpMachine
from vipd.linux.netlink import VipSpec
from vipd.runtime.instance import AnnounceTarget, InstanceDriver
from vipd.wire.advert import Advert

VIP = IPv4Address("192.0.2.100")
MAC = bytes.fromhex("020000000001")


class Journal:
    """Records every side effect with the loop time, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def send(self, advert: Advert) -> None:
        self.events.append(("advert", advert.priority))

    # AddressOps: like rtnetlink, the change is made inside the call; the answer comes later.
    def prepare(self, vip: VipSpec) -> None:
        pass

    def add(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None:
        self.events.append(("add", str(vip.address)))
        asyncio.get_running_loop().call_soon(done, vip, 0)

    def remove(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None:
        self.events.append(("remove", str(vip.address)))
        asyncio.get_running_loop().call_soon(done, vip, 0)


class Frames:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def send(self, frame: bytes) -> None:
        self.journal.events.append(("garp", frame[28:32]))


def make(priority: int, interval: float = 0.02) -> tuple[InstanceDriver, Journal]:
    j = Journal()
    params = Params(
        vrid=51,
        version=3,
        priority=priority,
        advertisement_interval=interval,
        primary_address=ip_address("192.0.2.1"),
        addresses=(VIP,),
        garp_master_repeat=2,
        garp_master_delay=0,
    )
    driver = InstanceDriver(
        name="VI_1",
        machine=VrrpMachine(params),
        send_advert=j.send,
        vips=[VipSpec(VIP, 24, 2)],
        announce=[AnnounceTarget(VIP, Frames(j), MAC)],
        addresses=j,
    )
    return driver, j


async def _until(pred, timeout: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.001)


def test_owner_takeover_order_is_advert_address_garp_and_shutdown_sends_priority_zero() -> None:
    async def scenario() -> None:
        driver, j = make(255)
        driver.start()
        await _until(lambda: sum(1 for e in j.events if e[0] == "garp") == 2, 1.0)
        assert j.events[:4] == [("advert", 255), ("add", str(VIP)), ("garp", VIP.packed), ("garp", VIP.packed)]
        await driver.stop()
        tail = [e for e in j.events if e[0] != "advert" or e[1] == 0]
        assert tail[-2:] == [("advert", 0), ("remove", str(VIP))]
        assert driver.machine.state is State.INITIALIZE
        assert driver.stats.priority_zero_sent == 1

    asyncio.run(scenario())


def test_backup_removes_stale_vip_then_takes_over_after_master_down_interval() -> None:
    async def scenario() -> None:
        driver, j = make(100, interval=0.02)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        driver.start()
        mdi = driver.machine.master_down_interval
        await _until(lambda: driver.machine.state is State.MASTER, mdi + 1.0)
        elapsed = loop.time() - t0
        assert elapsed >= mdi - 0.001
        assert j.events[0] == ("remove", str(VIP))  # start-up cleanup of a crashed run's VIP
        await _until(lambda: ("add", str(VIP)) in j.events, 1.0)
        # The master keeps advertising on its own timer.
        await _until(lambda: driver.stats.adverts_sent >= 3, 10 * 0.02 + 1.0)
        await driver.stop()

    asyncio.run(scenario())


def test_reconfigure_as_master_touches_only_the_vip_difference_and_keeps_advertising() -> None:
    """Hitless reload: B stays, A is removed, C is added and announced; no transition; new priority advertised."""
    a, b, c = (IPv4Address(f"192.0.2.{n}") for n in (100, 101, 102))

    async def scenario() -> None:
        j = Journal()
        base = Params(
            vrid=51,
            version=3,
            priority=255,
            advertisement_interval=0.02,
            primary_address=ip_address("192.0.2.1"),
            addresses=(a, b),
            garp_master_repeat=1,
            garp_master_delay=0,
        )
        frames = Frames(j)
        driver = InstanceDriver(
            name="VI_1",
            machine=VrrpMachine(base),
            send_advert=j.send,
            vips=[VipSpec(a, 24, 2), VipSpec(b, 24, 2)],
            announce=[AnnounceTarget(a, frames, MAC), AnnounceTarget(b, frames, MAC)],
            addresses=j,
        )
        driver.start()
        await _until(lambda: ("add", str(b)) in j.events, 1.0)
        transition = driver.last_transition
        j.events.clear()
        new = replace(base, priority=200, addresses=(b, c))
        driver.reconfigure(
            new,
            vips=[VipSpec(b, 24, 2), VipSpec(c, 24, 2)],
            announce=[AnnounceTarget(b, frames, MAC), AnnounceTarget(c, frames, MAC)],
        )
        assert j.events == [("remove", str(a)), ("add", str(c)), ("garp", c.packed)]
        await _until(lambda: ("advert", 200) in j.events, 1.0)
        assert driver.machine.state is State.MASTER and driver.last_transition == transition
        assert not [e for e in j.events if e[0] in ("add", "remove") and e[1] == str(b)]
        # keep: a VIP another master now owns is not removed
        driver.reconfigure(
            new, vips=[VipSpec(c, 24, 2)], announce=[AnnounceTarget(c, frames, MAC)], keep=[VipSpec(b, 24, 2)]
        )
        assert ("remove", str(b)) not in j.events
        await driver.stop()

    asyncio.run(scenario())
