"""日产日清: each collection point must be cleared every local day.

Status of a point on a day, from the visits seen so far and the current event time ``now``:

* ``cleared`` — a visit inside the service window [service_start, service_end];
* ``late``    — the first visit after service_end but by the deadline;
* ``missed``  — the deadline has passed with no such visit;
* ``pending`` — otherwise.

A point with ``extra_windows`` (twice a day) is decided per window and its day takes the worst
status (:mod:`wastestream.domain.calendar`). It is a pure function of the evidence, so late or back-filled evidence that arrives after a
"missed" decision simply yields "cleared"/"late" next time, and the alert is resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from wastestream.domain.calendar import windows as local_windows
from wastestream.domain.localtime import at_local
from wastestream.schemas import Clearance, CollectionPoint


@dataclass(frozen=True, slots=True)
class Decision:
    status: Clearance
    visit_at: datetime | None = None
    vehicle_id: str | None = None
    deadline: datetime | None = None  # of the window decided (the worst, with several)


def window(point: CollectionPoint, day: date, tz: str) -> tuple[datetime, datetime, datetime]:
    """The point's (first) window on ``day``: opens, closes, deadline."""
    return (
        at_local(day, point.service_start, tz),
        at_local(day, point.service_end, tz),
        at_local(day, point.deadline, tz),
    )


def all_windows(point: CollectionPoint, day: date, tz: str) -> list[tuple[datetime, datetime, datetime]]:
    """Every window of the point on ``day`` (one, or more with ``extra_windows``)."""
    return [(at_local(day, a, tz), at_local(day, b, tz), at_local(day, c, tz)) for a, b, c in local_windows(point)]


_WORST = {Clearance.missed: 0, Clearance.pending: 1, Clearance.late: 2, Clearance.cleared: 3}


def decide(
    point: CollectionPoint,
    day: date,
    visits: Iterable[tuple[datetime, datetime, str]],
    now: datetime,
    tz: str = "Asia/Shanghai",
) -> Decision:
    """``visits``: (enter, exit, vehicle_id) at this point. A visit counts from the moment it
    overlaps the service window (a truck waiting from 05:58 to 06:05 for a 06:00 window clears it).
    With several windows, the worst window's decision (the first such window)."""
    visits = list(visits)
    decisions = [_decide_window(w, visits, now) for w in all_windows(point, day, tz)]
    return min(decisions, key=lambda d: _WORST[d.status])


def _decide_window(
    w: tuple[datetime, datetime, datetime], visits: list[tuple[datetime, datetime, str]], now: datetime
) -> Decision:
    start, end, deadline = w
    counted = sorted(
        (max(enter, start), vehicle) for enter, exit_, vehicle in visits if exit_ >= start and enter <= deadline
    )
    if counted:
        t, vehicle = counted[0]
        return Decision(Clearance.cleared if t <= end else Clearance.late, t, vehicle, deadline)
    if now >= deadline:
        return Decision(Clearance.missed, deadline=deadline)
    return Decision(Clearance.pending, deadline=deadline)


def alert_transition(previous: Clearance | None, current: Clearance) -> str | None:
    """'raise' when a point becomes missed, 'resolve' when a missed point is proven cleared/late."""
    if current == Clearance.missed and previous != Clearance.missed:
        return "raise"
    if previous == Clearance.missed and current in (Clearance.cleared, Clearance.late):
        return "resolve"
    return None


def missed_severity(point: CollectionPoint) -> str:
    """A missed timed stop (车到桶出: residents bring their bins at the set time) pages as critical;
    any other missed point as a warning."""
    return "critical" if point.timed_stop else "warning"
