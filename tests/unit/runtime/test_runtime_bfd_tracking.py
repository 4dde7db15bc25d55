"""track_bfd: the tracker's plan binds a ``bfd`` check per bfd_instance, and the check follows session events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from vipd.config.loader import load_config_string
from vipd.health.api import CheckContext, CheckResult, CheckSpec
from vipd.health.rules import Weight
from vipd.plan.trackers import plan_trackers
from vipd_checks.bfd import BfdCheck

CONF = """
bfd_instance tor { neighbor_ip 192.0.2.254
 weight -20 }
bfd_instance peer { neighbor_ip 192.0.2.2 }
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress { 192.0.2.100/24 }
    track_bfd {
        tor
        peer weight 10 reverse
    }
}
"""


def test_plan_binds_one_bfd_check_per_session_with_keepalived_weights() -> None:
    cfg = load_config_string(CONF, filename="t.conf").config
    t = plan_trackers(cfg)
    specs, bindings = t.specs, t.bindings
    assert specs[("bfd", "tor")][0] == CheckSpec("tor", "bfd", options={"bfd_instance": "tor"})
    bfd = [(b.key, b.weight) for b in bindings["VI_1"] if b.kind == "bfd"]
    assert bfd == [(("bfd", "tor"), Weight(-20, False)), (("bfd", "peer"), Weight(10, True))]


class FakeBfd:
    def __init__(self) -> None:
        self.up: bool | None = False
        self.cbs: list[Callable[[bool, int], None]] = []

    def session_up(self, name: str) -> bool | None:
        return self.up

    def subscribe(self, name: str, callback: Callable[[bool, int], None]) -> Callable[[], None]:
        self.cbs.append(callback)
        return lambda: self.cbs.remove(callback)

    def change(self, up: bool, diag: int) -> None:
        self.up = up
        for cb in list(self.cbs):
            cb(up, diag)


def test_bfd_check_reports_now_and_on_every_change() -> None:
    async def main() -> list[CheckResult]:
        fake = FakeBfd()
        check = BfdCheck(CheckSpec("tor", "bfd", options={"bfd_instance": "tor"}), CheckContext(bfd=fake))
        seen: list[CheckResult] = []
        task = asyncio.create_task(check.watch(seen.append))
        await asyncio.sleep(0)
        fake.change(True, 0)
        fake.change(False, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fake.cbs == []  # unsubscribed
        return seen

    seen = asyncio.run(main())
    assert [r.ok for r in seen] == [False, True, False]
    assert seen[-1].output == "bfd tor down (control detection time expired)"


def test_bfd_check_needs_the_runtime() -> None:
    with pytest.raises(ValueError, match="BFD runtime"):
        BfdCheck(CheckSpec("tor", "bfd"), CheckContext())


def test_sync_group_track_bfd_applies_to_every_member() -> None:
    text = CONF.replace("    track_bfd {\n        tor\n        peer weight 10 reverse\n    }\n", "") + (
        "vrrp_instance VI_2 {\n    interface eth1\n    virtual_router_id 52\n    priority 150\n"
        "    virtual_ipaddress { 192.0.2.101/24 }\n}\n"
        "vrrp_sync_group G {\n    group { VI_1 VI_2 }\n    track_bfd { tor }\n}\n"
    )
    cfg = load_config_string(text, filename="t.conf").config
    bindings = plan_trackers(cfg).bindings
    for name in ("VI_1", "VI_2"):
        assert [(b.key, b.weight) for b in bindings[name] if b.kind == "bfd"] == [(("bfd", "tor"), Weight(-20, False))]
