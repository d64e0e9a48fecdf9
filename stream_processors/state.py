"""The core's state: the named stores, per-event transactions over them, and the shapes of the
values that are more than a number.

Stores are plain mappings with string keys (dicts offline, write-behind Faust tables in the
worker). Every event is applied through a :class:`Transaction`: if it fails half-way (a check the
core does not know yet, a bug), what it changed is put back, so no half-applied record is left.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


class Stores:
    """The state mappings (dicts by default)."""

    NAMES = (
        "fixlog",
        "last_fix",
        "evidence",
        "station_visits",
        "statuses",
        "tickets_seen",
        "tonnage",
        "station_days",
        "quality",
        "ticket_checks",
        "heard",
        "unknown_terminals",
        "risk",
        "deliveries",
        "vehicle_days",
    )

    def __init__(self, **mappings: MutableMapping[str, Any]):
        for name in self.NAMES:
            setattr(self, name, mappings.get(name, {}))

    fixlog: MutableMapping[str, Any]
    last_fix: MutableMapping[str, Any]
    evidence: MutableMapping[str, Any]
    station_visits: MutableMapping[str, Any]
    statuses: MutableMapping[str, Any]
    tickets_seen: MutableMapping[str, Any]
    tonnage: MutableMapping[str, Any]
    station_days: MutableMapping[str, Any]
    quality: MutableMapping[str, Any]
    ticket_checks: MutableMapping[str, Any]
    heard: MutableMapping[str, Any]
    unknown_terminals: MutableMapping[str, Any]
    risk: MutableMapping[str, Any]
    deliveries: MutableMapping[str, Any]
    vehicle_days: MutableMapping[str, Any]


class _Journaled(MutableMapping[str, Any]):
    """One store inside a transaction: reads go straight to the store, each write notes the value
    it replaces so that a failed event can be undone."""

    __slots__ = ("base", "log", "get")

    def __init__(self, base: MutableMapping[str, Any], log: list):
        self.base = base
        self.log = log
        self.get = base.get  # type: ignore[method-assign]  # reads cost nothing extra

    def __getitem__(self, key: str) -> Any:
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.base

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((self.base, key, self.base.get(key, _MISSING)))
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        self.log.append((self.base, key, self.base.get(key, _MISSING)))
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


class Transaction:
    """A :class:`Stores` view (``view``) whose writes are journaled: :meth:`discard` puts back what
    the event being processed replaced, :meth:`begin`/:meth:`commit` forget the journal."""

    def __init__(self, base: Stores):
        self.base = base
        self._log: list[tuple[MutableMapping[str, Any], str, Any]] = []
        self.view = Stores(**{name: _Journaled(getattr(base, name), self._log) for name in Stores.NAMES})

    def begin(self) -> None:
        self._log.clear()

    def commit(self) -> None:
        self._log.clear()

    def discard(self) -> None:
        for store, key, old in reversed(self._log):
            if old is _MISSING:
                store.pop(key, None)
            else:
                store[key] = old
        self._log.clear()


@dataclass(slots=True)
class LastFix:
    """``last_fix[vehicle]``: the newest fix of a vehicle, for speed jumps and silent terminals."""

    t: float  # device time of the newest fix (epoch s)
    lat: float
    lon: float
    received: float  # the newest receive time of any of its fixes
    parked: bool  # the newest fix had the ignition off: a quiet terminal is then not silent
    alert_open: bool = False  # a terminal_silent alert is raised
    counted: bool = False  # the silence since ``received`` has been counted

    def to_state(self) -> list:  # explicit, not dataclasses.astuple (which deep-copies): once per fix
        return [self.t, self.lat, self.lon, self.received, self.parked, self.alert_open, self.counted]

    @classmethod
    def from_state(cls, v: list | None) -> LastFix | None:
        return None if not v else cls(*v)  # older 6-element states: not counted


@dataclass(slots=True)
class Heard:
    """``heard[vehicle|day]``: when a vehicle's terminal was first heard on a local day (receive
    time), and whether its 'dark at the start of its shift' was counted and alerted."""

    first: float | None = None
    dark_counted: bool = False
    dark_alert_open: bool = False

    def to_state(self) -> list:
        return [self.first, self.dark_counted, self.dark_alert_open]

    @classmethod
    def from_state(cls, v: list | None) -> Heard:
        return cls() if not v else cls(*v)


@dataclass(slots=True)
class StatusSnapshot:
    """``statuses[point|day]``: the status last decided for a point-day and the missed-clearance alert
    last written for it (so a restart re-emits both)."""

    status: str
    visit_at: str | None  # ISO time of the visit that decided it
    vehicle: str | None
    alert_active: int | None = None  # 1 raised / 0 resolved; None: never alerted
    alert_message: str | None = None

    def decision(self) -> list:
        """What a new decision is compared with: status, visit, vehicle."""
        return [self.status, self.visit_at, self.vehicle]

    def to_state(self) -> list:
        alert = None if self.alert_active is None else [self.alert_active, self.alert_message]
        return [self.status, self.visit_at, self.vehicle, alert]

    @classmethod
    def from_state(cls, v: list | None) -> StatusSnapshot | None:
        if not v:
            return None
        alert = v[3] if len(v) > 3 else None
        return cls(v[0], v[1], v[2], *(alert or (None, None)))


@dataclass(slots=True)
class Tally:
    """``tonnage[key]``: net weight and tickets of one tonnage key, and the serials counted in it.

    The serials make counting a ticket idempotent in this one value: a ticket's effects go to
    several tables (``tickets_seen``, ``tonnage``, ``station_days``), each with its own changelog,
    and a worker killed in a commit point can leave some of those changelog messages delivered and
    others not. Whoever reads the ticket again adds it where it is missing, and only there. A state
    written before serials were kept (two items) has ``serials`` None: counted as ``tickets_seen``
    says, as before."""

    net_kg: float = 0.0
    tickets: int = 0
    serials: list[str] | None = field(default_factory=list)

    def counted(self, serial: str) -> bool | None:
        """Whether ``serial`` is in this tally (None: an older state that does not say)."""
        return None if self.serials is None else serial in self.serials

    def add(self, serial: str, kg: float) -> None:
        self.net_kg += kg
        self.tickets += 1
        if self.serials is not None:
            self.serials.append(serial)

    def to_state(self) -> list:
        if self.serials is None:
            return [self.net_kg, self.tickets]
        return [self.net_kg, self.tickets, self.serials]

    @classmethod
    def from_state(cls, v: list | None) -> Tally:
        if not v:
            return cls()
        return cls(float(v[0]), int(v[1]), list(v[2]) if len(v) > 2 else None)


@dataclass(slots=True)
class StationDay:
    """``station_days[station|day]``: what a station received and transferred out that day, and the
    serials counted in it (as :class:`Tally`; None: an older state)."""

    received_kg: float = 0.0
    transferred_kg: float = 0.0
    serials: list[str] | None = field(default_factory=list)

    def counted(self, serial: str) -> bool | None:
        return None if self.serials is None else serial in self.serials

    def add(self, serial: str, kg: float, inbound: bool) -> None:
        if inbound:
            self.received_kg += kg
        else:
            self.transferred_kg += kg
        if self.serials is not None:
            self.serials.append(serial)

    def to_state(self) -> list:
        if self.serials is None:
            return [self.received_kg, self.transferred_kg]
        return [self.received_kg, self.transferred_kg, self.serials]

    @classmethod
    def from_state(cls, v: list | None) -> StationDay | None:
        if v is None:
            return None
        return cls(float(v[0]), float(v[1]), list(v[2]) if len(v) > 2 else None)


@dataclass(slots=True)
class SeenTicket:
    """``tickets_seen[station|serial]``: the first copy of a ticket: its tonnage key, where it sat
    (a re-read of the same record is not a duplicate) and its weights (another copy must agree)."""

    key: str
    position: str
    digest: str | None = None

    def to_state(self) -> list:
        return [self.key, self.position, self.digest]

    @classmethod
    def from_state(cls, v: list | None) -> SeenTicket | None:
        return None if not v else cls(v[0], v[1], v[2] if len(v) > 2 else None)


@dataclass(slots=True)
class UnknownTerminal:
    """``unknown_terminals[day|source|terminal]``: an unregistered terminal's first and last time
    seen that day (epoch s) and how often."""

    first: float
    last: float
    count: int

    def to_state(self) -> list:
        return [self.first, self.last, self.count]

    @classmethod
    def from_state(cls, v: list | None) -> UnknownTerminal | None:
        return None if not v else cls(v[0], v[1], int(v[2]))
