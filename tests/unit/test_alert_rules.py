"""The shipped Prometheus alerting rules load (promtool check rules) and fire when they should
(promtool test rules with docs/prometheus/vipd-alerts.test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (.ci/install extracts it from Debian's prometheus package)")
    return path


def test_rules_load(promtool: str) -> None:
    run = subprocess.run([promtool, "check", "rules", "vipd-alerts.yml"], cwd=RULES, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 7 rules found" in run.stdout


def test_rules_fire_on_two_masters_no_master_flap_and_fault(promtool: str) -> None:
    run = subprocess.run([promtool, "test", "rules", "vipd-alerts.test.yml"], cwd=RULES, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_test() -> None:
    import re

    names = set(re.findall(r"^      - alert: (\w+)$", (RULES / "vipd-alerts.yml").read_text(), re.M))
    tested = set(re.findall(r"alertname: (\w+)$", (RULES / "vipd-alerts.test.yml").read_text(), re.M))
    required = {"VrrpDualMaster", "VrrpNoMaster", "VrrpFlapping", "VrrpInstanceFault"}
    assert required <= names
    assert required <= tested
