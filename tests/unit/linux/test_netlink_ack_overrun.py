"""ENOBUFS on the ack socket: applied adds are not reported as failures (review "Lower severity").

rtnetlink handles a request inside ``send()``; an overrun only loses the acks. The
writer reads on, then sends the unacknowledged requests again: an add that had been
applied answers EEXIST ("already so"), which the instance counts as success.
"""

from __future__ import annotations

import asyncio
import errno
import struct
from collections import deque
from ipaddress import IPv4Address

from vipd.linux.netlink import NLMSG_ERROR, AddressWriter, VipSpec

VIP1 = VipSpec(IPv4Address("192.0.2.100"), 32, 1)
VIP2 = VipSpec(IPv4Address("192.0.2.101"), 32, 1)


def ack(seq: int, err: int) -> bytes:
    """An NLMSG_ERROR message acknowledging ``seq`` with ``-err`` (0: success)."""
    body = struct.pack("=i", -err) + struct.pack("=IHHII", 16, 20, 0, seq, 0)
    return struct.pack("=IHHII", 16 + len(body), NLMSG_ERROR, 0, seq, 0) + body


class FakeSock:
    """Records sent requests' sequence numbers; ``recv`` replays a script of datagrams and errors."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.script: deque[bytes | OSError] = deque()

    def send(self, data: bytes) -> int:
        self.sent.append(struct.unpack_from("=I", data, 8)[0])
        return len(data)

    def recv(self, _n: int) -> bytes:
        if not self.script:
            raise BlockingIOError(errno.EAGAIN, "empty")
        item = self.script.popleft()
        if isinstance(item, OSError):
            raise item
        return item


def make_writer() -> tuple[AddressWriter, FakeSock, list[tuple[VipSpec, int]]]:
    loop = asyncio.new_event_loop()
    w = AddressWriter(loop)
    real = w._sock
    loop.remove_reader(real.fileno())
    real.close()
    loop.close()
    fake = FakeSock()
    w._sock = fake  # type: ignore[assignment]
    return w, fake, []


def test_enobufs_resends_unacknowledged_adds_and_reports_the_kernels_answer() -> None:
    w, sock, results = make_writer()
    w.add(VIP1, lambda v, e: results.append((v, e)))
    w.add(VIP2, lambda v, e: results.append((v, e)))
    first, second = sock.sent
    sock.script.extend([OSError(errno.ENOBUFS, "No buffer space available"), ack(first, 0)])
    w._read_acks()
    assert results == [(VIP1, 0)]  # the ack that survived; VIP2 is not reported failed
    assert len(sock.sent) == 3  # VIP2 sent again under a new sequence number
    resent = sock.sent[2]
    assert resent != second
    sock.script.append(ack(resent, errno.EEXIST))  # it had been applied
    w._read_acks()
    assert results == [(VIP1, 0), (VIP2, errno.EEXIST)]
    assert not w._pending


def test_repeated_overruns_end_in_the_overruns_errno() -> None:
    w, sock, results = make_writer()
    w.remove(VIP1, lambda v, e: results.append((v, e)))
    for _ in range(AddressWriter.MAX_RESENDS + 1):
        sock.script.append(OSError(errno.ENOBUFS, "No buffer space available"))
        w._read_acks()
    assert results == [(VIP1, errno.ENOBUFS)]
    assert len(sock.sent) == 1 + AddressWriter.MAX_RESENDS
    assert not w._pending
