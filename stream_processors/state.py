"""The core's state: the named stores, per-event transactions over them, and the shapes of the
values that are more than a number.

Stores are plain mappings with string keys (dicts offline, write-behind Faust tables in the
worker). Every event is applied through a :class:`Transaction`: its changes become visible in the
stores only if the whole event was processed, so an event that fails half-way (a check the core
does not know yet, a bug) leaves no half-applied record behind.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import astuple, dataclass
from typing import Any

_MISSING = object()
_DELETED = object()


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


class _Pending(MutableMapping[str, Any]):
    """One store inside a transaction: reads see the transaction's own writes first."""

    __slots__ = ("base", "writes")

    def __init__(self, base: MutableMapping[str, Any]):
        self.base = base
        self.writes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        v = self.writes.get(key, _MISSING)
        if v is _MISSING:
            return self.base[key]
        if v is _DELETED:
            raise KeyError(key)
        return v

    def get(self, key: str, default: Any = None) -> Any:
        v = self.writes.get(key, _MISSING)
        if v is _MISSING:
            return self.base.get(key, default)
        return default if v is _DELETED else v

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.writes[key] = _DELETED

    def __contains__(self, key: object) -> bool:
        v = self.writes.get(key, _MISSING)  # type: ignore[call-overload]
        return key in self.base if v is _MISSING else v is not _DELETED

    def __iter__(self) -> Iterator[str]:
        for k in list(self.base.keys()):
            if self.writes.get(k, _MISSING) is not _DELETED:
                yield k
        for k, v in list(self.writes.items()):
            if v is not _DELETED and k not in self.base:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def commit(self) -> None:
        base = self.base
        for k, v in self.writes.items():
            if v is _DELETED:
                base.pop(k, None)
            else:
                base[k] = v
        self.writes.clear()


class Transaction:
    """A :class:`Stores` view whose writes reach the real stores only at :meth:`commit`."""

    def __init__(self, base: Stores):
        self.base = base
        self.view = Stores(**{name: _Pending(getattr(base, name)) for name in Stores.NAMES})

    def commit(self) -> None:
        for name in Stores.NAMES:
            getattr(self.view, name).commit()

    def discard(self) -> None:
        for name in Stores.NAMES:
            getattr(self.view, name).writes.clear()


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

    def to_state(self) -> list:
        return list(astuple(self))

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
        return list(astuple(self))

    @classmethod
    def from_state(cls, v: list | None) -> Heard:
        return cls() if not v else cls(*v)
