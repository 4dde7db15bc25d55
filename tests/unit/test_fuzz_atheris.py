"""Coverage-guided fuzzing with atheris (libFuzzer) of the advert decoder and the config loader.

Whatever the input: the decoder returns a ``Received`` or raises a ``DecodeError``; the
loader returns a ``LoadResult`` or raises a ``ConfigError``; neither hangs (libFuzzer's
per-input timeout). Hypothesis covers the same properties with random inputs
(tests/unit/wire/test_wire_fuzz.py, tests/unit/config/test_config_robustness.py); atheris
adds coverage feedback, seeded with real adverts and keepalived's sample configs.

libFuzzer ends its process when done, so each target runs in a subprocess: this
file is also the harness (``python test_fuzz_atheris.py decoder|config CORPUS -runs=N``).
Slow: a fixed number of iterations per target: 200,000 decoder inputs (~8 s) and 2,000 configs
(~20 s; the loader takes ~10 ms an input); VIPD_ATHERIS_*_RUNS raise them for a longer campaign
(20,000 configs passed in 190 s when this was written).
"""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DECODER_RUNS = int(os.environ.get("VIPD_ATHERIS_DECODER_RUNS", "200000"))
CONFIG_RUNS = int(os.environ.get("VIPD_ATHERIS_CONFIG_RUNS", "2000"))
PER_INPUT_TIMEOUT = 10  # seconds; a slower input is reported as a hang


def _decoder_target(data: bytes) -> None:
    from vipd.wire import DecodeError, Received, decode_advert, decode_ipv4

    calls = [lambda: decode_ipv4(data)]
    if data:
        ttl, rest = data[0], data[1:]
        calls += [
            lambda: decode_advert(rest, src=IPv4Address("192.0.2.1"), dst=IPv4Address("224.0.0.18"), ttl=ttl),
            lambda: decode_advert(rest, src=IPv6Address("fe80::1"), dst=IPv6Address("ff02::12"), ttl=ttl | 0x80),
        ]
    for call in calls:
        try:
            result = call()
        except DecodeError as err:
            assert err.reason
            continue
        assert isinstance(result, Received)


def _config_target(data: bytes) -> None:
    from vipd.config import ConfigError, load_config_string

    try:
        load_config_string(data.decode("utf-8", "surrogateescape"), config_id="high")
    except ConfigError as err:
        assert err.errors
    except UnicodeEncodeError:
        pass  # surrogates cannot reach the loader from a file either (it decodes the bytes itself)


def _seed(target: str, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if target == "decoder":
        from vipd.wire import Advert, encode_advert

        v4 = [IPv4Address("192.0.2.100"), IPv4Address("192.0.2.101")]
        seeds = [
            encode_advert(Advert(version=3, vrid=51, priority=100, max_adver_int=0.1, addresses=(v4[0],)),
                          src=IPv4Address("192.0.2.1"), dst=IPv4Address("224.0.0.18")),
            encode_advert(Advert(version=2, vrid=52, priority=150, max_adver_int=1.0, addresses=tuple(v4)),
                          src=IPv4Address("192.0.2.1"), dst=IPv4Address("224.0.0.18")),
            encode_advert(Advert(version=3, vrid=1, priority=255, max_adver_int=1.0,
                                 addresses=(IPv6Address("2001:db8::100"),)),
                          src=IPv6Address("fe80::1"), dst=IPv6Address("ff02::12")),
        ]  # fmt: skip
        header = bytes.fromhex("45c0002000000000ff70") + b"\0\0" + bytes([192, 0, 2, 1, 224, 0, 0, 18])
        for i, s in enumerate(seeds):
            (corpus / f"adv{i}").write_bytes(header + s)
            (corpus / f"payload{i}").write_bytes(b"\xff" + s)
    else:
        for i, p in enumerate(sorted((ROOT / "tests" / "fixtures").rglob("*.conf"))):
            (corpus / f"conf{i}").write_bytes(p.read_bytes()[:4096])


def main(argv: list[str]) -> None:
    import atheris

    target = argv[1]
    with atheris.instrument_imports():
        import vipd.config
        import vipd.wire
    del vipd
    fn = _decoder_target if target == "decoder" else _config_target
    atheris.Setup([argv[0], *argv[2:]], fn)
    atheris.Fuzz()


def _run(target: str, runs: int, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / target
    _seed(target, corpus)
    argv = [
        sys.executable,
        __file__,
        target,
        str(corpus),
        f"-runs={runs}",
        f"-timeout={PER_INPUT_TIMEOUT}",
        "-max_len=4096",
        "-seed=1",
        "-print_final_stats=1",
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-40:])
    assert r.returncode == 0, f"atheris {target} found a failure (exit {r.returncode}):\n{tail}"
    stats = [ln for ln in r.stderr.splitlines() if ln.startswith(("stat::number_of_executed_units", "Done"))]
    print(f"\natheris {target}: {'; '.join(stats)}")


@pytest.mark.slow
def test_atheris_decoder(tmp_path: Path) -> None:
    _run("decoder", DECODER_RUNS, tmp_path)


@pytest.mark.slow
def test_atheris_config_loader(tmp_path: Path) -> None:
    _run("config", CONFIG_RUNS, tmp_path)


if __name__ == "__main__":
    main(sys.argv)
