"""wastestream.domain.operations: a vehicle-day's summary, trips and violations (pure)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.geo import haversine_m
from wastestream.domain.operations import (
    Corridor,
    Delivery,
    Fix,
    VehicleContext,
    analyse_day,
    engine_hours,
    odometer_km,
    track_km,
)
from wastestream.schemas import OperationRules

R = OperationRules()
T0 = 1_780_000_000.0  # some morning
LAT, LON = 31.2, 121.4
M_LAT = 1 / 111_320  # degrees per metre north
M_LON = 1 / (111_320 * math.cos(math.radians(LAT)))
CTX = VehicleContext(
    kind="collection",
    stations=frozenset({"S1", "S2"}),
    designated=frozenset({"S1"}),
    expected_kg={"P1": 1000.0, "P2": 1000.0},
    station_pos={"S1": (LAT, LON), "S2": (LAT + 0.1, LON)},
    day_end=T0 + 20 * 3600,
)


def at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    return LAT + north_m * M_LAT, LON + east_m * M_LON


def stand(t: float, seconds: float, pos: tuple[float, float], site: str | None = None, acc: bool = True) -> list[Fix]:
    return [Fix(t + k * 30, *pos, 0.0, site, acc) for k in range(int(seconds // 30) + 1)]


def drive(t: float, a: tuple[float, float], b: tuple[float, float], kmh: float = 25.0) -> list[Fix]:
    """Fixes every 30 s from a (exclusive) to b (inclusive) at kmh."""
    d = haversine_m(*a, *b)
    steps = max(1, round(d / (kmh / 3.6) / 30))
    return [
        Fix(t + k * 30, a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps, kmh, None, True)
        for k in range(1, steps + 1)
    ]


def kinds(day) -> list[str]:  # noqa: ANN001
    return [v.kind for v in day.violations]


def test_a_straight_drive_counts_its_length_and_standing_jitter_does_not():
    a, b = at(0), at(5000)
    fixes = stand(T0, 600, a) + drive(T0 + 630, a, b)
    rnd = random.Random(1)
    jitter = [replace(f, lat=f.lat + rnd.uniform(-3, 3) * M_LAT) for f in stand(fixes[-1].t + 30, 1200, b)]
    assert abs(track_km(fixes + jitter, R) - 5.0) < 0.01


def test_a_gps_jump_adds_no_distance():
    fixes = [Fix(T0, *at(0), 20.0), Fix(T0 + 30, *at(0, 50_000), 20.0), Fix(T0 + 60, *at(100), 20.0)]
    assert track_km(fixes, R) == 0.0


def test_odometer_advance_survives_a_reset_and_engine_hours_follow_acc():
    fixes = [
        Fix(T0 + k * 60, LAT, LON, 10, None, k < 5, False, odo) for k, odo in enumerate([100, 101, 103, 0.5, 1.5, 2.0])
    ]
    assert odometer_km(fixes) == 4.5  # 100→103, then from the reset 0.5→2.0
    assert engine_hours(fixes, R) == round(5 * 60 / 3600, 4)
    assert engine_hours([replace(f, acc=None) for f in fixes], R) is None
    assert odometer_km([replace(f, odometer_km=None) for f in fixes]) is None


def test_engine_time_is_capped_across_a_gap():
    fixes = [Fix(T0, LAT, LON, 0, None, True), Fix(T0 + 7200, LAT, LON, 0, None, True)]
    assert engine_hours(fixes, R) == round(R.max_gap_s / 3600, 4)


def test_overspeed_needs_its_duration_unless_the_terminal_alarmed():
    a, b = at(0), at(3000)
    brief = drive(T0, a, b, 25.0)
    brief[5] = replace(brief[5], speed=80.0)  # one fix over the limit: a blip
    assert "overspeed" not in kinds(analyse_day(brief, {}, [], CTX, R, T0))
    alarmed = list(brief)
    alarmed[5] = replace(alarmed[5], speed=40.0, overspeed_alarm=True)  # the terminal's own limit and duration
    assert kinds(analyse_day(alarmed, {}, [], CTX, R, T0)) == ["overspeed"]
    fast = drive(T0, a, b, 75.0)
    day = analyse_day(fast, {}, [], CTX, R, T0)
    assert kinds(day) == ["overspeed"] and day.violations[0].value == 75.0
    assert "overspeed" not in kinds(analyse_day(fast, {}, [], replace(CTX, kind="sweeper"), R, T0))  # no limit known


def test_standing_away_from_sites_is_idle_but_not_at_a_site_nor_outside_the_shift():
    pos = at(1000)
    away = stand(T0, R.idle_away_min_s + 60, pos)
    day = analyse_day(away, {}, [], CTX, R, T0)
    assert kinds(day) == ["idle_away"] and "idling" in day.violations[0].detail
    assert analyse_day([replace(f, site="P1") for f in away], {}, [], CTX, R, T0).violations == []
    assert analyse_day(stand(T0, R.idle_away_min_s - 60, pos), {}, [], CTX, R, T0).violations == []
    shifted = replace(CTX, shifts=((T0 + 6 * 3600, T0 + 10 * 3600),))
    assert analyse_day(away, {}, [], shifted, R, T0).violations == []  # parked overnight, long before the shift
    parked = [replace(f, acc=False) for f in away]
    in_shift = replace(CTX, shifts=((T0 - 3600, T0 + 8 * 3600),))
    assert "parked" in analyse_day(parked, {}, [], in_shift, R, T0).violations[0].detail
    # with no shift known, a truck parked with the ignition off (its yard, overnight) is no violation
    assert analyse_day(parked, {}, [], CTX, R, T0).violations == []
    assert analyse_day([replace(f, acc=None) for f in away], {}, [], CTX, R, T0).violations == []


def test_leaving_the_corridor_long_enough_is_off_route():
    a, b = at(0), at(6000)
    corridor = replace(CTX, corridors=(Corridor((a, b), 300.0),))
    along = drive(T0, a, b)
    assert analyse_day(along, {}, [], corridor, R, T0).violations == []
    out = at(3000, 1500)
    detour = drive(T0, a, at(3000))
    detour += drive(detour[-1].t, at(3000), out)
    detour += drive(detour[-1].t, out, b)
    day = analyse_day(detour, {}, [], corridor, R, T0)
    assert kinds(day) == ["off_route"] and 1100 < day.violations[0].value <= 1200
    assert analyse_day(detour, {}, [], CTX, R, T0).violations == []  # no planned path: not judged


def test_driving_outside_every_shift_window():
    ctx = replace(CTX, shifts=((T0, T0 + 4 * 3600),))
    late = drive(T0 + 12 * 3600, at(0), at(5000))  # 12 min of driving at night
    day = analyse_day(late, {}, [], ctx, R, T0 + 13 * 3600)
    assert kinds(day) == ["out_of_shift"]
    within = drive(T0 + 4 * 3600 + R.shift_grace_s - 900, at(0), at(5000))  # ends inside the grace
    assert analyse_day(within, {}, [], ctx, R, T0 + 13 * 3600).violations == []


def _trip_day(dump: bool, delivered_kg: float | None) -> tuple:
    """Collect P1 and P2, maybe stand 8 min away, unload at S1; a ticket of delivered_kg (None: none)."""
    p1, p2, away, station = at(0), at(500), at(800, 800), at(3000)
    fixes = stand(T0, 240, p1, "P1")
    fixes += drive(fixes[-1].t, p1, p2)
    p2_at = fixes[-1].t + 30
    fixes += stand(p2_at, 240, p2, "P2")
    here = p2
    if dump:
        fixes += drive(fixes[-1].t, p2, away)
        fixes += stand(fixes[-1].t + 30, 480, away)
        here = away
    fixes += drive(fixes[-1].t, here, station)
    arrive = fixes[-1].t + 30
    fixes += stand(arrive, 900, station, "S1")
    visits = {"P1": [(T0, T0 + 240)], "P2": [(p2_at, p2_at + 240)], "S1": [(arrive, arrive + 900)]}
    dels = [] if delivered_kg is None else [Delivery("S1", "A-1", arrive + 60, arrive + 700, delivered_kg)]
    return fixes, visits, dels, arrive


def test_a_full_delivery_after_a_roadside_stop_is_not_dumping():
    fixes, visits, dels, _ = _trip_day(True, 1900.0)
    day = analyse_day(fixes, visits, dels, CTX, R, T0 + 86400)
    assert [t.outcome for t in day.trips] == ["delivered"]
    assert "dumping" not in kinds(day)


def test_a_short_delivery_after_a_roadside_stop_is_dumping_at_that_stop():
    fixes, visits, dels, _ = _trip_day(True, 400.0)
    day = analyse_day(fixes, visits, dels, CTX, R, T0 + 86400)
    assert [t.outcome for t in day.trips] == ["short"]
    (v,) = [v for v in day.violations if v.kind == "dumping"]
    assert abs(v.lat - at(800, 800)[0]) < 1e-6 and v.value == 8.0
    fixes, visits, dels, _ = _trip_day(False, 400.0)  # short, but no stop: lighter bins, not flagged
    assert analyse_day(fixes, visits, dels, CTX, R, T0 + 86400).violations == []


def test_a_load_never_weighed_is_open_then_undelivered():
    fixes, visits, _, arrive = _trip_day(False, None)
    end = arrive + 900
    early = analyse_day(fixes, visits, [], CTX, R, end + 60)
    assert [t.outcome for t in early.trips] == ["open"] and early.violations == []
    assert early.recheck_at == end + R.delivery_grace_s
    late = analyse_day(fixes, visits, [], CTX, R, end + R.delivery_grace_s)
    assert [t.outcome for t in late.trips] == ["undelivered"] and kinds(late) == ["undelivered"]
    assert late.violations[0].value == 2000.0
    fixes, visits, _, arrive = _trip_day(True, None)  # with a roadside stop: dumping, at its place
    assert kinds(analyse_day(fixes, visits, [], CTX, R, T0 + 86400)) == ["dumping"]


def test_a_ticket_at_another_station_is_wrong_station():
    fixes, visits, dels, _ = _trip_day(False, 1900.0)
    other = [replace(d, station_id="S2") for d in dels]
    day = analyse_day(fixes, visits, other, CTX, R, T0 + 86400)
    assert kinds(day) == ["wrong_station"] and day.violations[0].lat == LAT + 0.1
    assert analyse_day(fixes, visits, other, replace(CTX, designated=frozenset()), R, T0 + 86400).violations == []


def test_summary_counts_trips_collections_and_tonnage():
    fixes, visits, dels, _ = _trip_day(False, 1900.0)
    s = analyse_day(fixes, visits, dels, CTX, R, T0 + 86400).summary
    assert (s.trips, s.collections, s.delivered_kg) == (1, 2, 1900.0)
    assert s.t_per_km is not None and abs(s.t_per_km - 1.9 / s.km_track) < 1e-9


# -- properties -----------------------------------------------------------------------------------
fix_st = st.builds(
    Fix,
    t=st.integers(0, 20 * 3600).map(lambda s: T0 + s),
    lat=st.floats(LAT - 0.02, LAT + 0.02),
    lon=st.floats(LON - 0.02, LON + 0.02),
    speed=st.sampled_from([0.0, 3.0, 20.0, 45.0, 70.0, 90.0]),
    site=st.sampled_from([None, None, "P1", "S1"]),
    acc=st.sampled_from([None, True, False]),
    overspeed_alarm=st.booleans(),
    odometer_km=st.one_of(st.none(), st.floats(0, 1e5)),
)
delivery_st = st.builds(
    Delivery,
    station_id=st.sampled_from(["S1", "S2"]),
    serial=st.text("ab12", min_size=1, max_size=3),
    weigh_in=st.integers(0, 20 * 3600).map(lambda s: T0 + s),
    weigh_out=st.just(T0 + 21 * 3600),
    net_kg=st.floats(0, 20_000),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(fix_st, max_size=80), st.lists(delivery_st, max_size=4, unique_by=lambda d: d.serial), st.randoms())
def test_the_judgement_depends_on_the_fixes_not_their_order(fixes, dels, rnd):
    visits = {
        "P1": [(f.t, f.t + 120) for f in fixes if f.site == "P1"][:3],
        "S1": [(T0 + 10 * 3600, T0 + 10 * 3600 + 900)],
    }
    ctx = replace(CTX, corridors=(Corridor((at(0), at(3000)), 300.0),), shifts=((T0, T0 + 8 * 3600),))
    first = analyse_day(fixes, visits, dels, ctx, R, T0 + 86400)
    shuffled = list(fixes)
    rnd.shuffle(shuffled)
    # fixes at the same second: the first given wins, so keep one per second before shuffling
    unique = list({f.t: f for f in reversed(fixes)}.values())
    a = analyse_day(unique, visits, dels, ctx, R, T0 + 86400)
    rnd.shuffle(unique)
    assert analyse_day(unique, visits, list(reversed(dels)), ctx, R, T0 + 86400) == a
    assert math.isclose(first.summary.delivered_kg, sum(d.net_kg for d in dels), abs_tol=1e-6)
    for v in first.violations:
        assert v.start <= v.end and v.kind in {
            "overspeed", "idle_away", "off_route", "out_of_shift", "dumping", "undelivered", "wrong_station",
        }  # fmt: skip
    assert [v.start for v in first.violations] == sorted(v.start for v in first.violations)
    span = (max(f.t for f in fixes) - min(f.t for f in fixes)) / 3600 if fixes else 0
    assert first.summary.engine_h is None or 0 <= first.summary.engine_h <= span + 5e-5  # (4 decimals)
    assert first.summary.km_track >= 0
