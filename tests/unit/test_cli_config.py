"""``vipd -t`` / ``--dump-config`` as an operator runs them: a subprocess, its exit status and stderr.

Whatever the file holds, ``vipd -t`` answers with diagnostics and a documented exit
status (0 ok, 1 errors, 2 usage, 3 warnings under ``--strict``), never a Python
traceback and never a hang (issue #3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vipd.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_WARNINGS

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "fixtures" / "keepalived"
TIMEOUT = 60

GOOD = """\
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.10/24
    }
}
"""


def vipd(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vipd ARGS`` and check it neither hangs nor prints a traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "vipd", *map(str, args)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    for stream in (r.stdout, r.stderr):
        assert "Traceback" not in stream, stream[-3000:]
        assert "internal error" not in stream, stream[-3000:]
    return r


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


# -- exit codes ----------------------------------------------------------------------------


def test_clean_config_exits_0(tmp_path: Path) -> None:
    r = vipd("-t", "-f", _write(tmp_path, "k.conf", GOOD))
    assert r.returncode == EXIT_OK == 0
    assert "configuration OK" in r.stderr


def test_errors_exit_1_with_file_line_keyword(tmp_path: Path) -> None:
    path = _write(tmp_path, "k.conf", GOOD.replace("priority 100", "priority 300").replace("state", "stat"))
    r = vipd("-t", "-f", path)
    assert r.returncode == EXIT_ERROR == 1
    lines = r.stderr.splitlines()
    assert f"{path}:2: stat: unknown keyword in vrrp_instance VI_1; did you mean 'state'?" in lines
    assert f"{path}:5: priority: '300' is out of range (allowed: 1..255)" in lines
    assert lines[-1] == f"{path}: 2 error(s); configuration refused"


def test_bad_usage_exits_2() -> None:
    assert vipd("--no-such-flag").returncode == EXIT_USAGE == 2


def test_warnings_exit_0_but_3_with_strict(tmp_path: Path) -> None:
    path = _write(tmp_path, "k.conf", GOOD.replace("    priority 100\n", "").replace("BACKUP", "MASTER"))
    r = vipd("-t", "-f", path)
    assert r.returncode == EXIT_OK
    assert f"{path}:2: warning: priority: " in r.stderr
    r = vipd("-t", "--strict", "-f", path)
    assert r.returncode == EXIT_WARNINGS == 3
    assert f"{path}:2: warning: priority: " in r.stderr


def test_lvs_block_is_a_warning_then_an_error_with_strict() -> None:
    sample = SAMPLES / "keepalived.conf.sample"
    r = vipd("-t", "-f", sample)
    assert r.returncode == EXIT_OK
    assert f"{sample}:26: warning: virtual_server: LVS/IPVS configuration is not supported" in r.stderr
    r = vipd("-t", "--strict", "-f", sample)
    assert r.returncode == EXIT_ERROR
    assert f"{sample}:26: virtual_server: LVS/IPVS configuration is not supported" in r.stderr


def test_missing_file_exits_1(tmp_path: Path) -> None:
    r = vipd("-t", "-f", tmp_path / "nope.conf")
    assert r.returncode == EXIT_ERROR
    assert "cannot read" in r.stderr


def test_config_id_selects_conditional_lines() -> None:
    sample = SAMPLES / "keepalived.conf.conditional_conf"
    high = vipd("-t", "-i", "high", "-f", sample)
    # @high selects a script; it does not exist on this machine, which vipd refuses (DESIGN "Bad input")
    assert "required" not in high.stderr
    assert "check_high_VI_0.sh: No such file or directory" in high.stderr
    r = vipd("-t", "-i", "other", "-f", sample)
    assert r.returncode == EXIT_ERROR
    assert f"{sample}:6: script: required in vrrp_script check_VI_0 but not given" in r.stderr


# -- --dump-config ---------------------------------------------------------------------------


def test_dump_config_says_when_state_master_implied_priority_255(tmp_path: Path) -> None:
    path = _write(tmp_path, "k.conf", GOOD.replace("    priority 100\n", "").replace("BACKUP", "MASTER"))
    r = vipd("--dump-config", "-f", path)
    assert r.returncode == EXIT_OK
    vi = json.loads(r.stdout)["vrrp_instances"]["VI_1"]
    assert (vi["priority"], vi["priority_implied"]) == (255, True)
    assert f"{path}:2: warning: priority: " in r.stderr and "255" in r.stderr


def test_dump_config_explicit_priority_is_not_implied(tmp_path: Path) -> None:
    r = vipd("--dump-config", "-f", _write(tmp_path, "k.conf", GOOD))
    data = json.loads(r.stdout)
    vi = data["vrrp_instances"]["VI_1"]
    assert (vi["priority"], vi["priority_implied"], vi["advert_int"], vi["version"]) == (100, False, 1.0, 2)
    assert data["global_defs"]["vrrp_garp_master_repeat"] == 5


def test_dump_config_of_a_broken_file_prints_no_json(tmp_path: Path) -> None:
    r = vipd("--dump-config", "-f", _write(tmp_path, "k.conf", "bogus\n"))
    assert r.returncode == EXIT_ERROR and r.stdout == ""


# -- whatever the file holds ----------------------------------------------------------------------


def _junk_cases(tmp_path: Path) -> dict[str, Path]:
    import random

    rng = random.Random(3)
    cases = {
        "empty": _write(tmp_path, "empty.conf", b""),
        "random-bytes": _write(tmp_path, "random.bin", bytes(rng.randrange(256) for _ in range(200_000))),
        "elf-header": _write(tmp_path, "elf.bin", b"\x7fELF\x02\x01\x01\x00" + b"\x00\xff{}\n" * 5000),
        "utf16": _write(tmp_path, "utf16.conf", GOOD.encode("utf-16")),
        "nul-in-keyword": _write(tmp_path, "nul.conf", b"vrrp_instance \x00VI {\n}\n"),
        "only-braces": _write(tmp_path, "braces.conf", "{" * 5000 + "}" * 4000 + "\n"),
        "deeply-nested": _write(tmp_path, "deep.conf", "vrrp_instance VI_1 {\n" + "a {\n" * 50_000 + "}\n" * 50_001),
        "deep-one-line": _write(tmp_path, "deep1.conf", "global_defs " + "{ " * 100_000 + "}" * 100_000 + "\n"),
        "long-line": _write(tmp_path, "long.conf", "router_id " + "x" * 3_000_000 + "\n"),
        "many-errors": _write(tmp_path, "many.conf", "global_defs {\n" + " router_id x\n" * 20_000 + "}\n"),
        "too-large": _write(tmp_path, "large.conf", "# padding\n" * 500_000),
        "unterminated-quote": _write(tmp_path, "quote.conf", GOOD.replace("eth0", '"eth0')),
        "param-bomb": _write(tmp_path, "bomb.conf", "$X=$X$X$X$X$X$X$X$X\n$X\n"),
        "param-wide": _write(
            tmp_path,
            "wide.conf",
            "$A="
            + "x" * 1000
            + "\n"
            + "".join(f"${chr(66 + i)}=" + f"${chr(65 + i)}" * 20 + "\n" for i in range(10))
            + "$K\n",
        ),
        "param-fanout": _write(
            tmp_path,
            "fanout.conf",
            "$A=\n" + "".join(f"${chr(66 + i)}=" + f"${chr(65 + i)}" * 20 + "\n" for i in range(10)) + "$K\n",
        ),
        "param-cycle": _write(tmp_path, "cycle-param.conf", "$A=${B}\n$B=${A}\n$A\n"),
        "include-self": _write(tmp_path, "self.conf", "include self.conf\n" + GOOD),
        "include-dir": _write(tmp_path, "incdir.conf", f"include {tmp_path}\n"),
        "directory": tmp_path / "subdir",
        "fifo": tmp_path / "fifo.conf",
        "dev-zero": Path("/dev/zero"),
    }
    (tmp_path / "subdir").mkdir()
    os.mkfifo(tmp_path / "fifo.conf")
    _write(tmp_path, "a.conf", "include b.conf\n" + GOOD)
    _write(tmp_path, "b.conf", "include a.conf\n")
    cases["include-cycle"] = tmp_path / "a.conf"
    nest = tmp_path / "nest"
    nest.mkdir()
    for i in range(20):
        _write(nest, f"n{i}.conf", f"include n{i + 1}.conf\n")
    cases["include-too-deep"] = nest / "n0.conf"
    everything = tmp_path / "glob"
    everything.mkdir()
    os.mkfifo(everything / "fifo")
    _write(everything, "junk.bin", b"\xff\xfe\x00" * 100)
    cases["include-glob-all"] = _write(everything, "all.conf", "include *\n" + GOOD)
    return cases


def test_junk_files_never_produce_a_traceback_or_hang(tmp_path: Path) -> None:
    """One subprocess per kind of junk; each must exit 1 (or 0 for an empty file) with diagnostics."""
    cases = _junk_cases(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(cases, pool.map(lambda p: vipd("-t", "-f", p), cases.values()), strict=True))
    results = {name: (r.returncode, r.stderr) for name, r in runs.items()}
    for name, (code, stderr) in results.items():
        expected = EXIT_OK if name == "empty" else EXIT_ERROR
        assert code == expected, (name, code, stderr[-2000:])
        if code == EXIT_ERROR:
            assert stderr.rstrip().endswith("configuration refused"), (name, stderr[-2000:])
            assert len(stderr.splitlines()) <= 1100, name  # junk is capped, not one line per byte
    assert "include cycle" in results["include-cycle"][1]
    assert "include cycle" in results["include-self"][1]
    assert "include cycle" in results["include-glob-all"][1] and "not a regular file" in results["include-glob-all"][1]
    assert "nested deeper than 8" in results["include-too-deep"][1]
    assert "not a regular file" in results["fifo"][1]
    assert "not a regular file" in results["dev-zero"][1]
    assert "larger than 4 MiB" in results["too-large"][1]
    assert "more diagnostics not shown" in results["many-errors"][1]
    assert "circular" in results["param-bomb"][1]
    assert "more than 65536 characters" in results["param-wide"][1]
    assert "parameter substitutions" in results["param-fanout"][1]


@pytest.mark.parametrize("strict", [False, True])
def test_every_keepalived_sample_answers_without_traceback(strict: bool) -> None:
    for sample in sorted(SAMPLES.glob("*keepalived.conf*")):
        r = vipd("-t", *(["--strict"] if strict else []), "-i", "high", "-f", sample)
        assert r.returncode in (EXIT_OK, EXIT_ERROR, EXIT_WARNINGS), (sample, r.stderr)
