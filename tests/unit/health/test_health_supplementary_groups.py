"""keepalived ``set_supplementary_groups``: a script gets its user's supplementary groups only when set.

keepalived's ``set_uid_gid`` calls ``getgrouplist(user, user's gid)`` with the option and
``setgroups(0, NULL)`` without it; a script run by vipd's runner reports its groups with ``id -G``.
"""

from __future__ import annotations

import asyncio
import os
import pwd

import pytest

from vipd.config import load_config_string
from vipd.health.identity import script_run_as
from vipd.linux.spawn import run
from vipd.plan import plan_config


def _user_with_supplementary_groups() -> pwd.struct_passwd | None:
    for p in pwd.getpwall():
        if len(set(os.getgrouplist(p.pw_name, p.pw_gid))) > 1:
            return p
    return None


USER = _user_with_supplementary_groups()
needs_user = pytest.mark.skipif(USER is None, reason="no user with supplementary groups on this host")


@needs_user
def test_without_set_supplementary_groups_a_script_has_no_supplementary_group() -> None:
    assert USER is not None
    assert script_run_as(USER.pw_name, None, (None, None)).groups == ()


@needs_user
def test_set_supplementary_groups_gives_the_users_groups() -> None:
    assert USER is not None
    who = script_run_as(USER.pw_name, None, (None, None), supplementary=True)
    assert set(who.groups) == set(os.getgrouplist(USER.pw_name, USER.pw_gid))


@needs_user
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch user")
def test_set_supplementary_groups_reaches_the_running_script() -> None:
    assert USER is not None
    for sup in (False, True):
        who = script_run_as(USER.pw_name, None, (None, None), supplementary=sup)
        out = asyncio.run(run(["/usr/bin/id", "-G"], timeout=10, run_as=who, output_limit=4096))
        got = {int(g) for g in out.output.split()}
        want = set(os.getgrouplist(USER.pw_name, USER.pw_gid)) if sup else {USER.pw_gid}
        assert got == want, (sup, out)


def test_planner_marks_hooks_with_set_supplementary_groups() -> None:
    text = (
        "global_defs {\n set_supplementary_groups\n}\n"
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n"
        " notify_master /bin/true\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n"
    )
    r = load_config_string(text)
    plan = plan_config(r.config, r.locs).plan
    assert plan is not None
    assert plan.instances["VI_1"].hooks["notify_master"].supplementary_groups
