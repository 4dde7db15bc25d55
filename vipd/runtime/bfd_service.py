"""The daemon's BFD: the sessions of the config's ``bfd_instance`` blocks, their reload, BFD master-down.

See :class:`BfdService`; the sessions themselves run in :mod:`vipd.runtime.bfd`, imported
only when the configuration has a ``bfd_instance`` (a daemon without BFD does not load it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vipd.fsm import MasterDownDetected

if TYPE_CHECKING:
    from vipd.config.model import BfdInstance, Config
    from vipd.runtime.bfd import BfdConfig, BfdRuntime, BfdSessionDriver

log = logging.getLogger("vipd")


def config_of(b: BfdInstance) -> BfdConfig:
    """The runtime view of a validated ``bfd_instance`` (times already in seconds)."""
    from vipd.runtime.bfd import BfdConfig

    return BfdConfig(
        name=b.name,
        neighbor_ip=b.neighbor_ip,
        source_ip=b.source_ip,
        min_rx=b.min_rx,
        min_tx=b.min_tx,
        idle_tx=b.idle_tx,
        multiplier=b.multiplier,
        passive=b.passive,
        ttl=b.ttl,
        max_hops=b.max_hops,
        multihop=b.multihop,
    )


class BfdService:
    """The daemon's BFD: the runtime of the config's ``bfd_instance`` blocks and BFD master-down.

    BFD master-down (vipd ``vipd_bfd_master_down NAME``, draft-ietf-rtgwg-vrrp-bfd-p2p): when
    session NAME leaves Up because its detection time expired or the peer said Down, the
    instance is fed :class:`~vipd.fsm.MasterDownDetected` with the session's neighbour and the
    time from which it heard nothing it expected; the VRRP machine decides (adverts win).

    Args:
        config: the validated config.
        drivers: instance name -> driver with ``feed(event, at)`` (looked up at each event).
    """

    def __init__(self, config: Config, drivers: Mapping[str, Any]) -> None:
        self.config = config
        self.drivers = drivers
        self.runtime: BfdRuntime | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def events(self) -> BfdRuntime | None:
        """What ``bfd`` checks subscribe to, or None without any ``bfd_instance``."""
        return self.runtime

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start every session and the master-down subscriptions.

        Raises:
            OSError: a BFD socket cannot be opened (port 3784 taken by another BFD daemon...).
        """
        if not self.config.bfd_instances:
            return
        from vipd.runtime.bfd import BfdRuntime  # only a config with bfd_instance loads BFD

        self.runtime = BfdRuntime([config_of(b) for b in self.config.bfd_instances.values()])
        self.runtime.start(loop)
        self._attach()
        log.info("bfd: %d session(s)", len(self.runtime.sessions))

    def _attach(self) -> None:
        rt = self.runtime
        if rt is None:
            return
        for name, inst in self.config.vrrp_instances.items():
            if inst.vipd_bfd_master_down is None:
                continue
            session = rt.sessions[inst.vipd_bfd_master_down]
            cb = functools.partial(self._on_change, name, session)
            self._unsubscribe.append(rt.subscribe(session.name, cb))

    def _on_change(self, instance: str, session: BfdSessionDriver, up: bool, diag: int) -> None:
        from vipd.bfd import Diag

        if up or diag not in (Diag.CONTROL_DETECTION_TIME_EXPIRED, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN):
            return
        driver = self.drivers.get(instance)
        if driver is None:
            return
        s = session.session
        if s.last_rx is None:
            return
        # Silent from the moment the next packet was due: the last one plus one agreed remote TX
        # interval (RFC 5880 §6.8.4: Detection Time / Detect Mult). An advert the master sent
        # before then says nothing about BFD's silence; one after it proves the master alive.
        interval = s.detection_time() / max(1, s.remote_detect_mult)
        log.info("(%s) bfd %s to %s went down: master-down check", instance, session.name, session.config.neighbor_ip)
        driver.feed(MasterDownDetected(session.config.neighbor_ip, s.last_rx + interval))

    def reload(self, config: Config, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Apply a new config: unchanged sessions stay; changed timers go through a Poll Sequence
        without leaving Up (:meth:`BfdRuntime.apply`); new sessions start, removed ones stop.

        Raises:
            OSError: a new session cannot start (the others are already applied).
        """
        old = self.config
        self.config = config
        for u in self._unsubscribe:
            u()
        self._unsubscribe.clear()
        if old.bfd_instances == config.bfd_instances:
            self._attach()
        elif self.runtime is None:
            self.start(loop)
        elif not config.bfd_instances:
            self.stop()
        else:
            try:
                self.runtime.apply([config_of(b) for b in config.bfd_instances.values()])
            finally:
                self._attach()

    def status(self) -> dict[str, object]:
        """Sessions (see :meth:`BfdRuntime.status`) and the datagrams no session took, by reason."""
        if self.runtime is None:
            return {"sessions": [], "unmatched": {}}
        return {"sessions": self.runtime.status(), "unmatched": dict(self.runtime.unmatched)}

    def stop(self) -> None:
        """AdminDown every session and close the sockets."""
        for u in self._unsubscribe:
            u()
        self._unsubscribe.clear()
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
