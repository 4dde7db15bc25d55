"""Building blocks shared by the demo, the benchmark and the integration tests.

All waits have deadlines derived from the protocol timers; all timings come
from the client's sniffer (kernel receive timestamps on the monotonic clock).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from . import timing
from .daemons import Daemon
from .sniff import Advert, Frame
from .topo import Lab, Node
from .wait import wait_until

# Time a daemon may take from exec to joining the VRRP group. CPython imports
# (asyncio, pyroute2, pydantic) take 0.3-0.8 s on the lab VM, more under load.
STARTUP_ALLOWANCE = 5.0


def converge(
    lab: Lab,
    master: Node,
    others: Sequence[Node],
    vip: str,
    *,
    interval: float,
    vrid: int | None = None,
    adverts: int = 3,
    timeout: float = STARTUP_ALLOWANCE,
) -> float:
    """Wait until ``master`` alone holds ``vip``, every other router has its VRRP socket
    open, and the client has since seen ``adverts`` more adverts from ``master`` and none
    from the others. Returns the monotonic time when that was established.

    After this, every backup has processed at least one of the master's adverts,
    so its Master_Down timer runs from the master's adverts, not from its own start.
    """
    deadline = time.monotonic() + timeout

    def only_master() -> bool:
        lab.assert_running()
        return lab.holders(vip) == [master]

    wait_until(
        only_master,
        max(0.0, deadline - time.monotonic()),
        message=lambda: f"{master} the only holder of {vip} (holders: {lab.holders(vip)})",
    )
    for node in others:
        wait_until(
            lambda n=node: lab.vrrp_joined(n),
            max(0.0, deadline - time.monotonic()),
            message=f"{node}'s daemon joined 224.0.0.18",
        )
    assert lab.sniffer is not None
    mark = time.monotonic()
    kw = {"vrid": vrid} if vrid is not None else {}
    wait_until(
        lambda: len(lab.sniffer.adverts(src=master.ip4, since=mark, **kw)) >= adverts,  # type: ignore[union-attr]
        adverts * interval + 1.0 + interval,
        message=f"{adverts} adverts from {master} after the others joined",
    )
    # the backups must be silent from the master's second counted advert on (one interval
    # after the mark, which leaves room for a yielding master's last advert)
    counted = lab.sniffer.adverts(src=master.ip4, since=mark, **kw)
    quiet_from = counted[1].t if len(counted) > 1 else counted[0].t
    for node in others:
        extra = [a for a in lab.sniffer.adverts(src=node.ip4, since=quiet_from, **kw) if a.priority != 0]
        assert not extra, f"{node} is still advertising after {master} won: {extra[:3]}"
    assert lab.holders(vip) == [master], f"holders of {vip}: {lab.holders(vip)}"
    return time.monotonic()


def takeover_garp(lab: Lab, node: Node, vip: str, since: float, timeout: float) -> tuple[Advert | None, Frame]:
    """The new master's first advert and its first GARP/NA for ``vip`` after ``since``.

    A GARP counts only if it is not older than the node's first advert after
    ``since`` (minus 2 ms): RFC order is advert, then addresses, then GARP, and
    this keeps a stray delayed GARP burst from an earlier mastership out.
    """
    assert lab.sniffer is not None
    sn = lab.sniffer

    def found() -> tuple[Advert | None, Frame] | None:
        lab.assert_running()
        advs = [a for a in sn.adverts(src=node.ip4, since=since) if a.priority > 0]
        first_adv = advs[0] if advs else None
        lower = first_adv.t - 0.002 if first_adv else since
        garps = sn.announcements(vip, mac=node.mac, since=max(since, lower))
        if not garps:
            return None
        return first_adv, garps[0]

    return wait_until(found, timeout, message=f"{node} announcing {vip} after {since:.3f}")


@dataclass
class Takeover:
    """One failover, all times on the monotonic clock (seconds)."""

    kind: str  # "crash" or "graceful"
    t_signal: float  # SIGKILL (crash: the instant all processes were frozen) or SIGTERM
    t_reference: float  # crash: master's last advert seen; graceful: its priority-0 advert
    t_backup_advert: float | None  # backup's first advert as master
    t_garp: float  # backup's first gratuitous ARP for the VIP
    bound: float  # crash: Master_Down_Interval; graceful: Skew_Time (of the backup)
    overhead: float  # t_garp - (t_reference + bound)
    from_signal: float  # t_garp - t_signal
    window_low: float  # crash: 2*AI+skew; graceful: 0
    window_high: float  # crash: 3*AI+skew; graceful: Skew_Time

    @property
    def advert_overhead(self) -> float | None:
        """Like ``overhead`` but for the backup's first advert (detection only, before netlink and GARP)."""
        if self.t_backup_advert is None:
            return None
        return self.t_backup_advert - (self.t_reference + self.bound)

    def as_dict(self) -> dict[str, float | str | None]:
        d: dict[str, float | str | None] = dict(asdict(self))
        d["advert_overhead"] = self.advert_overhead
        return d


def crash_takeover(
    lab: Lab,
    master_daemon: Daemon,
    master: Node,
    backup: Node,
    vip: str,
    *,
    backup_priority: int,
    interval: float,
    version: int = 3,
) -> Takeover:
    """SIGKILL every process of the master's daemon and time the backup's takeover."""
    assert lab.sniffer is not None
    mdi = timing.master_down_interval(version, backup_priority, interval)
    window = timing.crash_window(version, backup_priority, interval)
    t_kill = master_daemon.crash()
    first_adv, garp = takeover_garp(lab, backup, vip, t_kill, timeout=mdi + interval + 2.0)
    before = [a for a in lab.sniffer.adverts(src=master.ip4, until=garp.t) if a.priority > 0]
    assert before, f"no advert from {master} seen before the takeover"
    last = before[-1]
    return Takeover(
        kind="crash",
        t_signal=t_kill,
        t_reference=last.t,
        t_backup_advert=first_adv.t if first_adv else None,
        t_garp=garp.t,
        bound=mdi,
        overhead=garp.t - (last.t + mdi),
        from_signal=garp.t - t_kill,
        window_low=window.low,
        window_high=window.high,
    )


def graceful_takeover(
    lab: Lab,
    master_daemon: Daemon,
    master: Node,
    backup: Node,
    vip: str,
    *,
    backup_priority: int,
    interval: float,
    version: int = 3,
    exit_timeout: float = 5.0,
) -> tuple[Takeover, int]:
    """SIGTERM the master and time the backup's takeover from the priority-0 advert.

    Returns the takeover and the master's exit status.
    """
    assert lab.sniffer is not None
    skew = timing.skew_time(version, backup_priority, interval)
    t_term = master_daemon.send_signal(signal.SIGTERM)
    p0 = lab.sniffer.wait_for(
        Advert, 2.0 + interval, since=t_term, src=master.ip4, priority=0, message=f"priority-0 advert from {master}"
    )
    first_adv, garp = takeover_garp(lab, backup, vip, t_term, timeout=skew + interval + 2.0)
    rc = master_daemon.wait(exit_timeout)
    return (
        Takeover(
            kind="graceful",
            t_signal=t_term,
            t_reference=p0.t,
            t_backup_advert=first_adv.t if first_adv else None,
            t_garp=garp.t,
            bound=skew,
            overhead=garp.t - (p0.t + skew),
            from_signal=garp.t - t_term,
            window_low=0.0,
            window_high=skew,
        ),
        rc,
    )
