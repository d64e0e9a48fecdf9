"""Service calendars and points served more than once a day (wastestream.domain.calendar, .clearance)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from wastestream.domain.calendar import holiday_map, is_due, working_day
from wastestream.domain.clearance import decide
from wastestream.domain.localtime import at_local
from wastestream.schemas import CalendarDay, Clearance, CollectionPoint, Geofence, ServiceCalendar, ServiceWindow

TZ = "Asia/Shanghai"
MON = date(2026, 11, 30)  # a Monday


def point(**kw) -> CollectionPoint:  # noqa: ANN003
    base = {
        "id": "P1",
        "name": "p",
        "contractor_id": "C1",
        "geofence": Geofence(lat=31.2, lon=121.4, radius_m=40),
        "service_start": time(6),
        "service_end": time(8),
        "deadline": time(10),
    }
    return CollectionPoint(**(base | kw))


HOLIDAYS = holiday_map(
    [CalendarDay(date=MON, working=False, name="a holiday"), CalendarDay(date=MON + timedelta(days=6), working=True)]
)


def test_a_point_without_a_calendar_is_due_every_day_holidays_included():
    p = point()
    assert all(is_due(p, MON + timedelta(days=k), HOLIDAYS) for k in range(14))


def test_weekdays_and_holidays():
    p = point(calendar=ServiceCalendar(weekdays=[1, 3, 5]))
    due = [k for k in range(7) if is_due(p, MON + timedelta(days=k))]
    assert due == [0, 2, 4]
    assert not is_due(p, MON, HOLIDAYS)  # a holiday cancels it
    kept = point(calendar=ServiceCalendar(weekdays=[1, 3, 5], holidays_off=False))
    assert is_due(kept, MON, HOLIDAYS)


def test_every_n_days_counts_from_its_anchor_both_ways():
    p = point(calendar=ServiceCalendar(every_n_days=3, anchor=MON))
    assert [k for k in range(-6, 7) if is_due(p, MON + timedelta(days=k))] == [-6, -3, 0, 3, 6]


def test_working_days_follow_the_city_calendar():
    assert working_day(MON + timedelta(days=1), HOLIDAYS)
    assert not working_day(MON, HOLIDAYS)  # the holiday
    assert working_day(MON + timedelta(days=6), HOLIDAYS)  # a Sunday worked instead (调休)
    p = point(calendar=ServiceCalendar(workdays_only=True))
    assert [k for k in range(7) if is_due(p, MON + timedelta(days=k), HOLIDAYS)] == [1, 2, 3, 4, 6]


@pytest.mark.parametrize(
    ("cal", "message"),
    [
        ({"weekdays": [0, 3]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"every_n_days": 2}, "anchor"),
        ({"anchor": "2026-11-30"}, "anchor"),
        ({"every_n_days": 1, "anchor": "2026-11-30"}, "every_n_days"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_field(cal, message):
    with pytest.raises(ValidationError, match=message):
        point(calendar=cal)


def test_extra_windows_must_follow_each_other():
    with pytest.raises(ValidationError, match="extra_windows"):
        point(extra_windows=[ServiceWindow(service_start=time(9), service_end=time(11), deadline=time(12))])


TWICE = point(extra_windows=[ServiceWindow(service_start=time(16), service_end=time(18), deadline=time(20))])


def visit(hh: int, mm: int = 0) -> tuple[datetime, datetime, str]:
    t = at_local(MON, time(hh, mm), TZ)
    return (t, t + timedelta(minutes=4), "V1")


def test_twice_a_day_takes_the_worst_window():
    end_of_day = at_local(MON, time(23), TZ)
    assert decide(TWICE, MON, [visit(7), visit(17)], end_of_day, TZ).status == Clearance.cleared
    assert decide(TWICE, MON, [visit(7), visit(19)], end_of_day, TZ).status == Clearance.late
    afternoon = decide(TWICE, MON, [visit(7)], end_of_day, TZ)
    assert afternoon.status == Clearance.missed and afternoon.deadline == at_local(MON, time(20), TZ)
    assert decide(TWICE, MON, [visit(7)], at_local(MON, time(12), TZ), TZ).status == Clearance.pending
    morning_missed = decide(TWICE, MON, [visit(17)], end_of_day, TZ)
    assert morning_missed.status == Clearance.missed and morning_missed.visit_at is None
    # one visit never serves both windows
    assert decide(TWICE, MON, [visit(9)], end_of_day, TZ).status == Clearance.missed


@given(st.lists(st.integers(0, 23 * 60), max_size=6), st.integers(0, 24 * 60 - 1))
def test_the_day_is_never_better_than_its_first_window(minutes, now_min):
    visits = [visit(m // 60, m % 60) for m in minutes]
    now = at_local(MON, time(now_min // 60, now_min % 60), TZ)
    rank = {Clearance.missed: 0, Clearance.pending: 1, Clearance.late: 2, Clearance.cleared: 3}
    once = decide(point(), MON, visits, now, TZ)
    twice = decide(TWICE, MON, visits, now, TZ)
    assert rank[twice.status] <= rank[once.status]
