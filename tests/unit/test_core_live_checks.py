"""The core's deferred checks: a ticket without a station dwell (decided after a grace period and
corrected by late GPS), and a terminal silent in its shift (alert raised live, resolved by the next fix)."""

from datetime import UTC, datetime, timedelta

import pytest

from wastestream.domain.clearance import window
from wastestream.producers.simulator.city import build_city
from wastestream.schemas import AlertState, Direction, GpsFix, WeighTicket
from wastestream.schemas.results import SiteKind, Visit, VisitSet
from wastestream.stream_processors.core import TICKET_GRACE_S, Core

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 Shanghai


@pytest.fixture(scope="module")
def city():
    return build_city(808)


def quality(out, kind):
    return {
        dict(r.tags)["detail"]: dict(r.fields)["count"]
        for r in out.records
        if r.measurement == "data_quality" and dict(r.tags)["kind"] == kind
    }


def ticket_in(core, city, serial):
    """An inbound ticket of a collection truck at the first station, weighed T to T + 5 min."""
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    t = WeighTicket(
        station_id=st.id,
        serial=serial,
        plate=v.plate,
        vehicle_id=v.id,
        direction=Direction.inbound,
        waste_stream=v.waste_stream,
        gross_kg=v.stored_tare_kg + 5000,
        tare_kg=v.stored_tare_kg,
        net_kg=5000,
        weigh_in_at=T,
        weigh_out_at=T + timedelta(minutes=5),
    )
    core.on_ticket(t, f"p/0/{serial}")
    return v, st


def visit_at_start(core, city, point, day):
    """A 3-minute halt at ``point`` from the start of its service window, by a truck of its contractor."""
    start = window(point, day, city.timezone)[0]
    v = next(v for v in city.vehicles if v.contractor_id == point.contractor_id)
    visit = Visit(
        vehicle_id=v.id,
        site_id=point.id,
        site_kind=SiteKind.point,
        enter_at=start,
        exit_at=start + timedelta(minutes=3),
        dwell_s=180,
        local_date=day,
        contractor_id=v.contractor_id,
    )
    core.on_visit_set(
        VisitSet(site_id=point.id, site_kind=SiteKind.point, vehicle_id=v.id, local_date=day, visits=[visit])
    )


def test_ticket_without_dwell_is_counted_after_the_grace_and_cleared_by_late_gps(city):
    core = Core(city)
    v, st = ticket_in(core, city, "X-1")
    day = T.date()
    before_grace = T + timedelta(minutes=5, seconds=TICKET_GRACE_S - 1)
    assert quality(core.evaluate(before_grace, [day]), "ticket_no_station_dwell") == {}
    after = T + timedelta(minutes=5, seconds=TICKET_GRACE_S)
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {st.id: 1}
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {}  # unchanged: nothing new
    # the truck's GPS comes in late (a 0x0704 upload): it stood at the station while weighed
    visit = Visit(
        vehicle_id=v.id,
        site_id=st.id,
        site_kind=SiteKind.station,
        enter_at=T - timedelta(minutes=2),
        exit_at=T + timedelta(minutes=8),
        dwell_s=600,
        local_date=day,
        contractor_id=v.contractor_id,
    )
    core.on_visit_set(
        VisitSet(site_id=st.id, site_kind=SiteKind.station, vehicle_id=v.id, local_date=day, visits=[visit])
    )
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {st.id: 0}


def silent_alerts(out):
    return [a for a in out.alerts if a.kind == "terminal_silent"]


def fix(v, at, lat, lon, acc_on=True):
    return GpsFix(
        vehicle_id=v.id,
        terminal_id=v.terminal_id,
        device_time=at,
        received_at=at,
        lat=lat,
        lon=lon,
        speed_kmh=30 if acc_on else 0,
        heading=0,
        altitude_m=4,
        status=3,
        acc_on=acc_on,
        fix_valid=True,
    )


def test_silent_terminal_alert_is_raised_live_and_resolved_by_the_next_fix(city):
    core = Core(city)
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    road = (st.geofence.lat + 0.01, st.geofence.lon + 0.01)  # ~1.4 km from the station
    core.on_fix(fix(v, T, *road))
    later = T + timedelta(minutes=31)
    replay = core.evaluate(later, [T.date()], live=False)
    assert not silent_alerts(replay)  # a replay catching up does not page
    assert quality(replay, "silent_terminal") == {v.id: 1}  # but the silence counts, as it happens
    (a,) = silent_alerts(core.evaluate(later, [T.date()], live=True))
    assert (a.kind, a.state, a.subject) == ("terminal_silent", AlertState.raised, v.id)
    assert not silent_alerts(core.evaluate(later + timedelta(minutes=5), [T.date()], live=True))  # raised once
    out = core.on_fix(fix(v, later + timedelta(minutes=6), *road))
    assert [(x.kind, x.state) for x in silent_alerts(out)] == [("terminal_silent", AlertState.resolved)]
    assert quality(out, "silent_terminal") == {}  # counted once, not again when it ends


def test_a_silence_counts_the_same_whether_judged_as_it_happens_or_when_it_ends(city):
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    road = (st.geofence.lat + 0.01, st.geofence.lon + 0.01)
    closed, watched, short = Core(city), Core(city), Core(city)
    for core in (closed, watched, short):
        core.on_fix(fix(v, T, *road))
    for m in range(5, 60, 5):
        watched.evaluate(T + timedelta(minutes=m), [T.date()])
    closed.on_fix(fix(v, T + timedelta(minutes=60), *road))
    short.on_fix(fix(v, T + timedelta(minutes=29), *road))
    watched.on_fix(fix(v, T + timedelta(minutes=60), *road))
    for core, n in ((closed, 1), (watched, 1), (short, 0)):
        counts = {k: c for k, c in core.s.quality.items() if "|silent_terminal|" in k}
        assert sum(counts.values()) == n


def test_a_truck_parked_with_the_ignition_off_is_not_silent(city):
    core = Core(city)
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    core.on_fix(fix(v, T, st.geofence.lat, st.geofence.lon, acc_on=False))
    assert not silent_alerts(core.evaluate(T + timedelta(hours=2), [T.date()], live=True))
    assert (
        quality(core.on_fix(fix(v, T + timedelta(hours=2), st.geofence.lat, st.geofence.lon)), "silent_terminal") == {}
    )


def test_deadlines_are_judged_at_the_time_the_evidence_was_read_up_to(city):
    """A worker reading a backlog: its clock is at the end of the day (tickets read), its fixes at
    09:00. A point whose deadline is after 09:00 is not decided missed yet; once the fixes are read
    it is decided cleared, and nobody was paged on the way."""
    core = Core(city)
    day = T.date()
    p = min(city.collection_points, key=lambda p: p.id)
    owns = {p.id}.__contains__
    start, _, deadline = window(p, day, city.timezone)
    end_of_day = deadline + timedelta(hours=10)
    out = core.evaluate(end_of_day, [day], owns=owns, points_at=start - timedelta(minutes=1))
    assert [s.status.value for s in out.statuses] == ["pending"] and not out.alerts
    assert not core.evaluate(end_of_day, [day], owns=owns, decide_points=False).statuses
    visit_at_start(core, city, p, day)
    out = core.evaluate(end_of_day, [day], owns=owns)
    assert [s.status.value for s in out.statuses] == ["cleared"] and not out.alerts


def test_a_missed_point_does_not_turn_pending_at_an_earlier_clock(city):
    """A new owner or a replay may judge at an earlier time than the last decision: a deadline that
    had passed stays passed (no missed → pending → missed flapping, no second page)."""
    core = Core(city)
    day = T.date()
    p = min(city.collection_points, key=lambda p: p.id)
    owns = {p.id}.__contains__
    _, _, deadline = window(p, day, city.timezone)
    out = core.evaluate(deadline + timedelta(minutes=5), [day], owns=owns)
    assert [s.status.value for s in out.statuses] == ["missed"] and len(out.alerts) == 1
    out = core.evaluate(deadline + timedelta(minutes=5), [day], owns=owns, points_at=deadline - timedelta(hours=1))
    assert not out.statuses and not out.alerts
    assert core.s.statuses[f"{p.id}|{day.isoformat()}"][0] == "missed"


def test_the_last_alert_written_is_kept_with_the_status_for_a_restart_to_re_emit(city):
    """A crash between deciding and writing to InfluxDB must not lose a page, nor leave a resolved
    one active: the worker re-emits each point-day's last alert record from its status snapshot."""
    core = Core(city)
    day = T.date()
    p, q = sorted(city.collection_points, key=lambda p: p.id)[:2]
    owns = {p.id, q.id}.__contains__
    visit_at_start(core, city, q, day)
    late = max(window(p, day, city.timezone)[2], window(q, day, city.timezone)[2]) + timedelta(minutes=1)

    def written(out, point):
        return [r for r in out.records if r.measurement == "alerts" and dict(r.tags)["subject"] == point]

    def stored(point):  # what a re-emit from the tables writes
        return [
            r for part in core.figures() for r in part if r.measurement == "alerts" and dict(r.tags)["subject"] == point
        ]

    out = core.evaluate(late, [day], owns=owns)
    assert dict(written(out, p.id)[0].fields)["active"] == 1
    assert stored(p.id) == written(out, p.id)  # the raise, as written
    assert stored(q.id) == [] == written(out, q.id)  # cleared in time: never had an alert
    visit_at_start(core, city, p, day)
    out = core.evaluate(late, [day], owns=owns)
    assert dict(written(out, p.id)[0].fields)["active"] == 0
    assert stored(p.id) == written(out, p.id)  # now the resolve


def test_a_ticket_waits_for_the_gps_read_so_far_not_for_the_newest_event(city):
    """Reading a backlog, the clock is hours past the grace while the truck's GPS is still unread:
    the ticket is judged at the evidence watermark, so it is not counted as having no dwell yet."""
    core = Core(city)
    _, st = ticket_in(core, city, "X-2")
    day, hours_later = T.date(), T + timedelta(hours=6)
    assert quality(core.evaluate(hours_later, [day], points_at=T), "ticket_no_station_dwell") == {}
    assert quality(core.evaluate(hours_later, [day], decide_points=False), "ticket_no_station_dwell") == {}
    assert quality(core.evaluate(hours_later, [day]), "ticket_no_station_dwell") == {st.id: 1}
