"""Before-VIP hooks (vipd.runtime.gates) in the InstanceDriver, against fakes on a real event loop."""

from __future__ import annotations

import asyncio

from test_instance_driver import VIP, _until, make

from vipd.fsm import AdvertReceived, State
from vipd.linux.spawn import RunOutcome
from vipd.runtime.gates import VipGate
from vipd.wire.advert import Advert


class Hook:
    """A hook the test finishes by hand; records when it started."""

    def __init__(self, result: RunOutcome) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.result = result

    async def __call__(self) -> RunOutcome:
        self.started += 1
        await self.release.wait()
        return self.result


OK = RunOutcome(0, duration=0.1)
FAILED = RunOutcome(1, duration=0.1)


def test_takeover_sends_adverts_on_time_and_adds_the_vip_only_after_the_hook() -> None:
    async def scenario() -> None:
        driver, j = make(255)
        hook = Hook(OK)
        driver.gate = VipGate(hook, None, 1.0, "continue")
        driver.start()
        assert driver.machine.state is State.MASTER and hook.started == 0
        await _until(lambda: hook.started == 1, 1.0)
        await _until(lambda: driver.stats.adverts_sent >= 4, 1.0)  # adverts go on while the hook runs
        assert not any(e[0] in ("add", "garp") for e in j.events)
        driver.repair()  # a repair must not add the VIP early either
        assert not any(e[0] == "add" for e in j.events)
        hook.release.set()
        await _until(lambda: ("add", str(VIP)) in j.events, 1.0)
        after = j.events[j.events.index(("add", str(VIP))) :]
        assert after[1][0] == "garp"  # RFC order kept: address, then the announcement
        await driver.stop()

    asyncio.run(scenario())


def test_a_failed_hook_with_yield_hands_over_without_adding_the_vip() -> None:
    async def scenario() -> None:
        driver, j = make(255)
        hook = Hook(FAILED)
        driver.gate = VipGate(hook, None, 1.0, "yield")
        driver.start()
        hook.release.set()
        await _until(lambda: driver.machine.state is State.BACKUP, 1.0)
        assert driver.machine.yielding and driver.machine.last_reason == "before_vip_hook_failed"
        assert ("advert", 0) in j.events and ("add", str(VIP)) not in j.events
        await driver.stop()

    asyncio.run(scenario())


def test_a_failed_hook_with_continue_adds_the_vip_anyway() -> None:
    async def scenario() -> None:
        driver, j = make(255)
        hook = Hook(FAILED)
        driver.gate = VipGate(hook, None, 1.0, "continue")
        driver.start()
        hook.release.set()
        await _until(lambda: ("add", str(VIP)) in j.events, 1.0)
        assert driver.stats.notify_runs["vipd_notify_master_before_vip:failed"] == 1
        await driver.stop()

    asyncio.run(scenario())


def test_leaving_master_removes_the_vip_after_the_removal_hook_and_stepping_down_is_not_delayed() -> None:
    async def scenario() -> None:
        driver, j = make(100)
        hook = Hook(OK)
        driver.gate = VipGate(None, hook, 1.0, "continue")
        driver.start()
        await _until(lambda: ("add", str(VIP)) in j.events, 1.0)
        n = len(j.events)
        higher = Advert(3, 51, 200, 0.02, (VIP,))
        driver.feed(AdvertReceived(VIP.__class__("192.0.2.9"), higher))
        assert driver.machine.state is State.BACKUP  # at once
        await _until(lambda: hook.started == 1, 1.0)
        assert ("remove", str(VIP)) not in j.events[n:]
        hook.release.set()
        await _until(lambda: ("remove", str(VIP)) in j.events[n:], 1.0)
        await driver.stop()

    asyncio.run(scenario())


def test_a_hook_that_ends_after_the_instance_left_master_adds_nothing() -> None:
    async def scenario() -> None:
        driver, j = make(100)
        hook = Hook(OK)
        driver.gate = VipGate(hook, None, 1.0, "continue")
        driver.start()
        await _until(lambda: hook.started == 1, 1.0)
        driver.feed(AdvertReceived(VIP.__class__("192.0.2.9"), Advert(3, 51, 200, 0.02, (VIP,))))
        assert driver.machine.state is State.BACKUP
        hook.release.set()
        await asyncio.sleep(0)
        await _until(lambda: driver._gate_task is not None and driver._gate_task.done(), 1.0)
        assert ("add", str(VIP)) not in j.events
        await driver.stop()

    asyncio.run(scenario())
