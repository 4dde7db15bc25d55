"""docs/configuration.md is generated from the keyword tables and the model, and kept fresh."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from vipd import cli
from vipd.config import docgen
from vipd.config.grammar import Ignored

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "configuration.md"


def test_configuration_md_is_not_stale() -> None:
    expected = docgen.render()
    current = DOC.read_text() if DOC.exists() else ""
    assert current == expected, (
        "docs/configuration.md is stale: the keyword tables or the model changed. "
        f"Regenerate it with `{docgen.REGENERATE}` and commit it."
    )


def test_docgen_entry_point_prints_the_document() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vipd.config.docgen"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert r.stdout == docgen.render()


def test_every_keyword_is_documented() -> None:
    text = docgen.render()
    for block, table, _ in docgen.blocks():
        for kw, spec in table.items():
            shown = f"`{kw}`"
            assert shown in text, (block, kw)
            if not isinstance(spec, Ignored):
                assert f"| `{kw}` |" in text, (block, kw)


def test_rows_carry_type_default_and_unit() -> None:
    rows = {r.keyword: r for r in docgen.rows("vrrp_instance", *_block("vrrp_instance"))}
    assert (rows["advert_int"].unit, rows["advert_int"].default) == ("seconds", "1")
    assert rows["priority"].type == "integer 1..255"
    assert "255 with `state MASTER`" in rows["priority"].default
    assert rows["interface"].default == "**required**"
    assert rows["state"].type == "`MASTER` \\| `BACKUP`"
    assert rows["preempt"].default == "on" and rows["nopreempt"].default == "off"
    assert "(sets `unicast_src_ip`)" in rows["mcast_src_ip"].keepalived
    assert rows["virtual_router_id"].differs.startswith("required; the same VRID twice")


def _block(name: str) -> tuple[docgen.Table, type | None]:
    for block, table, mdl in docgen.blocks():
        if block == name:
            return table, mdl
    raise AssertionError(name)


def test_exit_codes_agree_with_cli_and_readme() -> None:
    codes = dict(docgen.EXIT_CODES)
    assert set(codes) == {cli.EXIT_OK, cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_WARNINGS}
    doc = cli.__doc__ or ""
    for code in codes:
        assert re.search(rf"^\s+{code}\s+\S", doc, re.M), f"vipd/cli.py's docstring lacks exit status {code}"
    readme = (ROOT / "README.md").read_text()
    assert (
        "Exit status: 0 ok,\n1 configuration error or start-up failure, 2 bad usage, 3 `-t --strict` with warnings."
        in readme
    )


def test_docgen_is_pure() -> None:
    """Importing the generator writes nothing and pulls in no I/O layer."""
    code = (
        "import sys, vipd.config.docgen\n"
        "print(sorted(m for m in sys.modules if m.startswith(('vipd.runtime', 'vipd.linux', 'vipd.cli'))))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert r.stdout.strip() == "[]"
