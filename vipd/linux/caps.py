"""Capabilities vipd needs, checked once at start (DESIGN "Fail loudly at start").

Without CAP_NET_ADMIN vipd cannot add its VIPs (EPERM on every RTM_NEWADDR) yet
would advertise as master; without CAP_NET_RAW it cannot open its VRRP and
AF_PACKET sockets. Both are read from ``CapEff`` in ``/proc/self/status``
(capabilities(7)); a missing one stops the start with exit status 1 and one line
that names it and says what the unit must grant.
"""

from __future__ import annotations

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13

REQUIRED: dict[int, tuple[str, str]] = {
    CAP_NET_ADMIN: ("CAP_NET_ADMIN", "to add and remove VIPs, routes and VMACs"),
    CAP_NET_RAW: ("CAP_NET_RAW", "to open the VRRP (IP protocol 112) and ARP/NA sockets"),
}
"""Capability number -> (name, why vipd needs it)."""


def effective_capabilities(status_text: str | None = None) -> int:
    """The effective capability mask (``CapEff``) of this process.

    Args:
        status_text: the text of ``/proc/self/status`` (read when None; for tests).

    Raises:
        OSError: ``/proc/self/status`` cannot be read.
        ValueError: it has no ``CapEff`` line.
    """
    if status_text is None:
        with open("/proc/self/status") as f:
            status_text = f.read()
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise ValueError("no CapEff line in /proc/self/status")


def missing_capabilities(mask: int | None = None) -> list[str]:
    """Names of the :data:`REQUIRED` capabilities absent from ``mask`` (default: this process's)."""
    if mask is None:
        mask = effective_capabilities()
    return [name for bit, (name, _why) in REQUIRED.items() if not mask >> bit & 1]


def capability_error(mask: int | None = None) -> str | None:
    """One line saying which capability is missing and what to grant, or None if all are there.

    Unreadable ``/proc`` is not an error here (None): the first socket or netlink call
    will fail with its own message.
    """
    try:
        missing = missing_capabilities(mask)
    except (OSError, ValueError):
        return None
    if not missing:
        return None
    why = "; ".join(f"{n} {w}" for bit, (n, w) in REQUIRED.items() if n in missing)
    return (
        f"vipd: missing capability {' and '.join(missing)} ({why}): run as root, or grant it in the unit: "
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW and keep both in CapabilityBoundingSet="
    )
