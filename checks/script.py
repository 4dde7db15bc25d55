"""``script``: keepalived's ``vrrp_script`` — run a command, exit status 0 means OK.

Options (from ``vrrp_script``): ``argv`` (list, the command split as keepalived
splits it), ``shell`` (bool: keepalived's ``</path`` form, run by ``/bin/sh -c``
with ``command``), ``command`` (the string as written), ``user``/``group``
(else the context's ``script_user``/``script_group``, which the runtime fills
with keepalived's default: ``script_user``, else ``keepalived_script`` if it
exists, else the daemon's own user).

The identity is resolved when the check is built, with
:func:`vipd.health.identity.script_run_as` (the planner's rule and lookup, the
ones ``vipd -t`` judges the script with): an unknown user or group refuses the
check (``ValueError``).

The command runs through the one script runner (:mod:`vipd.linux.spawn`): no
shell, its own process group, killed with its group at ``spec.timeout`` (a
failure). What it leaves running in the background when it exits in time is not
killed, as in keepalived (logged once per check).
"""

from __future__ import annotations

import logging
import time

from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd.health.identity import RunAs, script_run_as
from vipd.health.process import run_command

log = logging.getLogger("vipd")


class ScriptCheck:
    """Runs one command per ``run()``.

    Attributes:
        argv: the command.
        run_as: the identity it runs as.

    Raises (constructor):
        ValueError: no command given, or its user/group does not exist.
    """

    def __init__(self, spec: CheckSpec, context: CheckContext) -> None:
        self.spec = spec
        argv = spec.options.get("argv")
        command = str(spec.options.get("command", ""))
        if bool(spec.options.get("shell")):
            self.argv = ["/bin/sh", "-c", command]
        elif isinstance(argv, list | tuple) and argv:
            self.argv = [str(a) for a in argv]
        elif command:
            self.argv = command.split()
        else:
            raise ValueError(f"script check {spec.name}: no command")
        user = spec.options.get("user")
        group = spec.options.get("group")
        try:
            self.run_as: RunAs = script_run_as(
                str(user) if user else None,
                str(group) if group else None,
                (context.script_user, context.script_group),
                supplementary=context.supplementary_groups,
            )
        except LookupError as e:
            raise ValueError(f"script check {spec.name}: {e}") from None
        self._left_running_logged = False

    async def run(self) -> CheckResult:
        """Run the command once; OK when it exits 0 within ``spec.timeout`` seconds."""
        t0 = time.monotonic()
        out = await run_command(self.argv, self.spec.timeout, run_as=self.run_as)
        took = time.monotonic() - t0
        text = out.output.strip()
        first = text.splitlines()[0] if text else ""
        if out.error:
            return CheckResult(False, out.error, took)
        if out.timed_out:
            return CheckResult(False, f"timed out after {self.spec.timeout:g}s, killed with its process group", took)
        if out.left_running and not self._left_running_logged:
            self._left_running_logged = True
            log.info(
                "check %s: %r left processes running in the background (not killed, as keepalived)",
                self.spec.name,
                " ".join(self.argv),
            )
        code = out.returncode
        if code is not None and code < 0:
            return CheckResult(False, f"killed by signal {-code}" + (f": {first}" if first else ""), took)
        detail = f"exit {code}" + (f": {first}" if first else "")
        return CheckResult(code == 0, detail, took)
