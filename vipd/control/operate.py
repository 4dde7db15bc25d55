"""Everything an operator touches: the :class:`~vipd.runtime.daemon.Services` the daemon is built with.

``Operations(plan, options)`` constructs the daemon with itself as its
services, and owns every signal (one place): SIGTERM/SIGINT stop, SIGHUP
reloads, SIGUSR1/SIGUSR2 write keepalived's data/stats files.

- notify runners per instance (:mod:`vipd.obs.notify`), kept across reloads so the
  order holds even when an instance is restarted;
- ``/metrics`` (:mod:`vipd.obs.metrics`) when ``--metrics-listen`` is given;
- the control socket (:mod:`vipd.control.server`): ``status``, ``dump``, ``reload``;
- reload: the file is read and planned in a bounded worker process
  (:mod:`vipd.control.planworker`), then applied all or nothing
  (:meth:`~vipd.runtime.daemon.Daemon.apply_plan`);
- VIP repair: an rtnetlink monitor on its own socket; a VIP deleted while we are
  master is re-added through the instance's ordered effect queue;
- systemd: ``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=``, ``WATCHDOG=1``;
- the event-loop lag probe.

Size: over 400 lines because it is the one place the daemon meets the operator: signals, endpoints, reload
and the notify runners share its state.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vipd.control import maintenance
from vipd.control.maintenance import STATE_DIR
from vipd.control.server import DEFAULT_PATH, ControlServer
from vipd.control.signals import Installed, dump_actions
from vipd.control.signals import install as install_signals
from vipd.control.signals import uninstall as uninstall_signals
from vipd.control.systemd import monotonic_usec, sd_notify, watchdog_interval
from vipd.fsm import LowerPriorityHeard, Notify, PriorityNotice, State
from vipd.obs.dumpfiles import DUMP_DIR, LINK_DIR, DumpWriter
from vipd.obs.fifoscript import FifoScripts, write_states
from vipd.obs.looplag import LoopLagMonitor
from vipd.obs.notify import DEFAULT_TIMEOUT, NotifyRunner, hooks_from_plan
from vipd.plan import InstancePlan, Plan, SyncGroupPlan
from vipd.runtime.daemon import Daemon, Notifier, ReloadError

if TYPE_CHECKING:
    from vipd.obs.metrics import MetricsServer
    from vipd.obs.status import Snapshot

log = logging.getLogger("vipd")

STATUS_EVERY = 0.5
"""Seconds between systemd ``STATUS=`` updates caused by transitions (coalesced)."""


@dataclass(frozen=True, slots=True)
class Options:
    """Operator-facing settings from the command line.

    Attributes:
        config_file: the configuration re-read on reload.
        config_id: keepalived ``-i`` for ``@ID`` lines.
        metrics_listen: ``HOST:PORT`` for ``/metrics``, or None (off).
        metrics_from_flag: ``metrics_listen`` came from ``--metrics-listen`` (a reload keeps it);
            otherwise it is ``global_defs { vipd_metrics_listen }`` and a reload may move it.
        control_socket: control socket path, or None (off).
        notify_timeout: seconds per notify script.
        dump_dir: where SIGUSR1 / SIGUSR2 / SIGJSON files go (:mod:`vipd.obs.dumpfiles`).
        keepalived_links: directory for keepalived's paths as links to them, or None.
        state_dir: where state that outlives the process is kept (``vipctl maintenance``).
    """

    config_file: str
    config_id: str | None = None
    metrics_listen: str | None = None
    metrics_from_flag: bool = False
    control_socket: str | None = DEFAULT_PATH
    notify_timeout: float = DEFAULT_TIMEOUT
    dump_dir: str = DUMP_DIR
    keepalived_links: str | None = LINK_DIR
    state_dir: str = STATE_DIR


class Operations:
    """The operator layer; constructs the daemon and implements its ``Services``.

    Args:
        plan: the plan to run.
        options: command-line settings.
        pid_file: where the daemon writes its pid, or None.
    """

    def __init__(self, plan: Plan, options: Options, *, pid_file: str | None = None) -> None:
        self.options = options
        self.started_at = time.time()
        self.reloads: dict[str, int] = {"ok": 0, "invalid": 0, "failed": 0}
        self.runners: dict[str, NotifyRunner] = {}
        self.failed: str | None = None
        """Why an endpoint could not be bound at start (the daemon then stops and exits 1)."""
        self._reload_lock = asyncio.Lock()
        self._metrics: MetricsServer | None = None  # vipd.obs.metrics, imported when enabled
        self._control: ControlServer | None = None
        self._fifo_scripts = FifoScripts()
        self._lag: LoopLagMonitor | None = None
        self._watchdog_every = watchdog_interval()
        self._watchdog_last = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._status_pending = False
        self._metrics_listen: str | None = None
        self.daemon = Daemon(plan, pid_file=pid_file, services=self)
        self.daemon.maintenance = maintenance.load(options.state_dir)
        if self.daemon.maintenance:
            log.warning(
                "in maintenance (vipctl maintenance off to end it): %s", ", ".join(sorted(self.daemon.maintenance))
            )
        self._signals: Installed = {}  # vipd.control.signals: keepalived's signal table

    async def run(self) -> int:
        """Own every signal (keepalived's table, :mod:`vipd.control.signals`, in one place) and run the daemon.

        Returns the daemon's exit status.
        """
        loop = asyncio.get_running_loop()
        writer = DumpWriter(self.options.dump_dir, self.options.keepalived_links)
        actions = dump_actions(
            snapshot=self.snapshot, writer=writer, reload=self._on_sighup, stop=lambda _sig: self._on_stop_signal()
        )
        self._signals = install_signals(loop, actions)
        try:
            return await self.daemon.run()
        finally:
            uninstall_signals(loop, self._signals)
            self._signals = {}

    def _on_stop_signal(self) -> None:
        log.info("received SIGTERM/SIGINT: stopping")
        self.daemon.request_stop()

    # ------------------------------------------------------------------ views

    def snapshot(self) -> Snapshot:
        """Return the current :class:`Snapshot` of every running instance."""
        from vipd.obs.status import InterfaceRow, Snapshot, instance_row  # on first use, not at start-up

        loop = asyncio.get_running_loop()
        now, wall = loop.time(), time.time()
        rows = [instance_row(d, inst, now=now, wall=wall) for d, inst in self.daemon.instances()]
        ifaces = [InterfaceRow(n, f, s) for n, f, s in self.daemon.interfaces()]
        extra: dict[str, Any] = {}
        if self._lag is not None:
            extra["loop_lag"] = self._lag.histogram
            extra["loop_lag_max"] = self._lag.max_lag
        if self.daemon.links is not None:
            extra["netlink_resyncs"] = self.daemon.links.restarts
        if self.daemon.tracking is not None:
            extra["checks"] = self.daemon.tracking.tracker.status()
        extra["sync_groups"] = self.daemon.sync_groups.status()
        extra["bfd"] = self.daemon.bfd.status()["sessions"]
        return Snapshot(rows, ifaces, self.started_at, self.options.config_file, dict(self.reloads), extra)

    def status_line(self) -> str:
        """Return systemd's ``STATUS=`` text, e.g. ``2 instances: VI_1=MASTER VI_2=BACKUP``."""
        pairs = [
            f"{d.name}={'MAINTENANCE' if d.machine.maintenance else d.machine.state.value}"
            for d, _ in self.daemon.instances()
        ]
        return f"{len(pairs)} instance(s): " + " ".join(pairs)

    # ------------------------------------------------------------------ hooks

    def notifier(self, plan: InstancePlan, priority: Callable[[], int]) -> Notifier | None:
        """The instance's notify runner: one ordered queue per instance name, kept across reloads."""
        hooks = hooks_from_plan(plan.hooks, self._fifo())
        runner = self.runners.get(plan.name)
        if runner is None:
            runner = NotifyRunner(plan.name, hooks, priority, timeout=self.options.notify_timeout)
            self.runners[plan.name] = runner
        else:  # reload: same queue, so order holds across a restart of the instance
            runner.hooks = hooks
            runner.priority = priority
        driver = self.daemon.drivers.get(plan.name)
        if driver is not None:
            runner.stats = driver.stats
        runner.recorder = self.daemon.recorder.instance(plan.name)

        def notify(n: Notify | LowerPriorityHeard | PriorityNotice) -> None:
            d = self.daemon.drivers.get(runner.name)
            if d is not None:
                runner.stats = d.stats
            runner(n)
            self._status_soon()

        return notify

    def _status_soon(self) -> None:
        """Send systemd's ``STATUS=`` at most once per :data:`STATUS_EVERY` seconds.

        Building the line walks every instance: sent on each transition, a flapping
        255-instance node spent O(n^2) per second on it (bench-receive --stall).
        """
        if self._status_pending:
            return
        self._status_pending = True

        def send() -> None:
            self._status_pending = False
            sd_notify(f"STATUS={self.status_line()}")

        asyncio.get_running_loop().call_later(STATUS_EVERY, send)

    def group_notifier(self, group: SyncGroupPlan) -> Callable[[Notify], None] | None:
        """Group notify hooks (keepalived: ``notify`` gets ``GROUP NAME STATE 0``), one ordered queue per group."""
        key = f"group:{group.name}"
        hooks = hooks_from_plan(group.hooks, self._fifo())
        runner = self.runners.get(key)
        if runner is None:
            runner = NotifyRunner(group.name, hooks, lambda: 0, kind="GROUP", timeout=self.options.notify_timeout)
            self.runners[key] = runner
        else:
            runner.hooks = hooks
        return runner

    def renamed(self, old: str, new: str) -> None:
        """Keep the notify queue of a renamed instance (same interface, VRID and family)."""
        runner = self.runners.pop(old, None)
        if runner is not None:
            runner.name = new
            self.runners[new] = runner

    def _fifo(self) -> str | None:
        gd = self.daemon.plan.config.global_defs
        fifo: str | None = getattr(gd, "notify_fifo", None) or getattr(gd, "vrrp_notify_fifo", None)
        return fifo

    async def started(self) -> None:
        """Every instance runs: start the endpoints and the VIP repair monitor, then READY=1."""
        loop = asyncio.get_running_loop()
        self._lag = LoopLagMonitor(loop, on_tick=self._tick)
        self._lag.start()
        self._metrics_listen = self.options.metrics_listen
        if self._metrics_listen:
            try:
                self._metrics = await self._serve_metrics(self._metrics_listen)
            except OSError as e:  # fail loudly: exit 1, one line, no READY=1
                return self._fail(f"cannot serve metrics on {self._metrics_listen}: {e.strerror or e}")
        if self.options.control_socket:
            self._control = ControlServer(self.options.control_socket, self._handle)
            try:
                await self._control.start()
            except OSError as e:
                self._control = None
                return self._fail(f"control socket {self.options.control_socket}: {e.strerror or e}")
        self._fifo_scripts.start(self.daemon.plan.config.global_defs, self.daemon.plan.script_default)
        # --- the start-up heap (config, pyroute2, drivers) is long-lived: move it out of the cyclic GC's
        # reach, or each full collection scans it (34-74 ms with 255 instances, measured), often under
        # /metrics scrapes, and adverts wait (docs/performance.md section 6)
        gc.freeze()
        # ---
        sd_notify("READY=1", f"STATUS={self.status_line()}", f"MAINPID={os.getpid()}")

    async def _serve_metrics(self, listen: str) -> MetricsServer:
        """Bind and start ``/metrics`` on ``HOST:PORT``.

        Raises:
            OSError: the address cannot be bound.
        """
        # prometheus_client costs ~3.5 MiB of RSS and ~50 ms of start-up: only load it when asked.
        from vipd.obs.bfd_metrics import BfdCollector
        from vipd.obs.metrics import MetricsServer, make_registry, parse_listen

        host, port = parse_listen(listen)
        registry = make_registry(self.snapshot)
        registry.register(BfdCollector(self.daemon.bfd.status))  # vipd_bfd_*
        server = MetricsServer(registry, host, port)
        await server.start()
        return server

    def _fail(self, why: str) -> None:
        """Refuse the start: log ``cannot start: why`` once, stop the daemon, make ``main`` exit 1."""
        log.error("cannot start: %s", why)
        self.failed = why
        self.daemon.request_stop()

    async def stopping(self) -> None:
        """STOPPING=1 (the daemon stops VIP repair itself before the instances remove them)."""
        sd_notify("STOPPING=1", "STATUS=stopping: priority 0 where master, removing VIPs")

    async def stopped(self) -> None:
        """Drain the notify queues (``notify_stop`` runs, bounded by each script's timeout), close endpoints."""
        await asyncio.gather(*(r.close() for r in self.runners.values()))
        await self._fifo_scripts.close()  # after the last notify line (keepalived notify_fifo_script)
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
        """Re-read, plan and apply the config file, all or nothing (SIGHUP, ``vipctl reload``).

        The file is read and planned by the worker process (:mod:`vipd.control.planworker`),
        with the same checks as ``vipd -t``; then :meth:`Daemon.apply_plan` builds
        everything new before touching anything running. On any error nothing
        changes, the running configuration is kept, and the answer says why.

        Returns:
            ``{"ok": True, "diff": {...}}`` or ``{"ok": False, "error": "...", "diagnostics": [...]}``.
        """
        from vipd.control.planworker import plan_in_worker

        async with self._reload_lock:
            sd_notify("RELOADING=1", monotonic_usec())
            try:
                verdict = await plan_in_worker(self.options.config_file, self.options.config_id)
                for w in verdict.warnings:
                    log.warning("reload: %s:%d: %s: %s", w.file, w.line, w.keyword, w.message)
                if verdict.plan is None:
                    diags = [str(d) for d in verdict.errors] + ([verdict.read_error] if verdict.read_error else [])
                    for d in diags:
                        log.error("reload: %s", d)
                    log.error(
                        "reload refused: %s has %d error(s); the running configuration is kept",
                        self.options.config_file,
                        len(diags),
                    )
                    self.reloads["invalid"] += 1
                    self.daemon.recorder.add("", "reload", f"reload refused: {len(diags)} error(s)", errors=diags[:20])
                    return {
                        "ok": False,
                        "error": "configuration refused; running configuration kept",
                        "diagnostics": diags,
                    }
                listen = self._metrics_listen
                if not self.options.metrics_from_flag:
                    listen = verdict.plan.config.global_defs.vipd_metrics_listen
                moved: MetricsServer | None = None
                if listen != self._metrics_listen and listen:
                    # A reload that moves /metrics binds the new address first: if it cannot, nothing changes.
                    try:
                        moved = await self._serve_metrics(listen)
                    except OSError as e:
                        why = f"cannot serve metrics on {listen}: {e.strerror or e}"
                        log.error("reload refused: %s; nothing was changed, the running configuration is kept", why)
                        self.reloads["failed"] += 1
                        self.daemon.recorder.add("", "reload", f"reload refused: {why}")
                        return {"ok": False, "error": f"{why}; nothing was changed", "diagnostics": [why]}
                try:
                    diff = await self.daemon.apply_plan(verdict.plan)
                except ReloadError as e:
                    if moved is not None:
                        await moved.close()
                    log.error("reload refused: %s; nothing was changed, the running configuration is kept", e)
                    self.reloads["failed"] += 1
                    self.daemon.recorder.add("", "reload", f"reload refused: {e}")
                    return {"ok": False, "error": f"{e}; nothing was changed", "diagnostics": [str(e)]}
                if listen != self._metrics_listen:
                    if self._metrics is not None:
                        await self._metrics.close()
                    self._metrics, self._metrics_listen = moved, listen
                    log.info("metrics: %s", f"serving on {listen}" if listen else "off")
                self._drop_runners(verdict.plan)
                self._write_states_on_reload()
                self.reloads["ok"] += 1
                summary = diff.summary()
                changed = {k: v for k, v in summary.items() if k != "unchanged" and v}
                self.daemon.recorder.add("", "reload", f"reloaded: {changed or 'no change'}", diff=summary)
                log.info(
                    "reloaded: %s",
                    ", ".join(f"{k} {','.join(v) or '-'}" for k, v in summary.items() if k != "unchanged")
                    + f"; {len(summary['unchanged'])} unchanged",
                )
                return {"ok": True, "diff": summary}
            finally:
                sd_notify("READY=1", f"STATUS={self.status_line()}")

    def _write_states_on_reload(self) -> None:
        """keepalived ``fifo_write_vrrp_states_on_reload``: every instance's and group's state to the FIFOs."""
        g = self.daemon.plan.config.global_defs
        if not g.fifo_write_vrrp_states_on_reload:
            return
        rows: list[tuple[str, str, State | str, int]] = [
            ("INSTANCE", name, d.machine.state, d.machine.priority) for name, d in self.daemon.drivers.items()
        ]
        rows += [("GROUP", name, grp.state, 0) for name, grp in self.daemon.sync_groups.groups.items()]
        write_states(g, rows)

    def _drop_runners(self, plan: Plan) -> None:
        keep = set(plan.instances) | {f"group:{g}" for g in plan.groups}
        for name in [n for n in self.runners if n not in keep]:
            self._spawn(self.runners.pop(name).close())

    # ------------------------------------------------------------------ control socket

    async def _handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.snapshot().to_json()}
        if cmd == "dump":
            from vipd.config.values import jsonable

            return {
                "ok": True,
                **self.snapshot().to_json(),
                "config": jsonable(self.daemon.plan.config),
            }
        if cmd == "reload":
            return await self.reload()
        if cmd in ("explain", "events", "capture"):
            from vipd.control import inspect

            if cmd == "explain":
                return inspect.explain_answer(self.daemon, req, asyncio.get_running_loop().time())
            if cmd == "events":
                return inspect.events_answer(self.daemon, req)
            return inspect.capture_answer(self.daemon, req)
        if cmd in ("maintenance", "handover"):
            if cmd == "maintenance":
                resp = await maintenance.maintenance(self.daemon, self.options.state_dir, req)
            else:
                resp = await maintenance.handover(self.daemon, req)
            sd_notify(f"STATUS={self.status_line()}")
            return resp
        known = "status, dump, reload, explain, events, capture, maintenance, handover"
        return {"ok": False, "error": f"unknown command {cmd!r} ({known})"}
