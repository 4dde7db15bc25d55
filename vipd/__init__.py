"""vipd: a keepalived-compatible VRRP virtual-IP failover daemon.

Layers (see docs/architecture.md):

- ``vipd.wire``: pure codec for VRRP adverts, GARP and unsolicited NA frames.
- ``vipd.fsm``: the pure RFC 5798/9568 (and RFC 3768) state machine.
- ``vipd.config``: keepalived.conf tokenizer/parser and the pydantic model.
- ``vipd.linux``: the only code that touches the kernel (raw sockets, AF_PACKET, netlink).
- ``vipd.runtime``: the asyncio shell that joins them.
- ``vipd.obs``: counters, logs, notify.
"""

__version__ = "0.1.0"
