"""The Tracker against fake drivers: real checks (scripts, files), fake link events, keepalived's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vipd.config import load_config_string
from vipd.fsm import FaultChanged, PriorityChanged
from vipd.health.rules import Health
from vipd.plan import plan_config
from vipd.plan.trackers import plan_trackers
from vipd.runtime.tracking import Tracker


def plan(config):  # type: ignore[no-untyped-def]
    t = plan_trackers(config)
    return t.specs, t.bindings


def _plan(config):  # type: ignore[no-untyped-def]
    result = plan_config(config)
    assert result.plan is not None, result.diagnostics
    return result.plan


class FakeDriver:
    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[Any] = []

    def feed(self, event: Any) -> None:
        self.events.append(event)

    def priorities(self) -> list[int]:
        return [e.priority for e in self.events if isinstance(e, PriorityChanged)]

    def faults(self) -> list[bool]:
        return [e.fault for e in self.events if isinstance(e, FaultChanged)]


class FakeLinks:
    def __init__(self, **state: bool) -> None:
        self.state = dict(state)
        self.subs: dict[str, list[Callable[[bool], None]]] = {}

    def link_up(self, ifname: str) -> bool | None:
        return self.state.get(ifname)

    def subscribe(self, ifname: str, cb: Callable[[bool], None]) -> Callable[[], None]:
        self.subs.setdefault(ifname, []).append(cb)
        return lambda: self.subs[ifname].remove(cb)

    def set(self, ifname: str, up: bool) -> None:
        self.state[ifname] = up
        for cb in list(self.subs.get(ifname, ())):
            cb(up)


def instance(name: str, vrid: int, iface: str, extra: str, priority: int = 200) -> str:
    return f"""
vrrp_instance {name} {{
    interface {iface}
    virtual_router_id {vrid}
    priority {priority}
    advert_int 0.1
    version 3
    virtual_ipaddress {{ 192.0.2.{vrid}/24 }}
    {extra}
}}
"""


def scripts(tmp: Path, *names: str, weight: int = 0) -> str:
    return "".join(
        f'vrrp_script {n} {{\n script "/usr/bin/test -e {tmp}/{n}"\n interval 0.05\n weight {weight}\n}}\n'
        for n in names
    )


async def until(pred: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_negative_weights_three_trackers(tmp_path: Path) -> None:
    for n in ("a", "b", "c"):
        (tmp_path / n).touch()
    text = scripts(tmp_path, "a", "b", "c") + instance(
        "VI_1", 51, "eth0", "track_script {\n a weight -30\n b weight -50\n c weight -70\n}"
    )
    cfg = load_config_string(text).config
    d = FakeDriver("VI_1")

    async def main() -> None:
        t = Tracker(_plan(cfg), {"VI_1": d}, links=FakeLinks(eth0=True))
        await t.start()
        assert d.priorities() == [] and d.faults() == [False]  # all OK: base priority, no fault
        steps = [("a", 170), ("b", 120), ("c", 50)]
        for name, expected in steps:
            (tmp_path / name).unlink()
            await until(lambda e=expected: d.priorities()[-1:] == [e])
        (tmp_path / "a").touch()
        await until(lambda: d.priorities()[-1:] == [80])
        await t.stop()

    asyncio.run(main())
    assert d.priorities() == [170, 120, 50, 80]


def test_weight_zero_fault_and_recovery_and_start_in_fault(tmp_path: Path) -> None:
    cfg = load_config_string(scripts(tmp_path, "svc") + instance("VI_1", 51, "eth0", "track_script { svc }")).config
    d = FakeDriver("VI_1")

    async def main() -> None:
        t = Tracker(_plan(cfg), {"VI_1": d}, links=FakeLinks(eth0=True))
        await t.start()
        assert d.faults() == [True], "a failing weight-0 script at start: FAULT before Startup"
        (tmp_path / "svc").touch()
        await until(lambda: d.faults()[-1] is False)
        ev = t.evaluation("VI_1")
        assert ev is not None and not ev.fault
        await t.stop()

    asyncio.run(main())


def test_primary_interface_down_is_fault_unless_dont_track_primary() -> None:
    text = instance("VI_1", 51, "eth0", "") + instance("VI_2", 52, "eth0", "dont_track_primary")
    cfg = load_config_string(text).config
    d1, d2 = FakeDriver("VI_1"), FakeDriver("VI_2")
    links = FakeLinks(eth0=True)

    async def main() -> None:
        t = Tracker(_plan(cfg), {"VI_1": d1, "VI_2": d2}, links=links)
        await t.start()
        links.set("eth0", False)
        links.set("eth0", True)
        await t.stop()

    asyncio.run(main())
    assert d1.faults() == [False, True, False]
    assert d2.faults() == [False]


def test_sync_group_member_fault_takes_the_group_to_fault() -> None:
    text = (
        instance("VI_1", 51, "eth0", "track_interface { eth2 weight 20 }")
        + instance("VI_2", 52, "eth1", "")
        + "vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n}\n"
    )
    cfg = load_config_string(text).config
    d1, d2 = FakeDriver("VI_1"), FakeDriver("VI_2")
    links = FakeLinks(eth0=True, eth1=True, eth2=True)

    async def main() -> None:
        t = Tracker(_plan(cfg), {"VI_1": d1, "VI_2": d2}, links=links)
        await t.start()
        links.set("eth1", False)  # VI_2's interface: VI_2 and, through the group, VI_1
        assert (d1.faults()[-1], d2.faults()[-1]) == (True, True)
        assert "vrrp_sync_group G: VI_2 in fault" in [e for e in d1.events if isinstance(e, FaultChanged)][-1].reason
        links.set("eth1", True)
        assert (d1.faults()[-1], d2.faults()[-1]) == (False, False)
        # keepalived: a weighted track_interface of a sync-group member becomes a FAULT tracker
        links.set("eth2", False)
        assert (d1.faults()[-1], d2.faults()[-1]) == (True, True)
        assert d1.priorities() == [], "no weight applies in a sync group without sync_group_tracking_weight"
        await t.stop()

    asyncio.run(main())


def test_plan_owner_in_a_group_with_sync_group_tracking_weight_drops_weighted_interfaces() -> None:
    """keepalived vrrp_complete_instance: ``(vrrp->sync && !sgroup_tracking_weight) || owner``; the weighted
    interface is set to weight 0 only when sync_no_tracking_weight, else (the owner) it is dropped."""
    group = "vrrp_sync_group G {{\n group {{\n VI_1\n VI_2\n }}\n{extra}}}\n"
    members = instance("VI_1", 51, "eth0", "track_interface { eth2 weight 20 }", 255) + instance(
        "VI_2", 52, "eth1", "track_interface { eth2 weight 20 }"
    )
    _, plain = plan(load_config_string(members + group.format(extra="")).config)
    _, weighted = plan(load_config_string(members + group.format(extra=" sync_group_tracking_weight\n")).config)

    def eth2(bindings: Any, name: str) -> list[int]:
        return [b.weight.weight for b in bindings[name] if b.key == ("interface", "eth2")]

    assert eth2(plain, "VI_1") == [0] and eth2(plain, "VI_2") == [0]
    assert eth2(weighted, "VI_1") == [], "the owner ignores weighted interfaces"
    assert eth2(weighted, "VI_2") == [20], "sync_group_tracking_weight keeps the member's weight"


def test_file_weight_and_owner(tmp_path: Path) -> None:
    f = tmp_path / "prio"
    f.write_text("5\n")
    text = f'track_file tf {{\n file "{f}"\n weight 3\n}}\n' + instance("VI_1", 51, "eth0", "track_file { tf }", 100)
    text += instance("VI_O", 52, "eth0", "track_file { tf weight 3 }", 255)
    cfg = load_config_string(text).config
    d, owner = FakeDriver("VI_1"), FakeDriver("VI_O")

    async def main() -> None:
        t = Tracker(_plan(cfg), {"VI_1": d, "VI_O": owner}, links=FakeLinks(eth0=True))
        await t.start()
        assert d.priorities() == [115]
        f.write_text("-100\n")  # -300: FAULT
        await until(lambda: d.faults()[-1:] == [True])
        await t.stop()

    asyncio.run(main())
    assert owner.priorities() == [] and owner.faults() == [False]


def test_plan_shares_one_runner_between_instances(tmp_path: Path) -> None:
    text = scripts(tmp_path, "s") + instance("VI_1", 51, "eth0", "track_script { s weight 5 }")
    text += instance("VI_2", 52, "eth0", "track_script { s weight -5 reverse }")
    specs, bindings = plan(load_config_string(text).config)
    assert list(specs) == [("interface", "eth0"), ("script", "s")]
    assert [(b.key, b.weight.weight, b.weight.reverse) for b in bindings["VI_2"]][1] == (("script", "s"), -5, True)
    assert specs[("script", "s")][1].health is Health.UNKNOWN
