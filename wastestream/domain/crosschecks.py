"""Cross-checks of a weighbridge ticket against the vehicle's record and its GPS track."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from wastestream.schemas import Direction, Vehicle, WeighTicket


def over_rated_load(t: WeighTicket, v: Vehicle, tolerance: float = 0.10) -> bool:
    return t.direction == Direction.inbound and t.net_kg > v.rated_load_kg * (1 + tolerance)


def tare_drift(t: WeighTicket, v: Vehicle, tolerance: float = 0.05) -> bool:
    """A weighed tare far from the stored one (a stored-tare ticket cannot drift)."""
    return not t.stored_tare and abs(t.tare_kg - v.stored_tare_kg) > v.stored_tare_kg * tolerance


def has_station_dwell(
    weigh_in: datetime, weigh_out: datetime, station_visits: Iterable[tuple[datetime, datetime]], slack_s: float = 900
) -> bool:
    """Was the vehicle seen dwelling at the station around its weigh-in/out (± ``slack_s``)?"""
    lo = weigh_in - timedelta(seconds=slack_s)
    hi = weigh_out + timedelta(seconds=slack_s)
    return any(enter <= hi and exit_ >= lo for enter, exit_ in station_visits)


def ticket_flags(t: WeighTicket, v: Vehicle | None) -> list[str]:
    """Flags that need no GPS evidence: manual weight, over rated load, tare drift, unknown vehicle."""
    flags = []
    if t.manual_weight:
        flags.append("manual_weight")
    if v is None:
        flags.append("unknown_vehicle")
        return flags
    if over_rated_load(t, v):
        flags.append("over_rated_load")
    if tare_drift(t, v):
        flags.append("tare_drift")
    return flags
