"""vipd next to keepalived 2.2.7 with the wire options of issue 6: VMAC, PASS auth, unicast peer
filtering, ``v3_checksum_as_v2``.

With ``VIPD_INTEROP_REPORT=/path.jsonl`` each test appends what it observed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
from vipdlab import Lab, Node, hold, render, timing, wait_until
from vipdlab.lab.interop import MODES, Capture, advert_source, instance, make_lab, ready
from vipdlab.lab.sniff import Advert, Arp, NeighAdvert

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.slow]

STARTUP = 8.0
Record = Callable[..., None]


def _links(lab: Lab, node: Node) -> dict[str, str]:
    return {str(link.get("ifname")): str(link.get("address")) for link in lab.ipr(node.ns).get_links()}


def _sysctl(lab: Lab, node: Node, key: str) -> str:
    return lab.read_proc(node.ns, f"/proc/sys/net/ipv4/conf/{key}").strip()


def _wait_ready(lab: Lab) -> None:
    for d in lab.daemons:
        if d.running:
            wait_until(lambda d=d: ready(d), STARTUP, message=f"{d.name} entered its first state")


@pytest.mark.parametrize("mode_name", ["v3", "v3-ipv6"])
def test_use_vmac_against_keepalived(mode_name: str, record: Record) -> None:
    """Both sides use_vmac: adverts and GARP/NA carry the virtual MAC; vipd removes its VMAC, restores sysctls."""
    mode = MODES[mode_name]
    vip = mode.vip_address
    vmac = f"00:00:5e:00:0{1 if mode.family == 4 else 2}:33"
    with make_lab(mode) as lab:
        assert lab.sniffer is not None
        r1, r2 = lab.r1, lab.r2
        before = (_sysctl(lab, r1, "eth0/arp_ignore"), _sysctl(lab, r1, "eth0/arp_filter"))
        vipd = lab.start_vipd(r1, render(instance(mode, lab, r1, 150, extra=("use_vmac",))))
        lab.start_keepalived(r2, render(instance(mode, lab, r2, 100, extra=("use_vmac",))))
        try:
            _wait_ready(lab)
            wait_until(lambda: lab.holders(vip) == [r1], STARTUP, message=f"r1 alone holds {vip}")
            assert _links(lab, r1).get("vrrp.51") == vmac
            ann = wait_until(lambda: lab.sniffer.announcements(vip), 3.0, message=f"GARP/NA for {vip}")[0]  # type: ignore[union-attr]
            assert isinstance(ann, Arp | NeighAdvert)
            lladdr = ann.sha if isinstance(ann, Arp) else ann.lladdr
            assert lladdr == vmac, f"announcement for {vip} carries {lladdr}, not the virtual MAC"
            src = advert_source(mode, r1)
            mine = [a for a in lab.sniffer.adverts() if a.src == src]
            assert mine and {a.src_mac for a in mine} == {vmac}, {a.src_mac for a in mine}
            if mode.family == 4:
                assert (_sysctl(lab, r1, "eth0/arp_ignore"), _sysctl(lab, r1, "eth0/arp_filter")) == ("1", "1")
            t = time.monotonic()
            vipd.stop()
            wait_until(lambda: lab.holds(r2, vip), 2.0, message=f"keepalived on r2 took {vip}")
            theirs = lab.sniffer.wait_for(Advert, 1.0, since=t, where=lambda a: a.src == advert_source(mode, r2))
            assert theirs.src_mac == vmac
            assert "vrrp.51" not in _links(lab, r1), "vipd left its VMAC behind"
            after = (_sysctl(lab, r1, "eth0/arp_ignore"), _sysctl(lab, r1, "eth0/arp_filter"))
            assert after == before, f"sysctls not restored: {before} -> {after}"
            record(check="use_vmac", mode=mode.name, vmac=vmac, garp_mac=lladdr, removed=True, sysctls_restored=True)
        except BaseException:
            print(lab.sniffer.summary(limit=30))
            print(lab.logs(40))
            raise


def test_v2_pass_mismatch_is_refused_by_both(record: Record) -> None:
    """Different auth_pass: each side discards the other's adverts (and says so), so both become master."""
    mode = MODES["v2"]
    vip = mode.vip_address
    with make_lab(mode) as lab:
        r1, r2 = lab.r1, lab.r2
        vipd = lab.start_vipd(r1, render(instance(mode, lab, r1, 150)))
        ka = lab.start_keepalived(r2, render(instance(mode, lab, r2, 100).with_(auth_pass="other123")))
        try:
            _wait_ready(lab)
            mdi = timing.master_down_interval(2, 100, mode.advert_int)
            wait_until(lambda: len(lab.holders(vip)) == 2, mdi + 3, message="both master: no advert accepted")
            wait_until(lambda: "auth" in vipd.log_text(), 3.0, message="vipd logs the auth discard")
            wait_until(lambda: "passwd" in ka.log_text() or "auth" in ka.log_text().lower(), 3.0)
            ka_lines = [line for line in ka.log_text().splitlines() if "passwd" in line or "auth" in line.lower()]
            vipd_lines = [line for line in vipd.log_text().splitlines() if "auth" in line and "dropped" in line]
            record(check="auth-mismatch", keepalived=ka_lines[-1:], vipd=vipd_lines[-1:])
        except BaseException:
            print(lab.logs(40))
            raise


def test_unicast_adverts_from_a_non_peer_are_dropped(record: Record) -> None:
    """A third router (keepalived in the gateway, priority 200) unicasts to vipd: vipd stays master, logs the source."""
    mode = MODES["v3-unicast"]
    vip = mode.vip_address
    with make_lab(mode) as lab:
        r1, r2 = lab.r1, lab.r2
        vipd = lab.start_vipd(r1, render(instance(mode, lab, r1, 150)))
        lab.start_keepalived(r2, render(instance(mode, lab, r2, 100)))
        try:
            _wait_ready(lab)
            wait_until(lambda: lab.holders(vip) == [r1], STARTUP, message="vipd on r1 alone holds the VIP")
            gw = Node(name="gw", ns=f"{lab.prefix}-gw", ip4="192.0.2.254", ip6="", mac="")
            rogue = instance(mode, lab, r1, 200).with_(
                interface="a",  # the gateway's side towards r1
                extra=("unicast_src_ip 192.0.2.254", "unicast_peer {", "    192.0.2.1", "}"),
            )
            lab.start_keepalived(gw, render(rogue))
            wait_until(lambda: "not a unicast_peer" in vipd.log_text(), STARTUP, message="vipd drops the rogue")
            hold(lambda: lab.holders(vip) == [r1], 1.0, message="vipd stays master despite priority 200 adverts")
            line = next(x for x in vipd.log_text().splitlines() if "not a unicast_peer" in x)
            assert "192.0.2.254" in line
            record(check="non-peer", dropped_from="192.0.2.254", vipd_log=line.split(": ", 1)[-1])
        except BaseException:
            print(lab.logs(40))
            raise


def test_v3_checksum_as_v2(record: Record) -> None:
    """vipd with v3_checksum_as_v2: tshark verifies its adverts as v2-style; what keepalived 2.2.7 does is recorded."""
    mode = MODES["v3"]
    with make_lab(mode) as lab:
        r1, r2 = lab.r1, lab.r2
        cap = Capture(lab, r1)
        vipd = lab.start_vipd(r1, render(instance(mode, lab, r1, 150, extra=("v3_checksum_as_v2",))))
        ka = lab.start_keepalived(r2, render(instance(mode, lab, r2, 100)))
        try:
            _wait_ready(lab)
            wait_until(lambda: lab.holds(r1, mode.vip_address), STARTUP)
            time.sleep(10 * mode.advert_int)  # an observation window for keepalived's verdict, not a sync
            cap.stop()
            statuses = {}
            for pref in ("FALSE", "TRUE"):
                argv = ["tshark", "-n", "-r", str(cap.path), "-o", f"vrrp.v3_checksum_as_in_v2:{pref}"]
                argv += ["-Y", f"vrrp && ip.src=={r1.ip4}", "-T", "fields", "-e", "vrrp.checksum.status"]
                out = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                statuses[pref] = set(out)
            assert statuses["TRUE"] == {"1"}, statuses  # every vipd advert verifies without the pseudo-header
            assert statuses["FALSE"] == {"0"}, statuses
            assert "dropped" not in vipd.log_text(), "vipd must accept keepalived's pseudo-header checksums"
            ka_rejects = "Invalid VRRPv3 checksum" in ka.log_text()
            record(
                check="v3_checksum_as_v2",
                tshark_as_v2_good=True,
                keepalived_rejects=ka_rejects,
                holders=[n.name for n in lab.holders(mode.vip_address)],
            )
        except BaseException:
            print(lab.logs(40))
            raise
        finally:
            cap.stop()


def test_ipv4_and_ipv6_instances_side_by_side(record: Record) -> None:
    """One daemon of each runs a VRRPv3/IPv4 and a VRRPv3/IPv6 instance (same VRID) on one link; vipd wins
    both, then keepalived takes both over when vipd stops."""
    v4, v6 = MODES["v3"], MODES["v3-ipv6"]
    with make_lab(v4) as lab:
        r1, r2 = lab.r1, lab.r2

        def conf(node: Node, prio: int) -> str:
            return render(
                [
                    instance(v4, lab, node, prio).with_(name="VI_4"),
                    instance(v6, lab, node, prio).with_(name="VI_6"),
                ]
            )

        vipd = lab.start_vipd(r1, conf(r1, 150))
        lab.start_keepalived(r2, conf(r2, 100))
        try:
            _wait_ready(lab)
            for vip in (v4.vip_address, v6.vip_address):
                wait_until(lambda vip=vip: lab.holders(vip) == [r1], STARTUP, message=f"r1 alone holds {vip}")
            vipd.stop()
            for vip in (v4.vip_address, v6.vip_address):
                wait_until(lambda vip=vip: lab.holders(vip) == [r2], 2.0, message=f"r2 alone holds {vip}")
            assert "dropped" not in vipd.log_text()
            record(check="dual-stack", v4="pass", v6="pass")
        except BaseException:
            print(lab.logs(40))
            raise


def test_vmac_xmit_base_against_keepalived(record: Record) -> None:
    """use_vmac + vmac_xmit_base on both sides: adverts leave from the base MAC, GARPs announce the virtual MAC."""
    mode = MODES["v3"]
    vip = mode.vip_address
    with make_lab(mode) as lab:
        assert lab.sniffer is not None
        r1, r2 = lab.r1, lab.r2
        extra = ("use_vmac", "vmac_xmit_base")
        lab.start_vipd(r1, render(instance(mode, lab, r1, 150, extra=extra)))
        lab.start_keepalived(r2, render(instance(mode, lab, r2, 100, extra=extra)))
        try:
            _wait_ready(lab)
            wait_until(lambda: lab.holders(vip) == [r1], STARTUP, message="vipd on r1 alone holds the VIP")
            ann = wait_until(lambda: lab.sniffer.announcements(vip), 3.0, message=f"GARP for {vip}")[0]  # type: ignore[union-attr]
            assert isinstance(ann, Arp) and ann.sha == "00:00:5e:00:01:33", ann
            # The first advert leaves just before the GARP; give the sniffer's reader thread a moment.
            mine = wait_until(lambda: [a for a in lab.sniffer.adverts() if a.src == r1.ip4], 1.0)  # type: ignore[union-attr]
            assert mine and {a.src_mac for a in mine} == {r1.mac}, {a.src_mac for a in mine}
            record(check="vmac_xmit_base", advert_mac=r1.mac, garp_mac=ann.sha)
        except BaseException:
            print(lab.logs(40))
            raise


@pytest.mark.parametrize("sender", ["keepalived", "vipd"])
def test_ipv6_multicast_from_a_global_mcast_src_ip(sender: str, record: Record) -> None:
    """A v3/IPv6 master configured with a global ``mcast_src_ip`` (keepalived accepts that and sends from it):
    its adverts leave from that address and the other daemon, whichever it is, accepts them and stays backup."""
    mode = MODES["v3-ipv6"]
    vip = mode.vip_address
    other = "vipd" if sender == "keepalived" else "keepalived"
    with make_lab(mode) as lab:
        assert lab.sniffer is not None
        r1, r2 = lab.r1, lab.r2
        master = instance(mode, lab, r1, 150, extra=(f"mcast_src_ip {r1.ip6}",))
        lab.start_daemon(sender, r1, render(master, comment=f"{sender}: IPv6 multicast from a global address"))
        backup = lab.start_daemon(other, r2, render(instance(mode, lab, r2, 100)))
        try:
            _wait_ready(lab)
            wait_until(lambda: lab.holders(vip) == [r1], STARTUP, message=f"{sender} on r1 alone holds {vip}")
            t = time.monotonic()
            mdi = timing.master_down_interval(3, 100, mode.advert_int)
            # Longer than Master_Down_Interval: a backup that dropped the adverts would have taken over.
            hold(lambda: lab.holders(vip) == [r1], 2 * mdi, message=f"{other} on r2 stays backup")
            seen = [a for a in lab.sniffer.adverts(since=t) if a.priority > 0]
            assert seen and {a.src for a in seen} == {r1.ip6}, {a.src for a in seen}
            assert "dropped VRRP packet" not in backup.log_text() if other == "vipd" else True
            record(check="ipv6-global-source", sender=sender, receiver=other, adverts=len(seen), ok=True)
        except BaseException:
            print(lab.logs(40))
            raise
