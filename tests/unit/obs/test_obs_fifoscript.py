"""keepalived ``notify_fifo_script`` and ``fifo_write_vrrp_states_on_reload`` (vipd.obs.fifoscript).

A real FIFO and a real reader script (``/bin/sh``) started by vipd's runner; the
script copies each line to a file and exits at end-of-file, which vipd gives it
by closing the FIFO at stop.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from vipd.config import load_config_string
from vipd.fsm import State
from vipd.obs.fifoscript import FifoScripts, write_states
from vipd.obs.notify import fifo_line, write_fifo


def _config(tmp_path: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    fifo = tmp_path / "notify.fifo"
    out = tmp_path / "out"
    script = tmp_path / "reader.sh"
    script.write_text(
        f'#!/bin/sh\necho "started $1" > {out}\nwhile read -r line; do echo "$line" >> {out}; done < "$1"\n'
    )
    script.chmod(0o755)
    text = f'global_defs {{\n notify_fifo {fifo}\n notify_fifo_script "{script}"\n{extra}}}\n'
    return load_config_string(text).config.global_defs, fifo, out


async def _until(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.01)


def test_notify_fifo_script_reads_the_fifo_given_as_last_argument_and_exits_at_stop(tmp_path: Path) -> None:
    g, fifo, out = _config(tmp_path)

    async def scenario() -> None:
        fs = FifoScripts()
        fs.start(g)
        await _until(lambda: out.exists() and f"started {fifo}" in out.read_text())
        assert write_fifo(str(fifo), fifo_line("INSTANCE", "VI_1", State.MASTER, 150)) is None
        await _until(lambda: 'INSTANCE "VI_1" MASTER 150' in out.read_text())
        t0 = time.monotonic()
        await fs.close()
        assert time.monotonic() - t0 < 1.0, "the script saw end-of-file and left on its own"

    asyncio.run(scenario())
    assert not fifo.exists(), "a FIFO vipd created is removed at stop (keepalived fifo_close)"


def test_fifo_write_vrrp_states_on_reload_writes_every_row(tmp_path: Path) -> None:
    g, _fifo, out = _config(tmp_path, " fifo_write_vrrp_states_on_reload\n")
    assert g.fifo_write_vrrp_states_on_reload

    async def scenario() -> None:
        fs = FifoScripts()
        fs.start(g)
        await _until(lambda: out.exists())
        n = write_states(g, [("INSTANCE", "VI_1", State.BACKUP, 100), ("GROUP", "G1", State.BACKUP, 0)])
        assert n == 2
        await _until(lambda: 'GROUP "G1" BACKUP 0' in out.read_text())
        await fs.close()

    asyncio.run(scenario())
    assert out.read_text().splitlines()[1:] == ['INSTANCE "VI_1" BACKUP 100', 'GROUP "G1" BACKUP 0']


def test_a_fifo_that_existed_is_kept(tmp_path: Path) -> None:
    g, fifo, _out = _config(tmp_path)
    os.mkfifo(fifo, 0o600)

    async def scenario() -> None:
        fs = FifoScripts()
        fs.start(g)
        await fs.close()

    asyncio.run(scenario())
    assert fifo.exists()
