"""Tonnage from weighbridge tickets: each (station, serial) counts once, however often it arrives.

Totals are kept at the finest grain a ticket has — local day × station × vehicle × contractor ×
waste stream × direction — so every roll-up (per station, contractor, stream, vehicle) is a sum
of them, and each station's totals have exactly one writer. The counting itself (dedupe per
station and serial, a conflicting copy refused) is ``Core.on_ticket``'s, over these keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from wastestream.domain.localtime import local_date
from wastestream.schemas import WeighTicket


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
