"""A missing CAP_NET_ADMIN or CAP_NET_RAW stops the start: exit 1, one line naming it (DESIGN "Fail loudly")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vipd.linux.caps import CAP_NET_ADMIN, CAP_NET_RAW, capability_error, effective_capabilities

REPO = Path(__file__).resolve().parents[3]
CONFIG = """\
vrrp_instance VI_1 {
    interface lo
    virtual_router_id 51
    advert_int 1
    virtual_ipaddress {
        192.0.2.10
    }
}
"""


def test_capeff_is_parsed_and_each_missing_capability_is_named() -> None:
    assert effective_capabilities("Name:\tx\nCapEff:\t0000000000003000\n") == 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW
    assert capability_error(1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW) is None
    line = capability_error(1 << CAP_NET_RAW)
    assert line is not None and "\n" not in line
    assert "missing capability CAP_NET_ADMIN " in line and "AmbientCapabilities=" in line
    line = capability_error(0)
    assert line is not None and "CAP_NET_ADMIN and CAP_NET_RAW" in line


@pytest.mark.parametrize("cap", ["cap_net_admin", "cap_net_raw"])
def test_vipd_started_without_a_capability_exits_1_with_one_line(tmp_path: Path, cap: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: drops a capability root has")
    if shutil.which("capsh") is None:
        pytest.skip("capsh missing (apt-get install libcap2-bin; .ci/install has it)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare missing (util-linux)")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONFIG)
    cmd = f"{sys.executable} -m vipd -f {conf} --control-socket '' --dump-dir {tmp_path / 'run'} --keepalived-links ''"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # a network namespace of its own (gone when the process exits), in case vipd did start
    out = subprocess.run(
        ["unshare", "--net", "capsh", f"--drop={cap}", "--", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"missing capability {cap.upper()} " in lines[0]
