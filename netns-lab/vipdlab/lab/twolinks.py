"""A second LAN for the lab: bridge ``br1`` in ``<prefix>-sw2``, ``eth1`` on every host.

Sync-group scenarios need two instances on two interfaces. ``add_second_link``
adds them to a built :class:`~vipdlab.lab.topo.Lab`; the namespace is registered
with the lab, so ``Lab.close()`` removes it with the others (even after a
failure). Addressing: 198.51.100.<host>/24 on eth1 (host = the last octet of
the node's eth0 address), MAC 02:76:6d:00:00:<host>.

``link_down`` / ``link_up`` pull and restore a host's "cable" (the bridge-side
veth), so the host sees a carrier loss on its interface (operstate DOWN, no
IFF_RUNNING), as with an unplugged cable or a dead switch port.
"""

from __future__ import annotations

import ipaddress
import time

from .topo import Lab, Node
from .wait import wait_until

SUBNET4_B = ipaddress.ip_network("198.51.100.0/24")


def add_second_link(lab: Lab) -> dict[str, Node]:
    """Add br1 and eth1 to every host; return ``{node name: Node for eth1}`` once every eth1 is up."""
    sw = f"{lab.prefix}-sw2"
    lab._new_ns(sw)
    lab.sysctl(sw, "net/ipv6/conf/all/disable_ipv6", 1)
    lab.sysctl(sw, "net/ipv6/conf/default/disable_ipv6", 1)
    ipr = lab.ipr(sw)
    ipr.link("add", ifname="br1", kind="bridge", br_stp_state=0, br_forward_delay=0, br_mcast_snooping=0)
    (br,) = ipr.link_lookup(ifname="br1")
    out: dict[str, Node] = {}
    for name, node in lab.nodes.items():
        host = int(node.ip4.rsplit(".", 1)[1])
        port = f"q-{name}"[:15]
        mac = f"02:76:6d:00:00:{host:02x}"
        ipr.link("add", ifname=port, kind="veth", peer={"ifname": "eth1", "net_ns_fd": node.ns, "address": mac})
        (pidx,) = ipr.link_lookup(ifname=port)
        ipr.link("set", index=pidx, master=br, state="up")
        h = lab.ipr(node.ns)
        (eth1,) = h.link_lookup(ifname="eth1")
        lab.sysctl(node.ns, "net/ipv4/conf/eth1/rp_filter", 0)
        h.link("set", index=eth1, state="up")
        ip4 = str(SUBNET4_B[host])
        h.addr("add", index=eth1, address=ip4, prefixlen=24, broadcast=str(SUBNET4_B.broadcast_address))
        out[name] = Node(name=name, ns=node.ns, ip4=ip4, ip6="", mac=mac, ifname="eth1", ifindex=eth1)
    ipr.link("set", index=br, state="up")
    for n in out.values():
        wait_until(lambda n=n: _oper_up(lab, n), 5.0, message=f"{n.name} eth1 up")
    return out


def _oper_up(lab: Lab, node: Node) -> bool:
    (link,) = lab.ipr(node.ns).get_links(node.ifindex)
    return link.get("operstate") == "UP"


def _port(lab: Lab, node: Node) -> tuple[str, str]:
    sw, prefix = (lab.sw_ns, "p") if node.ifname == "eth0" else (f"{lab.prefix}-sw2", "q")
    return sw, f"{prefix}-{node.name}"[:15]


def link_down(lab: Lab, node: Node) -> float:
    """Pull the cable of ``node``'s interface (its bridge port goes down).

    Returns the monotonic time just before the port went down, once the host sees the loss.
    """
    sw, port = _port(lab, node)
    ipr = lab.ipr(sw)
    (idx,) = ipr.link_lookup(ifname=port)
    t = time.monotonic()
    ipr.link("set", index=idx, state="down")
    wait_until(lambda: not _oper_up(lab, node), 2.0, message=f"{node.name} {node.ifname} down")
    return t


def link_up(lab: Lab, node: Node) -> float:
    """Plug the cable back; returns the monotonic time just before, once the host sees carrier."""
    sw, port = _port(lab, node)
    ipr = lab.ipr(sw)
    (idx,) = ipr.link_lookup(ifname=port)
    t = time.monotonic()
    ipr.link("set", index=idx, state="up")
    wait_until(lambda: _oper_up(lab, node), 2.0, message=f"{node.name} {node.ifname} up")
    return t


def delete_link(lab: Lab, node: Node) -> float:
    """Delete ``node``'s interface (the veth pair goes, its bridge port with it).

    Returns the monotonic time just before the delete, once the device is gone.
    """
    h = lab.ipr(node.ns)
    t = time.monotonic()
    h.link("del", index=node.ifindex)
    wait_until(lambda: not h.link_lookup(ifname=node.ifname), 2.0, message=f"{node.name} {node.ifname} deleted")
    return t


def recreate_link(lab: Lab, node: Node) -> tuple[float, Node]:
    """Create ``node``'s interface again under its name: same MAC and addresses, a new ifindex, on the same bridge.

    Returns (the monotonic time just before the creation, the node with its new ifindex); ``lab.nodes``
    is updated. eth1 (``add_second_link``) is re-created with its IPv4 address only.
    """
    from dataclasses import replace

    from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

    sw, port = _port(lab, node)
    ipr = lab.ipr(sw)
    (br,) = ipr.link_lookup(ifname="br0" if node.ifname == "eth0" else "br1")
    h = lab.ipr(node.ns)
    t = time.monotonic()
    ipr.link("add", ifname=port, kind="veth", peer={"ifname": node.ifname, "net_ns_fd": node.ns, "address": node.mac})
    (pidx,) = ipr.link_lookup(ifname=port)
    ipr.link("set", index=pidx, master=br, state="up")
    (idx,) = h.link_lookup(ifname=node.ifname)
    lab.sysctl(node.ns, f"net/ipv4/conf/{node.ifname}/rp_filter", 0)
    lab.sysctl(node.ns, f"net/ipv6/conf/{node.ifname}/accept_dad", 0)
    h.link("set", index=idx, state="up")
    net = ipaddress.ip_network(f"{node.ip4}/24", strict=False)
    h.addr("add", index=idx, address=node.ip4, prefixlen=24, broadcast=str(net.broadcast_address))
    if node.ip6:
        h.addr("add", index=idx, address=node.ip6, prefixlen=64, flags=IFA_F_NODAD)
    new = replace(node, ifindex=idx)
    if node.ifname == "eth0":
        lab.nodes[node.name] = new
    wait_until(lambda: _oper_up(lab, new), 5.0, message=f"{node.name} {node.ifname} up again")
    return t, new
