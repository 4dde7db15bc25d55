"""The metrics collector and status views over fake drivers: names, labels, vanishing series, dump files."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from ipaddress import ip_address

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vipd.config.model import VirtualAddress, VrrpInstance
from vipd.fsm import Notify, Params, State, VrrpMachine
from vipd.obs.metrics import MetricsServer, make_registry, parse_listen
from vipd.obs.stats import Histogram, InstanceStats, InterfaceStats
from vipd.obs.status import (
    InstanceRow,
    InterfaceRow,
    Snapshot,
    instance_row,
    render_data_file,
    render_stats_file,
    render_table,
)


@dataclass
class FakeDriver:
    name: str
    machine: VrrpMachine
    stats: InstanceStats = field(default_factory=InstanceStats)
    last_transition: tuple[float, Notify] | None = None
    faults: dict[str, str] = field(default_factory=dict)


def make_row(name: str = "VI_1", vrid: int = 51, state: State = State.MASTER) -> InstanceRow:
    inst = VrrpInstance(
        name=name,
        interface="eth0",
        virtual_router_id=vrid,
        priority=150,
        advert_int=0.1,
        version=3,
        virtual_ipaddress=[VirtualAddress(address=ip_address("192.0.2.100"), prefixlen=24)],
    )
    m = VrrpMachine(
        Params(
            vrid=vrid,
            version=3,
            priority=150,
            advertisement_interval=0.1,
            primary_address=ip_address("192.0.2.1"),
            addresses=(ip_address("192.0.2.100"),),
        )
    )
    m.state = state
    d = FakeDriver(name, m)
    d.stats.adverts_sent = 7
    d.stats.adverts_received = 3
    d.stats.master_transitions = 2
    d.stats.transitions["BACKUP->MASTER:master_down_timer"] += 2
    d.stats.transitions["MASTER->BACKUP:higher_priority_advert"] += 1
    d.stats.discards["ip_ttl"] += 4
    d.stats.discards["interval"] += 1
    d.stats.advert_lateness.observe(0.0007)
    d.last_transition = (100.0, Notify(State.BACKUP, State.MASTER, "master_down_timer"))
    return instance_row(d, inst, now=101.5, wall=1_000_000.0)


def snapshot(rows: list[InstanceRow]) -> Snapshot:
    iface = InterfaceStats(rx_packets=10)
    iface.rx_errors["checksum"] += 2
    lag = Histogram()
    lag.observe(0.001)
    return Snapshot(rows, [InterfaceRow("eth0", 4, iface)], started_at=1.0, extra={"loop_lag": lag})


def scrape(rows: list[InstanceRow]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.exposition import generate_latest

    text = generate_latest(make_registry(lambda: snapshot(rows))).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def lbl(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def test_exporter_compatible_names_labels_and_state_encoding() -> None:
    m = scrape([make_row()])
    common = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert m[("keepalived_up", ())] == 1
    assert m[("keepalived_vrrp_state", lbl(**common, ip_address="192.0.2.100"))] == 2  # MASTER
    assert m[("keepalived_advertisements_sent_total", lbl(**common))] == 7
    assert m[("keepalived_advertisements_received_total", lbl(**common))] == 3
    assert m[("keepalived_become_master_total", lbl(**common))] == 2
    assert m[("keepalived_release_master_total", lbl(**common))] == 1
    assert m[("keepalived_ip_ttl_errors_total", lbl(**common))] == 4
    assert m[("keepalived_advertisements_interval_errors_total", lbl(**common))] == 1
    assert m[("keepalived_gratuitous_arp_delay_total", lbl(**common))] == 5


def test_vipd_metrics_by_reason_and_histograms() -> None:
    m = scrape([make_row()])
    common = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert m[("vipd_adverts_discarded_total", lbl(**common, reason="ip_ttl"))] == 4
    t = lbl(**common, **{"from": "BACKUP", "to": "MASTER", "reason": "master_down_timer"})
    assert m[("vipd_transitions_total", t)] == 2
    assert m[("vipd_advert_send_lateness_seconds_bucket", lbl(**common, le="0.001"))] == 1
    assert m[("vipd_advert_send_lateness_seconds_count", lbl(**common))] == 1
    assert m[("vipd_rx_errors_total", lbl(intf="eth0", family="ipv4", reason="checksum"))] == 2
    assert m[("vipd_instance_state", lbl(**common, state="master"))] == 1
    assert m[("vipd_instance_state", lbl(**common, state="backup"))] == 0
    assert m[("vipd_instance_priority", lbl(**common, kind="effective"))] == 150
    assert m[("vipd_last_transition_timestamp_seconds", lbl(**common))] == pytest.approx(1_000_000.0 - 1.5)
    assert m[("vipd_event_loop_lag_seconds_count", ())] == 1


def test_series_vanish_with_the_instance() -> None:
    rows = [make_row("VI_1", 51), make_row("VI_2", 52, State.BACKUP)]
    m = scrape(rows)
    assert any(k[0] == "keepalived_vrrp_state" and ("iname", "VI_2") in k[1] for k in m)
    m = scrape(rows[:1])
    assert not any(("iname", "VI_2") in k[1] for k in m)


def test_status_table_and_json() -> None:
    row = make_row()
    table = render_table([row])
    assert table.splitlines()[0].startswith("INSTANCE")
    assert "VI_1" in table and "MASTER" in table and "192.0.2.100/24" in table
    j = row.to_json()
    assert j["state"] == "MASTER"
    assert j["master_address"] == "192.0.2.1"
    assert j["last_transition"]["reason"] == "master_down_timer"
    assert j["stats"]["ip_ttl_err"] == 4


def test_keepalived_data_and_stats_files_have_the_exporter_layout() -> None:
    row = make_row()
    data = render_data_file([row], now_wall=0.0)
    assert " VRRP Instance = VI_1\n" in data
    assert "   State = MASTER\n" in data
    assert "   Virtual Router ID = 51\n" in data
    assert "     192.0.2.100/24 dev eth0 scope global\n" in data
    stats = render_stats_file([row])
    assert stats.startswith("VRRP Instance: VI_1\n  Advertisements:\n    Received: 3\n    Sent: 7\n")
    assert "  Became master: 2\n  Released master: 1\n" in stats
    assert "    TTL: 4\n" in stats


@pytest.mark.parametrize(
    ("text", "want"),
    [("9650", ("127.0.0.1", 9650)), ("0.0.0.0:1", ("0.0.0.0", 1)), ("[::1]:9650", ("::1", 9650))],
)
def test_parse_listen(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


def test_parse_listen_rejects_junk() -> None:
    with pytest.raises(ValueError):
        parse_listen("host:http")


def test_http_server_serves_metrics_and_404() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        srv = MetricsServer(make_registry(lambda: snapshot([make_row()])), "127.0.0.1", 0)
        await srv.start()
        try:
            out = []
            for path in ("/metrics", "/nope"):
                r, w = await asyncio.open_connection("127.0.0.1", srv.port)
                w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                out.append(await r.read())
                w.close()
            return out[0], out[1]
        finally:
            await srv.close()

    ok, missing = asyncio.run(scenario())
    assert ok.startswith(b"HTTP/1.1 200 OK") and b"keepalived_vrrp_state{" in ok
    assert missing.startswith(b"HTTP/1.1 404")


def test_check_metrics_exporter_script_status_and_vipd_check_series() -> None:
    """keepalived-exporter's keepalived_script_status{name} (0 BAD, 1 GOOD) for vrrp_scripts; vipd_check_* for all."""
    from prometheus_client.exposition import generate_latest

    checks = [
        {"name": "chk_web", "type": "script", "health": "ok", "last_ok": False, "output": "exit 1",
         "duration": 0.012, "value": None, "runs": 9, "failures": 2, "instances": ["VI_1"]},
        {"name": "db", "type": "tcp", "health": "failed", "last_ok": False, "output": "refused",
         "duration": 0.001, "value": None, "runs": 4, "failures": 4, "instances": ["VI_1"]},
        {"name": "prio", "type": "file", "health": "unknown", "last_ok": True, "output": "",
         "duration": 0.0, "value": 5, "runs": 1, "failures": 0, "instances": ["VI_1"]},
        {"name": "new", "type": "http", "health": "unknown", "last_ok": None, "output": "",
         "duration": None, "value": None, "runs": 0, "failures": 0, "instances": []},
    ]  # fmt: skip
    snap = snapshot([make_row()])
    snap.extra["checks"] = checks
    text = generate_latest(make_registry(lambda: snap)).decode()
    m = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert m[("keepalived_script_status", lbl(name="chk_web"))] == 1
    assert ("keepalived_script_status", lbl(name="db")) not in m, "only vrrp_script checks use the exporter name"
    assert m[("vipd_check_status", lbl(name="chk_web", type="script"))] == 1, "debounced: still OK (fall > 1)"
    assert m[("vipd_check_last_result", lbl(name="chk_web", type="script"))] == 0, "the raw last run failed"
    assert m[("vipd_check_status", lbl(name="db", type="tcp"))] == 0
    assert ("vipd_check_status", lbl(name="prio", type="file")) not in m, "unknown: no status series"
    assert m[("vipd_check_value", lbl(name="prio", type="file"))] == 5
    assert m[("vipd_check_duration_seconds", lbl(name="chk_web", type="script"))] == 0.012
    assert m[("vipd_check_runs_total", lbl(name="chk_web", type="script"))] == 9
    assert m[("vipd_check_failures_total", lbl(name="db", type="tcp"))] == 4
    assert ("vipd_check_last_result", lbl(name="new", type="http")) not in m
    assert m[("vipd_check_runs_total", lbl(name="new", type="http"))] == 0
    assert snap.to_json()["checks"][0]["output"] == "exit 1"


def test_fault_causes_in_metrics_status_json_and_text() -> None:
    from vipd.obs.status import render_status_text

    inst = VrrpInstance(name="VI_1", interface="eth0", virtual_router_id=51, priority=150)
    m = VrrpMachine(Params(51, 3, 150, 0.1, ip_address("192.0.2.1"), ()))
    m.state = State.FAULT
    d = FakeDriver("VI_1", m, faults={"vip": "cannot add 192.0.2.100/24: Operation not permitted (EPERM)"})
    row = instance_row(d, inst, now=1.0, wall=1.0)
    got = scrape([row])
    common = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert got[("vipd_instance_fault_reasons", lbl(**common, cause="vip"))] == 1
    assert not any(k[0] == "vipd_instance_fault_reasons" for k in scrape([make_row()]))
    j = row.to_json()
    assert j["faults"] == [{"cause": "vip", "reason": "cannot add 192.0.2.100/24: Operation not permitted (EPERM)"}]
    text = render_status_text({"instances": [j]})
    assert "REASON" in text and "EPERM" in text
