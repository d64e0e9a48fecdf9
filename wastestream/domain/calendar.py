"""Service calendars: on which local days a collection point is due, and its windows on such a day.

The rules (the README's "Service calendars" section):

* a point without a calendar is due **every** local day, holidays included (日产日清: household waste
  does not stop for a holiday);
* ``weekdays``: due on those ISO weekdays; ``every_n_days`` + ``anchor``: due on the anchor and every
  n-th day from it (before and after); ``workdays_only``: due on the city's working days — Monday to
  Friday, except the city's holidays, plus the weekend days it works instead (调休上班);
* the conditions given all have to hold;
* a city holiday (a ``CalendarDay`` with ``working: false``) cancels a calendar point's service
  unless the calendar says ``holidays_off: false``;
* a day not due is *not decided*: it has no status, so it is neither cleared nor missed and does not
  count in any rate;
* on a due day a point has its main window and then each of ``extra_windows`` (twice a day: one
  extra window). Each window is decided on its own (:func:`wastestream.domain.clearance.decide`), and
  the day's status is the worst of them: missed before pending before late before cleared — a point
  served in the morning and missed in the afternoon is missed that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time

from wastestream.schemas import CalendarDay, CollectionPoint


def working_day(day: date, holidays: dict[date, CalendarDay]) -> bool:
    """Monday to Friday, unless the city's calendar says otherwise for that date."""
    entry = holidays.get(day)
    if entry is not None:
        return entry.working
    return day.isoweekday() <= 5


def is_holiday(day: date, holidays: dict[date, CalendarDay]) -> bool:
    entry = holidays.get(day)
    return entry is not None and not entry.working


def is_due(point: CollectionPoint, day: date, holidays: dict[date, CalendarDay] | None = None) -> bool:
    cal = point.calendar
    if cal is None:
        return True
    holidays = holidays or {}
    if cal.holidays_off and is_holiday(day, holidays):
        return False
    if cal.weekdays is not None and day.isoweekday() not in cal.weekdays:
        return False
    if cal.every_n_days is not None:
        assert cal.anchor is not None  # checked with the reference data
        if (day - cal.anchor).days % cal.every_n_days:
            return False
    return not (cal.workdays_only and not working_day(day, holidays))


def windows(point: CollectionPoint) -> list[tuple[time, time, time]]:
    """The point's windows on a due day, in order: (service_start, service_end, deadline)."""
    return [
        (point.service_start, point.service_end, point.deadline),
        *((w.service_start, w.service_end, w.deadline) for w in point.extra_windows),
    ]


def holiday_map(days: Iterable[CalendarDay]) -> dict[date, CalendarDay]:
    return {d.date: d for d in days}
