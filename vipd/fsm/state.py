"""VRRP router states (RFC 5798 §6.4; RFC 9568 calls Master "Active")."""

from __future__ import annotations

import enum


class State(enum.Enum):
    """The states of one virtual router, named as keepalived and its operators name them."""

    INITIALIZE = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
