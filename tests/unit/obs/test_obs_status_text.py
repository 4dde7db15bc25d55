"""``vipctl status`` text: the instance table, then the checks and the sync groups when there are any."""

from __future__ import annotations

from typing import Any

from vipd.obs.status import render_status_text


def _instance(name: str, state: str, base: int, effective: int) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "priority": {"base": base, "effective": effective},
        "vrid": 51,
        "interface": "eth0",
        "master_address": None,
        "vips": [{"address": "192.0.2.100"}],
        "last_transition": {"old": "BACKUP", "new": state, "reason": "master_down_timer", "ago": 12.34},
    }


def test_instances_only_when_there_are_no_checks_or_groups() -> None:
    text = render_status_text({"instances": [_instance("VI_1", "MASTER", 100, 100)], "checks": [], "sync_groups": []})
    head = ["INSTANCE", "STATE", "PRIO", "VRID", "IFACE", "MASTER", "VIPS", "LAST", "TRANSITION"]
    assert text.splitlines()[0].split() == head
    assert "CHECK" not in text and "SYNC GROUP" not in text
    assert "BACKUP->MASTER master_down_timer 12.3s ago" in text


def test_checks_and_sync_groups_follow_the_instances() -> None:
    status = {
        "instances": [_instance("VI_1", "BACKUP", 100, 80), _instance("VI_2", "BACKUP", 100, 100)],
        "checks": [
            {
                "name": "chk_nginx",
                "type": "script",
                "health": "down",
                "last_ok": False,
                "output": "nginx: not\n  running",  # whitespace and newlines folded
                "duration": 0.0123,
                "value": None,
                "runs": 7,
                "failures": 3,
                "instances": ["VI_1"],
            },
            {
                "name": "eth1",
                "type": "interface",
                "health": "up",
                "last_ok": None,
                "output": "",
                "duration": None,
                "value": None,
                "runs": 0,
                "failures": 0,
                "instances": [],
            },
        ],
        "sync_groups": [
            {"name": "G1", "state": "BACKUP", "members": ["VI_1", "VI_2"], "wanting_master": ["VI_2"], "transitions": 4}
        ],
    }
    blocks = render_status_text(status).split("\n\n")
    assert len(blocks) == 3
    instances, checks, groups = (b.splitlines() for b in blocks)
    assert "80 (100-20)" in instances[1]
    assert checks[0].split() == ["CHECK", "TYPE", "HEALTH", "RUNS", "FAILURES", "LAST", "INSTANCES", "OUTPUT"]
    assert checks[1].split()[:8] == ["chk_nginx", "script", "down", "7", "3", "fail", "12ms", "VI_1"]
    assert checks[1].endswith("nginx: not running")
    assert checks[2].split() == ["eth1", "interface", "up", "0", "0", "-", "-", "-"]
    assert groups[0].split() == ["SYNC", "GROUP", "STATE", "MEMBERS", "WANTING", "MASTER", "TRANSITIONS"]
    assert groups[1].split() == ["G1", "BACKUP", "VI_1,VI_2", "VI_2", "4"]
