"""scapy's BFD layer (scapy.contrib.bfd) as the oracle for the codec.

scapy is GPL-2.0-only and test-only: imported here, never from vipd/.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.bfd import BFD, OptionalAuth
from scapy.layers.inet import IP, UDP

from vipd.bfd.packet import Auth, ControlPacket, Diag, SessionState, decode, encode

oracle = settings(deadline=None, max_examples=200)

_FLAGS = "MDACFP"  # scapy's FlagsField order, least significant bit first


def _scapy(p: ControlPacket) -> BFD:
    flags = ""
    for bit, on in (
        ("P", p.poll),
        ("F", p.final),
        ("C", p.control_plane_independent),
        ("A", p.auth is not None),
        ("D", p.demand),
    ):
        if on:
            flags += bit
    kw = {}
    if p.auth is not None:
        kw["optional_auth"] = OptionalAuth(auth_type=0, auth_keyid=p.auth.key_id, auth_key=p.auth.data)
    pkt = BFD(
        version=1,
        diag=int(p.diag),
        sta=int(p.state),
        flags=flags,
        detect_mult=p.detect_mult,
        my_discriminator=p.my_discriminator,
        your_discriminator=p.your_discriminator,
        min_tx_interval=p.desired_min_tx_interval,
        min_rx_interval=p.required_min_rx_interval,
        echo_rx_interval=p.required_min_echo_rx_interval,
        **kw,
    )
    return pkt


u32 = st.integers(0, 2**32 - 1)
packets = st.builds(
    ControlPacket,
    state=st.sampled_from(SessionState),
    diag=st.sampled_from(Diag),
    detect_mult=st.integers(1, 255),
    my_discriminator=st.integers(1, 2**32 - 1),
    your_discriminator=st.integers(1, 2**32 - 1),
    desired_min_tx_interval=u32,
    required_min_rx_interval=u32,
    required_min_echo_rx_interval=u32,
    poll=st.booleans(),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
)


@oracle
@given(packets)
def test_encoder_equals_scapy_builder(p: ControlPacket) -> None:
    assert encode(p) == bytes(_scapy(p))


@oracle
@given(packets, st.integers(0, 255), st.binary(min_size=1, max_size=16))
def test_simple_password_equals_scapy_builder(p: ControlPacket, key_id: int, password: bytes) -> None:
    # scapy's auth_len adjust is "+3 for types <= 1": its type 0 is the only one taking a free-length key,
    # so build with type 0 there and patch the type octet to 1 (Simple Password) on both sides.
    ours = bytearray(encode(ControlPacket(**{**_fields(p), "auth": Auth(0xFF, key_id, password)})))
    theirs = bytearray(bytes(_scapy(ControlPacket(**{**_fields(p), "auth": Auth(0xFF, key_id, password)}))))
    theirs[24] = ours[24] = 1
    assert bytes(ours) == bytes(theirs)


def _fields(p: ControlPacket) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__slots__}  # type: ignore[attr-defined]


@oracle
@given(packets)
def test_scapy_dissects_our_bytes_and_we_decode_its(p: ControlPacket) -> None:
    datagram = IP(src="192.0.2.1", dst="192.0.2.2", ttl=255) / UDP(sport=49152, dport=3784) / _scapy(p)
    parsed = IP(bytes(datagram))
    layer = parsed[BFD]
    assert layer.my_discriminator == p.my_discriminator
    assert int(layer.sta) == int(p.state)
    assert decode(bytes(parsed[UDP].payload)) == p
