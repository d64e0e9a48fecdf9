"""Tonnage from weighbridge tickets, as the worker and ``recompute`` count it (``Core.on_ticket``
over the domain's ``tonnage_key``): each (station, serial) once, every roll-up a sum of the
finest-grain series."""

from datetime import UTC, date, datetime
from typing import Any

from wastestream.domain.tonnage import ticket_day
from wastestream.producers.simulator.city import build_city
from wastestream.schemas import WeighTicket
from wastestream.stream_processors.core import Core

CITY = build_city(808)
S1, S2 = (s.id for s in sorted(CITY.stations, key=lambda s: s.id)[:2])
TRUCKS = [v for v in CITY.vehicles if v.kind != "transfer"]
V1 = TRUCKS[0]
V2 = next(v for v in TRUCKS if v.contractor_id != V1.contractor_id)


def ticket(serial="T1", station=S1, vehicle=V1, net=5000.0, hour=1, direction="in", stream="other", plate=None):
    return WeighTicket(
        station_id=station,
        serial=serial,
        plate=plate or vehicle.plate,
        vehicle_id=vehicle.id if plate is None else None,
        direction=direction,
        waste_stream=stream,
        gross_kg=net + 9000,
        tare_kg=9000,
        net_kg=net,
        weigh_in_at=datetime(2026, 11, 23, hour, 0, tzinfo=UTC),
        weigh_out_at=datetime(2026, 11, 23, hour, 5, tzinfo=UTC),
    )


def tonnage(core: Core) -> dict[str, Any]:
    return {k: list(v) for k, v in core.s.tonnage.items()}


def roll_up(core: Core, tag: str, direction: str = "in") -> dict[str, float]:
    """What a dashboard's Flux sums: the newest tonnage record per series, grouped by ``tag``."""
    out: dict[str, float] = {}
    for part in core.figures():
        for r in part:
            tags, fields = dict(r.tags), dict(r.fields)
            if r.measurement == "tonnage" and tags["direction"] == direction:
                out[tags[tag]] = out.get(tags[tag], 0.0) + fields["net_kg"]
    return out


def test_a_ticket_sent_again_counts_once_and_a_copy_with_other_weights_is_refused():
    core = Core(CITY)
    core.on_ticket(ticket(), "weigh.tickets/0/1")
    again = core.on_ticket(ticket(), "weigh.tickets/0/2")
    assert again.rejected == [] and tonnage(core) and list(tonnage(core).values()) == [[5000.0, 1]]
    edited = core.on_ticket(ticket(net=1.0), "weigh.tickets/0/3")
    assert [r.problem.kind for r in edited.rejected] == ["ticket_serial_conflict"]
    assert list(tonnage(core).values()) == [[5000.0, 1]]
    assert core.on_ticket(ticket(), "weigh.tickets/0/1").records == []  # the same record read again


def test_roll_ups_are_sums_of_the_finest_grain():
    core = Core(CITY)
    core.on_ticket(ticket("1", S1, V1, 1000))
    core.on_ticket(ticket("2", S1, V2, 2000, stream="kitchen"))
    core.on_ticket(ticket("3", S2, V1, 4000))
    core.on_ticket(ticket("4", S1, V1, 6000, direction="out"))
    assert roll_up(core, "station") == {S1: 3000, S2: 4000}
    assert roll_up(core, "contractor") == {V1.contractor_id: 5000, V2.contractor_id: 2000}
    assert roll_up(core, "waste_stream") == {"other": 5000, "kitchen": 2000}
    assert roll_up(core, "station", "out") == {S1: 6000}


def test_a_ticket_of_an_unregistered_plate_counts_under_contractor_unknown():
    core = Core(CITY)
    core.on_ticket(ticket("9", plate="沪Z99999"))
    assert roll_up(core, "contractor") == {"unknown": 5000}
    assert roll_up(core, "vehicle") == {"plate:沪Z99999": 5000}


def test_ticket_day_is_shanghai_day():
    # weighed in at 23:30 Shanghai on the 23rd = 15:30Z
    assert ticket_day(ticket(hour=15)).isoformat() == "2026-11-23"
    assert ticket_day(ticket(hour=16)).isoformat() == "2026-11-24"
    assert date(2026, 11, 24) == ticket_day(ticket(hour=16), CITY.timezone)
