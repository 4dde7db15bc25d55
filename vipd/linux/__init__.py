"""The kernel side: the only code in vipd that touches sockets and netlink.

- ``sockets``: raw IP protocol 112 receive/transmit sockets (IPv4, IPv6).
- ``announce``: AF_PACKET sender for gratuitous ARP / unsolicited NA frames.
- ``netlink``: addresses and links through pyroute2's ``AsyncIPRoute``.
"""
