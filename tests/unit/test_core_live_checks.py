"""The core's deferred checks: a ticket without a station dwell (decided after a grace period and
corrected by late GPS), and a terminal silent in its shift (alert raised live, resolved by the next fix)."""

from datetime import UTC, datetime, timedelta

import pytest
from wastestream.producers.simulator.city import build_city
from wastestream.schemas import AlertState, Direction, GpsFix, WeighTicket
from wastestream.schemas.results import SiteKind, Visit, VisitSet
from wastestream.stream_processors.core import TICKET_GRACE_S, Core

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 Shanghai


@pytest.fixture(scope="module")
def city():
    return build_city(808)


def quality(out, kind):
    return {dict(r.tags)["detail"]: dict(r.fields)["count"] for r in out.records
            if r.measurement == "data_quality" and dict(r.tags)["kind"] == kind}  # fmt: skip


def test_ticket_without_dwell_is_counted_after_the_grace_and_cleared_by_late_gps(city):
    core = Core(city)
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    t = WeighTicket(station_id=st.id, serial="X-1", plate=v.plate, vehicle_id=v.id, direction=Direction.inbound,
                    waste_stream=v.waste_stream, gross_kg=v.stored_tare_kg + 5000, tare_kg=v.stored_tare_kg,
                    net_kg=5000, weigh_in_at=T, weigh_out_at=T + timedelta(minutes=5))  # fmt: skip
    core.on_ticket(t, "p/0/1")
    day = T.date()
    before_grace = T + timedelta(minutes=5, seconds=TICKET_GRACE_S - 1)
    assert quality(core.evaluate(before_grace, [day]), "ticket_no_station_dwell") == {}
    after = T + timedelta(minutes=5, seconds=TICKET_GRACE_S)
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {st.id: 1}
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {}  # unchanged: nothing new
    # the truck's GPS comes in late (a 0x0704 upload): it stood at the station while weighed
    visit = Visit(vehicle_id=v.id, site_id=st.id, site_kind=SiteKind.station, enter_at=T - timedelta(minutes=2),
                  exit_at=T + timedelta(minutes=8), dwell_s=600, local_date=day, contractor_id=v.contractor_id)  # fmt: skip
    core.on_visit_set(VisitSet(site_id=st.id, site_kind=SiteKind.station, vehicle_id=v.id, local_date=day, visits=[visit]))
    assert quality(core.evaluate(after, [day]), "ticket_no_station_dwell") == {st.id: 0}


def silent_alerts(out):
    return [a for a in out.alerts if a.kind == "terminal_silent"]


def fix(v, at, lat, lon, acc_on=True):
    return GpsFix(vehicle_id=v.id, terminal_id=v.terminal_id, device_time=at, received_at=at, lat=lat, lon=lon,
                  speed_kmh=30 if acc_on else 0, heading=0, altitude_m=4, status=3, acc_on=acc_on, fix_valid=True)  # fmt: skip


def test_silent_terminal_alert_is_raised_live_and_resolved_by_the_next_fix(city):
    core = Core(city)
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    road = (st.geofence.lat + 0.01, st.geofence.lon + 0.01)  # ~1.4 km from the station
    core.on_fix(fix(v, T, *road))
    later = T + timedelta(minutes=31)
    assert not silent_alerts(core.evaluate(later, [T.date()], live=False))  # a replay catching up does not page
    (a,) = silent_alerts(core.evaluate(later, [T.date()], live=True))
    assert (a.kind, a.state, a.subject) == ("terminal_silent", AlertState.raised, v.id)
    assert not silent_alerts(core.evaluate(later + timedelta(minutes=5), [T.date()], live=True))  # raised once
    out = core.on_fix(fix(v, later + timedelta(minutes=6), *road))
    assert [(x.kind, x.state) for x in silent_alerts(out)] == [("terminal_silent", AlertState.resolved)]
    assert quality(out, "silent_terminal") == {v.id: 1}


def test_a_truck_parked_with_the_ignition_off_is_not_silent(city):
    core = Core(city)
    v = next(v for v in city.vehicles if v.kind == "collection")
    st = city.stations[0]
    core.on_fix(fix(v, T, st.geofence.lat, st.geofence.lon, acc_on=False))
    assert not silent_alerts(core.evaluate(T + timedelta(hours=2), [T.date()], live=True))
    assert quality(core.on_fix(fix(v, T + timedelta(hours=2), st.geofence.lat, st.geofence.lon)), "silent_terminal") == {}
