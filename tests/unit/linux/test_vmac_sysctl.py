"""VmacManager's sysctl bookkeeping (keepalived vrrp_if_config.c: set on start, restored on exit)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from vipd.linux.vmac import BASE_SYSCTLS, SysctlState, VmacManager, VmacSpec, default_vmac_name, mac_text


def _tree(root: Path, values: dict[str, str]) -> None:
    for key, value in values.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")


def test_sysctls_are_restored_to_what_was_found(tmp_path: Path) -> None:
    _tree(tmp_path, {"net/ipv4/conf/eth0/arp_ignore": "0", "net/ipv4/conf/eth0/arp_filter": "1"})
    m = VmacManager(sysctl_root=str(tmp_path))
    for key, value in BASE_SYSCTLS.items():
        m.set_sysctl(f"net/ipv4/conf/eth0/{key}", value)
    m.set_sysctl("net/ipv4/conf/eth0/arp_ignore", "1")  # a second instance on the same base: no double entry
    assert (tmp_path / "net/ipv4/conf/eth0/arp_ignore").read_text() == "1"
    asyncio.run(m.close())
    assert (tmp_path / "net/ipv4/conf/eth0/arp_ignore").read_text() == "0"
    assert (tmp_path / "net/ipv4/conf/eth0/arp_filter").read_text().strip() == "1"  # untouched: it already was 1


def test_missing_sysctl_is_logged_not_raised(tmp_path: Path) -> None:
    m = VmacManager(sysctl_root=str(tmp_path))
    m.set_sysctl("net/ipv4/conf/nosuch/arp_ignore", "1")
    asyncio.run(m.close())


def test_names_and_macs_follow_keepalived_and_rfc5798() -> None:
    assert default_vmac_name(51) == "vrrp.51"
    assert mac_text(VmacSpec("vrrp.51", "eth0", 51, 4).mac) == "00:00:5e:00:01:33"
    assert mac_text(VmacSpec("vrrp.51", "eth0", 51, 6).mac) == "00:00:5e:00:02:33"


# ---------------------------------------------------------------- state file (SIGKILL recovery)


def _manager(tmp_path: Path, netns: int = 4026531840) -> tuple[VmacManager, SysctlState]:
    state = SysctlState(str(tmp_path / "run"), netns=netns)
    return VmacManager(sysctl_root=str(tmp_path / "proc"), state=state), state


def test_base_originals_are_persisted_before_the_change_and_the_file_goes_on_clean_exit(tmp_path: Path) -> None:
    _tree(tmp_path / "proc", {"net/ipv4/conf/eth0/arp_ignore": "0", "net/ipv4/conf/eth0/arp_filter": "0"})
    m, state = _manager(tmp_path)
    for key, value in BASE_SYSCTLS.items():
        m.set_sysctl(f"net/ipv4/conf/eth0/{key}", value, persist=True)
    m.set_sysctl("net/ipv4/conf/vrrp.51/arp_ignore", "1")  # the VMAC's own: not persisted (and missing here)
    assert state.read("eth0") == {"arp_ignore": "0", "arp_filter": "0"}
    data = json.loads(Path(state.path("eth0")).read_text())
    assert data["pid"] == os.getpid() and data["interface"] == "eth0"
    assert Path(state.path("eth0")).name == "sysctl-4026531840-eth0.json"
    asyncio.run(m.close())
    assert not Path(state.path("eth0")).exists()
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_ignore").read_text() == "0"


def test_after_a_sigkill_the_next_start_restores_the_originals_from_the_state_file(tmp_path: Path) -> None:
    _tree(tmp_path / "proc", {"net/ipv4/conf/eth0/arp_ignore": "2", "net/ipv4/conf/eth0/arp_filter": "0"})
    killed, state = _manager(tmp_path)
    for key, value in BASE_SYSCTLS.items():
        killed.set_sysctl(f"net/ipv4/conf/eth0/{key}", value, persist=True)
    # SIGKILL: close() never runs; pretend the file was written by a pid that is gone
    path = Path(state.path("eth0"))
    data = json.loads(path.read_text())
    data["pid"] = _dead_pid()
    path.write_text(json.dumps(data))
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_ignore").read_text() == "1"

    fresh, _ = _manager(tmp_path)
    assert sorted(fresh.recover()) == ["net.ipv4.conf.eth0.arp_filter=0", "net.ipv4.conf.eth0.arp_ignore=2"]
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_ignore").read_text() == "2"
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_filter").read_text() == "0"
    assert not path.exists()
    assert fresh.recover() == [], "nothing left the second time"


def test_recover_leaves_other_namespaces_and_live_daemons_alone(tmp_path: Path) -> None:
    _tree(tmp_path / "proc", {"net/ipv4/conf/eth0/arp_ignore": "0"})
    other_ns = SysctlState(str(tmp_path / "run"), netns=1)
    other_ns.record("eth0", "arp_ignore", "0")  # another namespace's daemon (our pid: "alive")
    live, state = _manager(tmp_path)
    state.record("eth1", "arp_ignore", "0")
    path = Path(state.path("eth1"))
    data = json.loads(path.read_text())
    data["pid"] = os.getppid()  # alive and not us: a running daemon of this namespace
    path.write_text(json.dumps(data))
    assert live.recover() == []
    assert path.exists() and Path(other_ns.path("eth0")).exists()


def test_first_recorded_original_wins_and_garbage_files_are_ignored(tmp_path: Path) -> None:
    state = SysctlState(str(tmp_path), netns=7)
    state.record("eth0", "arp_ignore", "0")
    state.record("eth0", "arp_ignore", "1")  # our own value read back by a second instance: not an original
    assert state.read("eth0") == {"arp_ignore": "0"}
    (tmp_path / "sysctl-7-eth9.json").write_text("{not json")
    assert state.read("eth9") == {}
    assert [i for i, _ in state.leftovers()] == ["eth0"]


def test_an_unwritable_state_directory_is_logged_and_the_sysctl_still_set(tmp_path: Path) -> None:
    _tree(tmp_path / "proc", {"net/ipv4/conf/eth0/arp_ignore": "0"})
    (tmp_path / "run").write_text("a file, not a directory")
    m, _ = _manager(tmp_path)
    m.set_sysctl("net/ipv4/conf/eth0/arp_ignore", "1", persist=True)
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_ignore").read_text() == "1"
    asyncio.run(m.close())
    assert (tmp_path / "proc/net/ipv4/conf/eth0/arp_ignore").read_text() == "0"


def _dead_pid() -> int:
    """A pid that is not running (a reaped child's)."""
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid
