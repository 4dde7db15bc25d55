"""The configs the integration tests use are accepted by vipd and by keepalived.

This guards the claim the lab relies on: the same keepalived.conf text drives both
daemons. Both are checked inside a lab router's namespace, where eth0 exists
(keepalived -t rejects a config that names a missing interface).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from vipdlab import Instance, Lab, keepalived_available, render
from vipdlab.lab.daemons import vipd_argv, vipd_env

pytestmark = pytest.mark.netns

BASE = Instance(advert_int=0.1, version=3, vips=("192.0.2.100/24",))
CONFIGS = {
    "v3-0.1s": BASE.with_(priority=150),
    "v3-nopreempt": BASE.with_(priority=150, nopreempt=True),
    "v3-preempt-delay": BASE.with_(priority=100, preempt_delay=0.5),
    "v2-1s": BASE.with_(version=2, advert_int=1.0, priority=100),
    "v2-auth": BASE.with_(version=2, advert_int=1.0, priority=100, auth_pass="secret1"),
    "v3-ipv6": BASE.with_(vrid=52, vips=("2001:db8::100/64",)),
}


def _check(lab: Lab, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", lab.r1.ns, *argv], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_accepted_by_vipd_and_keepalived(lab: Lab, name: str) -> None:
    conf = lab.workdir / f"{name}.conf"
    conf.write_text(render(CONFIGS[name]))
    argv = vipd_argv(conf, Path("/nonexistent"))[:-2]  # drop --pid-file
    vipd = _check(lab, [*argv, "-t"], env=vipd_env())
    assert vipd.returncode == 0, f"vipd -t rejected {name}:\n{vipd.stdout}{vipd.stderr}"
    if keepalived_available():
        ka = _check(lab, ["keepalived", "-t", "-f", str(conf)])
        assert ka.returncode == 0, f"keepalived -t rejected {name}:\n{ka.stdout}{ka.stderr}"
