"""Layer-2 announcer: gratuitous ARP and unsolicited NA over AF_PACKET (libs.md §3.1).

The frames are built by ``vipd.wire.l2``; this module only owns the socket.
A plain AF_PACKET send costs microseconds and never blocks the loop (scapy's
``sendp`` costs ~23 ms per call and is not used here).
"""

from __future__ import annotations

import contextlib
import socket


class L2Announcer:
    """An AF_PACKET socket bound to one interface, protocol 0 (send only, receives nothing).

    Raises:
        OSError: from the constructor when the interface does not exist or CAP_NET_RAW is missing.
    """

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self._sock.bind((ifname, 0))
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise

    def send(self, frame: bytes) -> None:
        """Send one complete Ethernet frame.

        Raises:
            OSError: the kernel refused (ENETDOWN while the link is down, ENOBUFS...).
        """
        self._sock.send(frame)

    def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(OSError):
            self._sock.close()
