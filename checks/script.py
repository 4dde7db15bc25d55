"""``script``: keepalived's ``vrrp_script`` — run a command, exit status 0 means OK.

Options (from ``vrrp_script``): ``argv`` (list, the command split as keepalived
splits it), ``shell`` (bool: keepalived's ``</path`` form, run by ``/bin/sh -c``
with ``command``), ``command`` (the string as written), ``user``/``group``
(else the context's ``script_user``/``script_group``).

The command runs without a shell, in its own process group, and is killed with
its group at ``spec.timeout`` (a failure); whatever it leaves in its group when
it exits is killed too (:func:`vipd.health.process.run_command`).
"""

from __future__ import annotations

import time

from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd.health.process import run_command


class ScriptCheck:
    """Runs one command per ``run()``.

    Raises (constructor):
        ValueError: no command given.
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
        self.user = str(user) if user else context.script_user
        group = spec.options.get("group")
        self.group = str(group) if group else (None if user else context.script_group)

    async def run(self) -> CheckResult:
        """Run the command once; OK when it exits 0 within ``spec.timeout`` seconds."""
        t0 = time.monotonic()
        out = await run_command(self.argv, self.spec.timeout, user=self.user, group=self.group)
        took = time.monotonic() - t0
        first = out.output.strip().splitlines()[0] if out.output.strip() else ""
        if out.error:
            return CheckResult(False, out.error, took)
        if out.timed_out:
            return CheckResult(False, f"timed out after {self.spec.timeout:g}s, killed with its process group", took)
        code = out.returncode
        if code is not None and code < 0:
            return CheckResult(False, f"killed by signal {-code}" + (f": {first}" if first else ""), took)
        detail = f"exit {code}" + (f": {first}" if first else "")
        return CheckResult(code == 0, detail, took)
