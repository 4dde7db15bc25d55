"""The pure VRRP state machine (RFC 5798/9568 §6, RFC 3768 §6): events in, effects out.

No I/O, no clock, no logging, no asyncio: see ``machine.py``'s rules.
"""

from vipd.fsm.effects import (
    AddAddresses,
    Discard,
    Effect,
    LowerPriorityHeard,
    Notify,
    PriorityNotice,
    RemoveAddresses,
    SendAdvert,
    SendGratuitousArp,
    WantMaster,
)
from vipd.fsm.events import (
    AdvertReceived,
    Event,
    FaultChanged,
    Handover,
    MaintenanceChanged,
    MasterDownDetected,
    PriorityChanged,
    Shutdown,
    Startup,
    SyncGoBackup,
    SyncGoMaster,
    TimerExpired,
)
from vipd.fsm.machine import Params, VrrpMachine, master_down_interval, skew_time
from vipd.fsm.state import State

__all__ = [
    "AddAddresses",
    "AdvertReceived",
    "Discard",
    "Effect",
    "Event",
    "FaultChanged",
    "Handover",
    "LowerPriorityHeard",
    "MaintenanceChanged",
    "MasterDownDetected",
    "Notify",
    "Params",
    "PriorityChanged",
    "PriorityNotice",
    "RemoveAddresses",
    "SendAdvert",
    "SendGratuitousArp",
    "Shutdown",
    "Startup",
    "State",
    "SyncGoBackup",
    "SyncGoMaster",
    "TimerExpired",
    "VrrpMachine",
    "WantMaster",
    "master_down_interval",
    "skew_time",
]
