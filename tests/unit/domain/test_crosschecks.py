from datetime import UTC, datetime, timedelta

from wastestream.domain.crosschecks import has_station_dwell, ticket_flags
from wastestream.schemas import Vehicle, WeighTicket

V = Vehicle(id="V1", plate="沪A1", contractor_id="C1", terminal_id="1", rated_load_kg=8000, stored_tare_kg=9000)
T = datetime(2026, 11, 23, 2, tzinfo=UTC)


def ticket(**kw):
    base = dict(
        station_id="S1",
        serial="1",
        plate="沪A1",
        vehicle_id="V1",
        direction="in",
        waste_stream="other",
        gross_kg=14000,
        tare_kg=9000,
        net_kg=5000,
        weigh_in_at=T,
        weigh_out_at=T + timedelta(minutes=6),
    )
    base.update(kw)
    return WeighTicket(**base)


def test_clean_ticket_has_no_flags():
    assert ticket_flags(ticket(), V) == []


def test_manual_weight_is_flagged():
    assert ticket_flags(ticket(manual_weight=True), V) == ["manual_weight"]


def test_over_rated_load_and_tare_drift():
    assert ticket_flags(ticket(gross_kg=18000, net_kg=9000), V) == ["over_rated_load"]
    assert ticket_flags(ticket(tare_kg=10000, gross_kg=15000), V) == ["tare_drift"]
    assert ticket_flags(ticket(tare_kg=10000, gross_kg=15000, stored_tare=True), V) == []


def test_station_dwell():
    t = ticket()
    assert has_station_dwell(t.weigh_in_at, t.weigh_out_at, [(T - timedelta(minutes=3), T + timedelta(minutes=8))])
    assert not has_station_dwell(t.weigh_in_at, t.weigh_out_at, [(T - timedelta(hours=2), T - timedelta(hours=1))])
    assert not has_station_dwell(t.weigh_in_at, t.weigh_out_at, [])
