"""Helpers for the config tests: load text from a temporary file, collect diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vipd.config import ConfigError, Diagnostic, LoadResult, load_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KEEPALIVED = FIXTURES / "keepalived"
CONFIGS = FIXTURES / "configs"

Loader = Callable[..., LoadResult]
Failer = Callable[..., list[Diagnostic]]


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file under tmp_path and return its path."""

    def _write(text: str, name: str = "keepalived.conf") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


@pytest.fixture
def load(write: Callable[..., Path]) -> Loader:
    """Load config text (written to a file), expecting success."""

    def _load(text: str, **kwargs: object) -> LoadResult:
        return load_config(write(text), **kwargs)  # type: ignore[arg-type]

    return _load


@pytest.fixture
def fail(write: Callable[..., Path]) -> Failer:
    """Load config text expecting ConfigError; return its error diagnostics."""

    def _fail(text: str, **kwargs: object) -> list[Diagnostic]:
        path = write(text)
        with pytest.raises(ConfigError) as info:
            load_config(path, **kwargs)  # type: ignore[arg-type]
        errors = info.value.errors
        assert errors, "ConfigError without an error diagnostic"
        for d in errors:
            assert d.file == str(path)
        return errors

    return _fail


def where(diags: list[Diagnostic]) -> list[tuple[int, str]]:
    """(line, keyword) of each diagnostic, the shape most tests assert on."""
    return [(d.line, d.keyword) for d in diags]


def instance(body: str, name: str = "VI_1", head: str = "") -> str:
    """A config with one vrrp_instance whose body is ``body`` (line 1 is 'vrrp_instance')."""
    return f"{head}vrrp_instance {name} {{\n{body}}}\n"


BASIC = """\
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10
    }
"""
