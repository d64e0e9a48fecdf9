"""Station mass balance per local day: received vs transferred out, backlog carried over."""

from __future__ import annotations

from datetime import date

from wastestream.schemas import StationBalance, TransferStation


def balance(
    station: TransferStation,
    day: date,
    received_kg: float,
    transferred_kg: float,
    carried_in_kg: float,
    tolerance_kg: float = 1000.0,
) -> StationBalance:
    """日产日清 holds when what is left at day end (carried in + received − transferred) is within
    ``tolerance_kg``; over capacity when the day's receipts exceed the station's rated capacity."""
    backlog = max(0.0, carried_in_kg + received_kg - transferred_kg)
    return StationBalance(
        station_id=station.id,
        local_date=day,
        received_kg=received_kg,
        transferred_kg=transferred_kg,
        carried_in_kg=carried_in_kg,
        backlog_kg=backlog,
        cleared_same_day=backlog <= tolerance_kg,
        over_capacity=received_kg > station.capacity_kg_per_day,
    )
