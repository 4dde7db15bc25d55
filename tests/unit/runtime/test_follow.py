"""LinkMonitor's link identity (renames) and LinkFollower's decisions, against fakes (no netlink)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address
from types import SimpleNamespace
from typing import Any

import pytest

from vipd.fsm import State
from vipd.linux.netlink import VipSpec
from vipd.runtime import follow
from vipd.runtime.follow import LinkFollower
from vipd.runtime.instance import FAULT_LINK
from vipd.runtime.links import LinkMonitor, LinkState

MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")
SRC = ip_address("192.0.2.1")
VIP = ip_address("192.0.2.100")


class FakeDriver:
    def __init__(self, name: str = "VI_1", ifindex: int = 2) -> None:
        self.name = name
        self.faults: dict[str, str] = {}
        self.machine = SimpleNamespace(state=State.MASTER, params=SimpleNamespace(primary_address=SRC))
        self.vips = (VipSpec(VIP, 24, ifindex),)
        self.repairs = 0
        self.retries = 0

    def set_fault(self, cause: str, reason: str | None) -> None:
        if reason is None:
            self.faults.pop(cause, None)
        else:
            self.faults[cause] = reason

    def repair(self) -> None:
        self.repairs += 1

    def retry_vips(self) -> None:
        self.retries += 1


class FakeDaemon:
    def __init__(self, driver: FakeDriver, fail: int = 0) -> None:
        self.driver = driver
        self.plan = SimpleNamespace(
            key=SimpleNamespace(interface="eth0", family=4),
            interfaces=("eth0",),
            tx_interface="eth0",
            vmac=None,
            src=None,
        )
        self.dropped: list[set[str]] = []
        self.relinks = 0
        self.fail = fail

    def instance_plans(self) -> list[tuple[Any, Any]]:
        return [(self.driver, self.plan)]

    def drop_handles(self, names: set[str], family: int | None = None) -> None:
        self.dropped.append(set(names))

    async def relink(self, name: str) -> None:
        self.relinks += 1
        if self.fail > 0:
            self.fail -= 1
            raise OSError("interface eth0 has no IPv4 address to send VRRP adverts from")


def ev(mon: LinkMonitor, name: str, link: LinkState | None) -> None:
    """What the monitor does with one RTM_NEWLINK (``link``) or RTM_DELLINK (None) for ``name``."""
    mon._set(name, None if link is None else link.up)
    mon._identity(name, link)


async def _until(pred: Any, timeout: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.001)


def test_a_rename_is_the_old_name_going_and_the_new_one_coming() -> None:
    mon = LinkMonitor()
    seen: list[tuple[str, LinkState | None]] = []
    ups: list[bool] = []
    mon.listener = SimpleNamespace(link_changed=lambda n, s: seen.append((n, s)))  # type: ignore[assignment]
    mon.subscribe("eth1", ups.append)
    ev(mon, "eth1", LinkState(5, MAC1, True))
    ev(mon, "eth1x", LinkState(5, MAC1, True))  # ip link set eth1 name eth1x
    assert mon.link("eth1") is None and mon.link_up("eth1") is None
    assert mon.link("eth1x") == LinkState(5, MAC1, True)
    assert ups == [True, False]
    assert ("eth1", None) in seen
    ev(mon, "eth1", LinkState(7, MAC2, True))  # a new device under the old name
    assert mon.link("eth1") == LinkState(7, MAC2, True) and mon.link("eth1x") is not None


def test_gone_then_recreated_faults_drops_handles_relinks_and_clears() -> None:
    async def scenario() -> None:
        mon = LinkMonitor()
        ev(mon, "eth0", LinkState(2, MAC1, True))
        driver = FakeDriver()
        daemon = FakeDaemon(driver)
        f = LinkFollower(mon, daemon)
        f.start()
        ev(mon, "eth0", None)
        assert driver.faults[FAULT_LINK] == "interface eth0 is gone"
        assert daemon.relinks == 0
        ev(mon, "eth0", LinkState(9, MAC1, True))
        assert "re-created (ifindex 2 -> 9)" in driver.faults[FAULT_LINK]
        assert daemon.dropped == [{"eth0"}]
        await _until(lambda: FAULT_LINK not in driver.faults)
        assert daemon.relinks == 1 and f.relinks == 1
        await f.close()

    asyncio.run(scenario())


def test_relink_waits_for_the_address_and_an_address_event_retries_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow, "RELINK_MIN", 10.0)  # only the event can bring it back within the deadline

    async def scenario() -> None:
        mon = LinkMonitor()
        ev(mon, "eth0", LinkState(2, MAC1, True))
        driver = FakeDriver()
        daemon = FakeDaemon(driver, fail=1)
        f = LinkFollower(mon, daemon)
        f.start()
        mon.listener = f
        ev(mon, "eth0", LinkState(9, MAC1, True))
        await _until(lambda: daemon.relinks == 1)
        await asyncio.sleep(0)
        assert "no IPv4 address" in driver.faults[FAULT_LINK]
        f.address_changed(True, 9, SRC, 24)
        await _until(lambda: FAULT_LINK not in driver.faults, 1.0)
        assert daemon.relinks == 2
        await f.close()

    asyncio.run(scenario())


def test_a_mac_change_relinks_without_fault_and_up_down_alone_does_nothing() -> None:
    async def scenario() -> None:
        mon = LinkMonitor()
        ev(mon, "eth0", LinkState(2, MAC1, True))
        driver = FakeDriver()
        daemon = FakeDaemon(driver)
        f = LinkFollower(mon, daemon)
        f.start()
        ev(mon, "eth0", LinkState(2, MAC1, False))
        ev(mon, "eth0", LinkState(2, MAC1, True))
        await asyncio.sleep(0.01)
        assert daemon.relinks == 0 and driver.faults == {}
        ev(mon, "eth0", LinkState(2, MAC2, True))
        assert driver.faults == {} and daemon.dropped == []
        await _until(lambda: daemon.relinks == 1)
        await f.close()

    asyncio.run(scenario())


def test_a_deleted_vip_is_repaired_and_a_deleted_source_faults() -> None:
    async def scenario() -> None:
        mon = LinkMonitor()
        ev(mon, "eth0", LinkState(2, MAC1, True))
        driver = FakeDriver()
        daemon = FakeDaemon(driver, fail=100)
        f = LinkFollower(mon, daemon)
        f.start()
        repairs = driver.repairs  # start() re-checks: masters re-add once
        f.address_changed(False, 2, VIP, 24)
        assert driver.repairs == repairs + 1 and driver.faults == {}
        f.address_changed(False, 3, VIP, 24)  # same address on another device: not ours
        assert driver.repairs == repairs + 1
        f.address_changed(False, 2, SRC, 24)
        assert driver.faults[FAULT_LINK] == "advert source 192.0.2.1 removed from eth0"
        await f.close()

    asyncio.run(scenario())
