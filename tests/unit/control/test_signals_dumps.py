"""keepalived's signals (SIGJSON, STATS_CLEAR, the rest never fatal) and dump files nothing planted can block."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "obs"))
from test_obs_metrics import make_row, snapshot

from vipd.control import signals
from vipd.obs.dumpfiles import DATA, JSON, STATS, DumpWriter, UnsafeDirectory
from vipd.obs.kajson import STATS_FIELDS, render_json_file


def test_keepalived_signal_numbers_match_keepalived_signum() -> None:
    assert signals.signum("JSON") == signal.SIGRTMIN + 2 == 36
    assert signals.signum("STATS_CLEAR") == signal.SIGRTMAX - 1 == 63
    assert signals.signum("DATA") == signal.SIGUSR1 and signals.signum("STATS") == signal.SIGUSR2
    try:
        out = subprocess.run(["keepalived", "--signum=JSON"], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        return  # keepalived not installed: the constants above are keepalived's lib/signals.h
    assert int(out.stdout) == signals.SIGJSON
    out = subprocess.run(["keepalived", "--signum=STATS_CLEAR"], capture_output=True, text=True, timeout=10)
    assert int(out.stdout) == signals.SIGSTATS_CLEAR


def test_json_dump_has_keepalived_field_names_and_exporter_friendly_numbers() -> None:
    row = make_row()
    doc = json.loads(render_json_file([row]))
    assert isinstance(doc, list) and len(doc) == 1
    data, stats = doc[0]["data"], doc[0]["stats"]
    assert data["iname"] == "VI_1" and data["ifp_ifname"] == "eth0" and data["vrid"] == 51
    assert data["state"] == 2 and data["wantstate"] == 2  # keepalived: 0 INIT 1 BACKUP 2 MASTER 3 FAULT
    assert data["garp_delay"] == 5 and isinstance(data["garp_delay"], int), "Go exporters decode it as int"
    assert data["vips"] == ["192.0.2.100/24 dev eth0 scope global"]  # keepalived's format_ipaddress
    assert "evips" not in data, "keepalived writes no empty lists"
    assert tuple(stats) == STATS_FIELDS
    assert stats["advert_sent"] == 7 and stats["ip_ttl_err"] == 4 and stats["become_master"] == 2
    assert json.loads(render_json_file([row], version=2))["vrrp"][0]["data"]["iname"] == "VI_1"


def test_dump_files_private_directory_modes_and_links(tmp_path: Path) -> None:
    links = tmp_path / "tmp"
    links.mkdir()
    links.chmod(0o1777)
    os.mkfifo(links / DATA)  # planted where keepalived's path is
    os.mkfifo(links / f"{DATA}.{os.getpid()}.tmp")  # and where vipd's old code opened its temporary file
    w = DumpWriter(str(tmp_path / "run"), str(links))
    path = w.write(DATA, "hello\n")  # would block forever if anything at those paths were opened
    assert path == str(tmp_path / "run" / DATA)
    assert stat.S_IMODE(os.stat(tmp_path / "run").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.readlink(links / DATA) == path, "the FIFO was replaced by a link, never opened"
    assert (links / DATA).read_text() == "hello\n"
    assert w.write(DATA, "again\n") == path and (links / DATA).read_text() == "again\n"
    assert not list((tmp_path / "run").glob("*.tmp"))


@pytest.mark.parametrize("how", ["group_writable", "symlink"])
def test_an_unsafe_dump_directory_is_refused(tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "run"
    if how == "group_writable":
        target.mkdir()
        target.chmod(0o775)
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    w = DumpWriter(str(target), None)
    assert w.write(STATS, "x") is None
    assert "cannot write" in caplog.text
    with pytest.raises(OSError):
        w._open_dir()
    if how == "group_writable":
        with pytest.raises(UnsafeDirectory):
            w._open_dir()


def test_sigjson_stats_clear_and_stray_signals_keep_the_loop_running(tmp_path: Path) -> None:
    rows = [make_row()]
    reloads: list[int] = []
    w = DumpWriter(str(tmp_path / "run"), None)
    actions = signals.dump_actions(snapshot=lambda: snapshot(rows), writer=w, reload=lambda: reloads.append(1))
    pipe_before = signal.getsignal(signal.SIGPIPE)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        installed = signals.install(loop, actions)
        try:
            assert {signal.SIGHUP, signals.SIGJSON, signals.SIGSTATS_CLEAR, signal.SIGRTMIN + 7} <= set(installed)
            for sig in (signals.SIGJSON, signal.SIGRTMIN + 7, signal.SIGPIPE, signal.SIGALRM, signal.SIGHUP):
                os.kill(os.getpid(), sig)
                await asyncio.sleep(0.05)
            assert (tmp_path / "run" / JSON).exists()
            assert reloads == [1]
            os.kill(os.getpid(), signals.SIGSTATS_CLEAR)
            await asyncio.sleep(0.05)
        finally:
            signals.uninstall(loop, installed)

    asyncio.run(scenario())
    doc = json.loads((tmp_path / "run" / JSON).read_text())
    assert doc[0]["data"]["iname"] == "VI_1" and doc[0]["stats"]["advert_sent"] == 7
    assert "    Sent: 7\n" in (tmp_path / "run" / STATS).read_text(), "STATS_CLEAR writes the stats first"
    s = rows[0].stats
    assert (s.adverts_sent, s.master_transitions, sum(s.discards.values()), s.advert_lateness.count) == (0, 0, 0, 0)
    assert signal.getsignal(signal.SIGPIPE) == pipe_before, "uninstall restores what was there"


def test_a_burst_of_queued_signals_writes_each_file_at_most_twice_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real-time signals queue: 200 SIGJSON must not render 200 dumps back to back on the loop."""
    monkeypatch.setattr(signals, "MIN_DUMP_INTERVAL", 0.3)
    writes: list[str] = []

    class Counting(DumpWriter):
        def write(self, name: str, content: str | bytes) -> str | None:
            writes.append(name)
            return super().write(name, content)

    rows = [make_row()]
    w = Counting(str(tmp_path / "run"), None)
    actions = signals.dump_actions(snapshot=lambda: snapshot(rows), writer=w, reload=lambda: None)

    async def scenario() -> None:
        for _ in range(200):
            actions.write_json()
        await asyncio.sleep(0.1)
        assert writes == [JSON], "the first signal is served at once, the rest wait"
        await asyncio.sleep(0.4)

    asyncio.run(scenario())
    assert writes == [JSON, JSON], "and one more write serves all of them"
