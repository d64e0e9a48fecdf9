"""Complaints against the evidence: which point a case is about, and was it served?

* **match**: the case's point id, or the nearest collection point within ``radius_m`` of its
  location (none → verdict ``no_point``: nothing of ours is there);
* **verdict** on the case's local day, from the visits at the point:

  - ``served_before``: a visit ended before the complaint was made — the point had been served
    (the complaint is not held against the contractor; the waste came after the service);
  - ``not_served``: no visit before the complaint — a **valid** case; a catch-up order (补收) is open
    until a visit at the point after the complaint clears it (``resolved_at``: its arrival);
  - ``no_point``: not valid.

Pure: the caller reads the visits (InfluxDB) and writes the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wastestream.domain.geo import haversine_m
from wastestream.domain.localtime import local_date
from wastestream.domain.proof import SeenVisit
from wastestream.schemas import CollectionPoint
from wastestream.schemas.complaints import Complaint

MATCH_RADIUS_M = 150.0


@dataclass(frozen=True, slots=True)
class Outcome:
    case_id: str
    point_id: str | None
    contractor_id: str | None
    verdict: str  # served_before | not_served | no_point
    valid: bool
    served_at: datetime | None = None  # the visit before the complaint (served_before)
    resolved_at: datetime | None = None  # the catch-up visit after it (not_served, then cleared)


def match(c: Complaint, points: list[CollectionPoint], radius_m: float = MATCH_RADIUS_M) -> CollectionPoint | None:
    if c.point_id is not None:
        return next((p for p in points if p.id == c.point_id), None)
    assert c.location is not None
    best = min(
        points, key=lambda p: haversine_m(c.location.lat, c.location.lon, p.geofence.lat, p.geofence.lon), default=None
    )
    if best is None:
        return None
    d = haversine_m(c.location.lat, c.location.lon, best.geofence.lat, best.geofence.lon)
    return best if d <= radius_m + best.geofence.radius_m else None


def judge(c: Complaint, point: CollectionPoint | None, visits: list[SeenVisit], tz: str) -> Outcome:
    """``visits``: every visit at ``point`` on the complaint's local day and after."""
    if point is None:
        return Outcome(c.case_id, None, None, "no_point", False)
    day = local_date(c.reported_at, tz)
    before = [v for v in visits if local_date(v.enter, tz) == day and v.exit <= c.reported_at]
    if before:
        return Outcome(
            c.case_id, point.id, point.contractor_id, "served_before", False, served_at=max(v.exit for v in before)
        )
    after = sorted(v.enter for v in visits if v.enter >= c.reported_at)
    return Outcome(
        c.case_id, point.id, point.contractor_id, "not_served", True, resolved_at=after[0] if after else None
    )


def minutes_to_resolve(c: Complaint, o: Outcome) -> float | None:
    if o.resolved_at is None:
        return None
    return round((o.resolved_at - c.reported_at).total_seconds() / 60, 1)
