"""A routed lab: two routers on different subnets with a gateway between them.

For unicast VRRP across subnets (keepalived ``unicast_peer`` in clouds where the
peers are not on one link)::

        r1 (192.0.2.1/24)                      r2 (198.51.100.2/24)
          eth0 ------------ a   [gw]   b ------------ eth0
                  192.0.2.254/24   198.51.100.254/24

Each router has a default route via the gateway, so an advert from r1 reaches r2
with TTL 254: keepalived's unicast mode accepts that (it checks TTL 255 only
for multicast), and so must vipd. The sniffer (``lab.sniffer``) records r1's
eth0, which sees both directions. Everything else (daemons, close, waits,
``holds``) is :class:`vipdlab.lab.topo.Lab`'s.
"""

from __future__ import annotations

import ipaddress

from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

from .topo import Lab, Node
from .wait import wait_until

NET_A = ipaddress.ip_network("192.0.2.0/24")
NET_B = ipaddress.ip_network("198.51.100.0/24")
# Two subnets carved out of the documentation prefix 2001:db8::/64 (the lab may use nothing else).
NET6_A = ipaddress.ip_network("2001:db8::a:0/112")
NET6_B = ipaddress.ip_network("2001:db8::b:0/112")
GW_HOST = 254


class RoutedLab(Lab):
    """r1 on 192.0.2.0/24, r2 on 198.51.100.0/24, joined by the namespace ``gw`` (forwarding on)."""

    def __init__(self, *, sniff: bool = True, keep_workdir: bool = False) -> None:
        super().__init__(["r1", "r2"], sniff=sniff, keep_workdir=keep_workdir)

    def _build(self) -> None:
        gw_ns = f"{self.prefix}-gw"
        self._new_ns(gw_ns)
        for key, value in (
            ("net/ipv4/ip_forward", 1),
            ("net/ipv6/conf/all/forwarding", 1),
            ("net/ipv4/conf/all/rp_filter", 0),
            ("net/ipv4/conf/default/rp_filter", 0),
            ("net/ipv6/conf/all/accept_dad", 0),
            ("net/ipv6/conf/default/accept_dad", 0),
        ):
            self.sysctl(gw_ns, key, value)
        gw = self.ipr(gw_ns)
        gw.link("set", index=1, state="up")
        sides = (("r1", "a", NET_A, NET6_A, 1), ("r2", "b", NET_B, NET6_B, 2))
        for name, gw_if, net4, net6, host in sides:
            ns = f"{self.prefix}-{name}"
            self._new_ns(ns)
            for key, value in (
                ("net/ipv4/conf/all/rp_filter", 0),
                ("net/ipv4/conf/default/rp_filter", 0),
                ("net/ipv6/conf/all/accept_dad", 0),
                ("net/ipv6/conf/default/accept_dad", 0),
            ):
                self.sysctl(ns, key, value)
            mac = f"02:76:6c:00:01:{host:02x}"
            gw.link("add", ifname=gw_if, kind="veth", peer={"ifname": "eth0", "net_ns_fd": ns, "address": mac})
            (gidx,) = gw.link_lookup(ifname=gw_if)
            gw.addr("add", index=gidx, address=str(net4[GW_HOST]), prefixlen=net4.prefixlen)
            gw.addr("add", index=gidx, address=str(net6[GW_HOST]), prefixlen=net6.prefixlen, flags=IFA_F_NODAD)
            gw.link("set", index=gidx, state="up")
            h = self.ipr(ns)
            h.link("set", index=1, state="up")
            (eth0,) = h.link_lookup(ifname="eth0")
            self.sysctl(ns, "net/ipv4/conf/eth0/rp_filter", 0)
            self.sysctl(ns, "net/ipv6/conf/eth0/accept_dad", 0)
            h.link("set", index=eth0, state="up")
            ip4, ip6 = str(net4[host]), str(net6[host])
            h.addr("add", index=eth0, address=ip4, prefixlen=net4.prefixlen)
            h.addr("add", index=eth0, address=ip6, prefixlen=net6.prefixlen, flags=IFA_F_NODAD)
            h.route("add", dst="0.0.0.0/0", gateway=str(net4[GW_HOST]))
            h.route("add", dst="::/0", gateway=str(net6[GW_HOST]), family=10)
            self.nodes[name] = Node(name=name, ns=ns, ip4=ip4, ip6=ip6, mac=mac, ifindex=eth0)
        for node in self.nodes.values():
            wait_until(lambda n=node: self._oper_up(n), 5.0, message=f"{node.name} eth0 up")
        if self._sniff:
            self.sniffer = self.start_sniffer(self.nodes["r1"])
