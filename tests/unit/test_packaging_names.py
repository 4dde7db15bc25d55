"""The built-in checks are installed as ``vipd_checks``: nothing imports them as ``checks``.

The source directory is ``checks/`` (setup.py maps it); run from the repository,
``import checks`` would still work (the current directory is on sys.path) and give a
second copy of every module, whose classes and module state differ from those the
entry points load.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_imports_the_checks_directory_by_its_source_name() -> None:
    pattern = re.compile(r"^\s*(from checks(\.| import)|import checks\b)", re.M)
    offenders = [
        str(p.relative_to(ROOT))
        for d in ("vipd", "checks", "tests", "netns-lab")
        for p in (ROOT / d).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []


def test_entry_points_name_vipd_checks() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split('[project.entry-points."vipd.checks"]', 1)[1].split("\n\n", 1)[0]
    targets = re.findall(r'=\s*"([^"]+)"', section)
    assert targets and all(t.startswith("vipd_checks.") for t in targets), targets
