"""keepalived.conf text that drives both vipd and keepalived.

Only the keywords both daemons understand are emitted: vrrp_instance with
state, interface, virtual_router_id, priority, advert_int, version,
virtual_ipaddress, nopreempt, preempt_delay and authentication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace


def _fmt_interval(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class Instance:
    """One vrrp_instance block."""

    name: str = "VI_1"
    vrid: int = 51
    priority: int = 100
    state: str = "BACKUP"
    interface: str = "eth0"
    advert_int: float = 0.1
    version: int = 3
    vips: Sequence[str] = ("192.0.2.100/24",)
    nopreempt: bool = False
    preempt_delay: float | None = None
    auth_pass: str | None = None  # VRRPv2 only: "authentication { auth_type PASS ... }"
    extra: Sequence[str] = field(default_factory=tuple)

    def with_(self, **changes: object) -> Instance:
        return replace(self, **changes)  # type: ignore[arg-type]

    def render(self) -> str:
        lines = [
            f"vrrp_instance {self.name} {{",
            f"    state {self.state}",
            f"    interface {self.interface}",
            f"    virtual_router_id {self.vrid}",
            f"    priority {self.priority}",
            f"    advert_int {_fmt_interval(self.advert_int)}",
            f"    version {self.version}",
        ]
        if self.nopreempt:
            lines.append("    nopreempt")
        if self.preempt_delay is not None:
            lines.append(f"    preempt_delay {_fmt_interval(self.preempt_delay)}")
        if self.auth_pass is not None:
            lines += [
                "    authentication {",
                "        auth_type PASS",
                f"        auth_pass {self.auth_pass}",
                "    }",
            ]
        lines += [f"    {line}" for line in self.extra]
        lines.append("    virtual_ipaddress {")
        lines += [f"        {vip}" for vip in self.vips]
        lines.append("    }")
        lines.append("}")
        return "\n".join(lines) + "\n"


def render(instances: Sequence[Instance] | Instance, *, comment: str = "") -> str:
    """A whole config file. ``comment`` goes on top as ``#`` lines."""
    if isinstance(instances, Instance):
        instances = [instances]
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + "\n".join(inst.render() for inst in instances)
