"""Fixtures for the wire codec tests: the keepalived captures, read with a tiny pcap reader.

The reader is ours (classic pcap only, Ethernet link type) so the capture tests
do not depend on scapy's dissectors; scapy is used elsewhere as an oracle.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"

_LINKTYPE_ETHERNET = 1
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",  # microseconds, little-endian
    b"\x4d\x3c\xb2\xa1": "<",  # nanoseconds, little-endian
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}


@dataclass(frozen=True)
class Frame:
    """One Ethernet frame from a capture."""

    index: int
    dst_mac: bytes
    src_mac: bytes
    ethertype: int
    payload: bytes  # after the 14-octet Ethernet header
    raw: bytes


def read_pcap(path: Path) -> list[Frame]:
    """Read a classic pcap file of Ethernet frames (no VLAN tags expected)."""
    data = path.read_bytes()
    endian = _MAGICS.get(data[:4])
    if endian is None:
        raise ValueError(f"{path}: not a classic pcap file")
    _, _, _, _, _, linktype = struct.unpack_from(endian + "HHiIII", data, 4)
    if linktype != _LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    frames, offset = [], 24
    record = struct.Struct(endian + "IIII")
    while offset < len(data):
        _, _, incl_len, _ = record.unpack_from(data, offset)
        offset += record.size
        raw = data[offset : offset + incl_len]
        offset += incl_len
        (ethertype,) = struct.unpack_from("!H", raw, 12)
        frames.append(Frame(len(frames), raw[:6], raw[6:12], ethertype, raw[14:], raw))
    return frames


@dataclass(frozen=True)
class Capture:
    """A capture file and what it is known to contain (see tests/fixtures/captures/README.md)."""

    name: str
    version: int
    interval: float
    frames: list[Frame]

    @property
    def vrrp(self) -> list[Frame]:
        """The IPv4 protocol-112 frames."""
        return [f for f in self.frames if f.ethertype == 0x0800 and f.payload[9] == 112]

    @property
    def arp(self) -> list[Frame]:
        return [f for f in self.frames if f.ethertype == 0x0806]


CAPTURE_FILES = {
    "keepalived-v2-adv1.pcap": (2, 1.0),
    "keepalived-v3-adv1.pcap": (3, 1.0),
    "keepalived-v3-adv0.1.pcap": (3, 0.1),
}


@pytest.fixture(params=sorted(CAPTURE_FILES), ids=lambda name: name.removesuffix(".pcap"))
def capture(request: pytest.FixtureRequest) -> Capture:
    name = request.param
    version, interval = CAPTURE_FILES[name]
    return Capture(name, version, interval, read_pcap(CAPTURES / name))
