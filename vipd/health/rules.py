"""keepalived's tracking arithmetic as pure functions: rise/fall debounce and priority.

Pure: no I/O, no asyncio, no clock. The runtime (``vipd.runtime.tracking``)
feeds check results in and turns the evaluation into ``PriorityChanged`` /
``FaultChanged`` events for the state machine.

The rules are keepalived's (``vrrp_track.c``), restated:

* A tracker with a **positive weight** adds it to the priority while it is OK.
* A tracker with a **negative weight** adds it (so subtracts) while it fails.
* ``reverse`` multiplies the weight by -1: a positive weight then subtracts
  while OK, a negative one adds while failing.
* A tracker with **weight 0** puts the instance in FAULT while it fails (while
  it is OK with ``reverse``).
* ``track_file``: the integer in the file (clamped to -254..254) times the
  weight (times -1 with ``reverse``), clamped to -254..253; -254 or less means
  FAULT. With weight 0, any non-zero value means FAULT.
* The effective priority is ``base + sum(contributions)`` clamped to 1..254.
* An address owner (base priority 255) is never changed by weights; only
  weight-0 trackers act on it (FAULT).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

PRIORITY_OWNER = 255
PRIORITY_MIN = 1
PRIORITY_MAX_TRACKED = 254
FILE_FAULT = -254
"""A ``track_file`` status at or below this puts the instance in FAULT (keepalived)."""


class Health(Enum):
    """Debounced state of one check."""

    UNKNOWN = "unknown"
    """No result yet (counts neither way; see :func:`contribution`)."""
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Debounce:
    """Rise/fall hysteresis of one check (keepalived ``rise`` / ``fall``).

    A FAILED (or UNKNOWN) check becomes OK after ``rise`` consecutive passes; an
    OK check becomes FAILED after ``fall`` consecutive failures. A result that
    agrees with the current state resets the opposite streak. The first result
    of an UNKNOWN check decides at once, as in keepalived (whose counter starts
    one short of ``rise``); with ``init_fail`` the check starts FAILED and
    needs ``rise`` passes.

    Attributes:
        rise: passes needed to become OK, >= 1.
        fall: failures needed to become FAILED, >= 1.
        health: current debounced state.
        streak: consecutive results contrary to ``health`` seen so far.
    """

    rise: int = 1
    fall: int = 1
    health: Health = Health.UNKNOWN
    streak: int = 0

    def __post_init__(self) -> None:
        if self.rise < 1 or self.fall < 1:
            raise ValueError(f"rise and fall must be >= 1, got rise={self.rise} fall={self.fall}")

    @classmethod
    def initial(cls, rise: int = 1, fall: int = 1, *, init_fail: bool = False) -> Debounce:
        """A fresh debounce: UNKNOWN, or FAILED with keepalived's ``init_fail``."""
        return cls(rise, fall, Health.FAILED if init_fail else Health.UNKNOWN, 0)

    def step(self, passed: bool) -> Debounce:
        """Return the state after one result (``passed`` = the check succeeded).

        Raises nothing; pure.
        """
        if self.health is Health.OK:
            if passed:
                return Debounce(self.rise, self.fall, Health.OK, 0)
            n = self.streak + 1
            return Debounce(
                self.rise, self.fall, Health.FAILED if n >= self.fall else Health.OK, 0 if n >= self.fall else n
            )
        if self.health is Health.FAILED:
            if not passed:
                return Debounce(self.rise, self.fall, Health.FAILED, 0)
            n = self.streak + 1
            return Debounce(
                self.rise, self.fall, Health.OK if n >= self.rise else Health.FAILED, 0 if n >= self.rise else n
            )
        # UNKNOWN: the first result decides (keepalived starts a script's counter one
        # short of ``rise``, so one pass makes it OK and one failure makes it FAILED).
        return Debounce(self.rise, self.fall, Health.OK if passed else Health.FAILED, 0)


@dataclass(frozen=True, slots=True)
class Weight:
    """How one tracker acts on one instance: keepalived ``weight W [reverse]``.

    Attributes:
        weight: -253..253; 0 = FAULT while failing.
        reverse: invert the sense (``reverse``).
    """

    weight: int = 0
    reverse: bool = False

    def __post_init__(self) -> None:
        if not -254 <= self.weight <= 254:
            raise ValueError(f"weight must be -253..253, got {self.weight}")


def contribution(health: Health, w: Weight) -> int:
    """Priority points a boolean tracker (script, interface, process, tcp, http) adds.

    Args:
        health: the tracker's debounced state; UNKNOWN adds nothing.
        w: its weight; weight 0 adds nothing (see :func:`is_fault`).
    Returns:
        ``w.weight * (-1 if reverse else 1)`` when (OK and weight > 0) or
        (FAILED and weight < 0), else 0.
    """
    if w.weight == 0 or health is Health.UNKNOWN:
        return 0
    sign = -1 if w.reverse else 1
    ok = health is Health.OK
    if (ok and w.weight > 0) or (not ok and w.weight < 0):
        return w.weight * sign
    return 0


def is_fault(health: Health, w: Weight) -> bool:
    """Whether a weight-0 boolean tracker puts the instance in FAULT.

    FAILED -> FAULT; with ``reverse``, OK -> FAULT. UNKNOWN is not a fault
    (the runtime waits for a first result before starting an instance).
    Weighted trackers never fault.
    """
    if w.weight != 0 or health is Health.UNKNOWN:
        return False
    return (health is Health.OK) == w.reverse


def file_status(value: int, w: Weight) -> int:
    """keepalived ``track_file``: the status of a file holding ``value`` for weight ``w``.

    Args:
        value: the integer read from the file (keepalived reads it with
            ``strtol``; a missing or unreadable file is 0).
        w: the tracker's weight; ``reverse`` negates it.
    Returns:
        -254 (:data:`FILE_FAULT`, FAULT) .. 253: the priority points. With weight
        0, any non-zero value gives FAULT and 0 gives 0.
    """
    value = max(-254, min(254, value))
    if w.weight == 0:
        return FILE_FAULT if value else 0
    status = value * w.weight * (-1 if w.reverse else 1)
    return max(FILE_FAULT, min(253, status))


@dataclass(frozen=True, slots=True)
class TrackerState:
    """One tracker's input to :func:`evaluate`.

    Attributes:
        name: for fault reasons, e.g. ``"script chk_web"``, ``"interface eth1"``.
        weight: how it acts on this instance.
        health: debounced state (boolean trackers).
        value: for ``track_file``: the integer read (``health`` is ignored then).
    """

    name: str
    weight: Weight
    health: Health = Health.UNKNOWN
    value: int | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        priority: effective priority 1..255.
        faults: names of trackers holding the instance in FAULT, in input order
            (empty = no fault).
        total: the unclamped sum of contributions (keepalived ``total_priority``
            minus the base), for status displays.
    """

    priority: int
    faults: tuple[str, ...]
    total: int

    @property
    def fault(self) -> bool:
        """True while some tracker holds the instance in FAULT."""
        return bool(self.faults)


def effective_priority(base: int, total: int) -> int:
    """keepalived ``vrrp_set_effective_priority``: ``base + total`` clamped to 1..254; 255 stays 255.

    Args:
        base: configured priority 1..255 (keepalived ``priority``).
        total: sum of the trackers' contributions.
    Raises:
        ValueError: ``base`` outside 1..255.
    """
    if not 1 <= base <= PRIORITY_OWNER:
        raise ValueError(f"priority must be 1..255, got {base}")
    if base == PRIORITY_OWNER:
        return PRIORITY_OWNER
    return max(PRIORITY_MIN, min(PRIORITY_MAX_TRACKED, base + total))


def evaluate(base: int, trackers: Iterable[TrackerState]) -> Evaluation:
    """Compute the effective priority and the FAULT causes of one instance.

    Args:
        base: configured priority 1..255.
        trackers: every tracker of the instance (its own and its sync group's),
            with weights already adjusted for sync groups / owners by the caller.
    Returns:
        an :class:`Evaluation`.
    Raises:
        ValueError: ``base`` outside 1..255.
    """
    total = 0
    faults: list[str] = []
    for t in trackers:
        if t.value is not None:
            status = file_status(t.value, t.weight)
            if status <= FILE_FAULT:
                faults.append(t.name)
            else:
                total += status
        elif is_fault(t.health, t.weight):
            faults.append(t.name)
        else:
            total += contribution(t.health, t.weight)
    owner = base == PRIORITY_OWNER
    return Evaluation(effective_priority(base, 0 if owner else total), tuple(faults), 0 if owner else total)


def restrict(kind: str, w: Weight, *, owner: bool = False) -> Weight | None:
    """keepalived's treatment of a weighted tracker that may not move the priority.

    Applies to an instance's own trackers when it is an address owner (255) or a
    member of a ``vrrp_sync_group`` without ``sync_group_tracking_weight``
    (keepalived ``vrrp_complete_instance``): weights there would let members
    disagree, so keepalived turns them into FAULT trackers or drops them.

    Args:
        kind: ``"interface"``, ``"file"``, or any other tracker kind (script,
            process, tcp, http, plugins).
        w: the tracker's weight.
        owner: the instance is the address owner (rather than a sync-group member).
    Returns:
        the weight to use, or None to ignore the tracker: weight 0 is kept;
        a weighted interface becomes weight 0 (FAULT when down) in a sync group
        and is ignored for an owner; a file with
        weight 1 (keepalived's default) becomes weight 0; any other weighted
        tracker is ignored.
    """
    if w.weight == 0:
        return w
    if kind == "interface":
        return None if owner else Weight(0, w.reverse)
    if kind == "file" and w.weight == 1:
        return Weight(0)
    return None
