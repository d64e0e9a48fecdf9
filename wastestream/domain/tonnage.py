"""Tonnage from weighbridge tickets: each (station, serial) counts once, however often it arrives.

Totals are kept at the finest grain a ticket has — local day × station × vehicle × contractor ×
waste stream × direction — so every roll-up (per station, contractor, stream, vehicle) is a sum
of them, and each station's totals have exactly one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from wastestream.domain.localtime import local_date
from wastestream.schemas import City, WeighTicket


@dataclass(frozen=True, slots=True)
class TonnageKey:
    day: date
    station_id: str
    vehicle_id: str
    contractor_id: str
    waste_stream: str
    direction: str

    def as_str(self) -> str:
        return "|".join(
            (
                self.day.isoformat(),
                self.station_id,
                self.vehicle_id,
                self.contractor_id,
                self.waste_stream,
                self.direction,
            )
        )

    @classmethod
    def from_str(cls, s: str) -> TonnageKey:
        d, st, v, c, w, di = s.split("|")
        return cls(date.fromisoformat(d), st, v, c, w, di)


def ticket_day(t: WeighTicket, tz: str = "Asia/Shanghai") -> date:
    """A ticket belongs to the local day the truck weighed in."""
    return local_date(t.weigh_in_at, tz)


def tonnage_key(t: WeighTicket, contractor_of: dict[str, str], tz: str = "Asia/Shanghai") -> TonnageKey:
    vehicle = t.vehicle_id or f"plate:{t.plate}"
    return TonnageKey(
        ticket_day(t, tz),
        t.station_id,
        vehicle,
        contractor_of.get(vehicle, "unknown"),
        t.waste_stream.value,
        t.direction.value,
    )


@dataclass
class Ledger:
    """Deduplicated ticket totals. ``add`` is idempotent per (station, serial)."""

    contractor_of: dict[str, str]
    tz: str = "Asia/Shanghai"
    seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (station, serial) -> key
    totals: dict[TonnageKey, list[float]] = field(default_factory=dict)  # key -> [net_kg, tickets]

    @classmethod
    def for_city(cls, city: City) -> Ledger:
        return cls({v.id: v.contractor_id for v in city.vehicles}, city.timezone)

    def add(self, t: WeighTicket) -> TonnageKey | None:
        """Count a ticket; returns its key, or None for a duplicate."""
        if t.key in self.seen:
            return None
        k = tonnage_key(t, self.contractor_of, self.tz)
        self.seen[t.key] = k.as_str()
        tot = self.totals.setdefault(k, [0.0, 0])
        tot[0] += t.net_kg
        tot[1] += 1
        return k


def roll_up(
    totals: dict[TonnageKey, list[float]], dimension: str, direction: str = "in"
) -> dict[tuple[date, str], float]:
    """Sum net kg per (day, value of ``dimension``): station_id, contractor_id, waste_stream, vehicle_id."""
    out: dict[tuple[date, str], float] = {}
    for k, (net, _n) in totals.items():
        if k.direction != direction:
            continue
        key = (k.day, getattr(k, dimension))
        out[key] = out.get(key, 0.0) + net
    return out
