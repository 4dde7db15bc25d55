"""The start-up plan memo (vipd.control.planmemo): kept only while every read answers the same."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path

import pytest

from vipd.control import planmemo
from vipd.plan import check_file
from vipd.plan.host import LinkFacts

CONF = """\
$VIP=10.0.0.100/24
include {dir}/conf.d/*.conf
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    version 3
    virtual_router_id 51
    priority 100
    advert_int 0.1
    virtual_ipaddress {{
        $VIP
    }}
    notify_master "/bin/true ${{_ENV MEMO_TEST_WORD}}"
}}
"""
EXTRA = """\
vrrp_instance VI_{n} {{
    interface eth0
    version 3
    virtual_router_id {n}
    priority 100
    virtual_ipaddress {{
        10.0.{n}.1/24
    }}
}}
"""


@pytest.fixture
def memo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "memo"
    monkeypatch.setenv("CACHE_DIRECTORY", str(d))
    monkeypatch.setenv("MEMO_TEST_WORD", "one")
    return d


def write(tmp_path: Path) -> Path:
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    (tmp_path / "conf.d" / "a.conf").write_text(EXTRA.format(n=61))
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF.format(dir=tmp_path))
    return conf


def plan_and_store(conf: Path) -> bool:
    files = planmemo.RecordingFiles()
    verdict = check_file(conf, config_id="node1", files=files)
    assert verdict.plan is not None, verdict.lines()
    return planmemo.store(
        str(conf), "node1", strict=False, no_host=True, verdict=verdict, files=files.record, host=None
    )


def lookup(conf: Path, **kw: bool) -> object:
    return planmemo.lookup(str(conf), "node1", strict=kw.get("strict", False), no_host=kw.get("no_host", True))


def test_same_reads_give_the_kept_plan(tmp_path: Path, memo_dir: Path) -> None:
    conf = write(tmp_path)
    assert plan_and_store(conf)
    kept = lookup(conf)
    assert kept is not None
    fresh = check_file(conf, config_id="node1")
    assert kept.plan is not None and fresh.plan is not None  # type: ignore[attr-defined]
    assert kept.plan.by_key() == fresh.plan.by_key()  # type: ignore[attr-defined]
    assert oct(memo_dir.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize(
    "change",
    [
        "edit the main file",
        "edit an included file",
        "a new file matches the include glob",
        "the environment variable changes",
        "other options",
    ],
)
def test_any_changed_read_plans_afresh(
    tmp_path: Path, memo_dir: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    conf = write(tmp_path)
    assert plan_and_store(conf)
    assert lookup(conf) is not None
    if change == "edit the main file":
        conf.write_text(conf.read_text().replace("priority 100", "priority 101", 1))
    elif change == "edit an included file":
        (tmp_path / "conf.d" / "a.conf").write_text(EXTRA.format(n=62))
    elif change == "a new file matches the include glob":
        (tmp_path / "conf.d" / "b.conf").write_text(EXTRA.format(n=63))
    elif change == "the environment variable changes":
        monkeypatch.setenv("MEMO_TEST_WORD", "two")
    else:
        assert lookup(conf, strict=True) is None
        assert lookup(conf, no_host=False) is None
        return
    assert lookup(conf) is None


def test_a_memo_others_can_write_is_not_read(tmp_path: Path, memo_dir: Path) -> None:
    conf = write(tmp_path)
    assert plan_and_store(conf)
    (memo_file,) = memo_dir.iterdir()
    memo_file.chmod(0o666)
    assert lookup(conf) is None
    memo_file.chmod(0o600)
    memo_dir.chmod(0o777)
    assert lookup(conf) is None
    memo_dir.chmod(0o700)
    assert lookup(conf) is not None


def test_a_corrupt_memo_is_a_miss_not_a_failure(tmp_path: Path, memo_dir: Path) -> None:
    conf = write(tmp_path)
    assert plan_and_store(conf)
    (memo_file,) = memo_dir.iterdir()
    memo_file.write_bytes(pickle.dumps({"key": "junk"})[:-3])
    assert lookup(conf) is None


class FakeHost:
    def __init__(self, links: set[str]) -> None:
        self.links = links

    def has_link(self, name: str) -> bool:
        return name in self.links

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)


def test_host_answers_are_replayed() -> None:
    host = planmemo.RecordingHost(FakeHost({"eth0"}))
    assert host.has_link("eth0")
    assert not host.has_link("eth1")
    with pytest.raises(FileNotFoundError):
        host.stat("/nonexistent/vipd-memo-test")
    record = host.record
    assert planmemo._replays(record, FakeHost({"eth0"}))
    assert not planmemo._replays(record, FakeHost(set()))  # eth0 gone
    assert not planmemo._replays(record, FakeHost({"eth0", "eth1"}))  # eth1 appeared


def test_a_live_host_is_asked_only_what_the_checks_need() -> None:
    """A crashed master leaves its VIPs on the interface: that must not change an answer."""
    from vipd.linux.host import LiveHost

    before = LiveHost({"eth0": LinkFacts("eth0", 2, (ip_address("192.0.2.1"),))})
    after = LiveHost({"eth0": LinkFacts("eth0", 2, (ip_address("192.0.2.1"), ip_address("192.0.2.100")))})
    host = planmemo.RecordingHost(before)
    assert host.has_link("eth0") and host.is_local(ip_address("192.0.2.1"))
    assert planmemo._replays(host.record, after)
    assert not planmemo._replays(host.record, LiveHost({"eth0": LinkFacts("eth0", 2, ())}))


def test_the_worker_records_what_it_read(tmp_path: Path, memo_dir: Path) -> None:
    """``planworker --record`` (what start-up runs) gives the verdict and a record that replays."""
    conf = write(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "vipd.control.planworker", "--no-host", "--record", str(conf), "node1"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    from vipd.control.planworker import Result

    result = pickle.loads(out.stdout)
    assert isinstance(result, Result) and result.verdict.plan is not None and result.host is None
    assert result.files is not None and any(m == "glob" for m, _, _ in result.files)
    assert planmemo._replays(result.files, planmemo.Files())
