"""The machine's written-out hot-path arithmetic equals the RFC formulas it stands for.

``VrrpMachine.master_down_interval`` (RFC 5798 §6.1, RFC 3768 §6.1) and ``_Timers.earliest``
are computed on every advert a Backup hears, so they are written out instead of calling
:func:`vipd.fsm.machine.master_down_interval` or looping; these tests hold them to the
same floats."""

from __future__ import annotations

import dataclasses

from fsm_helpers import machine
from hypothesis import given
from hypothesis import strategies as st

from vipd.fsm import machine as fsm_machine
from vipd.fsm.machine import _Timers


@given(
    version=st.sampled_from([2, 3]),
    priority=st.integers(min_value=0, max_value=255),
    interval=st.one_of(st.integers(1, 4095).map(lambda cs: cs / 100), st.integers(1, 255).map(float)),
)
def test_master_down_interval_is_the_rfc_formula_to_the_bit(version: int, priority: int, interval: float) -> None:
    m = machine(priority=100, interval=1.0 if version == 2 else 0.1, version=version)
    m.priority = priority
    m.master_adver_interval = interval
    assert m.master_down_interval == fsm_machine.master_down_interval(version, priority, interval)


deadline = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e6, allow_nan=False))


@given(st.lists(deadline, min_size=6, max_size=6))
def test_earliest_is_the_smallest_running_deadline(values: list[float | None]) -> None:
    t = _Timers(*values)
    running = [v for v in dataclasses.astuple(t) if v is not None]
    assert t.earliest() == (min(running) if running else None)
