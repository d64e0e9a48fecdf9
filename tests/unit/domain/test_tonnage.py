"""Tonnage from weighbridge tickets, as the worker and ``recompute`` count it (``Core.on_ticket``
over the domain's ``tonnage_key``): each (station, serial) once, every roll-up a sum of the
finest-grain series."""

import copy
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.tonnage import ticket_day
from wastestream.producers.simulator.city import build_city
from wastestream.schemas import WeighTicket
from wastestream.stream_processors.core import Core
from wastestream.stream_processors.state import Stores

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
    assert again.rejected == [] and tonnage(core) and list(tonnage(core).values()) == [[5000.0, 1, ["T1"]]]
    edited = core.on_ticket(ticket(net=1.0), "weigh.tickets/0/3")
    assert [r.problem.kind for r in edited.rejected] == ["ticket_serial_conflict"]
    assert list(tonnage(core).values()) == [[5000.0, 1, ["T1"]]]
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


# -- a crash inside a commit point -----------------------------------------------------------------
# A ticket's effects go to several tables (its mark in tickets_seen, tonnage, station_days, quality,
# ticket_checks), each with its own changelog. A worker killed in a commit point can leave some
# tables' changelog messages delivered and others not; the events are then read again, at the same
# positions, by whoever owns the partition next. The figures must be those of reading them once.
TICKET_TABLES = ("tickets_seen", "tonnage", "station_days", "quality", "ticket_checks")


def _state(core: Core) -> dict[str, dict]:
    return {name: copy.deepcopy(dict(getattr(core.s, name))) for name in TICKET_TABLES}


def _tickets_strategy():
    flagged = st.sampled_from([None, "manual", "plate"])  # a manual weight / a plate unregistered: flags
    one = st.tuples(
        st.sampled_from(["1", "2", "3", "4"]),  # serials repeat: duplicate copies
        st.sampled_from([S1, S2]),
        st.sampled_from([1000.0, 2500.0]),
        st.sampled_from(["in", "out"]),
        flagged,
    )
    return st.lists(one, min_size=1, max_size=8)


def _make(serial, station, net, direction, flag):
    t = ticket(serial, station, V1, net, direction=direction, plate="沪Z00001" if flag == "plate" else None)
    if flag == "manual":
        t = t.model_copy(update={"manual_weight": True})
    return t


@given(before=_tickets_strategy(), during=_tickets_strategy(), delivered=st.sets(st.sampled_from(TICKET_TABLES)))
@settings(max_examples=150, deadline=None)
def test_tickets_read_again_after_a_crash_in_a_commit_point_count_once(before, during, delivered):
    """Tickets of an earlier commit point are durable; of the last one's, only the tables in
    ``delivered`` reached the broker. Reading the last commit point's tickets again gives exactly
    the figures of reading every ticket once."""
    events = [(_make(*t), f"weigh.tickets/0/{i}") for i, t in enumerate(before + during)]
    first, last = events[: len(before)], events[len(before) :]
    once = Core(CITY)
    for t, pos in first:
        once.on_ticket(t, pos)
    durable = _state(once)
    for t, pos in last:
        once.on_ticket(t, pos)
    crashed = _state(once)
    stores = Stores(
        **{name: copy.deepcopy((crashed if name in delivered else durable)[name]) for name in TICKET_TABLES}
    )
    again = Core(CITY, stores)
    for t, pos in last:
        again.on_ticket(t, pos)
    assert _state(again) == crashed
    assert roll_up(again, "station") == roll_up(once, "station")


def test_a_ticket_read_again_when_only_its_mark_was_delivered_is_counted_and_written():
    t, pos = ticket(), "weigh.tickets/0/1"
    owner = Core(CITY)
    owner.on_ticket(t, pos)
    mark_only = Core(CITY, Stores(tickets_seen=copy.deepcopy(dict(owner.s.tickets_seen))))
    out = mark_only.on_ticket(t, pos)
    assert list(tonnage(mark_only).values()) == [[5000.0, 1, ["T1"]]]
    assert [r.measurement for r in out.records][:1] == ["tonnage"]  # the repaired figure goes to InfluxDB
    assert mark_only.on_ticket(t, pos).records == []  # read a third time: nothing is missing, nothing written


def test_a_tonnage_state_written_before_serials_were_kept_is_trusted_on_a_re_read():
    t, pos = ticket(), "weigh.tickets/0/1"
    owner = Core(CITY)
    owner.on_ticket(t, pos)
    old = {name: copy.deepcopy(dict(getattr(owner.s, name))) for name in TICKET_TABLES}
    old["tonnage"] = {k: v[:2] for k, v in old["tonnage"].items()}  # the two-item state of older versions
    old["station_days"] = {k: v[:2] for k, v in old["station_days"].items()}
    upgraded = Core(CITY, Stores(**old))
    assert upgraded.on_ticket(t, pos).records == []
    assert list(tonnage(upgraded).values()) == [[5000.0, 1]]
    upgraded.on_ticket(ticket("T2"), "weigh.tickets/0/2")  # a new ticket on an older state: added, as before
    assert list(tonnage(upgraded).values()) == [[10000.0, 2]]
