"""InstanceDriver against fakes: effects executed in RFC order on a real event loop."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address, ip_address

import pytest

from vipd.fsm import AdvertReceived, Params, State, VrrpMachine
from vipd.linux.netlink import VipSpec
from vipd.runtime import instance
from vipd.runtime.instance import AnnounceTarget, InstanceDriver
from vipd.wire.advert import Advert, ChecksumKind, Received

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

    def probe(self, vip: VipSpec) -> int:
        return 0


class FailingAddresses(Journal):
    """AddressOps whose adds fail with ``self.err`` (0 = succeed) and whose probe reports it, like the kernel."""

    def __init__(self, err: int) -> None:
        super().__init__()
        self.err = err
        self.probes = 0

    def add(self, vip: VipSpec, done: Callable[[VipSpec, int], None]) -> None:
        self.events.append(("add", str(vip.address)) if self.err == 0 else ("add-failed", self.err))
        asyncio.get_running_loop().call_soon(done, vip, self.err)

    def probe(self, vip: VipSpec) -> int:
        self.probes += 1
        return self.err


class Frames:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def send(self, frame: bytes) -> None:
        self.journal.events.append(("garp", frame[28:32]))


def params(priority: int, interval: float = 0.02, garp_master_repeat: int = 2) -> Params:
    """VRID 51, v3, one VIP, GARPs at once (no garp_master_delay)."""
    return Params(
        vrid=51,
        version=3,
        priority=priority,
        advertisement_interval=interval,
        primary_address=ip_address("192.0.2.1"),
        addresses=(VIP,),
        garp_master_repeat=garp_master_repeat,
        garp_master_delay=0,
    )


def make(priority: int, interval: float = 0.02) -> tuple[InstanceDriver, Journal]:
    j = Journal()
    driver = InstanceDriver(
        name="VI_1",
        machine=VrrpMachine(params(priority, interval)),
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


# ---------------------------------------------------------------------------------------------
# The driver on its own timer (the timerfd path), with a fake timer the test expires by hand.
# A Backup's timer is set EARLY_WAKE before Master_Down_Interval ends; woken then, the driver
# pre-encodes the advert the takeover will send and waits for the deadline, yielding to any
# packet that arrives meanwhile. Nothing is sent before the deadline.

AI = 0.02
EARLY = 0.01  # a wider EARLY_WAKE than the daemon's, so that a loaded test machine cannot miss the window


@pytest.fixture
def early(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(instance, "EARLY_WAKE", EARLY)
    return EARLY


class FakeTimer:
    """A TimerWaker: records every ``set``; ``expire()`` calls the driver back as the timerfd would."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.sets: list[float | None] = []
        self.closed = False

    def set(self, deadline: float | None, slack: float = 0.0) -> None:
        self.sets.append(deadline)
        self.slack = slack

    def close(self) -> None:
        self.closed = True

    @property
    def armed(self) -> float | None:
        return self.sets[-1] if self.sets else None

    async def expire_when_due(self) -> None:
        """Wait until the armed time (as the kernel would), then call back."""
        loop = asyncio.get_running_loop()
        armed = self.armed
        assert armed is not None
        await asyncio.sleep(max(0.0, armed - loop.time() - 0.003))  # asyncio wakes up to 1 ms late
        while loop.time() < armed:  # the last few ms on the CPU, as precise as a timerfd
            pass
        self.callback()


class Rig:
    def __init__(self, priority: int) -> None:
        self.journal = Journal()
        self.timers: list[FakeTimer] = []
        self.prepared: list[Advert] = []
        self.sent_at: list[tuple[float, int]] = []
        self.pending = False
        self.queued: list[tuple[float, Advert]] = []  # (kernel receive time, advert) waiting in the socket
        self.drains: list[float] = []
        self.driver = InstanceDriver(
            name="VI_1",
            machine=VrrpMachine(params(priority, AI, garp_master_repeat=1)),
            send_advert=self.send,
            vips=[VipSpec(VIP, 24, 2)],
            announce=[AnnounceTarget(VIP, Frames(self.journal), MAC)],
            addresses=self.journal,
            timer=self.make_timer,
            prepare_advert=self.prepared.append,
            input_pending=lambda: self.pending,
            drain_input=self.drain,
        )

    def drain(self, until: float) -> None:
        """The socket's drain: hands every queued advert received before ``until`` to the driver."""
        self.drains.append(until)
        while self.queued and self.queued[0][0] < until:
            rx_time, adv = self.queued.pop(0)
            self.driver.feed(AdvertReceived(ip_address("192.0.2.9"), adv), rx_time)

    def make_timer(self, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        self.timers.append(timer)
        return timer

    def send(self, advert: Advert) -> None:
        self.sent_at.append((asyncio.get_running_loop().time(), advert.priority))
        self.journal.send(advert)

    @property
    def timer(self) -> FakeTimer:
        assert len(self.timers) == 1
        return self.timers[0]


def test_backup_wakes_early_prepares_the_takeover_advert_and_sends_it_not_before_the_deadline(early: float) -> None:
    async def scenario() -> None:
        rig = Rig(100)
        rig.driver.start()
        m = rig.driver.machine
        assert m.state is State.BACKUP
        deadline = m.next_deadline()
        assert deadline is not None
        assert rig.timer.armed == pytest.approx(deadline - early)
        assert [a.priority for a in rig.prepared] == [100]  # at start: the advert a takeover would send
        await rig.timer.expire_when_due()
        assert m.state is State.MASTER
        sent, prio = rig.sent_at[0]
        assert prio == 100 and sent >= deadline
        assert [a.priority for a in rig.prepared] == [100, 100]  # and again, rehearsed at the early wake-up
        # As master, the Adver_Timer is set at its deadline exactly, no earlier.
        assert rig.timer.armed == m.next_deadline() == pytest.approx(deadline + AI)
        await rig.driver.stop()
        assert rig.timer.closed

    asyncio.run(scenario())


def test_a_packet_arriving_during_the_early_wait_is_read_before_the_timer_fires(early: float) -> None:
    async def scenario() -> None:
        rig = Rig(100)
        rig.driver.start()
        m = rig.driver.machine
        deadline = m.next_deadline()
        assert deadline is not None
        rig.pending = True
        await rig.timer.expire_when_due()
        assert m.state is State.BACKUP and rig.sent_at == []
        assert rig.timer.armed == deadline  # back to the loop; the timer now stands at the deadline itself
        rig.pending = False  # it was not the master's advert: the deadline stands and the takeover follows
        await rig.timer.expire_when_due()
        assert m.state is State.MASTER
        assert rig.sent_at[0][0] >= deadline
        await rig.driver.stop()

    asyncio.run(scenario())


def test_a_late_wake_reads_queued_adverts_before_the_master_down_timer_may_fire(early: float) -> None:
    """The loop fell behind (a stall): the timer is overdue and the master's advert waits in the socket.

    RFC 5798 §6.4.2: the advert, received before the expiry was seen, resets the Master_Down_Timer
    from its receive time; it is read at once (not after the other work the loop has queued)
    and the Backup stays Backup."""

    async def scenario() -> None:
        rig = Rig(100)
        rig.driver.start()
        m = rig.driver.machine
        deadline = m.next_deadline()
        assert deadline is not None
        loop = asyncio.get_running_loop()
        while loop.time() < deadline + 0.002:  # the loop was busy past the deadline
            pass
        heard = loop.time() - 0.001  # the master's advert reached the kernel meanwhile
        rig.queued.append((heard, Advert(3, 51, 150, AI, (VIP,))))
        rig.timer.callback()
        assert len(rig.drains) == 1 and rig.queued == []
        assert m.state is State.BACKUP and rig.sent_at == []
        assert m.next_deadline() == pytest.approx(heard + m.master_down_interval)
        assert rig.timer.armed == pytest.approx(heard + m.master_down_interval - early)
        await rig.driver.stop()

    asyncio.run(scenario())


def test_a_late_wake_takes_over_when_nothing_queued_moves_the_deadline(early: float) -> None:
    """Overdue, and what the socket holds is not from a master (a lower priority, preempting):
    the takeover follows at once, in the same wake-up (RFC 5798 §6.4.2, "If the Master_Down_Timer fires")."""

    async def scenario() -> None:
        rig = Rig(100)
        rig.driver.start()
        m = rig.driver.machine
        deadline = m.next_deadline()
        assert deadline is not None
        loop = asyncio.get_running_loop()
        while loop.time() < deadline + 0.002:
            pass
        rig.queued.append((loop.time() - 0.001, Advert(3, 51, 50, AI, (VIP,))))  # lower: discarded, preempt
        rig.timer.callback()
        assert rig.queued == [] and m.state is State.MASTER
        assert rig.sent_at[0][1] == 100
        await rig.driver.stop()

    asyncio.run(scenario())


def test_an_early_timer_left_from_backup_does_not_fire_a_master_early(early: float) -> None:
    async def scenario() -> None:
        rig = Rig(255)  # the owner is master at once
        rig.driver.start()
        m = rig.driver.machine
        assert m.state is State.MASTER
        deadline = m.next_deadline()
        assert deadline is not None
        sent = rig.driver.stats.adverts_sent
        rig.timer.callback()  # a spurious expiry well before the Adver_Timer
        assert rig.driver.stats.adverts_sent == sent
        assert rig.timer.armed == deadline
        await rig.driver.stop()

    asyncio.run(scenario())


def test_without_a_timer_the_driver_falls_back_to_call_at() -> None:
    async def scenario() -> None:
        rig = Rig(100)
        driver = InstanceDriver(
            name="VI_2",
            machine=VrrpMachine(rig.driver.machine.params),
            send_advert=rig.send,
            vips=[VipSpec(IPv4Address("192.0.2.101"), 24, 2)],
            announce=[],
            addresses=rig.journal,
            timer=lambda _cb: None,  # e.g. no timerfd on this system
        )
        driver.start()
        loop = asyncio.get_running_loop()
        deadline = driver.machine.next_deadline()
        assert deadline is not None
        while driver.machine.state is not State.MASTER:
            assert loop.time() < deadline + 1.0
            await asyncio.sleep(0.005)
        await driver.stop()

    asyncio.run(scenario())


# ---------------------------------------------------------------- the VIP is the truth (issue 13)


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instance, "VIP_RETRY_MIN", 0.01)
    monkeypatch.setattr(instance, "VIP_RETRY_MAX", 0.04)


def make_failing(priority: int, err: int) -> tuple[InstanceDriver, FailingAddresses]:
    j = FailingAddresses(err)
    driver = InstanceDriver(
        name="VI_1",
        machine=VrrpMachine(params(priority, 0.02)),
        send_advert=j.send,
        vips=[VipSpec(VIP, 24, 2)],
        announce=[AnnounceTarget(VIP, Frames(j), MAC)],
        addresses=j,
    )
    return driver, j


@pytest.mark.parametrize("err", [errno.EPERM, errno.ENODEV, errno.EACCES, errno.EADDRNOTAVAIL])
def test_a_master_whose_vip_add_fails_goes_fault_stops_advertising_and_recovers_when_the_cause_goes(
    fast_retry: None, err: int
) -> None:
    async def scenario() -> None:
        driver, j = make_failing(255, err)
        driver.start()
        await _until(lambda: driver.machine.state is State.FAULT, 1.0)
        assert errno.errorcode[err] in driver.faults["vip"]
        assert driver.stats.address_errors == 1
        # It said priority 0 on the way out, then went silent: the peer takes over at Skew_Time.
        adverts = [e[1] for e in j.events if e[0] == "advert"]
        assert adverts[-1] == 0
        n = len(adverts)
        # Retries with backoff while the cause stays: probes only, never an add, never an advert.
        await _until(lambda: j.probes >= 3, 1.0)
        assert driver.machine.state is State.FAULT
        assert len([e for e in j.events if e[0] == "advert"]) == n
        assert sum(1 for e in j.events if e[0] == "add-failed") == 1
        # The cause goes away: FAULT cleared, the owner takes over again and the VIP is added.
        j.err = 0
        await _until(lambda: driver.machine.state is State.MASTER and ("add", str(VIP)) in j.events, 1.0)
        assert driver.faults == {}
        assert driver.stats.transitions["FAULT->MASTER:fault_cleared_owner"] == 1
        await driver.stop()

    asyncio.run(scenario())


def test_a_vip_repair_that_fails_takes_the_master_to_fault(fast_retry: None) -> None:
    async def scenario() -> None:
        driver, j = make_failing(255, 0)
        driver.start()
        await _until(lambda: ("add", str(VIP)) in j.events, 1.0)
        j.err = errno.ENODEV  # the VIP was deleted with its device
        driver.repair()
        await _until(lambda: driver.machine.state is State.FAULT, 1.0)
        assert "ENODEV" in driver.faults["vip"]  # "cannot re-add ...", then the probes' "cannot add ..."
        assert driver.stats.address_errors == 1
        await driver.stop()

    asyncio.run(scenario())


def test_an_add_answer_after_stepping_down_causes_no_fault(fast_retry: None) -> None:
    async def scenario() -> None:
        driver, j = make_failing(100, errno.EPERM)
        driver.start()
        driver.feed(instance.FaultChanged(True, "script chk down"))  # trackers: FAULT before any add
        assert driver.machine.state is State.FAULT
        assert "vip" not in driver.faults and j.probes == 0
        await driver.stop()

    asyncio.run(scenario())


def test_tracker_and_vip_faults_do_not_clear_each_other(fast_retry: None) -> None:
    async def scenario() -> None:
        driver, j = make_failing(255, errno.EPERM)
        driver.start()
        await _until(lambda: "vip" in driver.faults, 1.0)
        driver.feed(instance.FaultChanged(True, "interface eth1 down"))
        assert driver.tracker_fault
        assert set(driver.faults) == {"vip", "tracking"}
        j.err = 0
        await _until(lambda: "vip" not in driver.faults, 1.0)
        assert driver.machine.state is State.FAULT  # the tracker still holds it
        driver.feed(instance.FaultChanged(True, "interface eth1 down"))
        driver.feed(instance.FaultChanged(False, "trackers recovered"))
        assert driver.machine.state is State.MASTER
        await driver.stop()

    asyncio.run(scenario())


def test_relink_swaps_vip_specs_and_announces_from_the_new_mac_while_master() -> None:
    async def scenario() -> None:
        driver, j = make(255)
        driver.start()
        await _until(lambda: sum(1 for e in j.events if e[0] == "garp") == 2, 1.0)
        sent: list[int] = []
        new_mac = bytes.fromhex("020000000002")
        frames: list[bytes] = []

        class NewFrames:
            def send(self, frame: bytes) -> None:
                frames.append(frame)

        driver.relink(
            driver.machine.params,
            vips=[VipSpec(VIP, 24, 7)],
            announce=[AnnounceTarget(VIP, NewFrames(), new_mac)],
            send_advert=lambda a: sent.append(a.priority),
            prepare_advert=None,
            input_pending=None,
        )
        assert driver.vips == (VipSpec(VIP, 24, 7),)
        assert frames and all(f[6:12] == new_mac for f in frames)  # Ethernet source: the new MAC
        await _until(lambda: len(sent) >= 2, 1.0)  # adverts leave through the new sender
        assert driver.machine.state is State.MASTER
        await driver.stop()

    asyncio.run(scenario())


def test_a_vip_fault_takes_the_other_sync_group_members_to_fault_and_back(fast_retry: None) -> None:
    """keepalived vrrp_sync_fault: one member that cannot hold its VIPs takes the group to FAULT."""
    from types import SimpleNamespace

    from vipd.runtime.syncgroup import SyncGroups

    async def scenario() -> None:
        a, ja = make_failing(255, errno.EPERM)
        b, _jb = make_failing(255, 0)
        b.name = "VI_2"
        drivers = {"VI_1": a, "VI_2": b}
        cfg = SimpleNamespace(vrrp_sync_groups={"G": SimpleNamespace(name="G", group=["VI_1", "VI_2"])})
        groups = SyncGroups(lambda: cfg, drivers, asyncio.get_running_loop().time)
        for d in drivers.values():
            d.machine.params = replace(d.machine.params, sync_group=True)
            groups.attach(d)
        a.start()
        b.start()
        await _until(lambda: a.machine.state is State.FAULT and b.machine.state is State.FAULT, 1.0)
        assert "vip" in a.faults and set(b.faults) == {"sync_group:VI_1"}
        assert "vrrp_sync_group G: VI_1 in fault (cannot add" in b.faults["sync_group:VI_1"]
        # B's own trackers recovering does not clear the group's cause.
        b.feed(instance.FaultChanged(True, "script chk"))
        b.feed(instance.FaultChanged(False, "trackers recovered"))
        assert b.machine.state is State.FAULT
        ja.err = 0
        await _until(lambda: a.machine.state is State.MASTER and b.machine.state is State.MASTER, 1.0)
        assert a.faults == {} and b.faults == {}
        await a.stop()
        await b.stop()

    asyncio.run(scenario())


def _advert_from_master(priority: int = 200) -> Received:
    return Received(
        advert=Advert(3, 51, priority, AI, (VIP,)),
        src=ip_address("192.0.2.9"),
        dst=ip_address("224.0.0.18"),
        ttl=255,
        checksum=ChecksumKind.PSEUDO,
    )


def test_an_advert_moving_the_master_down_timer_earlier_re_arms_at_once(early: float) -> None:
    async def scenario() -> None:
        rig = Rig(100)
        rig.driver.start()
        m = rig.driver.machine
        loop = asyncio.get_running_loop()
        rig.driver.on_advert(_advert_from_master(), loop.time())
        rig.driver.on_advert(_advert_from_master(0), loop.time())  # priority 0: Skew_Time, not Master_Down
        deadline = m.next_deadline()
        assert deadline is not None
        assert rig.timer.armed == pytest.approx(deadline - early)
        await rig.timer.expire_when_due()
        assert m.state is State.MASTER and rig.sent_at[0][0] >= deadline
        await rig.driver.stop()

    asyncio.run(scenario())
