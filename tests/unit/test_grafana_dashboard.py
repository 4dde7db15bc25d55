"""docs/grafana/vipd-dashboard.json: every query parses (promtool), keeps its series, has a unit; states are mapped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "docs/grafana/vipd-dashboard.json").read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
EXPRS = [t["expr"] for p in PANELS for t in p["targets"]]
EXTRA_NAMES: set[str] = set()  # names served but found neither in docs/metrics.md nor in vipd/obs/*.py


def grafana_free(expr: str) -> str:
    """Replace Grafana's variables so that the expression is plain PromQL."""
    return expr.replace("$__rate_interval", "1m").replace("$__range", "6h").replace("$instance", ".*")


def test_ids_unique_and_panels_do_not_overlap() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in DASHBOARD["panels"]:
        g = p["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        assert g["x"] + g["w"] <= 24
        cells |= mine


def test_every_panel_has_a_unit_a_description_and_the_datasource_variable() -> None:
    for p in PANELS:
        assert p["fieldConfig"]["defaults"].get("unit"), p["title"]
        assert p.get("description"), p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]


def test_no_query_joins_two_metrics_with_or() -> None:
    """`rate(a) or rate(b)` keeps only a's series wherever both have the same labels: b vanished."""
    for e in EXPRS:
        assert not re.search(r"\)\s+or\s+(rate|increase|irate)\(", e), e


def _mapping(panel: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in panel["fieldConfig"]["defaults"].get("mappings", []):
        out.update({k: v["text"] for k, v in m["options"].items()})
    return out


def test_state_panels_map_every_state() -> None:
    by_title = {p["title"]: p for p in PANELS}
    timeline = by_title["State per instance"]
    assert timeline["type"] == "state-timeline"
    assert _mapping(timeline) == {"0": "INIT", "1": "BACKUP", "2": "MASTER", "3": "FAULT"}
    assert _mapping(by_title["Checks (debounced)"]) == {"0": "FAILED", "1": "OK"}
    assert set(_mapping(by_title["vrrp_script run state"])) == {"0", "1", "2", "3"}
    for title in ("VRIDs with two masters", "VRIDs with no master"):
        assert by_title[title]["type"] == "stat"
        assert "or vector(0)" in by_title[title]["targets"][0]["expr"]  # 0, not "No data", when all is well


def test_metric_names_exist() -> None:
    documented = set(re.findall(r"`((?:keepalived|vipd)_[a-z_]+)", (ROOT / "docs/metrics.md").read_text()))
    for source in (ROOT / "vipd/obs").glob("*.py"):  # the collectors' own names
        documented |= set(re.findall(r"\"((?:keepalived|vipd)_[a-z_]+)\"", source.read_text()))
    documented |= {n + "_total" for n in documented} | {n + "_bucket" for n in documented} | EXTRA_NAMES
    used = {n for e in EXPRS for n in re.findall(r"\b((?:keepalived|vipd|process)_[a-z_]+)\b", e)}
    unknown = {n for n in used if not n.startswith("process_") and n not in documented}
    assert not unknown
    assert {"keepalived_script_state", "keepalived_vrrp_excluded_state", "vipd_check_status"} <= used


def test_every_query_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (.ci/install extracts it from Debian's prometheus package)")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query{i}", "expr": grafana_free(e)} for i, e in enumerate(EXPRS)],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
