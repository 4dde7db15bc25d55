"""BFD Control packet codec: byte vectors and one test per RFC 5880 §6.8.6 packet-level check."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipd.bfd.packet import Auth, AuthType, BfdDecodeError, ControlPacket, Diag, SessionState, decode, encode


def _pkt(**kw: object) -> ControlPacket:
    base: dict[str, object] = dict(
        state=SessionState.UP,
        diag=Diag.NONE,
        detect_mult=3,
        my_discriminator=0x11111111,
        your_discriminator=0x22222222,
        desired_min_tx_interval=50_000,
        required_min_rx_interval=50_000,
    )
    base.update(kw)
    return ControlPacket(**base)  # type: ignore[arg-type]


def test_rfc5880_4_1_mandatory_section_bytes() -> None:
    raw = encode(_pkt(poll=True))
    assert raw == bytes.fromhex("20 e0 03 18 11111111 22222222 0000c350 0000c350 00000000".replace(" ", ""))


def test_rfc5880_4_2_2_simple_password_section() -> None:
    raw = encode(_pkt(auth=Auth(AuthType.SIMPLE_PASSWORD, 7, b"secret")))
    assert raw[1] & 0x04  # A bit
    assert raw[3] == 24 + 3 + 6
    assert raw[24:] == bytes((1, 9, 7)) + b"secret"
    assert decode(raw).auth == Auth(1, 7, b"secret")


def test_rfc5880_6_5_poll_and_final_never_together() -> None:
    with pytest.raises(ValueError, match="P and F"):
        encode(_pkt(poll=True, final=True))


def test_rfc5880_6_8_6_version_must_be_1() -> None:
    raw = bytearray(encode(_pkt()))
    raw[0] = (2 << 5) | (raw[0] & 0x1F)
    with pytest.raises(BfdDecodeError) as e:
        decode(bytes(raw))
    assert e.value.reason == "version"


@pytest.mark.parametrize("length", [0, 23])
def test_rfc5880_6_8_6_length_below_minimum(length: int) -> None:
    raw = bytearray(encode(_pkt()))
    raw[3] = length
    with pytest.raises(BfdDecodeError) as e:
        decode(bytes(raw))
    assert e.value.reason == "length"


def test_rfc5880_6_8_6_length_26_when_a_bit_set() -> None:
    raw = bytearray(encode(_pkt()))
    raw[1] |= 0x04
    raw[3] = 25
    with pytest.raises(BfdDecodeError) as e:
        decode(bytes(raw) + b"\x01")
    assert e.value.reason == "length"


def test_rfc5880_6_8_6_length_beyond_payload() -> None:
    raw = bytearray(encode(_pkt()))
    raw[3] = 30
    with pytest.raises(BfdDecodeError) as e:
        decode(bytes(raw))
    assert e.value.reason == "length"


def test_short_datagram_is_a_length_error() -> None:
    with pytest.raises(BfdDecodeError) as e:
        decode(encode(_pkt())[:20])
    assert e.value.reason == "length"


def test_rfc5880_6_8_6_trailing_octets_after_length_are_ignored() -> None:
    assert decode(encode(_pkt()) + b"\0\0\0\0") == _pkt()


def test_rfc5880_6_8_6_detect_mult_zero() -> None:
    with pytest.raises(BfdDecodeError) as e:
        decode(encode(_pkt(detect_mult=0)))
    assert e.value.reason == "detect_mult"


def test_rfc5880_6_8_6_multipoint_bit() -> None:
    with pytest.raises(BfdDecodeError) as e:
        decode(encode(_pkt(multipoint=True)))
    assert e.value.reason == "multipoint"


def test_rfc5880_6_8_6_my_discriminator_zero() -> None:
    with pytest.raises(BfdDecodeError) as e:
        decode(encode(_pkt(my_discriminator=0)))
    assert e.value.reason == "my_discriminator"


@pytest.mark.parametrize("state", [SessionState.INIT, SessionState.UP])
def test_rfc5880_6_8_6_your_discriminator_zero_outside_down(state: SessionState) -> None:
    with pytest.raises(BfdDecodeError) as e:
        decode(encode(_pkt(state=state, your_discriminator=0)))
    assert e.value.reason == "your_discriminator"


@pytest.mark.parametrize("state", [SessionState.DOWN, SessionState.ADMIN_DOWN])
def test_rfc5880_6_8_6_your_discriminator_zero_allowed_when_down(state: SessionState) -> None:
    assert decode(encode(_pkt(state=state, your_discriminator=0))).state is state


def test_auth_len_beyond_length() -> None:
    raw = bytearray(encode(_pkt(auth=Auth(1, 1, b"pw"))))
    raw[25] = 40
    with pytest.raises(BfdDecodeError) as e:
        decode(bytes(raw))
    assert e.value.reason == "auth"


def test_unknown_diag_values_are_kept() -> None:
    raw = bytearray(encode(_pkt()))
    raw[0] = (1 << 5) | 20
    assert decode(bytes(raw)).diag == 20


packets = st.builds(
    ControlPacket,
    state=st.sampled_from(SessionState),
    diag=st.sampled_from(Diag),
    detect_mult=st.integers(1, 255),
    my_discriminator=st.integers(1, 2**32 - 1),
    your_discriminator=st.integers(1, 2**32 - 1),
    desired_min_tx_interval=st.integers(0, 2**32 - 1),
    required_min_rx_interval=st.integers(0, 2**32 - 1),
    required_min_echo_rx_interval=st.integers(0, 2**32 - 1),
    poll=st.booleans(),
    final=st.just(False),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
    auth=st.one_of(
        st.none(),
        st.builds(Auth, st.integers(1, 5), st.integers(0, 255), st.binary(min_size=1, max_size=16)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(packets)
def test_decode_encode_roundtrip(p: ControlPacket) -> None:
    assert decode(encode(p)) == p


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_decode_never_raises_anything_else(data: bytes) -> None:
    try:
        decode(data)
    except BfdDecodeError as e:
        assert e.reason in {"length", "version", "detect_mult", "multipoint", "my_discriminator",
                            "your_discriminator", "auth"}  # fmt: skip


def test_header_struct_is_24_octets() -> None:
    assert struct.calcsize("!BBBBIIIII") == 24
