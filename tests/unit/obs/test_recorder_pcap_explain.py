"""Flight recorder ring, pcap writer and explain sentences (vipd.obs.recorder, vipd.obs.pcap, vipd.obs.explain)."""

from __future__ import annotations

import struct
from ipaddress import ip_address
from typing import Any

import pytest

from vipd.fsm import Params, PriorityChanged, VrrpMachine
from vipd.fsm.events import AdvertReceived, Startup
from vipd.fsm.view import machine_view
from vipd.obs.explain import explain
from vipd.obs.pcap import LINKTYPE_RAW, ip_packet, write_pcap
from vipd.obs.recorder import ADVERTS_AFTER, ADVERTS_BEFORE, RX, TX, FlightRecorder
from vipd.wire import decode_ipv4
from vipd.wire.advert import VRRP_MCAST4, Advert

VIP = ip_address("192.0.2.100")
R1, R2 = ip_address("192.0.2.1"), ip_address("192.0.2.2")


def adv(priority: int = 100, version: int = 3) -> Advert:
    return Advert(
        version=version, vrid=51, priority=priority, max_adver_int=0.1 if version == 3 else 1.0, addresses=(VIP,)
    )


def test_ring_keeps_the_last_size_events_with_increasing_seq() -> None:
    ring = FlightRecorder(3)
    for i in range(5):
        ring.add("VI_1", "vip", f"e{i}")
    assert [e.text for e in ring.events] == ["e2", "e3", "e4"]
    assert [e.seq for e in ring.select(after_seq=3)] == [4, 5]


def test_ring_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FlightRecorder(0)


def test_a_transition_keeps_the_adverts_before_it_and_the_next_ones_after() -> None:
    ring = FlightRecorder(10)
    rec = ring.instance("VI_1")
    for i in range(ADVERTS_BEFORE + 3):
        rec.advert(float(i), RX, R1, adv(150), "pseudo")
    ev = rec.transition(100.0, "BACKUP", "MASTER", "master_down_timer", "", 100)
    assert ev.adverts is not None and len(ev.adverts) == ADVERTS_BEFORE
    assert ev.adverts[0][0] == 3.0  # the oldest three fell out of the window
    for i in range(ADVERTS_AFTER + 4):
        rec.advert(101.0 + i, TX, R2, adv(100), "pseudo")
    assert len(ev.adverts) == ADVERTS_BEFORE + ADVERTS_AFTER
    assert rec.heard[R1][3].priority == 150 and R2 not in rec.heard  # sent adverts are not "heard"
    j = ev.to_json(0.0)
    assert j["reason"] == "master_down_timer" and j["adverts"][-1]["dir"] == "tx"


def test_heard_table_is_bounded() -> None:
    rec = FlightRecorder(10).instance("VI_1")
    for i in range(100):
        rec.advert(0.0, RX, ip_address(f"198.51.100.{i}"), adv(), "pseudo")
    assert len(rec.heard) == 16


def test_pcap_header_and_records_decode_with_the_codec() -> None:
    data = write_pcap([(1000.5, R1, VRRP_MCAST4, adv(150), "pseudo"), (1000.6, R2, VRRP_MCAST4, adv(0), "plain")])
    magic, major, minor, _z, _s, _snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, LINKTYPE_RAW)
    off = 24
    got = []
    while off < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        assert incl == orig
        got.append((sec, usec, decode_ipv4(data[off + 16 : off + 16 + incl])))
        off += 16 + incl
    assert [(s, u) for s, u, _ in got] == [(1000, 500000), (1000, 600000)]
    assert [r.advert.priority for _, _, r in got] == [150, 0]
    assert [r.checksum.value for _, _, r in got] == ["pseudo", "plain"]


def test_ipv6_packet_has_hop_limit_255_and_protocol_112() -> None:
    a = Advert(version=3, vrid=1, priority=100, max_adver_int=1.0, addresses=(ip_address("2001:db8::1"),))
    pkt = ip_packet(a, ip_address("fe80::1"), ip_address("ff02::12"))
    assert pkt[0] >> 4 == 6 and pkt[6] == 112 and pkt[7] == 255


def _view(state_setup: Any = None, **machine: Any) -> dict[str, Any]:
    m = VrrpMachine(
        Params(vrid=51, version=3, priority=100, advertisement_interval=0.1, primary_address=R2, addresses=(VIP,))
    )
    m.handle(Startup(), 0.0)
    if state_setup:
        state_setup(m)
    mv = machine_view(m)
    now = 1.0
    return {
        "name": "VI_1",
        "vrid": 51,
        "version": 3,
        "interface": "eth0",
        "machine": {
            "state": mv.state,
            "priority": mv.priority,
            "base_priority": mv.base_priority,
            "preempt": mv.preempt_mode,
            "preempt_delay": mv.preempt_delay,
            "preempt_wait_left": None,
            "advertisement_interval": mv.advertisement_interval,
            "master_adver_interval": mv.master_adver_interval,
            "skew_time": mv.skew_time,
            "master_down_interval": mv.master_down_interval,
            "adver_timer_in": None if mv.adver_at is None else mv.adver_at - now,
            "master_down_timer_in": None if mv.master_down_at is None else mv.master_down_at - now,
            "down_reason": mv.down_reason,
            "wants_master": False,
            **machine,
        },
        "trackers": [],
        "faults": [],
        "master": {"address": str(R1), "priority": 150, "interval": 0.1, "age": 0.03, "checksum": "pseudo"},
        "discards": [{"reason": "ip_ttl", "count": 1, "last_source": "192.0.2.9", "age": 2.0}],
        "source": str(R2),
        "source_why": "no unicast_src_ip/mcast_src_ip: the first IPv4 address of eth0",
        "destinations": ["224.0.0.18"],
        "multicast": True,
    }


def test_explain_backup_names_the_master_the_timer_and_what_makes_it_master() -> None:
    text = "\n".join(explain(_view(lambda m: m.handle(AdvertReceived(R1, adv(150)), 0.98))))
    assert "is BACKUP with priority 100" in text
    assert "Master 192.0.2.1 last heard 0.03 s ago: priority 150, interval 0.10 s" in text
    assert "Becomes master if 192.0.2.1 stays silent for 0.34 s" in text  # 0.98 + 0.3 + 0.061 - 1.0
    assert "as ip_ttl, the last from 192.0.2.9" in text
    assert "Adverts go from 192.0.2.2" in text


def test_explain_tracker_contribution_and_priority_terms() -> None:
    v = _view(lambda m: m.handle(PriorityChanged(80), 0.5))
    v["trackers"] = [
        {
            "name": "script chk",
            "weight": -20,
            "reverse": False,
            "health": "failed",
            "value": None,
            "contribution": -20,
            "fault": False,
            "last_ok": False,
            "output": "down",
            "duration": 0.004,
        }
    ]
    text = "\n".join(explain(v))
    assert "priority 80: configured 100, trackers -20" in text
    assert "Tracker script chk (weight -20): FAILED, contributes -20; last run failed in 4 ms: down." in text


def test_explain_fault_names_the_causes_in_force() -> None:
    v = _view()
    v["machine"]["state"] = "FAULT"
    v["faults"] = ["vip: cannot add 192.0.2.100/24 on eth0: Operation not permitted"]
    text = "\n".join(explain(v))
    assert "is FAULT" in text
    assert "FAULT because of: vip: cannot add 192.0.2.100/24 on eth0: Operation not permitted." in text
