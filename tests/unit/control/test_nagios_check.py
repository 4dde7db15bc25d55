"""``vipctl check``: Nagios exit codes from the status answer (vipd.control.nagios)."""

from __future__ import annotations

from typing import Any

import pytest

from vipd.control import vipctl
from vipd.control.nagios import CRITICAL, OK, UNKNOWN, WARNING, judge


def row(name: str = "VI_1", state: str = "MASTER", eff: int = 150, base: int = 150, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "priority": {"base": base, "effective": eff},
        "master_address": kw.pop("master_address", "192.0.2.1"),
        **kw,
    }


def status(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "instances": list(rows)}


def test_master_expected_master_is_ok_with_perfdata() -> None:
    v = judge(status(row()), "master")
    assert v.code == OK
    assert v.line.startswith("VRRP OK - VI_1 MASTER prio 150")
    assert v.line.endswith("| VI_1_priority=150;;;0;255")
    assert "\n" not in v.line


def test_backup_expected_master_is_critical() -> None:
    v = judge(status(row(state="BACKUP", eff=100, base=100)), "master")
    assert v.code == CRITICAL
    assert "expected MASTER" in v.line


def test_master_expected_backup_is_critical() -> None:
    assert judge(status(row()), "backup").code == CRITICAL


def test_fault_is_critical_even_when_any_state_is_expected() -> None:
    assert judge(status(row(state="FAULT")), "any").code == CRITICAL


def test_degraded_priority_is_a_warning() -> None:
    v = judge(status(row(eff=130, base=150)), "master")
    assert v.code == WARNING and "degraded from 150" in v.line


def test_backup_hearing_no_master_is_a_warning() -> None:
    assert judge(status(row(state="BACKUP", master_address=None)), "backup").code == WARNING


def test_maintenance_is_a_warning() -> None:
    assert judge(status(row(state="BACKUP", maintenance=True)), "any").code == WARNING


def test_init_is_a_warning() -> None:
    assert judge(status(row(state="INIT")), "any").code == WARNING


def test_worst_instance_wins_and_is_listed_first() -> None:
    v = judge(status(row("VI_1"), row("VI_2", state="FAULT")), "any")
    assert v.code == CRITICAL
    assert v.line.index("VI_2") < v.line.index("VI_1 ")


def test_one_instance_selected() -> None:
    st = status(row("VI_1"), row("VI_2", state="FAULT"))
    assert judge(st, "master", "VI_1").code == OK


def test_unknown_instance_is_unknown() -> None:
    v = judge(status(row()), "any", "nope")
    assert v.code == UNKNOWN and "nope" in v.line


def test_no_instances_is_unknown() -> None:
    assert judge(status(), "any").code == UNKNOWN


def test_bad_expect_is_refused() -> None:
    with pytest.raises(ValueError, match="--expect"):
        judge(status(row()), "primary")


def test_unreachable_daemon_exits_unknown(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = vipctl.main(["-s", str(tmp_path / "none.ctl"), "check"])
    out = capsys.readouterr().out
    assert code == UNKNOWN
    assert out.startswith("VRRP UNKNOWN - cannot talk to vipd")
