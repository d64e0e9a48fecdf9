"""Early warning: predicted arrivals along a route and the at_risk rule."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.risk import PlannedStop, RiskRule, distance_m, predict, transitions

T0 = datetime(2026, 11, 16, 22, 0, tzinfo=UTC)  # 06:00 in Shanghai
DEPOT = (31.20, 121.40)
RULE = RiskRule(speed_kmh=18, detour=1.0, service_s=180, margin_s=600)


def route(n=6, spacing_deg=0.005, window_min=60, deadline_min=120):
    """n stops 0.005° (~555 m) apart eastwards; every window ends 60 min after T0, deadline 120 min."""
    return [
        PlannedStop(
            f"P{i}",
            DEPOT[0],
            DEPOT[1] + spacing_deg * (i + 1),
            T0 + timedelta(minutes=window_min),
            T0 + timedelta(minutes=deadline_min),
        )
        for i in range(n)
    ]


def test_distance_is_the_great_circle():
    assert abs(distance_m((31.2, 121.4), (31.2, 121.405)) - 475.6) < 1.0  # 0.005° of longitude at 31.2° N
    assert distance_m(DEPOT, DEPOT) == 0


def test_a_truck_on_schedule_is_not_at_risk():
    got = predict(route(), [], T0, T0, DEPOT, None, RULE)
    assert [p.point_id for p in got] == [f"P{i}" for i in range(6)]
    assert not any(p.at_risk for p in got)
    arrivals = [p.arrival for p in got]
    assert arrivals == sorted(arrivals)
    # 475.6 m at 5 m/s is 95 s to the first stop, then 95 s + 180 s standing per further stop
    assert abs((arrivals[0] - T0).total_seconds() - 95.1) < 1
    assert abs((arrivals[5] - arrivals[0]).total_seconds() - 5 * (95.1 + 180)) < 2


def test_a_late_start_puts_the_later_stops_at_risk():
    now = T0 + timedelta(minutes=35)  # the truck has not left: it is at the depot now
    got = {p.point_id: p for p in predict(route(), [], now, T0, DEPOT, None, RULE)}
    # arrivals ≈ 36.6, 41.2, 45.8, 50.4, 55.0, 59.5 min: the last three within 10 min of the window end (60)
    assert [pid for pid, p in got.items() if p.at_risk] == ["P3", "P4", "P5"]


def test_a_stop_behind_the_last_served_one_was_driven_past():
    now = T0 + timedelta(minutes=10)
    got = {p.point_id: p for p in predict(route(), ["P0", "P2"], now, T0, DEPOT, (DEPOT[0], DEPOT[1] + 0.015), RULE)}
    assert got["P1"].arrival is None and got["P1"].at_risk and "driven past" in got["P1"].reason
    assert "P0" not in got and "P2" not in got
    assert not got["P3"].at_risk


def test_closed_stops_are_not_predicted_and_their_warning_resolves():
    stops = route()
    after = stops[0].deadline + timedelta(seconds=1)
    assert predict(stops, [], after, T0, DEPOT, None, RULE) == []
    assert transitions(["P1", "P4"], []) == ([], ["P1", "P4"])
    late = predict(stops, [], T0 + timedelta(minutes=35), T0, DEPOT, None, RULE)
    assert transitions(["P1", "P4"], late) == (["P3", "P5"], ["P1"])


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 5),  # stops served, in order
    st.integers(0, 100),  # minutes after T0 of the first look
    st.integers(0, 100),  # and how much later the second (the truck has not moved: a breakdown)
)
def test_a_truck_that_does_not_move_only_gets_more_at_risk(k, m1, dm):
    stops = route()
    served = [s.point_id for s in stops[:k]]
    here = (stops[k - 1].lat, stops[k - 1].lon) if k else DEPOT
    first = predict(stops, served, T0 + timedelta(minutes=m1), T0, DEPOT, here, RULE)
    later = predict(stops, served, T0 + timedelta(minutes=m1 + dm), T0, DEPOT, here, RULE)
    open_later = {p.point_id for p in later}
    assert {p.point_id for p in first if p.at_risk} & open_later <= {p.point_id for p in later if p.at_risk}
    arrivals = [p.arrival for p in later]
    assert arrivals == sorted(arrivals)  # along the route, in driving order
    assert all(p.point_id not in served for p in later)


def test_a_full_truck_unloads_at_its_station_before_the_next_stop():
    stops = [PlannedStop(s.point_id, s.lat, s.lon, s.window_end, s.deadline, expected_kg=3000) for s in route(n=4)]
    free = predict(stops, [], T0, T0, DEPOT, None, RULE)
    full = predict(stops, [], T0, T0, DEPOT, None, RULE, capacity_kg=10_000)
    # 0.8 × 10 t: after two stops (6 t) the third would make 9 t: to the depot, unload, back
    assert [p.arrival for p in full][:2] == [p.arrival for p in free][:2]
    extra = (full[2].arrival - free[2].arrival).total_seconds()
    back_and_forth = (
        distance_m((stops[1].lat, stops[1].lon), DEPOT)
        + distance_m(DEPOT, (stops[2].lat, stops[2].lon))
        - distance_m((stops[1].lat, stops[1].lon), (stops[2].lat, stops[2].lon))
    ) / 5.0
    assert abs(extra - (back_and_forth + RULE.unload_s)) < 1


def test_the_pace_is_learned_from_todays_legs_against_the_routes_past():
    from wastestream.domain.risk import learned_pace, leg_ratios

    stops = route(n=3)
    leg = distance_m((stops[0].lat, stops[0].lon), (stops[1].lat, stops[1].lon)) / 5.0  # the rule's driving time
    visits, t = {}, T0
    for s in stops:  # takes twice as long as the rule between stops
        visits[s.point_id] = (t, t + timedelta(minutes=3))
        t += timedelta(minutes=3, seconds=2 * leg)
    ratios = leg_ratios(stops, visits, RULE)
    assert [round(r, 3) for r in ratios] == [2.0, 2.0]
    assert learned_pace([], None) == 1.0
    assert learned_pace([], 0.7) == 0.7  # before any leg today: the route's past
    assert learned_pace(ratios, None) == pytest.approx(2.0)
    assert learned_pace(ratios, 1.0) == pytest.approx((2 * 2.0 + 8 * 1.0) / 10)  # two legs weigh little yet
    assert learned_pace([0.01], None) == 0.3  # held to a sane range
