"""Maintenance outside the FSM: the saved state (vipd.control.maintenance) and systemd's STATUS= line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vipd.control import maintenance
from vipd.control.operate import Operations
from vipd.fsm import State


def test_saved_names_survive_a_restart(tmp_path: Path) -> None:
    d = tmp_path / "state"
    assert maintenance.load(str(d)) == set()
    maintenance.save(str(d), {"VI_2", "VI_1"})
    assert json.loads((d / "maintenance.json").read_text()) == {"instances": ["VI_1", "VI_2"]}
    assert maintenance.load(str(d)) == {"VI_1", "VI_2"}
    assert not list(d.glob(".*tmp"))  # written through a temporary file, renamed


def test_a_damaged_state_file_means_no_maintenance_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "maintenance.json").write_text("{not json")
    assert maintenance.load(str(tmp_path)) == set()
    assert "cannot read" in caplog.text


def test_status_line_says_maintenance() -> None:
    def driver(name: str, state: State, maint: bool) -> SimpleNamespace:
        return SimpleNamespace(name=name, machine=SimpleNamespace(state=state, maintenance=maint))

    ops = Operations.__new__(Operations)
    ops.daemon = SimpleNamespace(  # type: ignore[assignment]
        instances=lambda: [(driver("VI_1", State.BACKUP, True), None), (driver("VI_2", State.MASTER, False), None)]
    )
    assert ops.status_line() == "2 instance(s): VI_1=MAINTENANCE VI_2=MASTER"
