"""The man pages and bash completions are generated (vipd.manpages) and must not be stale."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vipd import manpages

ROOT = Path(__file__).resolve().parents[2]
GENERATED = manpages.render_all()


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_committed_file_is_current(rel: str) -> None:
    committed = (ROOT / rel).read_text() if (ROOT / rel).exists() else ""
    assert committed == GENERATED[rel], f"{rel} is stale: regenerate with `{manpages.REGENERATE}` and commit it."


def test_every_cli_option_is_in_the_vipd_page() -> None:
    from vipd import cli

    page = GENERATED["docs/man/vipd.8"]
    for action in cli.build_parser()._actions:
        if action.help != "==SUPPRESS==":
            for opt in action.option_strings:
                assert f"\\fB{manpages._dash(opt)}\\fR" in page, opt


def test_every_keyword_of_vrrp_instance_is_in_the_conf_page() -> None:
    page = GENERATED["docs/man/vipd.conf.5"]
    for kw in ("virtual_router_id", "advert_int", "track_script", "notify_master", "unicast_peer"):
        assert f"\\fB{kw}\\fR" in page, kw


@pytest.mark.parametrize("page", ["vipd.8", "vipctl.8", "vipd.conf.5"])
def test_page_renders_without_groff_warnings(page: str) -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed (apt install groff-base)")
    run = subprocess.run([groff, "-man", "-ww", "-z", str(ROOT / "docs/man" / page)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == "", run.stderr


@pytest.mark.parametrize(
    ("script", "words", "expected"),
    [
        ("vipctl", ["vipctl", "re"], {"reload"}),
        ("vipctl", ["vipctl", "status", "--j"], {"--json"}),
        ("vipd", ["vipd", "-S", "local"], {f"local{n}" for n in range(8)}),
        ("vipd", ["vipd", "--signum", "ST"], {"STOP", "STATS", "STATS_CLEAR"}),
        ("vipd", ["vipd", "--log-f"], {"--log-facility", "--log-file", "--log-format"}),
    ],
)
def test_bash_completion(script: str, words: list[str], expected: set[str]) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    code = (
        f"source {ROOT / 'packaging/bash-completion' / script}; COMP_WORDS=({' '.join(words)}); "
        f"COMP_CWORD={len(words) - 1}; _{script}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    out = subprocess.run([bash, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert set(out) == expected
