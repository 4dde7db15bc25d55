"""Log targets and severities: sd-daemon <N> prefixes under journald, syslog facility, keepalived's flags."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vipd import cli
from vipd.obs import log as vlog

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, vlog.log.level)
    yield
    root.handlers[:], _, _ = saved
    root.setLevel(saved[1])
    vlog.log.setLevel(saved[2])


def test_syslog_priorities_follow_rfc5424() -> None:
    assert [vlog.syslog_priority(lv) for lv in (50, 40, 30, 20, 10, 5, 25)] == [2, 3, 4, 6, 7, 7, 6]


@pytest.mark.parametrize(
    ("text", "facility"),
    [("0", 16), ("7", 23), ("local3", 19), ("LOCAL3", 19), ("user", 1), ("daemon", 3)],
)
def test_parse_facility_takes_keepalived_values(text: str, facility: int) -> None:
    assert vlog.parse_facility(text) == facility


@pytest.mark.parametrize("text", ["8", "local8", "kern", "", "-1"])
def test_parse_facility_refuses_others(text: str) -> None:
    with pytest.raises(ValueError, match="expected 0-7"):
        vlog.parse_facility(text)


def test_journal_stream_must_name_stderr(tmp_path: Path) -> None:
    f = tmp_path / "stream"
    f.write_text("")
    with open(f) as fh:
        st = os.fstat(fh.fileno())
        assert vlog.stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fh.fileno())
        assert not vlog.stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fh.fileno())
        assert not vlog.stderr_is_journal({"JOURNAL_STREAM": "junk"}, fh.fileno())
        assert not vlog.stderr_is_journal({}, fh.fileno())


def _run(code: str, journal: bool, tmp_path: Path, *args: str) -> str:
    """Run ``code`` in a child whose stderr is a file; with ``journal`` JOURNAL_STREAM names it."""
    err = tmp_path / "stderr"
    with open(err, "w") as fh:
        st = os.fstat(fh.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        env["PYTHONPATH"] = str(ROOT)
        subprocess.run([sys.executable, "-c", code, *args], stderr=fh, env=env, check=True, timeout=30)
    return err.read_text()


EMIT = (
    "import logging, sys\n"
    "from vipd.obs.log import setup_logging, LogTargets\n"
    "setup_logging(logging.DEBUG, sys.argv[1])\n"
    "log = logging.getLogger('vipd')\n"
    "log.debug('(VI_1) detail'); log.info('(VI_1) Entering MASTER STATE'); log.warning('careful')\n"
    "log.error('cannot start: boom')\n"
    "try:\n    1/0\nexcept ZeroDivisionError:\n    log.exception('failed')\n"
)


def test_under_journald_every_line_carries_its_priority_and_no_timestamp(tmp_path: Path) -> None:
    lines = _run(EMIT, True, tmp_path, "text").splitlines()
    assert lines[:4] == ["<7>(VI_1) detail", "<6>(VI_1) Entering MASTER STATE", "<4>careful", "<3>cannot start: boom"]
    assert lines[4] == "<3>failed"
    assert len(lines) > 5 and all(line.startswith("<3>") for line in lines[5:])  # the traceback stays an error
    assert any("ZeroDivisionError" in line for line in lines[5:])


def test_json_under_journald_keeps_the_prefix(tmp_path: Path) -> None:
    first = _run(EMIT, True, tmp_path, "json").splitlines()[0]
    assert first.startswith('<7>{"ts": ')


def test_on_a_terminal_lines_keep_the_timestamp_and_no_prefix(tmp_path: Path) -> None:
    lines = _run(EMIT, False, tmp_path, "text").splitlines()
    assert " vipd[" in lines[1] and lines[1].endswith(": (VI_1) Entering MASTER STATE")
    assert not any(line.startswith("<") for line in lines)


def test_syslog_target_sends_facility_and_severity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-S 0: datagrams to the syslog socket carry <PRI> = LOG_LOCAL0*8 + severity (RFC 3164)."""
    addr = str(tmp_path / "devlog")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(addr)
        sock.settimeout(5)
        monkeypatch.setattr(vlog, "SYSLOG_ADDRESS", addr)
        vlog.setup_logging(logging.INFO, "text", vlog.LogTargets(facility=vlog.parse_facility("0")))
        logging.getLogger("vipd").error("(VI_1) two masters")
        logging.getLogger("vipd").info("hello")
        got = [sock.recv(4096) for _ in range(2)]
    assert got[0].startswith(b"<131>vipd[") and got[0].rstrip(b"\0").endswith(b": (VI_1) two masters")  # 16*8+3
    assert got[1].startswith(b"<134>")  # 16*8+6


def test_no_syslog_wins_and_a_missing_syslog_is_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vlog, "SYSLOG_ADDRESS", str(tmp_path / "absent"))
    vlog.setup_logging(logging.INFO, "text", vlog.LogTargets(facility=16, no_syslog=True))
    assert [type(h) for h in logging.getLogger().handlers] == [logging.StreamHandler]
    vlog.setup_logging(logging.INFO, "text", vlog.LogTargets(facility=16))
    assert [type(h) for h in logging.getLogger().handlers] == [logging.StreamHandler]


def test_log_file_target(tmp_path: Path) -> None:
    path = tmp_path / "vipd.log"
    vlog.setup_logging(logging.INFO, "text", vlog.LogTargets(log_file=str(path)))
    logging.getLogger("vipd").warning("(VI_1) into the file")
    for h in logging.getLogger().handlers:
        h.flush()
    assert path.read_text().rstrip().endswith("(VI_1) into the file")


def test_debug_is_vipd_detail_not_library_noise() -> None:
    vlog.setup_logging(logging.DEBUG)
    assert logging.getLogger("vipd").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("pyroute2").isEnabledFor(logging.DEBUG)


def test_keepalived_daemon_args_parse() -> None:
    """A DAEMON_ARGS copied from /etc/default/keepalived is not a usage error."""
    args = cli.build_parser().parse_args(["-D", "-S", "0", "-G", "-d", "-x", "-l", "-n", "-P", "-g", "/tmp/k.log"])
    assert (args.log_detail, args.log_facility, args.no_syslog, args.dump_conf, args.snmp) == (
        True,
        "0",
        True,
        True,
        True,
    )
    assert args.log_file == "/tmp/k.log"
    assert cli.build_parser().parse_args(["-g"]).log_file == cli.DEFAULT_LOG_FILE


@pytest.mark.parametrize(("name", "num"), [("STOP", 15), ("RELOAD", 1), ("DATA", 10), ("STATS", 12), ("json", 36)])
def test_signum_prints_keepalived_numbers(name: str, num: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--signum", name]) == 0
    assert capsys.readouterr().out == f"{num}\n"


def test_signum_unknown_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--signum", "TDATA"]) == 1
    assert "Unknown sigfunc TDATA" in capsys.readouterr().err


def test_bad_facility_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["-S", "9", "-f", "/nonexistent"])
    assert exc.value.code == 2
    assert "log facility '9'" in capsys.readouterr().err


def test_facility_codes_are_syslog_handlers() -> None:
    """vipd.obs.log spells the facilities as numbers so logging.handlers loads only with syslog or a file."""
    import logging.handlers

    from vipd.obs.log import FACILITIES

    h = logging.handlers.SysLogHandler
    assert FACILITIES["user"] == h.LOG_USER and FACILITIES["daemon"] == h.LOG_DAEMON
    assert [FACILITIES[f"local{n}"] for n in range(8)] == [getattr(h, f"LOG_LOCAL{n}") for n in range(8)]
