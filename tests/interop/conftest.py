"""Interop tests: Debian's keepalived and vipd on the same VRID, in lab namespaces.

Every test here needs root (network namespaces, raw sockets), the
``keepalived`` binary and Wireshark's ``tshark``/``dumpcap``; each missing one
is named in the skip reason. ``.ci/run`` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from vipdlab import keepalived_available, vipd_available
from vipdlab.lab.interop import tshark_available


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "interop tests need root (network namespaces and raw sockets)"
    if not keepalived_available():
        return "keepalived is not installed (apt-get install keepalived)"
    if not tshark_available():
        return "tshark/dumpcap are not installed (DEBIAN_FRONTEND=noninteractive apt-get install tshark)"
    if shutil.which("nft") is None:
        return "nft is not installed (apt-get install nftables); the tie-break tests partition with it"
    ok, why = vipd_available()
    if not ok:
        return f"vipd cannot run from this checkout: {why}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    checked = False
    for item in items:
        if "interop" not in item.keywords:
            continue
        if not checked:
            reason, checked = _missing(), True
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


Record = Callable[..., None]
"""``record(check=..., mode=..., ...)``: one row of the interop matrix."""


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Record]:
    """Collect matrix rows; append them as JSON lines to $VIPD_INTEROP_REPORT (docs/interop.md is built from it)."""
    rows: list[dict[str, Any]] = []

    def add(**kw: Any) -> None:
        rows.append({"test": request.node.name, **kw})

    yield add
    path = os.environ.get("VIPD_INTEROP_REPORT")
    if path:
        with open(path, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
