"""An operator reaches every document from README.md (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_links_every_document_and_every_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text()
    links = set(re.findall(r"\]\(([^)#]+)\)", readme))
    docs = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "docs").rglob("*")
        if p.is_file() and p.suffix in (".md", ".json", ".yml", ".service", ".5", ".8") and ".test." not in p.name
    }
    assert docs - links == set(), f"README.md does not link: {sorted(docs - links)}"
    assert [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []
