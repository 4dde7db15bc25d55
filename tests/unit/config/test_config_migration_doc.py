"""docs/migrating-from-keepalived.md quotes vipd's diagnostics for the sample corpus: they must be real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import KEEPALIVED

from vipd.config import ConfigError, load_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "migrating-from-keepalived.md"
_QUOTE = re.compile(r"^ {4,}((?:keepalived\.conf[.\w]*|extra-[\w-]+\.conf):\d+: .*)$", re.M)


def _diagnostics(name: str) -> set[str]:
    path = KEEPALIVED / name
    try:
        result = load_config(path, config_id="default")
    except ConfigError as err:
        diags = err.diagnostics
    else:
        diags = result.warnings
    out = set()
    for d in diags:
        head = f"{name}:{d.line}: "
        out.add(
            head + (f"warning: {d.keyword}: {d.message}" if d.severity == "warning" else f"{d.keyword}: {d.message}")
        )
    return out


QUOTED = _QUOTE.findall(DOC.read_text())


def test_the_doc_quotes_sample_diagnostics() -> None:
    assert len(QUOTED) >= 8


@pytest.mark.parametrize("line", QUOTED)
def test_quoted_sample_diagnostic_is_what_vipd_says(line: str) -> None:
    name = line.split(":", 1)[0]
    assert line in _diagnostics(name)
