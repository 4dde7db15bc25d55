"""``vipctl events --follow`` asks only for newer events and prints each once (vipd.control.vipctl)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vipd.control import vipctl


def test_follow_asks_for_events_after_the_last_seen_and_prints_each_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = [
        {"ok": True, "last_seq": 2, "events": [_ev(1), _ev(2)]},
        {"ok": True, "last_seq": 2, "events": []},
        {"ok": True, "last_seq": 3, "events": [_ev(3)]},
    ]
    asked: list[dict[str, Any]] = []

    def request(path: str, req: dict[str, Any]) -> dict[str, Any]:
        asked.append(req)
        return answers[len(asked) - 1]

    polls = iter(range(2))

    def sleep(seconds: float) -> None:
        assert seconds == 0.5
        if next(polls, None) is None:
            raise KeyboardInterrupt

    monkeypatch.setattr(vipctl, "request", request)
    monkeypatch.setattr(vipctl.time, "sleep", sleep)
    assert vipctl.main(["-s", "x", "events", "--follow", "--json", "--since", "5m"]) == 0
    assert [r["after"] for r in asked] == [0, 2, 2]
    assert all(r["since"] > 0 for r in asked)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]


def test_since_accepts_durations_and_epoch_seconds() -> None:
    assert vipctl.parse_since("90s", 1000.0) == 910.0
    assert vipctl.parse_since("2h", 10000.0) == 10000.0 - 7200
    assert vipctl.parse_since("1700000000", 0.0) == 1700000000.0
    with pytest.raises(ValueError):
        vipctl.parse_since("yesterday", 0.0)


def _ev(seq: int) -> dict[str, Any]:
    return {"seq": seq, "time": 1000.0 + seq, "instance": "VI_1", "kind": "vip", "text": f"e{seq}"}
