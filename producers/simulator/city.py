"""The seed city, built deterministically from published figures (shared/notes/domain-facts.md):

* 10 market-based cleaning contractors;
* 17 transfer stations moving ≈ 1,289 t/day;
* 54 collection routes with 94 "bus-stop style" timed stops (车到桶出), plus the other collection
  points on each route; each route driven by one compactor truck making three trips a day.

Service windows are derived from each route's planned schedule (``plan_route``), so the city file
and the day's simulation always agree.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, time

from wastestream.schemas import (
    CalendarDay,
    City,
    CollectionPoint,
    Contractor,
    Geofence,
    Route,
    ServiceCalendar,
    TransferStation,
    Vehicle,
    WasteStream,
)

DAILY_TONNAGE_KG = 1_289_000
N_CONTRACTORS = 10
N_STATIONS = 17
N_ROUTES = 54
N_TIMED_STOPS = 94
TRIPS_PER_ROUTE = 3
STOPS_PER_TRIP = 12
CENTRE = (31.2304, 121.4737)  # a district-sized area around this point
RADIUS_KM = 9.0

# timing of a truck's day (all local time)
SHIFT_START = time(5, 0)
STOP_DWELL_S = 240
STATION_DWELL_S = 900
WEIGH_IN_AFTER_S = 60
WEIGH_OUT_AFTER_S = 720
DRIVE_KMH = 25.0
SHIFT_SLACK_S = 3 * 3600  # a route's shift ends this long after its planned return (late trucks, breakdowns)

CONTRACTOR_NAMES = [
    "城东环境服务有限公司",
    "申洁环卫工程有限公司",
    "绿城保洁服务有限公司",
    "洁美环境科技有限公司",
    "净土环卫有限公司",
    "清源环境服务有限公司",
    "宏达环卫工程有限公司",
    "美境城市服务有限公司",
    "恒洁环境有限公司",
    "新桥环卫服务有限公司",
]
STREAM_PLAN = [WasteStream.other] * 40 + [WasteStream.kitchen] * 12 + [WasteStream.recyclable] * 2


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat))))


@dataclass(frozen=True)
class PlannedStop:
    point_id: str
    arrive_s: float  # seconds after local midnight
    leave_s: float


@dataclass(frozen=True)
class PlannedTrip:
    stops: tuple[PlannedStop, ...]
    station_arrive_s: float
    station_leave_s: float


def _travel_s(a: tuple[float, float], b: tuple[float, float]) -> float:
    from wastestream.domain.geo import haversine_m

    return haversine_m(a[0], a[1], b[0], b[1]) / (DRIVE_KMH / 3.6)


def plan_route(
    stops: list[tuple[str, tuple[float, float]]], station: tuple[float, float], start_s: float
) -> list[PlannedTrip]:
    """The truck's planned day: leave the station at ``start_s``, clear STOPS_PER_TRIP stops, unload."""
    trips = []
    t, here = start_s, station
    for k in range(0, len(stops), STOPS_PER_TRIP):
        planned = []
        for pid, pos in stops[k : k + STOPS_PER_TRIP]:
            t += _travel_s(here, pos)
            planned.append(PlannedStop(pid, t, t + STOP_DWELL_S))
            t += STOP_DWELL_S
            here = pos
        t += _travel_s(here, station)
        trips.append(PlannedTrip(tuple(planned), t, t + STATION_DWELL_S))
        t += STATION_DWELL_S
        here = station
    return trips


def _floor(seconds: float, step_min: int) -> float:
    step = step_min * 60
    return math.floor(seconds / step) * step


def _ceil(seconds: float, step_min: int) -> float:
    step = step_min * 60
    return math.ceil(seconds / step) * step


CALENDAR_ANCHOR = date(2026, 11, 2)
#: simulated holiday entries of a city with calendars (not a real year's schedule: one holiday, one 调休 Sunday)
SIM_HOLIDAYS = (
    CalendarDay(date=date(2026, 11, 26), working=False, name="模拟假日 (simulated holiday)"),
    CalendarDay(date=date(2026, 11, 29), working=True, name="模拟调休 (simulated worked Sunday)"),
)


DISTRICT_SPACING_M = 30_000  # districts of a bigger city (``build_city(districts=…)``) on a grid this far apart


def build_city(seed: int = 808, calendars: int = 0, districts: int = 1) -> City:
    """The seed city. ``calendars``: how many of its (untimed) points get a service calendar, in turn
    Monday/Wednesday/Friday, every other day, and working days only; the city then has SIM_HOLIDAYS.
    ``districts``: a bigger city of that many districts, each built as the seed district is (its own
    random stream, its own routes, trucks, points and stations, ids prefixed ``D002``, ``D003``, …),
    on a grid ``DISTRICT_SPACING_M`` apart, sharing the contractors; the first district is the seed
    district itself, unchanged."""
    if districts < 1:
        raise ValueError(f"districts must be ≥ 1, not {districts}")
    contractors = [Contractor(id=f"C{i + 1:02d}", name=CONTRACTOR_NAMES[i]) for i in range(N_CONTRACTORS)]
    cols = math.ceil(math.sqrt(districts))
    vehicles: list[Vehicle] = []
    points: list[CollectionPoint] = []
    routes: list[Route] = []
    stations: list[TransferStation] = []
    for k in range(districts):
        row, col = divmod(k, cols)
        centre = offset(*CENTRE, row * DISTRICT_SPACING_M, col * DISTRICT_SPACING_M)
        rnd = random.Random(f"city:{seed}" if k == 0 else f"city:{seed}:district:{k + 1}")
        v, p, r, s = _district(rnd, contractors, centre, k)
        vehicles += v
        points += p
        routes += r
        stations += s
    if calendars:
        cal_rnd = random.Random(f"calendars:{seed}")  # its own stream: the city is otherwise the same
        chosen = set(cal_rnd.sample(sorted(p.id for p in points if not p.timed_stop), calendars))
        kinds = [
            ServiceCalendar(weekdays=[1, 3, 5]),
            ServiceCalendar(every_n_days=2, anchor=CALENDAR_ANCHOR),
            ServiceCalendar(workdays_only=True),
        ]
        ordered = sorted(chosen)
        points = [
            p.model_copy(update={"calendar": kinds[ordered.index(p.id) % 3]}) if p.id in chosen else p for p in points
        ]
    return City(
        name="示范区 (seed district)" if districts == 1 else f"示范市 (seed city, {districts} districts)",
        holidays=list(SIM_HOLIDAYS) if calendars else [],
        timezone="Asia/Shanghai",
        contractors=contractors,
        vehicles=vehicles,
        stations=stations,
        collection_points=points,
        routes=routes,
    )


def _district(
    rnd: random.Random, contractors: list[Contractor], centre: tuple[float, float], district: int
) -> tuple[list[Vehicle], list[CollectionPoint], list[Route], list[TransferStation]]:
    """District ``district`` (0: the seed district, ids unprefixed) around ``centre``."""
    pre = "" if district == 0 else f"D{district + 1:03d}"
    # terminal numbers: 0138…/0139… in the seed district, then 0140…/0141…, 0142…/0143…, …
    term_v, term_t = f"{138 + 2 * district:04d}", f"{139 + 2 * district:04d}"
    # stations on a ring around the centre, capacities sized for their share of the routes
    stations_pos = []
    for i in range(N_STATIONS):
        ang = 2 * math.pi * i / N_STATIONS + rnd.uniform(-0.1, 0.1)
        r = RADIUS_KM * 1000 * rnd.uniform(0.35, 0.85)
        stations_pos.append(offset(*centre, r * math.cos(ang), r * math.sin(ang)))
    route_station = [i % N_STATIONS for i in range(N_ROUTES)]
    per_route_kg = DAILY_TONNAGE_KG / N_ROUTES
    points_per_route = TRIPS_PER_ROUTE * STOPS_PER_TRIP
    streams = list(STREAM_PLAN)
    rnd.shuffle(streams)

    vehicles: list[Vehicle] = []
    points: list[CollectionPoint] = []
    routes: list[Route] = []
    timed_left = N_TIMED_STOPS
    pid = 0
    for r in range(N_ROUTES):
        contractor = contractors[r % N_CONTRACTORS]
        st = route_station[r]
        stream = streams[r]
        vid = f"{pre}V{r + 1:03d}"
        plate = f"沪{chr(ord('A') + r % 6)}{rnd.randrange(10000, 99999)}D"  # (drawn in every district: one stream)
        vehicles.append(
            Vehicle(
                id=vid,
                plate=plate if district == 0 else f"沪{chr(ord('A') + district % 6)}{district:03d}{r + 1:02d}D",
                contractor_id=contractor.id,
                terminal_id=f"{term_v}{r + 1:08d}",
                kind="collection",
                waste_stream=stream,
                rated_load_kg=10_000,
                stored_tare_kg=round(rnd.uniform(10_500, 11_500)),
            )
        )
        # the route's stops: a cluster between its station and a district location
        ang = rnd.uniform(0, 2 * math.pi)
        cluster = offset(*stations_pos[st], 2500 * math.cos(ang), 2500 * math.sin(ang))
        raw_stops = []
        for _ in range(points_per_route):
            pos = offset(*cluster, rnd.gauss(0, 700), rnd.gauss(0, 700))
            raw_stops.append((f"{pre}P{pid + 1:04d}", pos))
            pid += 1
        # nearest-neighbour order from the station, so the truck drives a sensible loop
        ordered, here = [], stations_pos[st]
        pool = list(raw_stops)
        while pool:
            nxt = min(pool, key=lambda s: (s[1][0] - here[0]) ** 2 + (s[1][1] - here[1]) ** 2)
            pool.remove(nxt)
            ordered.append(nxt)
            here = nxt[1]
        start_s = SHIFT_START.hour * 3600 + rnd.randrange(0, 40) * 60
        trips = plan_route(ordered, stations_pos[st], start_s)
        timed_here = 2 if timed_left > (N_ROUTES - r - 1) else 1 if timed_left > 0 else 0
        timed_here = min(timed_here, timed_left)
        timed_left -= timed_here
        weights = [rnd.uniform(0.6, 1.4) for _ in ordered]
        scale = per_route_kg / sum(weights)
        planned = {s.point_id: s for trip in trips for s in trip.stops}
        for k, (point_id, pos) in enumerate(ordered):
            a = planned[point_id].arrive_s
            timed = k < timed_here * STOPS_PER_TRIP and k % STOPS_PER_TRIP == 0
            if timed:
                start, end = _floor(a - 900, 5), _ceil(a + 900, 5)
                deadline = end + 2 * 3600
            else:
                start, end = _floor(a - 3600, 30), _ceil(a + 3600, 30)
                deadline = end + 3 * 3600
            points.append(
                CollectionPoint(
                    id=point_id,
                    name=f"{contractor.name[:2]}{k + 1:02d}号点",
                    contractor_id=contractor.id,
                    waste_stream=stream,
                    geofence=Geofence(lat=round(pos[0], 6), lon=round(pos[1], 6), radius_m=40),
                    service_start=_t(start),
                    service_end=_t(end),
                    deadline=_t(deadline),
                    timed_stop=timed,
                    route_id=f"{pre}R{r + 1:02d}",
                    expected_kg=round(weights[k] * scale, 1),
                )
            )
        # the planned line: station, each trip's stops, back to the station (what the truck drives)
        by_id = dict(ordered)
        path = [stations_pos[st]]
        for trip in trips:
            path += [by_id[s.point_id] for s in trip.stops] + [stations_pos[st]]
        routes.append(
            Route(
                id=f"{pre}R{r + 1:02d}",
                contractor_id=contractor.id,
                vehicle_id=vid,
                station_id=f"{pre}S{st + 1:02d}",
                stops=[p for p, _ in ordered],
                start=_t(start_s),
                end=_t(_ceil(trips[-1].station_leave_s + SHIFT_SLACK_S, 30)),
                path=[(round(lon, 6), round(lat, 6)) for lat, lon in path],
            )
        )
    # one transfer (container) truck per station for outbound tickets
    for i in range(N_STATIONS):
        vehicles.append(
            Vehicle(
                id=f"{pre}T{i + 1:02d}",
                plate=f"沪F{70000 + 100 * district + i}挂",
                contractor_id=contractors[i % N_CONTRACTORS].id,
                terminal_id=f"{term_t}{i + 1:08d}",
                kind="transfer",
                waste_stream=WasteStream.other,
                rated_load_kg=30_000,
                stored_tare_kg=15_000,
            )
        )
    route_kg = [0.0] * N_STATIONS
    for r in range(N_ROUTES):
        route_kg[route_station[r]] += per_route_kg
    stations = [
        TransferStation(
            id=f"{pre}S{i + 1:02d}",
            name=f"第{i + 1}转运站" if district == 0 else f"{district + 1}区第{i + 1}转运站",
            geofence=Geofence(lat=round(stations_pos[i][0], 6), lon=round(stations_pos[i][1], 6), radius_m=120),
            capacity_kg_per_day=round(route_kg[i] * 1.3, -3),
            destination="incineration" if i % 4 else "landfill",
        )
        for i in range(N_STATIONS)
    ]
    return vehicles, points, routes, stations


def _t(seconds: float) -> time:
    seconds = max(0.0, min(seconds, 24 * 3600 - 60))
    return time(int(seconds // 3600), int(seconds % 3600 // 60))
