from datetime import date

from wastestream.domain.balance import balance
from wastestream.schemas import Geofence, TransferStation

ST = TransferStation(
    id="S1", name="一号", geofence=Geofence(lat=31, lon=121, radius_m=100), capacity_kg_per_day=100_000
)
D = date(2026, 11, 23)


def test_cleared_same_day():
    b = balance(ST, D, received_kg=80_000, transferred_kg=79_500, carried_in_kg=0)
    assert b.cleared_same_day and not b.over_capacity and b.backlog_kg == 500


def test_station_not_cleared_by_day_end_is_flagged():
    b = balance(ST, D, received_kg=80_000, transferred_kg=60_000, carried_in_kg=5_000)
    assert not b.cleared_same_day and b.backlog_kg == 25_000


def test_over_capacity():
    assert balance(ST, D, 120_000, 120_000, 0).over_capacity
