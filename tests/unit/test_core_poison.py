"""The core against data it does not expect: every input that can be wrong is refused in the domain
(counted under its kind, handed back for the dead-letter topic), a refused or failing event changes
nothing, and a clean day's figures are the same with and without poison interleaved."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults, simulate_day
from wastestream.producers.simulator.offline import arrival_order
from wastestream.schemas import City, Direction, FixSource, GpsFix, WeighTicket
from wastestream.schemas.results import SiteKind, Visit, VisitSet
from wastestream.stream_processors.core import Core
from wastestream.stream_processors.recompute import recompute_events

DAY = date(2026, 11, 23)
NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
REJECTION_KINDS = {
    "fix_unknown_vehicle",
    "fix_terminal_mismatch",
    "fix_clock_ahead",
    "fix_clock_stale",
    "fix_bad_speed",
    "fix_bad_position",
    "ticket_unknown_station",
    "ticket_bad_weight",
    "ticket_bad_arithmetic",
    "ticket_bad_times",
    "ticket_clock_ahead",
    "ticket_clock_stale",
    "ticket_serial_conflict",
    "visit_unknown_site",
    "visit_unknown_vehicle",
    "visit_inconsistent",
}


def small_city() -> City:
    """Four routes of the seed city with their vehicles, stops and stations."""
    city = build_city(808)
    routes = sorted(city.routes, key=lambda r: r.id)[:4]
    stops = {s for r in routes for s in r.stops}
    stations = {r.station_id for r in routes}
    vehicles = {r.vehicle_id for r in routes} | {f"T{s[1:]}" for s in stations}
    return city.model_copy(
        update={
            "routes": routes,
            "collection_points": [p for p in city.collection_points if p.id in stops],
            "stations": [s for s in city.stations if s.id in stations],
            "vehicles": [v for v in city.vehicles if v.id in vehicles],
        }
    )


CITY = small_city()
FAULTS = Faults(missed_stops=1, late_trucks=1, dropouts=1, duplicate_tickets=1, manual_weights=1)
CLEAN = [
    (topic, value, f"{topic}:{i}")
    for i, (topic, value) in enumerate(arrival_order(simulate_day(CITY, DAY, 808, FAULTS)[0]))
]
V = CITY.vehicles[0]
ST = CITY.stations[0]


def fix(**kw) -> GpsFix:
    base = dict(
        vehicle_id=V.id,
        terminal_id=V.terminal_id,
        device_time=NOON,
        received_at=NOON + timedelta(seconds=1),
        lat=ST.geofence.lat + 0.01,
        lon=ST.geofence.lon,
        speed_kmh=20,
        heading=0,
        acc_on=True,
    )
    return GpsFix(**{**base, **kw})


def ticket(**kw) -> WeighTicket:
    base = dict(
        station_id=ST.id,
        serial="P-1",
        plate=V.plate,
        vehicle_id=V.id,
        direction=Direction.inbound,
        waste_stream="other",
        gross_kg=V.stored_tare_kg + 5000,
        tare_kg=V.stored_tare_kg,
        net_kg=5000,
        weigh_in_at=NOON,
        weigh_out_at=NOON + timedelta(minutes=5),
        received_at=NOON + timedelta(minutes=5, seconds=5),
    )
    return WeighTicket(**{**base, **kw})


def kinds(out) -> list[str]:
    return [r.problem.kind for r in out.rejected]


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"vehicle_id": "V999"}, "fix_unknown_vehicle"),
        ({"terminal_id": "013999999999"}, "fix_terminal_mismatch"),
        ({"device_time": NOON + timedelta(days=365 * 4)}, "fix_clock_ahead"),  # an RTC years ahead
        ({"device_time": NOON - timedelta(days=7168)}, "fix_clock_stale"),  # GPS week rollover: 1024 weeks back
        ({"speed_kmh": 900}, "fix_bad_speed"),
        ({"lat": 0.0, "lon": 0.0}, "fix_bad_position"),
        ({"lat": -33.9, "lon": 151.2}, "fix_bad_position"),  # valid WGS-84, far from the city
    ],
)
def test_a_bad_fix_is_refused_and_changes_nothing(change, kind):
    core = Core(CITY)
    out = core.on_fix(fix(**change))
    assert kinds(out) == [kind]
    assert out.day is None and out.event_time is None  # moves no clock, selects no day
    assert not core.s.fixlog and not core.s.last_fix and not core.s.heard
    assert [k for k in core.s.quality if f"|{kind}|" in k]
    assert not [r for r in out.records if r.measurement == "positions"]


def test_an_invalid_position_is_not_checked_against_the_area():
    """A fix without a GPS lock (fix_valid false) carries whatever the terminal last had: kept, not refused."""
    assert kinds(Core(CITY).on_fix(fix(lat=0.0, lon=0.0, fix_valid=False))) == []


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"station_id": "S9"}, "ticket_unknown_station"),
        ({"net_kg": 4000}, "ticket_bad_arithmetic"),
        ({"gross_kg": 1e9, "net_kg": 1e9 - V.stored_tare_kg}, "ticket_bad_weight"),
        ({"weigh_out_at": NOON - timedelta(minutes=1)}, "ticket_bad_times"),
        (
            {"weigh_in_at": NOON + timedelta(days=30), "weigh_out_at": NOON + timedelta(days=30, minutes=5)},
            "ticket_clock_ahead",
        ),
        (
            {
                "weigh_in_at": NOON - timedelta(days=30),
                "weigh_out_at": NOON - timedelta(days=30) + timedelta(minutes=5),
            },
            "ticket_clock_stale",
        ),
    ],
)
def test_a_bad_ticket_is_refused_before_any_table_changes(change, kind):
    core = Core(CITY)
    out = core.on_ticket(ticket(**change), "weigh.tickets:0")
    assert kinds(out) == [kind]
    assert not core.s.tickets_seen and not core.s.tonnage and not core.s.station_days and not core.s.ticket_checks
    assert not [r for r in out.records if r.measurement in ("tonnage", "station_balance")]
    # the same serial, valid, is then counted: the refused copy took nothing
    good = core.on_ticket(ticket(), "weigh.tickets:1")
    assert kinds(good) == [] and [r for r in good.records if r.measurement == "tonnage"]


def test_a_ticket_serial_seen_with_other_weights_is_a_conflict_not_a_duplicate():
    core = Core(CITY)
    core.on_ticket(ticket(), "t:0")
    assert kinds(core.on_ticket(ticket(), "t:1")) == []  # a true duplicate: counted as duplicate_ticket
    assert kinds(core.on_ticket(ticket(net_kg=4000, gross_kg=V.stored_tare_kg + 4000), "t:2")) == [
        "ticket_serial_conflict"
    ]
    assert core.s.tonnage and list(core.s.tonnage.values())[0] == [5000.0, 1, ["P-1"]]


def test_a_visit_set_of_an_unknown_site_or_vehicle_is_refused():
    core = Core(CITY)
    p = CITY.collection_points[0]
    good = Visit(
        vehicle_id=V.id,
        site_id=p.id,
        site_kind=SiteKind.point,
        enter_at=NOON,
        exit_at=NOON + timedelta(minutes=2),
        dwell_s=120,
        local_date=DAY,
    )
    vs = VisitSet(site_id=p.id, site_kind=SiteKind.point, vehicle_id=V.id, local_date=DAY, visits=[good])
    assert kinds(core.on_visit_set(vs.model_copy(update={"site_id": "P-nowhere"}))) == ["visit_unknown_site"]
    assert kinds(core.on_visit_set(vs.model_copy(update={"site_kind": SiteKind.station}))) == ["visit_unknown_site"]
    assert kinds(core.on_visit_set(vs.model_copy(update={"vehicle_id": "V999"}))) == ["visit_unknown_vehicle"]
    assert not core.s.evidence and not core.s.station_visits
    assert kinds(core.on_visit_set(vs)) == [] and core.s.evidence


def test_an_event_that_fails_half_way_leaves_no_trace(monkeypatch):
    """An unexpected error after some tables changed: the event's transaction is discarded."""
    core = Core(CITY)
    core.on_ticket(ticket(serial="first"), "t:0")
    before = {name: dict(getattr(core.s, name)) for name in ("tickets_seen", "tonnage", "station_days")}

    def boom(*a, **kw):
        raise RuntimeError("a bug after the tonnage was added")

    monkeypatch.setattr(core, "balance_records", boom)
    with pytest.raises(RuntimeError):
        core.on_ticket(ticket(serial="second"), "t:1")
    assert {name: dict(getattr(core.s, name)) for name in before} == before


def test_unknown_terminals_are_listed_with_first_and_last_seen():
    res = recompute_events(
        CITY,
        [
            (
                "gps.fixes",
                fix(vehicle_id="V999", terminal_id="013700000001", received_at=NOON + timedelta(minutes=m)),
                f"f:{m}",
            )
            for m in (0, 5, 9)
        ],
    )
    (r,) = res.select("unknown_terminals")
    assert dict(r.tags) == {"terminal": "013700000001", "source": "recompute"}
    f = dict(r.fields)
    assert (
        f["count"] == 3
        and f["first_seen"] == NOON.isoformat()
        and f["last_seen"] == (NOON + timedelta(minutes=9)).isoformat()
    )
    assert res.rejected_by_kind == {"fix_unknown_vehicle": 3}


def test_a_far_future_fix_does_not_move_recompute_off_the_day():
    clean = recompute_events(CITY, CLEAN)
    poisoned = recompute_events(
        CITY,
        [
            *CLEAN[:50],
            ("gps.fixes", fix(device_time=datetime(2030, 1, 1, tzinfo=UTC), received_at=NOON), "f:x"),
            *CLEAN[50:],
        ],
    )
    assert poisoned.days == clean.days == [DAY]
    assert poisoned.watermark == clean.watermark
    assert [r for r in poisoned.select("clearance")] == [r for r in clean.select("clearance")]


def test_a_terminal_dark_all_day_is_counted_and_a_silence_that_never_ends_too():
    """Nothing from a route's truck all day (it reported ignition-off the evening before): dark. A
    truck heard just after its start with the ignition on, then never again: silent, though it never comes back."""
    r0, r1 = CITY.routes[0], CITY.routes[1]
    evening = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 20:00 the day before
    mine = [e for e in CLEAN if getattr(e[1], "vehicle_id", None) not in (r0.vehicle_id, r1.vehicle_id)]
    v0 = next(v for v in CITY.vehicles if v.id == r0.vehicle_id)
    v1 = next(v for v in CITY.vehicles if v.id == r1.vehicle_id)
    parked = fix(
        vehicle_id=v0.id,
        terminal_id=v0.terminal_id,
        device_time=evening,
        received_at=evening,
        acc_on=False,
        speed_kmh=0,
    )
    from wastestream.domain.localtime import at_local

    heard = at_local(DAY, r1.start, CITY.timezone) + timedelta(minutes=10)  # 10 min after its route's start
    last = fix(vehicle_id=v1.id, terminal_id=v1.terminal_id, device_time=heard, received_at=heard)
    res = recompute_events(CITY, [("gps.fixes", parked, "p:0"), ("gps.fixes", last, "p:1"), *mine])
    dq = Counter()
    start = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # DAY's records (the evening before is a day too)
    for r in res.select("data_quality"):
        if r.time == start:
            dq[(dict(r.tags)["kind"], dict(r.tags)["detail"])] = dict(r.fields)["count"]
    assert dq[("dark_terminal", v0.id)] == 1
    assert dq[("silent_terminal", v1.id)] == 1
    assert dq[("dark_terminal", v1.id)] == 0  # it was heard that morning


# -- anything, interleaved with a clean day --------------------------------------------------------
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
ids = st.text(alphabet="ABCSVPT0123456789|-_ 沪", min_size=0, max_size=12)


@st.composite
def bad_fix(draw) -> GpsFix:
    """A fix that breaks at least one rule (a random one), with everything else random."""
    v = draw(st.sampled_from(CITY.vehicles))
    how = draw(st.sampled_from(["vehicle", "terminal", "ahead", "stale", "speed", "position"]))
    received = draw(times)
    device = draw(times)
    lat = draw(st.floats(-90, 90))
    lon = draw(st.floats(-180, 180))
    kw = dict(
        vehicle_id=v.id,
        terminal_id=v.terminal_id,
        received_at=received,
        device_time=device,
        lat=lat,
        lon=lon,
        speed_kmh=draw(st.floats(0, 200)),
        heading=draw(st.integers(0, 359)),
        acc_on=draw(st.booleans()),
        fix_valid=draw(st.booleans()),
        source=draw(st.sampled_from(list(FixSource))),
    )
    if how == "vehicle":
        kw["vehicle_id"] = draw(ids.filter(lambda s: s not in {x.id for x in CITY.vehicles}))
    elif how == "terminal":
        kw["terminal_id"] = draw(st.from_regex(r"\d{12}", fullmatch=True).filter(lambda s: s != v.terminal_id))
    elif how == "ahead":
        kw["device_time"] = received + timedelta(seconds=draw(st.floats(601, 1e9)))
    elif how == "stale":
        kw["device_time"] = received - timedelta(seconds=draw(st.floats(7 * 86400 + 1, 1e9)))
    elif how == "speed":
        kw["speed_kmh"] = draw(st.floats(221, 1e6))
    else:
        kw["fix_valid"], kw["lat"], kw["lon"] = (
            True,
            draw(st.sampled_from([0.0, -60.0, 70.0])),
            draw(st.floats(-10, 10)),
        )
    if kw["device_time"].year < 1970 or kw["device_time"].year > 9000:
        kw["device_time"] = received + timedelta(days=1)
    return GpsFix(**kw)


@st.composite
def bad_ticket(draw) -> WeighTicket:
    how = draw(st.sampled_from(["station", "arithmetic", "weight", "ahead", "stale"]))
    received = draw(times)
    t_in = received - timedelta(seconds=draw(st.floats(0, 3600)))
    gross = draw(st.floats(1000, 80_000))
    tare = draw(st.floats(0, gross))
    kw = dict(
        station_id=draw(st.sampled_from([s.id for s in CITY.stations])),
        serial=draw(ids.filter(bool)),
        plate=V.plate,
        vehicle_id=draw(st.sampled_from([None, V.id, "V999"])),
        direction=draw(st.sampled_from(list(Direction))),
        waste_stream="other",
        gross_kg=gross,
        tare_kg=tare,
        net_kg=gross - tare,
        weigh_in_at=t_in,
        weigh_out_at=t_in + timedelta(minutes=5),
        received_at=received,
    )
    if how == "station":
        kw["station_id"] = draw(ids.filter(lambda s: s not in {x.id for x in CITY.stations}))
    elif how == "arithmetic":
        kw["net_kg"] = gross - tare + draw(st.sampled_from([-1, 1])) * draw(st.floats(500, 1e6))
        kw["net_kg"] = abs(kw["net_kg"]) if kw["net_kg"] < 0 else kw["net_kg"]
        if abs(gross - tare - kw["net_kg"]) <= max(20, 0.005 * gross):
            kw["net_kg"] = gross - tare + 1000
    elif how == "weight":
        kw["gross_kg"] = draw(st.floats(80_001, 1e12))
        kw["net_kg"] = kw["gross_kg"] - tare
    elif how == "ahead":
        kw["weigh_in_at"] = received + timedelta(seconds=draw(st.floats(601, 1e9)))
        kw["weigh_out_at"] = kw["weigh_in_at"] + timedelta(minutes=5)
    else:
        kw["weigh_in_at"] = received - timedelta(seconds=draw(st.floats(7 * 86400 + 1, 1e9)))
        kw["weigh_out_at"] = kw["weigh_in_at"] + timedelta(minutes=5)
    return WeighTicket(**kw)


@st.composite
def bad_visit_set(draw) -> VisitSet:
    site = draw(ids.filter(lambda s: s not in {p.id for p in CITY.collection_points} | {x.id for x in CITY.stations}))
    d = draw(st.dates(date(1970, 1, 2), date(2099, 12, 1)))
    return VisitSet(
        site_id=site, site_kind=draw(st.sampled_from(list(SiteKind))), vehicle_id=V.id, local_date=d, visits=[]
    )


poison = st.one_of(
    bad_fix().map(lambda v: ("gps.fixes", v)),
    bad_ticket().map(lambda v: ("weigh.tickets", v)),
    bad_visit_set().map(lambda v: ("visits", v)),
)
CLEAN_RESULT = recompute_events(CITY, CLEAN)


def figures(res) -> dict:
    """Every record but the poison's own: the refused inputs' counts and the unregistered terminals."""
    return {
        k: r
        for k, r in res.records.items()
        if r.measurement != "unknown_terminals"
        and not (r.measurement == "data_quality" and dict(r.tags)["kind"] in REJECTION_KINDS)
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.integers(0, len(CLEAN)), poison), min_size=1, max_size=30))
def test_any_poison_interleaved_with_a_clean_day_never_raises_and_changes_no_figure(placed):
    events = list(CLEAN)
    for k, (at, (topic, value)) in enumerate(sorted(placed, key=lambda x: -x[0])):
        events.insert(at, (topic, value, f"poison:{k}"))
    res = recompute_events(CITY, events)
    assert figures(res) == figures(CLEAN_RESULT)
    assert res.days == CLEAN_RESULT.days and res.watermark == CLEAN_RESULT.watermark
    assert len(res.dead_letters) == len(placed)  # every one refused, none silently dropped
    counted = sum(
        dict(r.fields)["count"] for r in res.select("data_quality") if dict(r.tags)["kind"] in REJECTION_KINDS
    )
    assert counted == len(placed)
