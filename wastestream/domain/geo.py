"""Geofences and a spatial index (shapely STRtree) over collection points and stations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely import STRtree, box
from shapely.geometry import Point, Polygon

from wastestream.schemas import City, Geofence

EARTH_R = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    kind: str  # "point" | "station"
    fence: Geofence
    contractor_id: str | None = None

    def contains(self, lat: float, lon: float) -> bool:
        f = self.fence
        if f.polygon is not None:
            return Polygon(f.polygon).covers(Point(lon, lat))
        return haversine_m(lat, lon, f.lat, f.lon) <= f.radius_m


def _bbox(f: Geofence):  # noqa: ANN202
    if f.polygon is not None:
        return Polygon(f.polygon).envelope
    dlat = f.radius_m / 111_320.0
    dlon = f.radius_m / (111_320.0 * max(0.01, math.cos(math.radians(f.lat))))
    return box(f.lon - dlon, f.lat - dlat, f.lon + dlon, f.lat + dlat)


class SiteIndex:
    """Which site (if any) a position is in. Bounding boxes in an STRtree, then the exact test;
    where fences overlap, the nearest centre wins (stations before points on ties)."""

    def __init__(self, sites: list[Site]):
        self.sites = sites
        self.by_id = {s.id: s for s in sites}
        self._tree = STRtree([_bbox(s.fence) for s in sites])

    @classmethod
    def for_city(cls, city: City) -> SiteIndex:
        sites = [Site(s.id, "station", s.geofence) for s in city.stations]
        sites += [Site(p.id, "point", p.geofence, p.contractor_id) for p in city.collection_points]
        return cls(sites)

    def locate(self, lat: float, lon: float) -> Site | None:
        hits = self._tree.query(Point(lon, lat))
        if len(hits) == 0:
            return None
        best: tuple[float, int, Site] | None = None
        for i in np.asarray(hits).tolist():
            s = self.sites[i]
            if s.contains(lat, lon):
                d = haversine_m(lat, lon, s.fence.lat, s.fence.lon)
                rank = (d, 0 if s.kind == "station" else 1, s)
                if best is None or rank[:2] < best[:2]:
                    best = rank
        return best[2] if best else None
