"""Geofences and a spatial index (shapely STRtree) over collection points and stations."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import Point, Polygon
from shapely.prepared import prep as prepared

from wastestream.schemas import City, Geofence

EARTH_R = 6_371_008.8
_M_PER_DEG_LAT = EARTH_R * math.pi / 180  # metres of great-circle arc per degree of latitude


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


def _bounds(f: Geofence) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a fence."""
    if f.polygon is not None:
        return Polygon(f.polygon).bounds
    dlat = f.radius_m / 111_320.0
    dlon = f.radius_m / (111_320.0 * max(0.01, math.cos(math.radians(f.lat))))
    return (f.lon - dlon, f.lat - dlat, f.lon + dlon, f.lat + dlat)


class SiteIndex:
    """Which site (if any) a position is in. Lookups go through a uniform grid of ``cell_deg``
    cells (each site listed in every cell its bounding box touches: one dict lookup per fix, then
    the exact test on a handful of candidates); the same grid finds neighbours for clustering.
    A cluster of side-by-side points is returned as its representative (``members`` lists the
    points of each cluster of two or more). Where fences overlap, stations and the vehicle's own
    contractor's points come first (a truck does not clear another contractor's bins that stand
    in the same spot), then the nearest centre.

    Memory matters here (a worker holds 200,000 points): no geometry object per site, and the
    cluster maps hold only the points that are in a cluster."""

    def __init__(self, sites: list[Site], cluster_m: float = 15.0, cell_deg: float = 0.002):
        if cluster_m * 2 > cell_deg * 111_320.0 * 0.5:
            raise ValueError("cluster_m must be well under the grid cell size")
        self.sites = sites
        self.by_id = {s.id: s for s in sites}
        self._cell = cell_deg
        self._grid: dict[tuple[int, int], list[Site]] = {}
        for s in sites:
            x0, y0, x1, y1 = _bounds(s.fence)
            for i in range(math.floor(y0 / cell_deg), math.floor(y1 / cell_deg) + 1):
                for j in range(math.floor(x0 / cell_deg), math.floor(x1 / cell_deg) + 1):
                    self._grid.setdefault((i, j), []).append(s)
        self._polygons = {s.id: prepared(Polygon(s.fence.polygon)) for s in sites if s.fence.polygon is not None}
        self.rep, self.members = self._clusters(cluster_m)

    def representative(self, site_id: str) -> str:
        """The site that stands for ``site_id``'s cluster (itself when it is alone)."""
        return self.rep.get(site_id, site_id)

    def _cell_of(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self._cell), math.floor(lon / self._cell)

    def _clusters(self, cluster_m: float) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Points of one contractor standing within ``cluster_m`` of each other are one stop: bins
        side by side are cleared by the same halt. Returns site → representative and
        representative → members, both for clustered points only (a lone point is its own)."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        for s in self.sites:
            if s.kind != "point":
                continue
            ci, cj = self._cell_of(s.fence.lat, s.fence.lon)
            for di in (-1, 0, 1):  # a neighbour's centre is within one cell of this centre's cell
                for dj in (-1, 0, 1):
                    for o in self._grid.get((ci + di, cj + dj), ()):
                        if o.id > s.id and o.kind == "point" and o.contractor_id == s.contractor_id:
                            if haversine_m(s.fence.lat, s.fence.lon, o.fence.lat, o.fence.lon) <= cluster_m:
                                a, b = sorted((find(s.id), find(o.id)))
                                if a != b:
                                    parent[b] = a
        rep = {sid: r for sid in list(parent) if (r := find(sid)) != sid}
        clustered = set(rep) | set(rep.values())
        members: dict[str, list[str]] = {}
        for s in self.sites:  # in site order, as the city lists them
            if s.id in clustered:
                members.setdefault(rep.get(s.id, s.id), []).append(s.id)
        return rep, members

    @classmethod
    def for_city(cls, city: City) -> SiteIndex:
        sites = [Site(s.id, "station", s.geofence) for s in city.stations]
        sites += [Site(p.id, "point", p.geofence, p.contractor_id) for p in city.collection_points]
        return cls(sites)

    def locate(self, lat: float, lon: float, contractor: str | None = None) -> Site | None:
        candidates = self._grid.get(self._cell_of(lat, lon))
        if not candidates:
            return None
        best: tuple[int, float, int, Site] | None = None
        polygons = self._polygons
        for s in candidates:
            f = s.fence
            poly = polygons.get(s.id) if polygons else None
            # a circle the latitude alone puts out of reach is passed over before the haversine: the
            # great-circle distance is never less than the meridian arc between the two latitudes
            if poly is None and abs(lat - f.lat) * _M_PER_DEG_LAT > f.radius_m * (1 + 1e-9) + 1e-6:
                continue
            d = haversine_m(lat, lon, f.lat, f.lon)
            if not (poly.covers(Point(lon, lat)) if poly is not None else d <= f.radius_m):
                continue
            foreign = 0 if s.kind == "station" or contractor is None or s.contractor_id == contractor else 1
            rank = (foreign, d, 0 if s.kind == "station" else 1, s)
            if best is None or rank[:3] < best[:3]:
                best = rank
        return self.by_id[self.representative(best[3].id)] if best else None
