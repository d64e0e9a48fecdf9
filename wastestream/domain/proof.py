"""Proof of service: what the GPS says happened at one collection point on one local day, for a
dispute ("the truck never came") or a complaint.

From the visits at the point (every vehicle's) and the fixes of the day (every vehicle of the
point's contractor):

* the **service**: the visit that decides the status (``clearance.decide``'s rule) — vehicle,
  arrival, departure, dwell — and the fixes of that vehicle from 5 minutes before it to 5 after;
* **catch-up** (补收): visits after the deadline; the status stays missed, the visit is evidence of
  the catch-up collection;
* the **closest approach** of each vehicle: how near (metres) and when — for a missed point, how
  close each of its contractor's trucks came.

Pure: the caller reads visits and fixes (InfluxDB, files) and writes what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wastestream.domain.clearance import decide, window
from wastestream.domain.risk import distance_m
from wastestream.schemas import CollectionPoint

AROUND = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SeenVisit:
    vehicle: str
    enter: datetime
    exit: datetime


@dataclass(frozen=True, slots=True)
class SeenFix:
    vehicle: str
    t: datetime
    lat: float
    lon: float
    speed_kmh: float


def proof_of_service(
    point: CollectionPoint, day: date, tz: str, visits: list[SeenVisit], fixes: list[SeenFix], now: datetime
) -> dict:
    start, end, deadline = window(point, day, tz)
    dec = decide(point, day, [(v.enter, v.exit, v.vehicle) for v in visits], now, tz)
    centre = (point.geofence.lat, point.geofence.lon)
    service = None
    if dec.vehicle_id is not None:
        v = min(
            (v for v in visits if v.vehicle == dec.vehicle_id and v.exit >= start and v.enter <= deadline),
            key=lambda v: v.enter,
        )
        near = [f for f in fixes if f.vehicle == v.vehicle and v.enter - AROUND <= f.t <= v.exit + AROUND]
        service = {
            "vehicle": v.vehicle,
            "arrival": v.enter.isoformat(),
            "departure": v.exit.isoformat(),
            "dwell_s": round((v.exit - v.enter).total_seconds(), 1),
            "counted_at": dec.visit_at.isoformat() if dec.visit_at else None,
            "fixes": [_fix(f, centre) for f in sorted(near, key=lambda f: f.t)],
        }
    catch_up = [
        {"vehicle": v.vehicle, "arrival": v.enter.isoformat(), "departure": v.exit.isoformat()}
        for v in sorted(visits, key=lambda v: v.enter)
        if v.enter > deadline
    ]
    closest: dict[str, dict] = {}
    for f in fixes:
        d = distance_m(centre, (f.lat, f.lon))
        if f.vehicle not in closest or d < closest[f.vehicle]["distance_m"]:
            closest[f.vehicle] = {"distance_m": round(d, 1), "at": f.t.isoformat(), "speed_kmh": f.speed_kmh}
    return {
        "point": point.id,
        "name": point.name,
        "contractor": point.contractor_id,
        "day": day.isoformat(),
        "status": dec.status.value,
        "window": {"start": start.isoformat(), "end": end.isoformat(), "deadline": deadline.isoformat()},
        "geofence": {"lat": point.geofence.lat, "lon": point.geofence.lon, "radius_m": point.geofence.radius_m},
        "service": service,
        "catch_up": catch_up,
        "closest_approach": dict(sorted(closest.items(), key=lambda kv: kv[1]["distance_m"])),
        "visits": [
            {"vehicle": v.vehicle, "arrival": v.enter.isoformat(), "departure": v.exit.isoformat()}
            for v in sorted(visits, key=lambda v: v.enter)
        ],
    }


def _fix(f: SeenFix, centre: tuple[float, float]) -> dict:
    return {
        "t": f.t.isoformat(),
        "lat": f.lat,
        "lon": f.lon,
        "speed_kmh": f.speed_kmh,
        "distance_m": round(distance_m(centre, (f.lat, f.lon)), 1),
    }


def to_geojson(proof: dict, fixes: list[SeenFix]) -> dict:
    """The point, each vehicle's track of the day near it, and the service and catch-up visits."""
    g = proof["geofence"]
    features: list[dict] = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [g["lon"], g["lat"]]},
            "properties": {
                "kind": "point",
                "point": proof["point"],
                "status": proof["status"],
                "radius_m": g["radius_m"],
            },
        }
    ]
    by_vehicle: dict[str, list[SeenFix]] = {}
    for f in sorted(fixes, key=lambda f: f.t):
        by_vehicle.setdefault(f.vehicle, []).append(f)
    for vehicle, track in sorted(by_vehicle.items()):
        if len(track) >= 2:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [[f.lon, f.lat] for f in track]},
                    "properties": {"kind": "track", "vehicle": vehicle, "from": track[0].t.isoformat()},
                }
            )
    for f in (proof["service"] or {}).get("fixes", []):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [f["lon"], f["lat"]]},
                "properties": {"kind": "service_fix", "t": f["t"], "speed_kmh": f["speed_kmh"]},
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {k: proof[k] for k in ("point", "day", "status")},
    }
