"""Citizens' complaints planted on a simulated day, with the verdict each must get (its truth):

* two points the trucks drove past (missed): ``not_served`` — one named by point id, one by a
  location 20 m off the point — reported 30 min after the deadline;
* two points served on schedule: ``served_before``, reported 3 h after the service (the bins filled
  again after the truck had been);
* one location in the city but far from every point: ``no_point``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from wastestream.domain.clearance import window
from wastestream.domain.geo import haversine_m
from wastestream.schemas import City
from wastestream.schemas.complaints import Complaint, ComplaintCategory, Location


def plant_complaints(city: City, day: date, truth: dict, seed: int = 808) -> list[tuple[Complaint, str]]:
    rnd = random.Random(f"complaints:{seed}:{day}")
    points = {p.id: p for p in city.collection_points}
    missed = sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")
    cleared = sorted(p for p, v in truth["stops"].items() if v["status"] == "cleared")
    out: list[tuple[Complaint, str]] = []
    n = 0

    def case_id() -> str:
        nonlocal n
        n += 1
        return f"12345-{day:%Y%m%d}-{n:04d}"

    for i, pid in enumerate(rnd.sample(missed, min(2, len(missed)))):
        p = points[pid]
        at = window(p, day, city.timezone)[2] + timedelta(minutes=30)
        where = (
            {"point_id": pid} if i == 0 else {"location": Location(lat=p.geofence.lat + 0.00018, lon=p.geofence.lon)}
        )
        out.append(
            (
                Complaint(case_id=case_id(), reported_at=at, category=ComplaintCategory.not_collected, **where),
                "not_served",
            )
        )
    for pid in rnd.sample(cleared, min(2, len(cleared))):
        at = datetime.fromisoformat(truth["stops"][pid]["at"]) + timedelta(hours=3)
        out.append(
            (
                Complaint(
                    case_id=case_id(), reported_at=at, point_id=pid, category=ComplaintCategory.overflow, source="app"
                ),
                "served_before",
            )
        )
    # the place in the city's extent farthest from every point (a park, a lake)
    lats = [p.geofence.lat for p in points.values()]
    lons = [p.geofence.lon for p in points.values()]
    grid = [
        (min(lats) + (max(lats) - min(lats)) * i / 20, min(lons) + (max(lons) - min(lons)) * j / 20)
        for i in range(21)
        for j in range(21)
    ]
    far = max(grid, key=lambda g: min(haversine_m(g[0], g[1], p.geofence.lat, p.geofence.lon) for p in points.values()))
    at = datetime.fromisoformat(truth["stops"][cleared[0]]["at"]) + timedelta(hours=1)
    out.append(
        (
            Complaint(
                case_id=case_id(),
                reported_at=at,
                location=Location(lat=far[0], lon=far[1]),
                category=ComplaintCategory.smell,
                source="digital_city",
            ),
            "no_point",
        )
    )
    return out
