"""What is written to InfluxDB: one builder per measurement, row for row the README's table.

Every :class:`Record` is an absolute value of one series (measurement, tags, timestamp): daily
figures sit at the local day's start (Asia/Shanghai by default: the city's time zone), positions and
visits at their own device time. Writing a record again overwrites it, so replays and re-emits are
harmless. A record of one contractor's data also goes to that contractor's own bucket.

==================  ==========================================  ==========================================
measurement         tags                                        fields
==================  ==========================================  ==========================================
positions           vehicle, contractor                         lat, lon, lat_gcj02, lon_gcj02, speed_kmh,
                                                                site, backfill
visits              site, site_kind, vehicle                    dwell_s, exit, backfill
clearance           point, contractor, waste_stream, route,     status, status_code, visit_at, vehicle,
                    timed                                       lat, lon, lat_gcj02, lon_gcj02
alerts              kind, subject, contractor                   active, message
tonnage             station, vehicle, contractor, waste_stream, net_kg, tickets
                    direction
station_balance     station                                     received_kg, transferred_kg, carried_in_kg,
                                                                backlog_kg, cleared_same_day, over_capacity
data_quality        kind, detail                                count
unknown_terminals   terminal, source                            first_seen, last_seen, count
vehicle_day         vehicle, contractor, kind                   km_track, km_odometer, engine_h, trips,
                                                                trips_short, trips_undelivered, stops,
                                                                collections, delivered_kg, t_per_km
violations          kind, vehicle, contractor                   active, end, lat, lon, lat_gcj02, lon_gcj02,
                                                                value, detail
==================  ==========================================  ==========================================

``violations`` sit at the violation's start; one that later evidence no longer shows is written
again with ``active`` 0 (a figure that is not known — no odometer, no ACC — is left out).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from wastestream.domain.datum import gcj02
from wastestream.domain.localtime import day_start
from wastestream.domain.tonnage import TonnageKey
from wastestream.schemas import City, Clearance, ClearanceStatus
from wastestream.schemas.results import Visit

VEHICLE_DAY_COUNTS = {"trips", "trips_short", "trips_undelivered", "stops", "collections"}  # integers; the rest floats
STATUS_CODE = {Clearance.pending: 0, Clearance.cleared: 1, Clearance.late: 2, Clearance.missed: 3}


class Record(NamedTuple):
    """One InfluxDB point: an absolute value of one series at one timestamp (a named tuple, not a
    frozen dataclass: one is built per fix, and a frozen dataclass's ``__init__`` costs 0.6 µs
    against 0.26 µs)."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, Any], ...]
    time: datetime
    bucket_contractor: str | None = None  # also written to this contractor's own bucket

    @property
    def series(self) -> tuple:
        return (self.measurement, self.tags, self.time)

    def as_dict(self) -> dict:
        return {
            "measurement": self.measurement,
            "tags": dict(self.tags),
            "fields": dict(self.fields),
            "time": self.time.isoformat(),
        }


def record(
    measurement: str, tags: dict[str, str], fields: dict[str, Any], t: datetime, contractor: str | None = None
) -> Record:
    """A record with its tags and fields in a canonical (sorted) order."""
    return Record(measurement, tuple(sorted(tags.items())), tuple(sorted(fields.items())), t, contractor)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def gcj(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) in GCJ-02 (what Chinese base maps use), rounded as the figures carry them."""
    g = gcj02(lat, lon)
    return round(g[0], 7), round(g[1], 7)


class Records:
    """The record builders of one city (its time zone, points and vehicles' contractors)."""

    def __init__(
        self, city: City, points: dict[str, Any] | None = None, contractor_of: dict[str, str] | None = None
    ) -> None:
        """``points`` (id → point) and ``contractor_of`` (vehicle → contractor): the caller's maps of
        the same city, shared rather than built again (a 200,000-point map costs ~10 MB)."""
        self.tz = city.timezone
        self.points = points if points is not None else {p.id: p for p in city.collection_points}
        self.contractor_of = (
            contractor_of if contractor_of is not None else {v.id: v.contractor_id for v in city.vehicles}
        )
        self.kind_of = {v.id: v.kind for v in city.vehicles}
        self._position_tags: dict[str, tuple] = {}  # vehicle → its positions tags (one tuple, not one per fix)

    def position(
        self, vehicle: str, t: float, site: str | None, speed: float, backfill: bool, lat: float, lon: float
    ) -> Record:
        """One fix of a vehicle's track (for replay on a map)."""
        contractor = self.contractor_of.get(vehicle)
        glat, glon = gcj(lat, lon)
        tags = self._position_tags.get(vehicle)
        if tags is None:
            tags = self._position_tags[vehicle] = (("contractor", contractor or ""), ("vehicle", vehicle))
        # one per fix: the tuples are built in record()'s (sorted) order rather than through it
        return Record(
            "positions",
            tags,
            (
                ("backfill", backfill),
                ("lat", lat),
                ("lat_gcj02", glat),
                ("lon", lon),
                ("lon_gcj02", glon),
                ("site", site or ""),
                ("speed_kmh", speed),
            ),
            _dt(t),
            contractor,
        )

    def visit(self, v: Visit) -> Record:
        return record(
            "visits",
            {"site": v.site_id, "site_kind": v.site_kind.value, "vehicle": v.vehicle_id},
            {"dwell_s": v.dwell_s, "exit": v.exit_at.isoformat(), "backfill": v.backfill},
            v.enter_at,
            v.contractor_id,
        )

    def clearance(self, st: ClearanceStatus) -> Record:
        p = self.points[st.point_id]
        glat, glon = gcj(p.geofence.lat, p.geofence.lon)
        return record(
            "clearance",
            {
                "point": p.id,
                "contractor": p.contractor_id,
                "waste_stream": p.waste_stream.value,
                "route": p.route_id or "",
                "timed": "true" if p.timed_stop else "false",
            },
            {
                "status": st.status.value,
                "status_code": STATUS_CODE[st.status],
                "visit_at": st.visit_at.isoformat() if st.visit_at else "",
                "vehicle": st.vehicle_id or "",
                "lat": p.geofence.lat,
                "lon": p.geofence.lon,
                "lat_gcj02": glat,
                "lon_gcj02": glon,
            },
            day_start(st.local_date, self.tz),
            p.contractor_id,
        )

    def alert(
        self,
        kind: str,
        subject: str,
        contractor: str | None,
        day: date,
        active: int,
        message: str,
        severity: str = "warning",
    ) -> Record:
        """An alert of a day (missed_clearance of a point; terminal_silent / terminal_dark of a vehicle):
        1 while raised, 0 once resolved (Grafana's rules page on ``active``). ``severity`` is the
        alert's: critical only for a timed stop's missed clearance."""
        return record(
            "alerts",
            {"kind": kind, "subject": subject, "contractor": contractor or "", "severity": severity},
            {"active": active, "message": message},
            day_start(day, self.tz),
            contractor,
        )

    def tonnage(self, k: TonnageKey, net_kg: float, tickets: int) -> Record:
        return record(
            "tonnage",
            {
                "station": k.station_id,
                "vehicle": k.vehicle_id,
                "contractor": k.contractor_id,
                "waste_stream": k.waste_stream,
                "direction": k.direction,
            },
            {"net_kg": float(net_kg), "tickets": int(tickets)},
            day_start(k.day, self.tz),
            k.contractor_id,
        )

    def station_balance(self, station_id: str, day: date, b: Any) -> Record:
        """A station-day's mass balance (a :class:`wastestream.domain.balance.Balance`)."""
        return record(
            "station_balance",
            {"station": station_id},
            {
                "received_kg": b.received_kg,
                "transferred_kg": b.transferred_kg,
                "carried_in_kg": b.carried_in_kg,
                "backlog_kg": b.backlog_kg,
                "cleared_same_day": b.cleared_same_day,
                "over_capacity": b.over_capacity,
            },
            day_start(day, self.tz),
        )

    def vehicle_day(self, vehicle: str, day: date, summary: dict[str, Any]) -> Record:
        """A vehicle's day summary (:mod:`wastestream.domain.operations`); unknown figures left out."""
        contractor = self.contractor_of.get(vehicle)
        return record(
            "vehicle_day",
            {"vehicle": vehicle, "contractor": contractor or "", "kind": self.kind_of.get(vehicle, "")},
            {k: (v if k in VEHICLE_DAY_COUNTS else float(v)) for k, v in summary.items() if v is not None},
            day_start(day, self.tz),
            contractor,
        )

    def violation(self, vehicle: str, row: list) -> Record:
        """One operating violation, from its stored row [active, kind, start, end, lat, lon, value, detail]."""
        active, kind, start, end, lat, lon, value, detail = row
        contractor = self.contractor_of.get(vehicle)
        fields: dict[str, Any] = {
            "active": int(active),
            "end": _dt(end).isoformat(),
            "value": float(value),
            "detail": detail,
        }
        if lat == lat and lon == lon:  # not NaN
            glat, glon = gcj(lat, lon)
            fields |= {"lat": float(lat), "lon": float(lon), "lat_gcj02": glat, "lon_gcj02": glon}
        return record(
            "violations",
            {"kind": kind, "vehicle": vehicle, "contractor": contractor or ""},
            fields,
            _dt(start),
            contractor,
        )

    def data_quality(self, day: date, kind: str, detail: str, count: int) -> Record:
        return record("data_quality", {"kind": kind, "detail": detail}, {"count": count}, day_start(day, self.tz))

    def unknown_terminal(self, day: date, source: str, terminal: str, first: float, last: float, n: int) -> Record:
        return record(
            "unknown_terminals",
            {"terminal": terminal, "source": source},
            {"first_seen": _dt(first).isoformat(), "last_seen": _dt(last).isoformat(), "count": int(n)},
            day_start(day, self.tz),
        )
