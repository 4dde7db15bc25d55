"""The Debian package under a real systemd: build it, install it in a booted bookworm container, run it.

One test, in order (each step needs the previous one):

1. ``packaging/build-deb`` builds ``vipd_*.deb`` (size measured);
2. a cached bookworm image (mmdebstrap) is unpacked and booted with systemd as PID 1
   (``systemd-nspawn -b``) inside a network namespace this test owns, linked by a veth
   to a peer namespace where a raw AF_PACKET socket records every VRRP advert;
3. ``apt-get install ./vipd.deb`` in the container: binaries, unit, man pages, group;
   the unit is enabled but stays idle without ``/etc/vipd/vipd.conf``;
4. ``systemctl start vipd`` returns once vipd sent READY=1 (start-to-READY measured by
   systemd's own timestamps); the VIP appears on the veth and adverts reach the peer;
   the watchdog pings keep coming (WatchdogSec shortened to 1 s by a drop-in); the
   start-up plan memo is in the unit's CacheDirectory and a restart uses it;
5. the ``vrrp_script`` runs as ``script_user nobody`` (it writes ``id -u``) under the
   unit's bounding set, in its PrivateTmp;
6. ``systemctl reload`` adds a second VIP without a restart (same MainPID);
7. an invalid file on reload is refused: ``journalctl -p err`` shows vipd's
   FILE:LINE error, info lines are not there, and lines carry no second timestamp;
8. group ``vipd`` may run ``vipctl status`` and not ``vipctl reload``; with ``-S 0`` in
   DAEMON_ARGS the lines reach journald through syslog (facility local0), not twice;
   an upgrade (reinstall) restarts the running service;
9. ``systemctl stop`` sends priority 0 (seen by the peer) and removes both VIPs;
10. ``apt-get purge`` leaves none of the package's files, its group or its enablement.

The container is always powered off (SIGTERM to nspawn; SIGKILL of its init by PID
as the fallback) and the namespaces removed, also when a step fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import vipd_container as vc

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

ADVERT_INT = 0.1  # seconds (VRRPv3)
PRIORITY = 150
# RFC 5798 6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time
MASTER_DOWN = 3 * ADVERT_INT + (256 - PRIORITY) / 256 * ADVERT_INT
# the deadline for anything vipd does after READY: the protocol's bound plus a margin for a
# loaded 2-core CI machine running a container (the check script's first run included)
SETTLE = MASTER_DOWN + 20.0
WATCHDOG = 1  # seconds: WatchdogSec for the test (a drop-in); the unit ships 10 s

CONFIG = """\
global_defs {{
    vrrp_version 3
    enable_script_security
    script_user nobody
}}

vrrp_script chk_uid {{
    script "/usr/local/bin/vipd-probe"
    interval 1
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface vd0
    virtual_router_id 51
    priority {priority}
    advert_int {advert_int}
    virtual_ipaddress {{
{vips}
    }}
    track_script {{
        chk_uid
    }}
}}
"""
PROBE = "#!/bin/sh\nid -u > /tmp/vipd-probe.uid\nexit 0\n"

SNIFF = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((sys.argv[1], 0))
out = open(sys.argv[2], "a", buffering=1)
print("ready", flush=True)
while True:
    data = s.recv(65535)
    if len(data) < 28 or data[9] != 112:
        continue
    v = data[(data[0] & 15) * 4:]
    out.write(json.dumps({"t": time.monotonic(), "src": socket.inet_ntoa(data[12:16]),
                          "ttl": data[8], "version": v[0] >> 4, "vrid": v[1], "priority": v[2]}) + "\n")
"""


def config(*vips: str) -> str:
    return CONFIG.format(priority=PRIORITY, advert_int=ADVERT_INT, vips="\n".join(f"        {v}" for v in vips))


def wait_for(what: str, predicate: Callable[[], T | None], timeout: float) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(0.05)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: builds a container and network namespaces"
    missing = vc.missing_tools()
    if missing:
        return f"missing {', '.join(missing)} (.ci/install installs mmdebstrap and systemd-container)"
    return None


@pytest.fixture
def lab() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth: the container's (vd0 192.0.2.1/24) and the peer's (vp0 192.0.2.2/24)."""
    prefix = f"vsys{secrets.token_hex(3)}"
    cns, pns = f"{prefix}-c", f"{prefix}-p"
    try:
        for ns in (cns, pns):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", f"{prefix}a", "type", "veth", "peer", "name", f"{prefix}b")
        ip("link", "set", f"{prefix}a", "netns", cns, "name", "vd0")
        ip("link", "set", f"{prefix}b", "netns", pns, "name", "vp0")
        for ns, dev, addr in ((cns, "vd0", "192.0.2.1/24"), (pns, "vp0", "192.0.2.2/24")):
            ip("-n", ns, "addr", "add", addr, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        yield cns, pns
    finally:
        for ns in (cns, pns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def sniffer(lab: tuple[str, str], tmp_path: Path) -> Iterator[Callable[[], list[dict[str, int | str | float]]]]:
    """Every VRRP packet vp0 receives, as dicts (src, ttl, version, vrid, priority, t)."""
    out = tmp_path / "adverts.jsonl"
    out.touch()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab[1], sys.executable, "-c", SNIFF, "vp0", str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lambda: [json.loads(line) for line in out.read_text().splitlines()]
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def deb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Build the package with the documented command; return it and the build time in seconds."""
    prebuilt = os.environ.get("VIPD_TEST_DEB")  # iterating on the test itself: skip the ~1 min build
    if prebuilt:
        return Path(prebuilt), 0.0
    out = tmp_path_factory.mktemp("dist")
    t0 = time.monotonic()
    run = subprocess.run([str(REPO / "packaging" / "build-deb"), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    (found,) = out.glob("vipd_*.deb")
    return found, time.monotonic() - t0


def test_package_under_systemd(
    deb: tuple[Path, float],
    lab: tuple[str, str],
    sniffer: Callable[[], list[dict[str, int | str | float]]],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    package, build_seconds = deb
    cns, _ = lab
    root = Path(os.environ.get("VIPD_TEST_ROOT_DIR", "/var/tmp")) / f"vipd-system-{secrets.token_hex(4)}"
    try:
        vc.extract(vc.rootfs_tarball(), root)
        with vc.Container(root, cns, tmp_path / "nspawn.log") as box:
            boot_state = box.boot()
            try:
                run_in_container(box, root, package, sniffer, record_property)
            except BaseException:
                for argv in (["systemctl", "status", "vipd", "--no-pager"], ["journalctl", "-u", "vipd", "--no-pager"]):
                    print(f"--- {' '.join(argv)} ---\n" + box.run(argv, check=False).stdout[-6000:])
                raise
            record_property("boot_state", boot_state)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    size = package.stat().st_size
    record_property("deb_bytes", size)
    record_property("build_seconds", round(build_seconds, 1))
    print(f"\npackage {package.name}: {size / 1024:.0f} KiB, built in {build_seconds:.0f} s")


def run_in_container(
    box: vc.Container,
    root: Path,
    package: Path,
    adverts: Callable[[], list[dict[str, int | str | float]]],
    record_property: Callable[[str, object], None],
) -> None:
    # 3. install: what `apt install ./vipd_*.deb` gives on a clean bookworm
    shutil.copy(package, root / "root" / "vipd.deb")
    box.sh("cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./vipd.deb", timeout=300)
    assert box.run(["vipd", "--version"]).stdout.strip().startswith("vipd ")
    assert box.run(["vipctl", "--version"]).stdout.strip().startswith("vipctl ")
    for path in (
        "usr/sbin/vipd",
        "usr/bin/vipctl",
        "lib/systemd/system/vipd.service",
        "etc/default/vipd",
        "usr/share/man/man8/vipd.8.gz",
        "usr/share/man/man8/vipctl.8.gz",
        "usr/share/man/man5/vipd.conf.5.gz",
        "usr/share/doc/vipd/README.md",
        "usr/share/bash-completion/completions/vipctl",
    ):
        assert (root / path).exists(), path
    assert box.run(["getent", "group", "vipd"]).returncode == 0
    # no generic top-level name: the built-in checks are vipd_checks, found through the entry points
    lib = next(root.glob("usr/lib/vipd/lib/python3.*/site-packages"))
    assert (lib / "vipd_checks/script.py").exists() and not (lib / "checks").exists()
    assert not (lib / "bin").exists()
    assert box.run(["systemctl", "is-enabled", "vipd"]).stdout.strip() == "enabled"
    # no /etc/vipd/vipd.conf yet: ConditionFileNotEmpty keeps the enabled unit idle
    assert box.run(["systemctl", "is-active", "vipd"], check=False).stdout.strip() == "inactive"
    # keepalived-style DAEMON_ARGS (debug, dump the configuration), logging to journald's stream
    (root / "etc/default/vipd").write_text('DAEMON_ARGS="-D -d"\n')

    # the watchdog, shortened so that this test sees several periods: pings must keep coming
    dropin = root / "etc/systemd/system/vipd.service.d"
    dropin.mkdir(parents=True)
    (dropin / "watchdog.conf").write_text(f"[Service]\nWatchdogSec={WATCHDOG}s\n")
    box.run(["systemctl", "daemon-reload"])

    probe = root / "usr/local/bin/vipd-probe"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    (root / "etc/vipd/vipd.conf").write_text(config("192.0.2.100/24"))
    checked = box.run(["vipd", "-t", "-f", "/etc/vipd/vipd.conf"], check=False)
    assert checked.returncode == 0 and "configuration OK" in checked.stderr, checked.stderr

    # 4. start: `systemctl start` of a Type=notify unit returns after READY=1
    t0 = time.monotonic()
    box.run(["systemctl", "start", "vipd"], timeout=120)
    start_call = time.monotonic() - t0
    assert box.run(["systemctl", "is-active", "vipd"]).stdout.strip() == "active"
    shown = dict(
        line.split("=", 1)
        for line in box.run(
            ["systemctl", "show", "vipd", "-p", "ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic,MainPID"]
        ).stdout.split()
    )
    to_ready = (int(shown["ActiveEnterTimestampMonotonic"]) - int(shown["ExecMainStartTimestampMonotonic"])) / 1e6
    main_pid = shown["MainPID"]
    record_property("start_to_ready_seconds", round(to_ready, 3))
    record_property("systemctl_start_seconds", round(start_call, 3))
    print(f"\nstart-to-READY {to_ready * 1000:.0f} ms (systemd), `systemctl start` returned in {start_call:.2f} s")

    def vips() -> set[str]:
        out = box.run(["ip", "-o", "-4", "addr", "show", "dev", "vd0"]).stdout
        return {line.split()[3] for line in out.splitlines()}

    wait_for("VIP 192.0.2.100 on vd0", lambda: "192.0.2.100/24" in vips(), SETTLE)
    first = wait_for(
        "an advert from the master at the peer", lambda: [a for a in adverts() if a["priority"] == PRIORITY], SETTLE
    )[0]
    assert (first["src"], first["ttl"], first["version"], first["vrid"]) == ("192.0.2.1", 255, 3, 51)

    # 5. the check script ran as script_user nobody, inside the unit's PrivateTmp
    def probe_uid() -> str | None:  # /tmp is the container's tmpfs: read it from inside
        out = box.sh("cat /tmp/systemd-private-*-vipd.service-*/tmp/vipd-probe.uid", check=False)
        return out.stdout.strip() or None

    assert wait_for("the vrrp_script's output file", probe_uid, SETTLE) == "65534"
    assert box.run(["test", "-e", "/tmp/vipd-probe.uid"], check=False).returncode == 1  # PrivateTmp

    # the event loop pings the watchdog (WATCHDOG=1 every WatchdogSec/2): its timestamp moves on
    def last_ping() -> int:
        out = box.run(["systemctl", "show", "vipd", "-p", "WatchdogTimestampMonotonic", "--value"]).stdout
        return int(out.strip() or 0)

    seen = last_ping()
    for _ in range(3):
        seen = wait_for("a watchdog ping", lambda s=seen: last_ping() > s and last_ping(), 2 * WATCHDOG + SETTLE)

    # the start-up plan memo: kept in the unit's CacheDirectory (root-only); a restart on the
    # same file and host takes the plan from it instead of reading the file again
    memo_dir = box.run(["stat", "-c", "%a %U", "/var/cache/vipd"]).stdout.split()
    assert memo_dir == ["700", "root"], memo_dir
    assert box.sh("ls /var/cache/vipd/plan-*.pickle").returncode == 0
    journal = box.run(["journalctl", "-u", "vipd", "-o", "cat", "--no-pager"]).stdout
    assert "read and planned by the worker process" in journal, journal[-2000:]
    box.run(["systemctl", "restart", "vipd"], timeout=120)
    journal = box.run(["journalctl", "-u", "vipd", "-o", "cat", "--no-pager"]).stdout
    assert "from the start-up memo" in journal, journal[-2000:]
    main_pid = box.run(["systemctl", "show", "vipd", "-p", "MainPID", "--value"]).stdout.strip()
    wait_for("VIP 192.0.2.100 on vd0 after the restart", lambda: "192.0.2.100/24" in vips(), SETTLE)

    # 6. reload applies a change without a restart
    (root / "etc/vipd/vipd.conf").write_text(config("192.0.2.100/24", "192.0.2.101/24"))
    box.run(["systemctl", "reload", "vipd"])
    wait_for("VIP 192.0.2.101 after reload", lambda: "192.0.2.101/24" in vips(), SETTLE)
    assert box.run(["systemctl", "show", "vipd", "-p", "MainPID", "--value"]).stdout.strip() == main_pid

    # 7. an invalid file is refused with an error journald files as priority err
    (root / "etc/vipd/vipd.conf").write_text(config("192.0.2.100/24", "192.0.2.101/24") + "vrrp_instanse X {\n}\n")
    box.run(["systemctl", "reload", "vipd"])

    def errors() -> list[str]:
        out = box.run(["journalctl", "-u", "vipd", "-p", "err", "-o", "cat", "--no-pager"]).stdout
        return [line for line in out.splitlines() if "vipd.conf:" in line] or []

    refused = wait_for("vipd's reload error in journalctl -p err", errors, SETTLE)
    assert any("vrrp_instanse" in line for line in refused), refused
    assert box.run(["systemctl", "is-active", "vipd"]).stdout.strip() == "active"  # the old config runs on
    err_lines = box.run(["journalctl", "-u", "vipd", "-p", "err", "-o", "cat", "--no-pager"]).stdout
    assert "Entering MASTER STATE" not in err_lines  # info stays info
    everything = box.run(["journalctl", "-u", "vipd", "-o", "cat", "--no-pager"]).stdout.splitlines()
    masters = [line for line in everything if "Entering MASTER STATE" in line]
    assert masters and all(line.startswith("(VI_1) Entering MASTER STATE") for line in masters), masters[:3]
    assert not [line for line in everything if line.startswith("<")]  # the <N> prefix was consumed
    (root / "etc/vipd/vipd.conf").write_text(config("192.0.2.100/24", "192.0.2.101/24"))

    # 8. group vipd: status yes, reload no
    member = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=vipd", "--"]
    status = box.run([*member, "vipctl", "status"], check=False)
    assert status.returncode == 0 and "VI_1" in status.stdout, status.stderr
    denied = box.run([*member, "vipctl", "reload"], check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr, denied.stderr
    outsider = box.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "vipctl", "status"], check=False
    )
    assert outsider.returncode == 3  # cannot even connect

    # an upgrade (here: the same version again) restarts a running vipd with the new files
    box.sh("cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall ./vipd.deb", timeout=300)
    assert box.run(["systemctl", "is-active", "vipd"]).stdout.strip() == "active"
    assert box.run(["systemctl", "show", "vipd", "-p", "MainPID", "--value"]).stdout.strip() != main_pid
    wait_for("VIP 192.0.2.100 after the upgrade", lambda: "192.0.2.100/24" in vips(), SETTLE)

    # keepalived's -S 0 under systemd: lines go to syslog (/dev/log, journald's) with facility
    # local0 instead of the stream, so nothing is logged twice
    (root / "etc/default/vipd").write_text('DAEMON_ARGS="-S 0"\n')
    box.run(["systemctl", "restart", "vipd"], timeout=120)
    wait_for("VIP 192.0.2.100 after the restart", lambda: "192.0.2.100/24" in vips(), SETTLE)
    new_pid = box.run(["systemctl", "show", "vipd", "-p", "MainPID", "--value"]).stdout.strip()

    def via(transport: str) -> list[str]:
        q = ["journalctl", f"_PID={new_pid}", f"_TRANSPORT={transport}", "-o", "cat", "--no-pager"]
        return [line for line in box.run(q).stdout.splitlines() if "Entering MASTER STATE" in line]

    wait_for("MASTER logged through syslog, facility local0", lambda: via("syslog"), SETTLE)
    local0 = box.run(["journalctl", f"_PID={new_pid}", "SYSLOG_FACILITY=16", "-o", "cat", "--no-pager"]).stdout
    assert "Entering MASTER STATE" in local0
    assert via("stdout") == []

    # 9. stop: priority 0 on the wire, VIPs gone, a clean exit
    before = len(adverts())
    box.run(["systemctl", "stop", "vipd"], timeout=120)
    wait_for("a priority-0 advert at the peer", lambda: [a for a in adverts()[before:] if a["priority"] == 0], SETTLE)
    assert not {"192.0.2.100/24", "192.0.2.101/24"} & vips()
    assert box.run(["systemctl", "show", "vipd", "-p", "Result", "--value"]).stdout.strip() == "success"
    assert box.run(["systemctl", "show", "vipd", "-p", "NRestarts", "--value"]).stdout.strip() == "0"

    # 10. purge removes everything the package installed or created
    listing = subprocess.run(["dpkg-deb", "-c", str(package)], capture_output=True, text=True, check=True).stdout
    owned = [line.split()[5].lstrip("./").rstrip("/") for line in listing.splitlines()]
    for f in ("etc/vipd/vipd.conf", "usr/local/bin/vipd-probe"):
        (root / f).unlink()
    box.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q vipd", timeout=300)
    shared = {"", "etc", "etc/default", "lib", "lib/systemd", "lib/systemd/system", "usr", "usr/bin", "usr/sbin"}
    shared |= {"usr/lib", "usr/lib/sysusers.d", "usr/share", "usr/share/doc", "usr/share/man", "usr/share/man/man5"}
    shared |= {"usr/share/man/man8", "usr/share/bash-completion", "usr/share/bash-completion/completions"}
    left = [p for p in owned if p not in shared and (root / p).exists()]
    assert not left, left[:10]
    assert box.run(["getent", "group", "vipd"], check=False).returncode == 2
    assert not list(root.glob("etc/systemd/system/*/vipd.service"))
    assert not (root / "var/cache/vipd").exists()  # the plan memo goes with the package
