"""One simulated day of the city: every truck's JT/T 808 positions, every weighbridge ticket, the
faults asked for, and the ground truth they imply. Deterministic for a (city, day, seed, faults).

The events are what a real deployment would see, in delivery order (``deliver_at``): positions
sent live, positions stored during a terminal dropout and uploaded later as a 0x0704 blind-area
batch, tickets (sometimes twice), junk bytes on a terminal's connection.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wastestream.domain.calendar import holiday_map, is_due
from wastestream.domain.geo import SiteIndex, haversine_m
from wastestream.domain.localtime import day_start
from wastestream.domain.operations import Corridor, Fix, corridor_distances
from wastestream.producers.simulator.city import (
    DRIVE_KMH,
    STATION_DWELL_S,
    STOP_DWELL_S,
    WEIGH_IN_AFTER_S,
    WEIGH_OUT_AFTER_S,
    PlannedTrip,
    plan_route,
)
from wastestream.schemas import City, Clearance, CollectionPoint, Direction, FixSource, GpsFix, Vehicle, WeighTicket

BREAKDOWN_S = 2 * 3600
DUMP_S = 8 * 60  # a truck dumping its load by the roadside stands this long
JAM_S = 12 * 60  # a truck stuck in traffic, loaded
OVERSPEED_KMH = 75.0
NIGHT_TRIP_AT = (22, 30)  # local time a truck makes a trip outside its shift
ODOMETER_START_KM = 12_000.0


@dataclass(frozen=True)
class Faults:
    missed_stops: int = 0  # stops a truck drives past without stopping
    missed_timed_stops: int = 0  # of the timed stops (车到桶出), driven past too: the critical pages
    late_trucks: int = 0  # trucks leaving 90 min late (some stops become late)
    breakdowns: int = 0  # trucks standing 2 h on the road after their third stop (later stops late/missed)
    dropouts: int = 0  # terminals losing the network for 40 min, back-filled with 0x0704
    midnight_upload: int = 0  # of those, back-filled only after midnight (the next local day)
    duplicate_tickets: int = 0
    manual_weights: int = 0
    junk_frames: int = 0
    station_backlog: int = 0  # stations that leave 30% of the day's waste for tomorrow
    ghost_tickets: int = 0  # inbound tickets (03:00) for a truck that was never at that station
    strangers: int = 0  # terminals not in the registry trying to register (08:30)
    # operating violations (each from its own random stream, so the faults above stay as they were)
    overspeeding: int = 0  # trucks driving their second trip's return to the station at 75 km/h
    detours: int = 0  # trucks leaving their corridor ~1.5 km after their first trip's fourth stop
    dumping: int = 0  # trucks dumping their second trip's first 8 stops' waste 900 m off the route (8 min)
    undelivered: int = 0  # trucks whose last trip's load is never weighed (back at the station, no ticket)
    night_trips: int = 0  # trucks making a 3 km trip out and back at 22:30, outside their shift
    traffic_jams: int = 0  # honest: trucks standing 12 min in a jam on the road, loaded, then delivering in full

    @classmethod
    def demo(cls) -> Faults:
        return cls(
            missed_stops=4,
            missed_timed_stops=1,
            late_trucks=1,
            dropouts=3,
            midnight_upload=1,
            duplicate_tickets=5,
            manual_weights=3,
            junk_frames=3,
            station_backlog=1,
            ghost_tickets=1,
            strangers=1,
        )


@dataclass(frozen=True)
class SimEvent:
    deliver_at: datetime  # when it reaches the platform (event time of the simulation clock)
    kind: str  # "fix" (live) | "store" (kept by the terminal) | "upload" (0x0704 of stored) | "ticket" | "junk"
    vehicle_id: str | None = None
    fix: GpsFix | None = None
    ticket: WeighTicket | None = None
    data: bytes = b""


@dataclass
class Truth:
    day: date
    stops: dict[str, dict] = field(default_factory=dict)  # point id -> {status, at, vehicle}
    tonnage_in: dict[str, float] = field(default_factory=dict)  # station|vehicle|contractor|stream -> kg
    transferred_out: dict[str, float] = field(default_factory=dict)  # station -> kg
    fixes: int = 0
    tickets_unique: int = 0
    tickets_sent: int = 0
    junk_frames: int = 0
    backfilled_fixes: int = 0
    tickets_without_dwell: dict[str, int] = field(default_factory=dict)  # station -> inbound tickets, no GPS dwell
    silent_terminals: dict[str, int] = field(default_factory=dict)  # vehicle -> episodes silent > 30 min on the road
    # vehicle -> 1: first heard > 30 min after its route's start
    dark_terminals: dict[str, int] = field(default_factory=dict)
    unknown_terminals: dict[str, int] = field(default_factory=dict)  # terminal id -> registrations refused
    # vehicle -> {violation kind: how many}: what the simulator made the truck do (planted, or a breakdown
    # standing 2 h away from every site: idle_away; a ghost ticket at another station: wrong_station)
    violations: dict[str, dict[str, int]] = field(default_factory=dict)
    driven_km: dict[str, float] = field(default_factory=dict)  # vehicle -> km it drove (its legs' lengths)
    engine_h: dict[str, float] = field(default_factory=dict)  # vehicle -> hours with the ignition on
    trips: dict[str, int] = field(default_factory=dict)  # vehicle -> trips that collected something

    def violation(self, vehicle: str, kind: str) -> None:
        self.violations.setdefault(vehicle, {})
        self.violations[vehicle][kind] = self.violations[vehicle].get(kind, 0) + 1

    def roll_up(self, dim: int) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for k, kg in self.tonnage_in.items():
            out[k.split("|")[dim]] += kg
        return dict(sorted(out.items()))

    def to_json(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "stops": self.stops,
            "tonnage_in": self.tonnage_in,
            "tonnage_in_by_station": self.roll_up(0),
            "tonnage_in_by_vehicle": self.roll_up(1),
            "tonnage_in_by_contractor": self.roll_up(2),
            "tonnage_in_by_stream": self.roll_up(3),
            "tonnage_in_total_kg": round(sum(self.tonnage_in.values()), 3),
            "transferred_out": self.transferred_out,
            "tickets_without_dwell": self.tickets_without_dwell,
            "silent_terminals": self.silent_terminals,
            "dark_terminals": self.dark_terminals,
            "unknown_terminals": self.unknown_terminals,
            "violations": self.violations,
            "driven_km": self.driven_km,
            "engine_h": self.engine_h,
            "trips": self.trips,
            "counts": {
                "fixes": self.fixes,
                "tickets_unique": self.tickets_unique,
                "tickets_sent": self.tickets_sent,
                "junk_frames": self.junk_frames,
                "backfilled_fixes": self.backfilled_fixes,
            },
            "status_counts": {
                s.value: sum(1 for x in self.stops.values() if x["status"] == s.value) for s in Clearance
            },
        }


def stated_outcome(
    point: CollectionPoint, day: date, stood: tuple[datetime, datetime] | None, tz: str, choice: str
) -> dict:
    """The ground truth of one stop, stated from what the simulator made the truck do — not by the
    pipeline's rule (``domain.clearance.decide``), so the end-to-end checks compare two independent
    answers. ``stood``: the first and last fix of the truck standing at the stop, or None (driven
    past at speed, ``choice`` says why). In the bureau's terms, on the stop's own local calendar day:
    standing there at any moment of the service window is *cleared* (from the window's start, if it
    was waiting before it); standing there only after the window but by the deadline is *late*;
    anything else is *missed*."""
    z = ZoneInfo(tz)

    def clock(t: datetime) -> datetime:  # local wall-clock time on the stop's day
        return t.astimezone(z).replace(tzinfo=None)

    opens = datetime.combine(day, point.service_start)
    closes = datetime.combine(day, point.service_end)
    deadline = datetime.combine(day, point.deadline)
    state: dict = {"status": "missed", "at": None, "vehicle": None, "contractor": point.contractor_id, "choice": choice}
    if stood is None:
        return state
    came, left = clock(stood[0]), clock(stood[1])
    if left < opens or came > deadline:
        return {**state, "choice": f"{choice}, outside the day's window"}
    at = max(came, opens)
    status = "cleared" if at <= closes else "late"
    return {
        **state,
        "status": status,
        "at": at.replace(tzinfo=z).astimezone(stood[0].tzinfo).isoformat(),
        "vehicle": None,
    }


FIX_INTERVAL_S = 30


def _ticket(
    station_id: str,
    serial: str,
    v: Vehicle,
    direction: Direction,
    stream: Any,
    tare: float,
    net: float,
    t_in: datetime,
    weigh_s: float,
    **extra: Any,
) -> WeighTicket:
    """A weighbridge ticket of ``v`` (gross = tare + net), weighed out ``weigh_s`` after it weighed in."""
    return WeighTicket(
        station_id=station_id,
        serial=serial,
        plate=v.plate,
        vehicle_id=v.id,
        direction=direction,
        waste_stream=stream,
        gross_kg=tare + net,
        tare_kg=tare,
        net_kg=net,
        weigh_in_at=t_in,
        weigh_out_at=t_in + timedelta(seconds=weigh_s),
        **extra,
    )


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> int:
    dy = b[0] - a[0]
    dx = (b[1] - a[1]) * math.cos(math.radians(a[0]))
    return int(math.degrees(math.atan2(dx, dy)) % 360)


class _Truck:
    """Emits a truck's positions on a 30 s grid while it drives and dwells."""

    def __init__(self, vehicle_id: str, terminal_id: str, t0: datetime, rnd: random.Random):
        self.vehicle_id, self.terminal_id = vehicle_id, terminal_id
        self.t = t0
        self.rnd = rnd
        self.pos: tuple[float, float] = (0.0, 0.0)
        self.points: list[tuple[datetime, float, float, float, int, float]] = []  # t, lat, lon, speed, heading, odo
        self.parked: set[int] = set()  # indices of the fixes sent with the ignition off
        self.driven_m = 0.0
        self.engine_s = 0.0

    def _emit(self, lat: float, lon: float, speed: float, heading: int) -> None:
        if self.points and len(self.points) - 1 not in self.parked:
            self.engine_s += (self.t - self.points[-1][0]).total_seconds()
        odo = round(ODOMETER_START_KM + self.driven_m / 1000, 1)  # JT/T 808 0x01: 1/10 km
        self.points.append((self.t, round(lat, 6), round(lon, 6), round(speed, 1), heading, odo))
        self.t += timedelta(seconds=FIX_INTERVAL_S)

    def park(self) -> None:
        """The ignition goes off with the last fix sent."""
        self.parked.add(len(self.points) - 1)

    def drive(self, to: tuple[float, float], speed_kmh: float = DRIVE_KMH) -> None:
        dist = haversine_m(*self.pos, *to)
        dur = dist / (speed_kmh / 3.6)
        steps = max(1, int(dur // FIX_INTERVAL_S))
        head = _bearing(self.pos, to)
        start = self.pos
        for k in range(1, steps + 1):
            f = k / steps
            lat = start[0] + (to[0] - start[0]) * f
            lon = start[1] + (to[1] - start[1]) * f
            if self.points:  # the distance between its first and last fix (what a track can show)
                self.driven_m += dist / steps
            self._emit(lat, lon, speed_kmh + self.rnd.uniform(-3, 3), head)
        self.pos = to

    def dwell(self, seconds: float) -> datetime:
        """Stand still (a few metres of GPS jitter); returns the time of the first dwell fix."""
        first = self.t
        for _ in range(max(1, int(seconds // FIX_INTERVAL_S))):
            j = 3.0 / 111_320
            self._emit(self.pos[0] + self.rnd.uniform(-j, j), self.pos[1] + self.rnd.uniform(-j, j), 0.0, 0)
        return first


def simulate_day(city: City, day: date, seed: int = 808, faults: Faults = Faults()) -> tuple[list[SimEvent], Truth]:
    tz = city.timezone
    holidays = holiday_map(city.holidays)
    midnight = day_start(day, tz)
    rnd = random.Random(f"faults:{seed}:{day}")
    points = {p.id: p for p in city.collection_points}
    stations = {s.id: s for s in city.stations}
    vehicles = {v.id: v for v in city.vehicles}
    routes = sorted(city.routes, key=lambda r: r.id)

    # a stop "driven past" must be a stop of its own: bins side by side with another stop are
    # cleared by the halt at that one (the engine treats them as one stop)
    clustered = {p for m in SiteIndex.for_city(city).members.values() for p in m}
    alone = {p.id for p in city.collection_points} - clustered
    all_stops = [(r.id, s) for r in routes for s in r.stops if s in alone]
    missed = set(s for _, s in rnd.sample(all_stops, faults.missed_stops))
    timed = sorted({s for _, s in all_stops if s not in missed and points[s].timed_stop})
    # its own stream, so the other faults of a seeded day stay as they were
    missed |= set(random.Random(f"timed:{seed}:{day}").sample(timed, min(faults.missed_timed_stops, len(timed))))
    late_routes = set(r.id for r in rnd.sample(routes, faults.late_trucks))
    # its own stream, so the other faults of a seeded day stay as they were
    broken_routes = set(
        r.id
        for r in random.Random(f"breakdown:{seed}:{day}").sample(
            [r for r in routes if r.id not in late_routes], faults.breakdowns
        )
    )
    ops = random.Random(f"operations:{seed}:{day}")  # its own stream, so the other faults stay as they were
    speeders = set(r.id for r in ops.sample(routes, faults.overspeeding))
    detouring = set(r.id for r in ops.sample(routes, faults.detours))
    dumpers = set(r.id for r in ops.sample([r for r in routes if r.id not in detouring], faults.dumping))
    undelivering = set(
        r.id for r in ops.sample([r for r in routes if r.id not in dumpers | detouring], faults.undelivered)
    )
    night = set(r.id for r in ops.sample(routes, faults.night_trips))
    jammed = set(
        r.id
        for r in random.Random(f"jams:{seed}:{day}").sample(
            [r for r in routes if r.id not in dumpers], faults.traffic_jams
        )
    )
    index = SiteIndex.for_city(city)
    drop_routes = [r.id for r in rnd.sample(routes, faults.dropouts)]
    midnight_routes = set(drop_routes[: faults.midnight_upload])
    backlog_stations = set(s.id for s in rnd.sample(sorted(city.stations, key=lambda s: s.id), faults.station_backlog))

    events: list[SimEvent] = []
    truth = Truth(day)
    received: dict[str, float] = defaultdict(float)
    tickets: list[WeighTicket] = []
    serial: dict[str, int] = defaultdict(int)

    def next_serial(station_id: str) -> str:
        serial[station_id] += 1
        return f"{station_id}-{day:%Y%m%d}-{serial[station_id]:04d}"

    for route in routes:
        rr = random.Random(f"route:{seed}:{day}:{route.id}")
        v = vehicles[route.vehicle_id]
        st = stations[route.station_id]
        station_pos = (st.geofence.lat, st.geofence.lon)
        stops = [(pid, (points[pid].geofence.lat, points[pid].geofence.lon)) for pid in route.stops]
        start_s = (route.start.hour * 3600 + route.start.minute * 60) if route.start else 5 * 3600
        start_s += rr.randrange(-60, 61)  # a minute either way, day to day
        if route.id in late_routes:
            start_s += 90 * 60  # 90 minutes late: its later stops miss their windows
            truth.dark_terminals[v.id] = 1  # and its terminal, off until it leaves, is dark past the 30-min grace
        trips: list[PlannedTrip] = plan_route(stops, station_pos, start_s)
        truck = _Truck(v.id, v.terminal_id, midnight + timedelta(seconds=start_s), rr)
        truck.pos = station_pos
        tare = v.stored_tare_kg + rr.choice([-40, -20, 0, 20, 40])
        dwell_at: dict[str, tuple[datetime, datetime]] = {}
        served_n = 0
        corridor = Corridor(tuple((lat, lon) for lon, lat in route.path or ()), route.corridor_m)
        collected_trips = 0
        for n_trip, trip in enumerate(trips):
            load = 0.0
            collected = False
            for k_stop, stop in enumerate(trip.stops):
                p = points[stop.point_id]
                pos = (p.geofence.lat, p.geofence.lon)
                if route.id in broken_routes and served_n == 3:
                    # broken down halfway to the next stop, away from every site: 2 h standing, terminal on
                    mid = ((truck.pos[0] + pos[0]) / 2, (truck.pos[1] + pos[1]) / 2)
                    truck.drive(mid)
                    truck.dwell(BREAKDOWN_S)
                    if index.locate(*mid) is None:  # (standing in another point's fence is not "away")
                        truth.violation(v.id, "idle_away")
                if route.id in detouring and n_trip == 0 and k_stop == 4:
                    truck.drive(_away_spot(truck.pos, corridor, index, 1500, 500, rr))  # off the corridor, no stop
                    truth.violation(v.id, "off_route")
                if route.id in dumpers and n_trip == 1 and k_stop == 8:
                    truck.drive(_away_spot(truck.pos, corridor, index, 900, 300, rr))
                    truck.dwell(DUMP_S)  # the load goes by the roadside
                    load = 0.0
                    truth.violation(v.id, "dumping")
                    truth.violation(v.id, "off_route")
                if route.id in jammed and n_trip == 1 and k_stop == 6:
                    # halfway along the leg (on the route), outside every fence, like a loaded dumping stop
                    mid = ((truck.pos[0] + pos[0]) / 2, (truck.pos[1] + pos[1]) / 2)
                    truck.drive(mid)
                    truck.dwell(JAM_S)
                served_n += 1
                if stop.point_id in missed or not is_due(p, day, holidays):
                    truck.drive(pos)  # drives past at speed: no dwell, not a visit
                    continue
                truck.drive(pos)
                first = truck.dwell(STOP_DWELL_S)
                dwell_at[stop.point_id] = (first, truck.t - timedelta(seconds=FIX_INTERVAL_S))
                load += p.expected_kg * rr.uniform(0.85, 1.15)
                collected = True
            collected_trips += collected
            truck.drive(station_pos, OVERSPEED_KMH if route.id in speeders and n_trip == 1 else DRIVE_KMH)
            if route.id in speeders and n_trip == 1:
                truth.violation(v.id, "overspeed")
            arrive = truck.dwell(STATION_DWELL_S)
            if route.id in undelivering and n_trip == len(trips) - 1:
                truth.violation(v.id, "undelivered")  # back at the station, never weighed
                continue
            net = round(load / 20) * 20
            t_in = arrive + timedelta(seconds=WEIGH_IN_AFTER_S)
            t = _ticket(
                st.id,
                next_serial(st.id),
                v,
                Direction.inbound,
                v.waste_stream,
                tare,
                net,
                t_in,
                WEIGH_OUT_AFTER_S - WEIGH_IN_AFTER_S,
            )
            tickets.append(t)
            received[st.id] += net
        truck.park()  # at the end of the route: ignition off
        if route.id in night:  # out and back, 3 km, long after its shift
            truck.t = max(truck.t, midnight + timedelta(hours=NIGHT_TRIP_AT[0], minutes=NIGHT_TRIP_AT[1]))
            truck.drive(_away_spot(station_pos, None, index, 3000, 0, rr))
            truck.drive(station_pos)
            truck.dwell(60)
            truck.park()
            truth.violation(v.id, "out_of_shift")
        truth.driven_km[v.id] = round(truck.driven_m / 1000, 3)
        truth.engine_h[v.id] = round(truck.engine_s / 3600, 4)
        truth.trips[v.id] = collected_trips
        # the fixes, and which of them were stored during a dropout
        fixes = [
            GpsFix(
                vehicle_id=v.id,
                terminal_id=v.terminal_id,
                device_time=t,
                received_at=t + timedelta(seconds=1),
                lat=lat,
                lon=lon,
                speed_kmh=speed,
                heading=head,
                altitude_m=4,
                status=2 if i in truck.parked else 3,  # bit 0 ACC, bit 1 positioned
                acc_on=i not in truck.parked,
                fix_valid=True,
                odometer_km=odo,
                alarm=2 if speed > OVERSPEED_KMH - 10 else 0,  # the terminal's own overspeed alarm (bit 1)
                alarm_overspeed=speed > OVERSPEED_KMH - 10,
            )
            for i, (t, lat, lon, speed, head, odo) in enumerate(truck.points)
        ]
        drop: tuple[datetime, datetime] | None = None
        if route.id in drop_routes:
            # lose the network for 40 minutes around the second trip's first stop
            centre = midnight + timedelta(seconds=trips[1].stops[0].arrive_s)
            drop = (centre - timedelta(minutes=20), centre + timedelta(minutes=20))
        upload_at = None
        if drop is not None:
            upload_at = drop[1] + timedelta(seconds=30)
            if route.id in midnight_routes:
                upload_at = day_start(day + timedelta(days=1), tz) + timedelta(minutes=10)
        for f in fixes:
            if drop is not None and drop[0] <= f.device_time < drop[1]:
                assert upload_at is not None
                stored = f.model_copy(update={"source": FixSource.backfill, "received_at": upload_at})
                events.append(SimEvent(f.device_time, "store", v.id, fix=stored))
                truth.backfilled_fixes += 1
            else:
                events.append(SimEvent(f.device_time, "fix", v.id, fix=f))
        if upload_at is not None:
            events.append(SimEvent(upload_at, "upload", v.id))
            truth.silent_terminals[v.id] = 1  # 40 minutes with nothing received, mid-route
        truth.fixes += len(fixes)
        # ground truth of each stop: what the truck was made to do there
        for stop_id in route.stops:
            p = points[stop_id]
            if not is_due(p, day, holidays):
                continue  # not due today (its calendar): nothing to decide
            if stop_id in missed:
                choice = "driven past"
            elif route.id in late_routes:
                choice = "stopped, the truck 90 min late"
            elif route.id in broken_routes:
                choice = "stopped, the truck broken down for 2 h after its third stop"
            else:
                choice = "stopped on schedule"
            stated = stated_outcome(p, day, dwell_at.get(stop_id), tz, choice)
            if stated["status"] != "missed":
                stated["vehicle"] = v.id
            truth.stops[stop_id] = stated

    # stations transfer the day's waste out in the evening
    # each station's transfer truck: ``T01`` for ``S01`` (``D002T01`` for ``D002S01`` in a bigger city)
    transfer_of = {v.id: v for v in city.vehicles if v.kind == "transfer"}
    for st in sorted(city.stations, key=lambda s: s.id):
        total = received[st.id]
        if total <= 0:
            continue
        out_kg = total * (0.7 if st.id in backlog_stations else 1.0)
        head, _, number = st.id.rpartition("S")
        transfer = transfer_of[f"{head}T{number}"]
        loads = max(1, math.ceil(out_kg / 28_000))
        sent = 0.0
        for k in range(loads):
            net = round((out_kg - sent) / (loads - k) / 20) * 20
            sent += net
            t_in = midnight + timedelta(hours=19, minutes=30 + 20 * k)
            tickets.append(
                _ticket(
                    st.id,
                    next_serial(st.id),
                    transfer,
                    Direction.outbound,
                    "other",
                    transfer.stored_tare_kg,
                    net,
                    t_in,
                    8 * 60,
                    stored_tare=True,
                    destination=st.destination,
                )
            )
        truth.transferred_out[st.id] = sent

    # faults on tickets, then the ticket events
    manual = set(
        id(t) for t in rnd.sample([t for t in tickets if t.direction == Direction.inbound], faults.manual_weights)
    )
    dups = set(id(t) for t in rnd.sample(tickets, faults.duplicate_tickets))
    ghosts = random.Random(f"ghosts:{seed}:{day}")  # its own stream: the other faults stay as they were
    for _ in range(faults.ghost_tickets):
        route = ghosts.choice(routes)
        v = vehicles[route.vehicle_id]
        st = ghosts.choice([s for s in sorted(city.stations, key=lambda s: s.id) if s.id != route.station_id])
        t_in = midnight + timedelta(hours=3, minutes=ghosts.randrange(60))  # no truck is out before 05:00
        tickets.append(
            _ticket(
                st.id,
                next_serial(st.id),
                v,
                Direction.inbound,
                v.waste_stream,
                v.stored_tare_kg,
                600,
                t_in,
                4 * 60,
                stored_tare=True,
            )
        )
        truth.tickets_without_dwell[st.id] = truth.tickets_without_dwell.get(st.id, 0) + 1
        truth.violation(v.id, "wrong_station")  # not a station its route unloads at
    for t in tickets:
        if id(t) in manual:
            t = t.model_copy(update={"manual_weight": True})
        at = t.weigh_out_at + timedelta(seconds=5)
        events.append(SimEvent(at, "ticket", t.vehicle_id, ticket=t))
        truth.tickets_sent += 1
        if id(t) in dups:
            events.append(SimEvent(at + timedelta(minutes=7), "ticket", t.vehicle_id, ticket=t))
            truth.tickets_sent += 1
        truth.tickets_unique += 1
        if t.direction == Direction.inbound:
            key = f"{t.station_id}|{t.vehicle_id}|{vehicles[t.vehicle_id].contractor_id}|{t.waste_stream.value}"
            truth.tonnage_in[key] = truth.tonnage_in.get(key, 0.0) + t.net_kg
    # junk on a few terminals' connections
    for k, route in enumerate(rnd.sample(routes, faults.junk_frames)):
        events.append(
            SimEvent(
                midnight + timedelta(hours=9, minutes=k),
                "junk",
                route.vehicle_id,
                data=b"\x7e\x02\x00\xde\xad\xbe\xef\x7e",
            )
        )
        truth.junk_frames += 1
    # terminals nobody registered, trying to register (a truck fitted with a new terminal, a prober)
    for k in range(faults.strangers):
        from wastestream.producers.jt808 import encode
        from wastestream.producers.jt808.messages import Register

        terminal = f"0139990000{k + 1:02d}"
        frame = encode(Register(31, 0, "WSTST", "SIM-808", "0000001", 1, "沪Z99999"), terminal, 1, None)[0]
        events.append(SimEvent(midnight + timedelta(hours=8, minutes=30 + k), "stranger", None, data=frame))
        truth.unknown_terminals[terminal] = 1
    events.sort(key=lambda e: (e.deliver_at, e.kind, e.vehicle_id or ""))
    return events, truth


def _away_spot(
    here: tuple[float, float],
    corridor: Corridor | None,
    index: SiteIndex,
    distance_m: float,
    off_corridor_m: float,
    rnd: random.Random,
) -> tuple[float, float]:
    """A place ``distance_m`` (or, if there is none, up to 4× as far) from ``here`` in no site's fence
    (nor within 200 m of one) and at least ``off_corridor_m`` beyond the route's corridor."""
    first = rnd.uniform(0, 2 * math.pi)
    for k in range(36 * 4):
        a = first + k * math.pi / 18
        d = distance_m * (1 + k // 36)
        lat = here[0] + d * math.cos(a) / 111_320
        lon = here[1] + d * math.sin(a) / (111_320 * math.cos(math.radians(here[0])))
        near = any(
            index.locate(lat + dn / 111_320, lon + de / 111_320) is not None
            for dn, de in ((0, 0), (200, 0), (-200, 0), (0, 280), (0, -280))
        )
        beyond = corridor_distances([Fix(0, lat, lon, 0)], [corridor])[0] if corridor and corridor.path else math.inf
        if not near and beyond >= off_corridor_m:
            return (round(lat, 6), round(lon, 6))
    raise RuntimeError(f"no place {distance_m:.0f} m from {here} away from every site")


def window_of(events: list[SimEvent], start: datetime, end: datetime) -> list[SimEvent]:
    """The events delivered in [start, end) — for tests that run part of a day."""
    return [e for e in events if start <= e.deliver_at < end]
