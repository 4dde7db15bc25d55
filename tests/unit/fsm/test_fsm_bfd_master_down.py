"""BFD master-down (vipd extension, draft-ietf-rtgwg-vrrp-bfd-p2p): MasterDownDetected expires the Master_Down_Timer.

Adverts win: the event is ignored when an advert from the master was accepted while BFD heard nothing.
"""

from __future__ import annotations

from fsm_helpers import HIGHER, LOWER, machine, rx

from vipd.fsm import MasterDownDetected, Notify, SendAdvert, Startup, State, WantMaster


def backup_following_master(now: float = 0.0, **kw: object):  # type: ignore[no-untyped-def]
    m = machine(**kw)
    m.handle(Startup(), now)
    rx(m, now + 0.5, 200, src=HIGHER)
    assert m.state is State.BACKUP and m.master_address == HIGHER
    return m


def test_bfd_down_takes_over_now_instead_of_after_master_down_interval() -> None:
    m = backup_following_master()
    # master's last advert at 0.5; BFD heard nothing it expected since 0.9; detection at 1.05
    effects = m.handle(MasterDownDetected(HIGHER, silent_since=0.9), 1.05)
    assert m.state is State.MASTER
    assert isinstance(effects[0], SendAdvert)
    assert effects[-1] == Notify(State.BACKUP, State.MASTER, "bfd_master_down")


def test_adverts_win_an_advert_after_bfds_last_packet_means_the_master_is_alive() -> None:
    m = backup_following_master()
    rx(m, 1.5, 200, src=HIGHER)  # an advert after BFD went quiet at 1.0 (its last packet + one interval)
    assert m.handle(MasterDownDetected(HIGHER, silent_since=1.0), 1.2) == []
    assert m.state is State.BACKUP
    deadline = m.next_deadline()
    assert deadline is not None and deadline > 1.5 + 3.0  # the RFC timer runs on, untouched


def test_only_the_session_to_the_master_counts() -> None:
    m = backup_following_master()
    assert m.handle(MasterDownDetected(LOWER, silent_since=0.9), 1.0) == []
    assert m.state is State.BACKUP


def test_ignored_without_a_known_master_and_outside_backup() -> None:
    m = machine()
    m.handle(Startup(), 0.0)
    assert m.handle(MasterDownDetected(HIGHER, silent_since=0.0), 0.5) == []  # no master heard yet
    owner = machine(priority=255)
    owner.handle(Startup(), 0.0)
    assert owner.handle(MasterDownDetected(HIGHER, silent_since=0.0), 0.5) == []
    assert owner.state is State.MASTER


def test_sync_group_member_only_wants_master() -> None:
    m = backup_following_master(sync_group=True)
    effects = m.handle(MasterDownDetected(HIGHER, silent_since=0.9), 1.0)
    assert effects == [WantMaster("bfd_master_down")]
    assert m.state is State.BACKUP and m.wants_master


def test_peek_leaves_the_machine_alone() -> None:
    m = backup_following_master()
    assert m.peek(MasterDownDetected(HIGHER, silent_since=0.9), 1.0)
    assert m.state is State.BACKUP
