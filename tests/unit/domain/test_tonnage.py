from datetime import UTC, date, datetime

from wastestream.domain.tonnage import Ledger, roll_up, ticket_day
from wastestream.schemas import WeighTicket


def ticket(serial="T1", station="S1", vehicle="V1", net=5000.0, hour=1, direction="in", stream="other"):
    return WeighTicket(
        station_id=station,
        serial=serial,
        plate="沪A1",
        vehicle_id=vehicle,
        direction=direction,
        waste_stream=stream,
        gross_kg=net + 9000,
        tare_kg=9000,
        net_kg=net,
        weigh_in_at=datetime(2026, 11, 23, hour, 0, tzinfo=UTC),
        weigh_out_at=datetime(2026, 11, 23, hour, 5, tzinfo=UTC),
    )


def test_duplicate_ticket_counts_once():
    led = Ledger({"V1": "C1"})
    assert led.add(ticket()) is not None
    assert led.add(ticket()) is None
    assert led.add(ticket(net=1.0)) is None  # same (station, serial): a resend, even if edited
    (tot,) = led.totals.values()
    assert tot == [5000.0, 1]


def test_roll_ups():
    led = Ledger({"V1": "C1", "V2": "C2"})
    led.add(ticket("1", "S1", "V1", 1000))
    led.add(ticket("2", "S1", "V2", 2000, stream="kitchen"))
    led.add(ticket("3", "S2", "V1", 4000))
    led.add(ticket("4", "S1", "V1", 6000, direction="out"))
    d = date(2026, 11, 23)
    assert roll_up(led.totals, "station_id") == {(d, "S1"): 3000, (d, "S2"): 4000}
    assert roll_up(led.totals, "contractor_id") == {(d, "C1"): 5000, (d, "C2"): 2000}
    assert roll_up(led.totals, "waste_stream") == {(d, "other"): 5000, (d, "kitchen"): 2000}
    assert roll_up(led.totals, "station_id", "out") == {(d, "S1"): 6000}


def test_ticket_day_is_shanghai_day():
    # weighed in at 23:30 Shanghai on the 23rd = 15:30Z
    assert ticket_day(ticket(hour=15)).isoformat() == "2026-11-23"
    assert ticket_day(ticket(hour=16)).isoformat() == "2026-11-24"
