"""The three VRRPv2 authentication errors land in three different keepalived counters.

keepalived ``vrrp_check_packet`` (vrrp.c): an auth type other than 0/1/2 is
``invalid_authtype``, a known type other than the instance's is
``authtype_mismatch``, a wrong password is ``auth_failure`` (RFC 2787
vrrpStatsInvalidAuthType / vrrpStatsAuthTypeMismatch / vrrpStatsAuthFailures);
the exporters name them ``keepalived_authentication_{invalid,mismatch,failure}_total``.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from vipd.fsm import AdvertReceived, Discard, Params, State, VrrpMachine
from vipd.obs.stats import InstanceStats
from vipd.obs.status import stats_json
from vipd.wire import VRRP_MCAST4, DecodeError, decode_advert, encode_advert, inet_checksum
from vipd.wire.advert import Advert, AuthType

ME, PEER, VIP = IPv4Address("192.0.2.10"), IPv4Address("192.0.2.20"), IPv4Address("192.0.2.100")
PASS = b"secret\x00\x00"


def backup() -> VrrpMachine:
    m = VrrpMachine(
        Params(
            vrid=51,
            version=2,
            priority=100,
            advertisement_interval=1.0,
            primary_address=ME,
            addresses=(VIP,),
            auth_type=AuthType.PASS,
            auth_data=PASS,
        )
    )
    m.state = State.BACKUP
    return m


def count(stats: InstanceStats, m: VrrpMachine, payload: bytes) -> None:
    """What the daemon does with one datagram: a codec error or the FSM's Discard, counted by reason."""
    try:
        received = decode_advert(payload, src=PEER, dst=VRRP_MCAST4, ttl=255)
    except DecodeError as e:
        stats.discards[e.reason] += 1
        return
    for effect in m.handle(AdvertReceived(received.src, received.advert), 10.0):
        if isinstance(effect, Discard):
            stats.discards[effect.reason] += 1


def v2(auth_type: int, auth_data: bytes) -> bytes:
    good = Advert(version=2, vrid=51, priority=200, max_adver_int=1.0, addresses=(VIP,), auth_type=1, auth_data=PASS)
    if auth_type in (AuthType.NONE, AuthType.PASS):
        return encode_advert(replace(good, auth_type=auth_type, auth_data=auth_data), src=PEER, dst=VRRP_MCAST4)
    out = bytearray(encode_advert(good, src=PEER, dst=VRRP_MCAST4))
    out[4] = auth_type
    out[6:8] = b"\0\0"
    out[6:8] = struct.pack("!H", inet_checksum(bytes(out)))
    return bytes(out)


@pytest.mark.parametrize(
    ("auth_type", "auth_data", "field"),
    [
        (7, b"", "invalid_authtype"),  # unknown type
        (AuthType.NONE, b"", "authtype_mismatch"),  # known type, not ours
        (AuthType.PASS, b"wrong\x00\x00\x00", "auth_failure"),  # our type, wrong password
    ],
)
def test_rfc2787_each_auth_error_moves_its_own_counter(auth_type: int, auth_data: bytes, field: str) -> None:
    stats, m = InstanceStats(), backup()
    count(stats, m, v2(auth_type, auth_data))
    out = stats_json(stats)
    auth_fields = {k: out[k] for k in ("invalid_authtype", "authtype_mismatch", "auth_failure")}
    assert auth_fields == {k: int(k == field) for k in auth_fields}


def test_a_good_password_moves_no_auth_counter() -> None:
    stats, m = InstanceStats(), backup()
    count(stats, m, v2(AuthType.PASS, PASS))
    out = stats_json(stats)
    assert out["invalid_authtype"] == out["authtype_mismatch"] == out["auth_failure"] == 0
