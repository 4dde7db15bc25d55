"""Everything an operator touches, attached to a ``Daemon`` through its hooks.

- notify runners per instance (:mod:`vipd.obs.notify`), kept across reloads so the
  order holds even when an instance is restarted;
- ``/metrics`` (:mod:`vipd.obs.metrics`) when ``--metrics-listen`` is given;
- the control socket (:mod:`vipd.control.server`): ``status``, ``dump``, ``reload``;
- SIGHUP: reload; SIGUSR1 / SIGUSR2: keepalived's data / stats files;
- VIP repair: an rtnetlink monitor on its own socket; a VIP deleted while we are
  master is re-added through the instance's ordered effect queue;
- systemd: ``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=``, ``WATCHDOG=1``;
- the event-loop lag probe.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vipd.config.model import Config, VrrpInstance
from vipd.control.server import DEFAULT_PATH, ControlServer
from vipd.control.signals import Installed, dump_actions
from vipd.control.signals import install as install_signals
from vipd.control.signals import uninstall as uninstall_signals
from vipd.control.systemd import monotonic_usec, sd_notify, watchdog_interval
from vipd.fsm import LowerPriorityHeard, Notify
from vipd.linux.monitor import AddressMonitor
from vipd.obs.dumpfiles import DUMP_DIR, LINK_DIR, DumpWriter
from vipd.obs.looplag import LoopLagMonitor
from vipd.obs.notify import DEFAULT_TIMEOUT, NotifyRunner, hooks_from_config
from vipd.obs.status import InterfaceRow, Snapshot, instance_row
from vipd.runtime.daemon import Daemon, StartupError
from vipd.runtime.instance import InstanceDriver
from vipd.runtime.syncgroup import SyncGroup
from vipd.wire.advert import IPAddress

if TYPE_CHECKING:
    from vipd.obs.metrics import MetricsServer

log = logging.getLogger("vipd")


@dataclass(frozen=True, slots=True)
class Options:
    """Operator-facing settings from the command line.

    Attributes:
        config_file: the configuration re-read on reload.
        config_id: keepalived ``-i`` for ``@ID`` lines.
        metrics_listen: ``HOST:PORT`` for ``/metrics``, or None (off).
        control_socket: control socket path, or None (off).
        notify_timeout: seconds per notify script.
        dump_dir: where SIGUSR1 / SIGUSR2 / SIGJSON files go (:mod:`vipd.obs.dumpfiles`).
        keepalived_links: directory for keepalived's paths as links to them, or None.
    """

    config_file: str
    config_id: str | None = None
    metrics_listen: str | None = None
    control_socket: str | None = DEFAULT_PATH
    notify_timeout: float = DEFAULT_TIMEOUT
    dump_dir: str = DUMP_DIR
    keepalived_links: str | None = LINK_DIR


class Operations:
    """Attach operator features to ``daemon`` (call :meth:`attach` before ``daemon.run()``)."""

    def __init__(self, daemon: Daemon, options: Options) -> None:
        self.daemon = daemon
        self.options = options
        self.started_at = time.time()
        self.reloads: dict[str, int] = {"ok": 0, "invalid": 0, "failed": 0}
        self.runners: dict[str, NotifyRunner] = {}
        self._reload_lock = asyncio.Lock()
        self._metrics: MetricsServer | None = None  # vipd.obs.metrics, imported when enabled
        self._control: ControlServer | None = None
        self._monitor: AddressMonitor | None = None
        self._lag: LoopLagMonitor | None = None
        self._watchdog_every = watchdog_interval()
        self._watchdog_last = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._signals: Installed = {}  # vipd.control.signals: keepalived's signal table

    def attach(self) -> None:
        """Register the daemon hooks."""
        self.daemon.driver_hooks.append(self._on_driver)
        self.daemon.sync_groups.group_hooks.append(self._on_group)
        self.daemon.started_hooks.append(self._started)
        self.daemon.stopping_hooks.append(self._stopping)
        self.daemon.stopped_hooks.append(self._stopped)

    # ------------------------------------------------------------------ views

    def snapshot(self) -> Snapshot:
        """Return the current :class:`Snapshot` of every running instance."""
        loop = asyncio.get_running_loop()
        now, wall = loop.time(), time.time()
        rows = [instance_row(d, inst, now=now, wall=wall) for d, inst in self.daemon.instances()]
        ifaces = [InterfaceRow(n, f, s) for n, f, s in self.daemon.interfaces()]
        extra: dict[str, Any] = {}
        if self._lag is not None:
            extra["loop_lag"] = self._lag.histogram
            extra["loop_lag_max"] = self._lag.max_lag
        if self._monitor is not None:
            extra["netlink_resyncs"] = self._monitor.restarts
        if self.daemon.tracking is not None:
            extra["checks"] = self.daemon.tracking.tracker.status()
        extra["sync_groups"] = self.daemon.sync_groups.status()
        return Snapshot(rows, ifaces, self.started_at, self.options.config_file, dict(self.reloads), extra)

    def status_line(self) -> str:
        """Return systemd's ``STATUS=`` text, e.g. ``2 instances: VI_1=MASTER VI_2=BACKUP``."""
        pairs = [f"{d.name}={d.machine.state.value}" for d, _ in self.daemon.instances()]
        return f"{len(pairs)} instance(s): " + " ".join(pairs)

    # ------------------------------------------------------------------ hooks

    def _on_driver(self, driver: InstanceDriver, inst: VrrpInstance) -> None:
        hooks = hooks_from_config(inst, self._fifo())
        runner = self.runners.get(driver.name)
        if runner is None:
            runner = NotifyRunner(
                driver.name, hooks, lambda: driver.machine.priority, timeout=self.options.notify_timeout
            )
            self.runners[driver.name] = runner
        else:  # reload: same queue, so order holds across a restart of the instance
            runner.hooks = hooks
            runner.priority = lambda: driver.machine.priority
        runner.stats = driver.stats

        def notifier(n: Notify | LowerPriorityHeard) -> None:
            runner(n)
            sd_notify(f"STATUS={self.status_line()}")

        driver.notifier = notifier

    def _on_group(self, group: SyncGroup, conf: object) -> None:
        """Group notify hooks (keepalived: ``notify`` gets ``GROUP NAME STATE 0``), one ordered queue per group."""
        key = f"group:{group.name}"
        hooks = hooks_from_config(conf, self._fifo())
        runner = self.runners.get(key)
        if runner is None:
            runner = NotifyRunner(group.name, hooks, lambda: 0, kind="GROUP", timeout=self.options.notify_timeout)
            self.runners[key] = runner
        else:
            runner.hooks = hooks
        group.on_change = runner

    def _fifo(self) -> str | None:
        gd = self.daemon.config.global_defs
        fifo: str | None = getattr(gd, "notify_fifo", None) or getattr(gd, "vrrp_notify_fifo", None)
        return fifo

    async def _started(self) -> None:
        loop = asyncio.get_running_loop()
        self._lag = LoopLagMonitor(loop, on_tick=self._tick)
        self._lag.start()
        # --- keepalived's signals (HUP, USR1, USR2, SIGJSON, STATS_CLEAR, the rest ignored): one table
        writer = DumpWriter(self.options.dump_dir, self.options.keepalived_links)
        actions = dump_actions(snapshot=self.snapshot, writer=writer, reload=self._on_sighup)
        self._signals = install_signals(loop, actions)
        # ---
        if self.options.metrics_listen:
            # prometheus_client costs ~3.5 MiB of RSS and ~50 ms of start-up: only load it when asked.
            from vipd.obs.metrics import MetricsServer, make_registry, parse_listen

            host, port = parse_listen(self.options.metrics_listen)
            self._metrics = MetricsServer(make_registry(self.snapshot), host, port)
            try:
                await self._metrics.start()
            except OSError as e:
                log.error("cannot serve metrics on %s: %s", self.options.metrics_listen, e)
                self._metrics = None
        if self.options.control_socket:
            self._control = ControlServer(self.options.control_socket, self._handle)
            try:
                await self._control.start()
            except OSError as e:
                log.error("control socket disabled: %s", e)
                self._control = None
        self._monitor = AddressMonitor(self._on_deleted, self._on_resync)
        self._monitor.start()
        # --- the start-up heap (config, pyroute2, drivers) is long-lived: move it out of the cyclic GC's
        # reach, or each full collection scans it (34-74 ms with 255 instances, measured), often under
        # /metrics scrapes, and adverts wait (docs/performance.md section 6)
        gc.freeze()
        # ---
        sd_notify("READY=1", f"STATUS={self.status_line()}", f"MAINPID={os.getpid()}")

    async def _stopping(self) -> None:
        sd_notify("STOPPING=1", "STATUS=stopping: priority 0 where master, removing VIPs")
        if self._monitor is not None:
            await self._monitor.close()
            self._monitor = None

    async def _stopped(self) -> None:
        # notify_stop runs for each instance; bounded by each script's own timeout
        await asyncio.gather(*(r.close() for r in self.runners.values()))
        loop = asyncio.get_running_loop()
        uninstall_signals(loop, self._signals)
        self._signals = {}
        if self._lag is not None:
            self._lag.stop()
        if self._control is not None:
            await self._control.close()
        if self._metrics is not None:
            await self._metrics.close()

    def _tick(self) -> None:
        if self._watchdog_every is None:
            return
        now = time.monotonic()
        if now - self._watchdog_last >= self._watchdog_every:
            self._watchdog_last = now
            sd_notify("WATCHDOG=1")

    # ------------------------------------------------------------------ repair

    def _on_deleted(self, ifindex: int, address: IPAddress, prefixlen: int) -> None:
        for d, _inst in self.daemon.instances():
            if any(v.ifindex == ifindex and v.address == address for v in d.vips):
                d.repair()  # no-op unless master

    def _on_resync(self) -> None:
        for d, _inst in self.daemon.instances():
            d.repair()

    # ------------------------------------------------------------------ signals, files

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_sighup(self) -> None:
        log.info("received SIGHUP: reloading %s", self.options.config_file)
        self._spawn(self.reload())

    # ------------------------------------------------------------------ reload

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file; keep running on any error; apply a valid one as a diff.

        Returns:
            ``{"ok": True, "diff": {...}}`` or ``{"ok": False, "error": "...", "diagnostics": [...]}``.
        """
        from vipd.config import ConfigError, load_config

        async with self._reload_lock:
            sd_notify("RELOADING=1", monotonic_usec())
            try:
                try:
                    result = load_config(self.options.config_file, config_id=self.options.config_id)
                except ConfigError as e:
                    diags = [str(d) for d in e.errors]
                    for d in diags:
                        log.error("reload: %s", d)
                    log.error(
                        "reload refused: %s has %d error(s); the running configuration is kept",
                        self.options.config_file,
                        len(diags),
                    )
                    self.reloads["invalid"] += 1
                    return {
                        "ok": False,
                        "error": "configuration invalid; running configuration kept",
                        "diagnostics": diags,
                    }
                except OSError as e:
                    log.error("reload refused: cannot read %s: %s", self.options.config_file, e)
                    self.reloads["invalid"] += 1
                    return {"ok": False, "error": f"cannot read {self.options.config_file}: {e}"}
                for w in result.warnings:
                    log.warning("reload: %s", w)
                try:
                    diff = await self.daemon.apply_config(result.config)
                except StartupError as e:
                    log.error("reload refused: %s; the running configuration is kept", e)
                    self.reloads["failed"] += 1
                    return {"ok": False, "error": str(e)}
                self._drop_runners(result.config)
                self.reloads["ok"] += 1
                log.info(
                    "reloaded: %s",
                    ", ".join(f"{k} {','.join(v) or '-'}" for k, v in diff.items() if k != "unchanged")
                    + f"; {len(diff['unchanged'])} unchanged",
                )
                return {"ok": True, "diff": diff}
            finally:
                sd_notify("READY=1", f"STATUS={self.status_line()}")

    def _drop_runners(self, config: Config) -> None:
        keep = set(config.vrrp_instances) | {f"group:{g}" for g in config.vrrp_sync_groups}
        for name in [n for n in self.runners if n not in keep]:
            self._spawn(self.runners.pop(name).close())

    # ------------------------------------------------------------------ control socket

    async def _handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.snapshot().to_json()}
        if cmd == "dump":
            from vipd.config import dump_config

            return {
                "ok": True,
                **self.snapshot().to_json(),
                "config": json.loads(dump_config(self.daemon.config)),
            }
        if cmd == "reload":
            return await self.reload()
        return {"ok": False, "error": f"unknown command {cmd!r} (status, dump, reload)"}
