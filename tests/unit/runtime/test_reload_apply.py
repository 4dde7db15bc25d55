"""``Daemon.apply_plan`` with fakes instead of the kernel (no namespaces): reload is all or nothing.

The kernel side (links, sockets, AF_PACKET, rtnetlink) is replaced by fakes so that what
reload builds and closes can be counted; the namespaces tests (tests/integration/
test_reload_plan.py) cover what only the kernel can show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any, ClassVar

import pytest

import vipd.runtime.daemon as daemon_mod
from vipd.config import load_config_string
from vipd.fsm import State
from vipd.linux.netlink import LinkInfo, VipSpec
from vipd.plan import Plan, plan_config
from vipd.runtime.daemon import Daemon, ReloadError


class FakeSocket:
    open: ClassVar[set[FakeSocket]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        FakeSocket.open.add(self)
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append(data)

    def setsockopt(self, *args: object) -> None:
        pass

    def send(self, frame: bytes) -> None:
        pass

    def close(self) -> None:
        FakeSocket.open.discard(self)


class FakeReader(FakeSocket):
    def __init__(
        self, loop: object, sock: object, family: int, cb: Callable[..., None], err: object, **kw: object
    ) -> None:
        super().__init__()

    def pending(self) -> bool:
        return False

    def drain(self, until: float) -> None:
        pass


class FakeNetlink:
    links: ClassVar[dict[str, int]] = {"eth0": 2, "eth1": 3}

    ipr = None

    async def link_info(self, ifname: str) -> LinkInfo:
        if ifname not in self.links:
            raise LookupError(f"interface {ifname!r} does not exist")
        i = self.links[ifname]
        return LinkInfo(i, ifname, bytes([2, 0, 0, 0, 0, i]), True, (IPv4Address(f"192.0.2.{i}"),), None)

    def close(self) -> None:
        pass


class FakeWriter:
    def __init__(self) -> None:
        self.added: list[VipSpec] = []
        self.removed: list[VipSpec] = []

    def prepare(self, vip: VipSpec) -> None:
        pass

    def add(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None:
        self.added.append(vip)
        done(vip, 0)

    def remove(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None:
        self.removed.append(vip)
        done(vip, 0)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeSocket.open = set()
    monkeypatch.setattr(daemon_mod, "open_rx", lambda *a, **k: FakeSocket())
    monkeypatch.setattr(daemon_mod, "open_tx", lambda *a, **k: FakeSocket())
    monkeypatch.setattr(daemon_mod, "AdvertReader", FakeReader)
    monkeypatch.setattr(daemon_mod, "L2Announcer", FakeSocket)
    monkeypatch.setattr(daemon_mod, "shared_timer", lambda loop, fn: None)


def inst(name: str, vrid: int, *, iface: str = "eth0", prio: int = 150, vip: str = "198.51.100.1/24") -> str:
    return (
        f"vrrp_instance {name} {{\n    interface {iface}\n    virtual_router_id {vrid}\n    priority {prio}\n"
        f"    version 3\n    advert_int 0.1\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )


def plan_of(text: str) -> Plan:
    r = load_config_string(text)
    result = plan_config(r.config, r.locs)
    assert result.plan is not None, result.diagnostics
    return result.plan


async def started(plan: Plan) -> tuple[Daemon, FakeWriter]:
    d = Daemon(plan)
    writer = FakeWriter()
    d._netlink = FakeNetlink()  # type: ignore[assignment]
    d._writer = writer  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    links: dict[str, LinkInfo] = {}
    for p in plan.instances.values():
        d._register(await d._build(loop, p, links, daemon_mod._Stage()))
    for driver in d.drivers.values():
        driver.start()
    await until(lambda: all(x.machine.state is State.MASTER for x in d.drivers.values()))
    writer.removed.clear()  # entering Backup at start removes what a crashed run may have left
    return d, writer


async def until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_failed_build_changes_nothing_and_closes_what_it_opened() -> None:
    async def scenario() -> None:
        d, writer = await started(plan_of(inst("VI_1", 51)))
        vi1 = d.drivers["VI_1"]
        await until(lambda: vi1.machine.state is State.MASTER)  # alone: master after Master_Down_Interval
        sockets_before = set(FakeSocket.open)
        # VI_1 changes priority (in place) and VI_2 is added on an interface that does not exist.
        new = plan_of(inst("VI_1", 51, prio=90) + inst("VI_2", 52, iface="eth9", vip="198.51.100.2/24"))
        with pytest.raises(ReloadError, match="eth9"):
            await d.apply_plan(new)
        assert d.drivers == {"VI_1": vi1} and vi1.machine.state is State.MASTER
        assert vi1.machine.params.priority == 150, "the in-place change was applied though the reload failed"
        assert FakeSocket.open == sockets_before, "reload left sockets of its failed build open"
        assert not writer.removed
        await asyncio.gather(*(x.stop() for x in d.drivers.values()))

    asyncio.run(scenario())


def test_a_failed_restart_leaves_the_old_instance_running() -> None:
    """The review's outage: the restarted instance is built first; its failure stops nothing."""

    async def scenario() -> None:
        d, writer = await started(plan_of(inst("VI_1", 51)))
        vi1 = d.drivers["VI_1"]
        await until(lambda: vi1.machine.state is State.MASTER)
        bad = plan_of(inst("VI_1", 51).replace("version 3", "version 2").replace("advert_int 0.1", "advert_int 1"))
        FakeNetlink.links.pop("eth0")
        try:
            with pytest.raises(ReloadError):
                await d.apply_plan(bad)
        finally:
            FakeNetlink.links["eth0"] = 2
        assert d.drivers["VI_1"] is vi1 and vi1.machine.state is State.MASTER and not writer.removed
        await vi1.stop()

    asyncio.run(scenario())


def test_rename_keeps_the_driver_and_its_state() -> None:
    async def scenario() -> None:
        d, writer = await started(plan_of(inst("VI_1", 51)))
        vi1 = d.drivers["VI_1"]
        diff = await d.apply_plan(plan_of(inst("VI_web", 51)))
        assert diff.summary()["renamed"] == ["VI_1->VI_web"]
        assert d.drivers == {"VI_web": vi1} and vi1.name == "VI_web" and vi1.machine.state is State.MASTER
        assert not writer.removed, "a rename removed a VIP"
        await vi1.stop()

    asyncio.run(scenario())


def test_changed_in_place_and_added_after_a_good_build() -> None:
    async def scenario() -> None:
        d, _ = await started(plan_of(inst("VI_1", 51)))
        vi1 = d.drivers["VI_1"]
        diff = await d.apply_plan(
            plan_of(inst("VI_1", 51, prio=140) + inst("VI_2", 52, iface="eth1", vip="203.0.113.1/24"))
        )
        assert diff.summary()["changed"] == ["VI_1"] and diff.summary()["added"] == ["VI_2"]
        assert d.drivers["VI_1"] is vi1 and vi1.machine.params.priority == 140 and vi1.machine.state is State.MASTER
        assert set(d.drivers) == {"VI_1", "VI_2"}
        await asyncio.gather(*(x.stop() for x in d.drivers.values()))

    asyncio.run(scenario())


class FakeVmacs:
    """Records VMACs as ``VmacManager`` would create and remove them; each one becomes a link of FakeNetlink."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.removed: list[str] = []

    def holds(self, name: str) -> bool:
        return name in self.made

    def names(self) -> set[str]:
        return set(self.made)

    async def ensure(self, spec: Any) -> int:
        if spec.name not in self.made:
            self.made.append(spec.name)
        FakeNetlink.links[spec.name] = 10 + spec.vrid
        return 10 + spec.vrid

    async def remove(self, name: str) -> None:
        if name in self.made:
            self.made.remove(name)
            self.removed.append(name)
            FakeNetlink.links.pop(name, None)

    def set_sysctl(self, *args: object, **kwargs: object) -> None:
        pass

    async def close(self) -> None:
        pass


def vmac_inst(name: str, vrid: int, **kw: Any) -> str:
    return inst(name, vrid, **kw).replace("    version 3\n", f"    version 3\n    use_vmac vrrp.{vrid}\n")


def test_a_failed_reload_removes_the_vmac_its_build_made_and_keeps_the_running_ones() -> None:
    """keepalived's reload leaves no device behind for an instance that never ran."""

    async def scenario() -> None:
        d, _ = await started(plan_of(inst("VI_1", 51)))
        vmacs = FakeVmacs()
        d._vmacs = vmacs  # type: ignore[assignment]
        ok = plan_of(inst("VI_1", 51) + vmac_inst("VI_2", 52, vip="198.51.100.2/24"))
        await d.apply_plan(ok)
        assert vmacs.made == ["vrrp.52"]
        # VI_3's VMAC is made, then VI_4's interface is missing: the reload fails.
        bad = plan_of(
            inst("VI_1", 51)
            + vmac_inst("VI_2", 52, vip="198.51.100.2/24")
            + vmac_inst("VI_3", 53, vip="198.51.100.3/24")
            + inst("VI_4", 54, iface="eth9", vip="198.51.100.4/24")
        )
        try:
            with pytest.raises(ReloadError, match="eth9"):
                await d.apply_plan(bad)
            assert vmacs.removed == ["vrrp.53"], "the failed build's VMAC stayed (or a running one went)"
            assert vmacs.made == ["vrrp.52"] and set(d.drivers) == {"VI_1", "VI_2"}
            # a good reload that drops VI_2 removes its VMAC once VI_2 has stopped
            await d.apply_plan(plan_of(inst("VI_1", 51)))
            assert vmacs.removed == ["vrrp.53", "vrrp.52"] and not vmacs.made
        finally:
            for name in ("vrrp.52", "vrrp.53"):
                FakeNetlink.links.pop(name, None)
        await asyncio.gather(*(x.stop() for x in d.drivers.values()))

    asyncio.run(scenario())
