"""vipd_bfd_* from BfdService.status(): names, labels, values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from vipd.obs.bfd_metrics import BfdCollector

STATUS = {
    "sessions": [
        {
            "name": "tor",
            "neighbor": "192.0.2.254",
            "state": "up",
            "state_number": 3,
            "detection_time": 0.15,
            "tx_interval": 0.05,
            "transitions": {"admin_down->down": 1, "down->init": 1, "init->up": 1, "up->down": 2},
            "detect_expiries": 2,
            "tx": 100,
            "tx_errors": 1,
            "rx": 90,
            "discards": {"ttl": 3},
        }
    ],
    "unmatched": {"no_session": 4},
}


def test_bfd_metrics_text() -> None:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(BfdCollector(lambda: STATUS))
    text = generate_latest(reg).decode()
    lv = 'neighbor="192.0.2.254",session="tor"'
    assert f"vipd_bfd_session_state{{{lv}}} 3.0" in text
    assert f"vipd_bfd_session_up{{{lv}}} 1.0" in text
    assert f'vipd_bfd_transitions_total{{from_state="up",{lv},to_state="down"}} 2.0' in text
    assert f"vipd_bfd_detection_time_expiries_total{{{lv}}} 2.0" in text
    assert 'vipd_bfd_packets_discarded_total{neighbor="192.0.2.254",reason="ttl",session="tor"} 3.0' in text
    assert 'vipd_bfd_packets_unmatched_total{reason="no_session"} 4.0' in text
    assert f"vipd_bfd_detection_time_seconds{{{lv}}} 0.15" in text


def test_no_sessions_no_series() -> None:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(BfdCollector(lambda: {"sessions": [], "unmatched": {}}))
    assert "vipd_bfd_session_state{" not in generate_latest(reg).decode()


def test_vipctl_status_lists_bfd_sessions() -> None:
    from vipd.obs.status import render_status_text

    session = {**STATUS["sessions"][0], "remote_state": "up", "local_diag": "none"}  # type: ignore[dict-item]
    text = render_status_text({"instances": [], "bfd": [session]})
    head, row = text.splitlines()[-2:]
    assert head.split()[:3] == ["BFD", "NEIGHBOR", "STATE"]
    assert row.split() == ["tor", "192.0.2.254", "up", "up", "none", "50ms", "150ms", "100/90", "3"]
