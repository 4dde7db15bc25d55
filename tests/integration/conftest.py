"""Fixtures for the integration tests: a fresh namespace lab per test, real daemons.

Set VIPDLAB_DAEMON=keepalived to run the same tests against Debian's keepalived
(useful to check the tests themselves; the default is vipd).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import vipdlab.lab.daemons
from pyroute2 import netns
from vipdlab import Daemon, Instance, Lab, Node, keepalived_available, render, vipd_available

DAEMON = os.environ.get("VIPDLAB_DAEMON", "vipd")
REPO = Path(__file__).resolve().parents[2]


@cache
def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates network namespaces, veths and a bridge"
    probe = f"vlprobe{os.getpid()}"
    try:
        netns.create(probe)
    except OSError as exc:
        return f"cannot create a network namespace: {exc}"
    finally:
        if probe in netns.listnetns():
            netns.remove(probe)
    if DAEMON == "keepalived":
        if not keepalived_available():
            return "VIPDLAB_DAEMON=keepalived but keepalived is not installed"
    elif DAEMON == "vipd":
        ok, why = vipd_available()
        if not ok:
            return f"`python -m vipd` does not run from this checkout: {why}"
    else:
        return f"VIPDLAB_DAEMON={DAEMON!r}: expected vipd or keepalived"
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


class Routers:
    """The lab plus a way to start the daemon under test with a config."""

    def __init__(self, lab: Lab, kind: str) -> None:
        self.lab = lab
        self.kind = kind

    def start(self, node: Node, instance: Instance) -> Daemon:
        return self.lab.start_daemon(self.kind, node, render(instance))


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A fresh lab (r1, r2, client, bridge; sniffer on the client), removed after the test."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp(request.node.name[:40])
    with Lab(workdir=workdir) as the_lab:
        yield the_lab
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- lab {the_lab.prefix}: frames the client saw (last 50) ---")
            print(the_lab.sniffer.summary(limit=50) if the_lab.sniffer else "(no sniffer)")
            print("--- daemon logs ---")
            print(the_lab.logs(60))
            print(f"--- configs and logs in {workdir} ---")
    left = [ns for ns in netns.listnetns() if ns.startswith(the_lab.prefix)]
    assert not left, f"namespaces left behind: {left}"


@pytest.fixture
def routers(lab: Lab) -> Routers:
    return Routers(lab, DAEMON)


@pytest.fixture
def ctl_sockets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Give each node's vipd its control socket at ``tmp_path/<node>.ctl`` (``vipdlab.lab.control`` talks to it)."""
    orig = vipdlab.lab.daemons.vipd_argv

    def argv(config: Path, pid_file: Path) -> list[str]:
        node = config.name.split("-")[0]
        return [*orig(config, pid_file), "--control-socket", str(tmp_path / f"{node}.ctl")]

    monkeypatch.setattr(vipdlab.lab.daemons, "vipd_argv", argv)
    yield tmp_path


def _injector_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bridge_nf: str, payloads: str
) -> Iterator[Lab]:
    """r1, r2 and an injector namespace ``inj`` on the bridge (no sniffer), for the hostile-input tests."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces, veths and a bridge")
    pytest.importorskip("scapy", reason=f"the injector builds {payloads} payloads with scapy")
    workdir = tmp_path_factory.mktemp(request.node.name[:40])
    # the third "router" is the injector: it runs nothing and never holds a VIP
    with Lab(routers=["r1", "r2", "inj"], workdir=workdir, sniff=False) as the_lab:
        # With br_netfilter loaded, the bridge itself validates IP headers (br_validate_ipv4/ipv6) and
        # drops the kernel-drop category before the routers see it: let the routers' kernels drop it.
        if os.path.exists(f"/proc/sys/net/bridge/{bridge_nf}"):
            the_lab.sysctl(the_lab.sw_ns, f"net/bridge/{bridge_nf}", 0)
        yield the_lab
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(the_lab.logs(40))
    assert not [ns for ns in netns.listnetns() if ns.startswith(the_lab.prefix)]


@pytest.fixture
def hostile_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The IPv4 hostile-input lab (test_faults_hostile.py)."""
    yield from _injector_lab(request, tmp_path_factory, "bridge-nf-call-iptables", "VRRP/CARP")


@pytest.fixture
def hostile_lab6(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The IPv6 hostile-input lab (test_faults_hostile_ipv6.py)."""
    yield from _injector_lab(request, tmp_path_factory, "bridge-nf-call-ip6tables", "VRRPv3")


@pytest.fixture
def veth_netns() -> Iterator[Callable[..., Any]]:
    """A network namespace of the test's own (lo up, veth va 02:76:6c:00:00:aa <-> vb, both up), removed after.

    Yields ``run(script, *args)``: runs ``python -c script NS *args`` inside it with this checkout
    first on the path and returns the JSON the script printed last (the test fails on a non-zero exit).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a network namespace")
    name = f"vns{os.getpid()}{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip = ["ip", "-n", name]
        subprocess.run([*ip, "link", "set", "lo", "up"], check=True)
        veth = ["link", "add", "va", "address", "02:76:6c:00:00:aa", "type", "veth", "peer", "vb"]
        subprocess.run([*ip, *veth], check=True)
        subprocess.run([*ip, "link", "set", "va", "up"], check=True)
        subprocess.run([*ip, "link", "set", "vb", "up"], check=True)
        env = dict(os.environ, PYTHONPATH=f"{REPO}:{os.environ.get('PYTHONPATH', '')}")

        def run(script: str, *args: str) -> Any:
            argv = ["ip", "netns", "exec", name, sys.executable, "-c", script, name, *args]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout.strip().splitlines()[-1])

        yield run
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
