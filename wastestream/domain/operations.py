"""A vehicle's local day, judged from its fixes, its visits and its inbound tickets: the day summary,
its trips, and the operating violations bureaus put GPS on trucks to catch.

Pure: everything comes in as arguments (the fixes of one vehicle-day in any order, the visit spans
the geofence rule found, the tickets that name the vehicle, the judgement time ``at``); the same
inputs give the same answer in the worker and in ``wastestream recompute``.

The rules (README, "Operating violations and undelivered loads"), with the thresholds of
:class:`~wastestream.schemas.OperationRules`:

* **standing**: consecutive fixes at or below ``stop_speed_kmh``; a *stop* is standing ≥ 60 s;
  a stop is *away* when none of its fixes lies in a collection point's or station's fence;
* **overspeed**: consecutive fixes above the vehicle kind's limit for ≥ ``overspeed_min_s``, or any
  fix with the terminal's overspeed alarm bit (the terminal applied its own limit and duration);
* **idle_away**: an away stop of ≥ ``idle_away_min_s`` inside the shift (ignition on: idling; off:
  parked); with no shift known, only idling counts;
* **off_route**: in the shift, not standing in a fence, and farther than the route's ``corridor_m``
  from each of the vehicle's planned paths for ≥ ``off_route_min_s`` (driving through another point's
  fence on the way does not break the episode);
* **out_of_shift**: moving outside every shift window [route start − grace, route end + grace] for
  ≥ ``out_of_shift_min_s`` (only for vehicles whose routes have an end);
* **trips**: the collections between two station visits. A trip's tickets are those weighed in
  after its last collection and before the next trip's first. It is *delivered*, *short* (less than
  ``short_delivery_ratio`` of its points' expected kg), *undelivered* (no ticket
  ``delivery_grace_s`` after the station visit that ended it — or after the day's end if it never
  reached a station), or *open* (still waiting);
* **dumping** (乱倾乱倒): an away stop of ≥ ``dump_stop_min_s`` during a trip that turned out short or
  undelivered — flagged at that stop's place and time. A loaded truck that stands still and then
  delivers its full load (a breakdown, a traffic jam) is not dumping; that stop may be idle_away;
* **undelivered** (有收无倒): an undelivered trip with no such stop, flagged at its last collection;
* **wrong_station** (异地卸载): a ticket at a station none of the vehicle's routes unloads at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from wastestream.domain.geo import haversine_m
from wastestream.schemas import OperationRules

MIN_STOP_S = 60.0
MAX_PLAUSIBLE_KMH = 180.0  # a step implying more is a GPS jump, not distance driven


@dataclass(frozen=True, slots=True)
class Fix:
    t: float  # epoch seconds, device time
    lat: float
    lon: float
    speed: float
    site: str | None = None
    acc: bool | None = None  # None: not known (older state)
    overspeed_alarm: bool = False
    odometer_km: float | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """An inbound ticket that names the vehicle."""

    station_id: str
    serial: str
    weigh_in: float
    weigh_out: float
    net_kg: float


@dataclass(frozen=True, slots=True)
class Corridor:
    path: tuple[tuple[float, float], ...]  # (lat, lon)
    width_m: float


@dataclass(frozen=True)
class VehicleContext:
    kind: str = "collection"
    stations: frozenset[str] = frozenset()  # the site ids that are stations
    designated: frozenset[str] = frozenset()  # the stations its routes unload at (empty: any)
    expected_kg: Mapping[str, float] = field(default_factory=dict)  # point id → typical kg
    shifts: tuple[tuple[float, float], ...] = ()  # planned (start, end) epochs; empty: not known
    corridors: tuple[Corridor, ...] = ()
    station_pos: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    day_end: float = math.inf  # epoch of the next local midnight


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    start: float
    end: float
    lat: float
    lon: float
    value: float  # overspeed: max km/h; idle_away, dumping, out_of_shift: minutes; off_route: max m
    detail: str  # undelivered: expected kg; wrong_station: net kg

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.start:.0f}"


@dataclass(frozen=True, slots=True)
class Trip:
    first: float  # first collection's arrival
    last: float  # last collection's departure
    points: tuple[str, ...]
    expected_kg: float
    delivered_kg: float
    serials: tuple[str, ...]
    outcome: str  # delivered | short | undelivered | open


@dataclass(frozen=True, slots=True)
class Stop:
    start: float
    end: float
    lat: float
    lon: float
    away: bool
    acc_on: bool | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class DaySummary:
    km_track: float
    km_odometer: float | None
    engine_h: float | None  # None: no fix said whether the ignition was on
    trips: int
    stops: int
    collections: int
    delivered_kg: float

    @property
    def t_per_km(self) -> float | None:
        return self.delivered_kg / 1000 / self.km_track if self.km_track > 0 else None


@dataclass(frozen=True)
class VehicleDay:
    summary: DaySummary
    violations: list[Violation]
    trips: list[Trip]
    recheck_at: float | None  # when an open trip would turn undelivered, if nothing else comes in


def analyse_day(
    fixes: Iterable[Fix],
    visits: Mapping[str, Sequence[tuple[float, float]]],
    deliveries: Iterable[Delivery],
    ctx: VehicleContext,
    rules: OperationRules,
    at: float,
) -> VehicleDay:
    """Judge one vehicle-day at time ``at``. ``visits``: site id → [(enter, exit), ...]."""
    fx = _sorted(fixes)
    dels = sorted(deliveries, key=lambda d: (d.weigh_in, d.serial))
    stops = standing(fx, rules.stop_speed_kmh)
    violations: list[Violation] = []
    violations += overspeed(fx, ctx, rules)
    violations += idle_away(stops, ctx, rules)
    violations += off_route(fx, ctx, rules)
    violations += out_of_shift(fx, ctx, rules)
    trips, recheck = judge_trips(visits, dels, ctx, rules, at)
    violations += loads_not_delivered(trips, stops, fx, visits, ctx, rules)
    violations += wrong_station(dels, ctx)
    violations.sort(key=lambda v: (v.start, v.kind))
    summary = DaySummary(
        km_track=round(track_km(fx, rules), 3),
        km_odometer=odometer_km(fx),
        engine_h=engine_hours(fx, rules),
        trips=len(trips),
        stops=len(stops),
        collections=sum(1 for s, spans in visits.items() if s not in ctx.stations and spans),
        delivered_kg=float(sum(d.net_kg for d in dels)),
    )
    return VehicleDay(summary, violations, trips, recheck)


def _sorted(fixes: Iterable[Fix]) -> list[Fix]:
    """By time; of fixes at the same second the first given is kept."""
    out: dict[float, Fix] = {}
    for f in fixes:
        out.setdefault(f.t, f)
    return [out[t] for t in sorted(out)]


# -- distance and engine time ---------------------------------------------------------------------
def track_km(fx: Sequence[Fix], rules: OperationRules) -> float:
    """The driven distance along the fixes: steps between two standing fixes shorter than
    ``jitter_m`` (GPS noise) and steps implying more than 180 km/h (jumps) add nothing."""
    m = 0.0
    for a, b in zip(fx, fx[1:], strict=False):
        d = haversine_m(a.lat, a.lon, b.lat, b.lon)
        dt = b.t - a.t
        if d / dt * 3.6 > MAX_PLAUSIBLE_KMH:
            continue
        if a.speed <= rules.stop_speed_kmh and b.speed <= rules.stop_speed_kmh and d < rules.jitter_m:
            continue
        m += d
    return m / 1000


def odometer_km(fx: Sequence[Fix]) -> float | None:
    """The odometer's advance over the day (additional item 0x01), None without readings. A reading
    below the previous one (a reset, a bad value) starts a new stretch."""
    readings = [f.odometer_km for f in fx if f.odometer_km is not None]
    if not readings:
        return None
    total, prev = 0.0, readings[0]
    for r in readings[1:]:
        if r >= prev:
            total += r - prev
        prev = r
    return round(total, 3)


def engine_hours(fx: Sequence[Fix], rules: OperationRules) -> float | None:
    """Hours with the ignition on: each step from a fix with ACC on, up to ``max_gap_s``."""
    if not any(f.acc is not None for f in fx):
        return None
    s = sum(min(b.t - a.t, rules.max_gap_s) for a, b in zip(fx, fx[1:], strict=False) if a.acc)
    return round(s / 3600, 4)


# -- stops and speed -------------------------------------------------------------------------------
def standing(fx: Sequence[Fix], stop_speed: float) -> list[Stop]:
    """Runs of consecutive standing fixes lasting ≥ 60 s."""
    stops: list[Stop] = []
    run: list[Fix] = []
    for f in [*fx, None]:
        if f is not None and f.speed <= stop_speed:
            run.append(f)
            continue
        if run and run[-1].t - run[0].t >= MIN_STOP_S:
            accs = [x.acc for x in run if x.acc is not None]
            stops.append(
                Stop(
                    run[0].t,
                    run[-1].t,
                    run[0].lat,
                    run[0].lon,
                    all(x.site is None for x in run),
                    (sum(accs) * 2 >= len(accs)) if accs else None,
                )
            )
        run = []
    return stops


def _episodes(fx: Sequence[Fix], inside: list[bool], max_gap_s: float) -> list[list[Fix]]:
    """Maximal runs of consecutive fixes for which ``inside`` holds (a gap longer than
    ``max_gap_s`` ends a run)."""
    out: list[list[Fix]] = []
    run: list[Fix] = []
    for f, ok in zip(fx, inside, strict=True):
        if ok and run and f.t - run[-1].t > max_gap_s:
            out.append(run)
            run = []
        if ok:
            run.append(f)
        elif run:
            out.append(run)
            run = []
    if run:
        out.append(run)
    return out


def overspeed(fx: Sequence[Fix], ctx: VehicleContext, rules: OperationRules) -> list[Violation]:
    limit = rules.speed_limit_kmh.get(ctx.kind)
    over = [f.overspeed_alarm or (limit is not None and f.speed > limit) for f in fx]
    out = []
    for ep in _episodes(fx, over, rules.max_gap_s):
        alarmed = any(f.overspeed_alarm for f in ep)
        if not alarmed and ep[-1].t - ep[0].t < rules.overspeed_min_s:
            continue
        top = max(ep, key=lambda f: f.speed)
        how = "the terminal's overspeed alarm" if alarmed else f"above {limit:g} km/h"
        out.append(
            Violation(
                "overspeed",
                ep[0].t,
                ep[-1].t,
                top.lat,
                top.lon,
                round(top.speed, 1),
                f"{how} for {ep[-1].t - ep[0].t:.0f} s, max {top.speed:.0f} km/h",
            )
        )
    return out


# -- shifts and corridors --------------------------------------------------------------------------
def in_shift(t: float, ctx: VehicleContext, rules: OperationRules) -> bool:
    """Inside a shift window (always, when the shifts are not known)."""
    if not ctx.shifts:
        return True
    g = rules.shift_grace_s
    return any(a - g <= t <= b + g for a, b in ctx.shifts)


def idle_away(stops: Sequence[Stop], ctx: VehicleContext, rules: OperationRules) -> list[Violation]:
    """Standing long away from every site: in a known shift, idling or parked; with no shift known
    (routes without an ``end``, vehicles without routes), only idling — a truck parked with its
    ignition off overnight at its yard is not a violation."""
    out = []
    for s in stops:
        counts = in_shift(s.start, ctx, rules) if ctx.shifts else s.acc_on is True
        if s.away and s.seconds >= rules.idle_away_min_s and counts:
            how = {True: "idling (ignition on)", False: "parked (ignition off)", None: "standing"}[s.acc_on]
            out.append(
                Violation(
                    "idle_away",
                    s.start,
                    s.end,
                    s.lat,
                    s.lon,
                    round(s.seconds / 60, 1),
                    f"{how} {s.seconds / 60:.0f} min away from every site",
                )
            )
    return out


def corridor_distances(fx: Sequence[Fix], corridors: Sequence[Corridor]) -> np.ndarray:
    """Per fix: metres beyond the nearest corridor's edge (≤ 0 inside one)."""
    if not corridors or not fx:
        return np.full(len(fx), -math.inf)
    lat0 = fx[0].lat
    kx = 111_320.0 * math.cos(math.radians(lat0))
    ky = 111_320.0
    pts = shapely.points(np.array([f.lon * kx for f in fx]), np.array([f.lat * ky for f in fx]))
    beyond = np.full(len(fx), math.inf)
    for c in corridors:
        line = shapely.linestrings([(lon * kx, lat * ky) for lat, lon in c.path])
        beyond = np.minimum(beyond, shapely.distance(pts, line) - c.width_m)
    return beyond


def off_route(fx: Sequence[Fix], ctx: VehicleContext, rules: OperationRules) -> list[Violation]:
    if not ctx.corridors:
        return []
    beyond = corridor_distances(fx, ctx.corridors)
    # standing at a site (serving it) is never off route; driving through a fence at speed is
    flags = [
        bool(b > 0) and (f.site is None or f.speed > rules.stop_speed_kmh) and in_shift(f.t, ctx, rules)
        for f, b in zip(fx, beyond, strict=True)
    ]
    by_t = {f.t: float(b) for f, b in zip(fx, beyond, strict=True)}
    out = []
    for ep in _episodes(fx, flags, rules.max_gap_s):
        if ep[-1].t - ep[0].t < rules.off_route_min_s:
            continue
        far = max(ep, key=lambda f: by_t[f.t])
        out.append(
            Violation(
                "off_route",
                ep[0].t,
                ep[-1].t,
                far.lat,
                far.lon,
                round(by_t[far.t], 1),
                f"{(ep[-1].t - ep[0].t) / 60:.0f} min outside the route corridor, up to {by_t[far.t]:.0f} m beyond it",
            )
        )
    return out


def out_of_shift(fx: Sequence[Fix], ctx: VehicleContext, rules: OperationRules) -> list[Violation]:
    if not ctx.shifts:
        return []
    flags = [f.speed > rules.stop_speed_kmh and not in_shift(f.t, ctx, rules) for f in fx]
    out = []
    for ep in _episodes(fx, flags, rules.max_gap_s):
        minutes = (ep[-1].t - ep[0].t) / 60
        if ep[-1].t - ep[0].t < rules.out_of_shift_min_s:
            continue
        out.append(
            Violation(
                "out_of_shift", ep[0].t, ep[-1].t, ep[0].lat, ep[0].lon, round(minutes, 1),
                f"driving {minutes:.0f} min outside the shift",
            )
        )  # fmt: skip
    return out


# -- trips, loads ----------------------------------------------------------------------------------
def judge_trips(
    visits: Mapping[str, Sequence[tuple[float, float]]],
    dels: Sequence[Delivery],
    ctx: VehicleContext,
    rules: OperationRules,
    at: float,
) -> tuple[list[Trip], float | None]:
    """The day's trips and their outcomes at ``at``; and the earliest time an open trip is decided."""
    events = sorted(
        (enter, exit_, site, site in ctx.stations) for site, spans in visits.items() for enter, exit_, *_ in spans
    )
    groups: list[list[tuple]] = []  # per trip: its collection visits
    ends: list[tuple | None] = []  # per trip: the station visit that ended it
    current: list[tuple] = []
    for ev in events:
        if ev[3]:  # a station visit: ends the trip under way
            if current:
                groups.append(current)
                ends.append(ev)
                current = []
        else:
            current.append(ev)
    if current:
        groups.append(current)
        ends.append(None)
    trips: list[Trip] = []
    recheck: float | None = None
    for k, (g, end) in enumerate(zip(groups, ends, strict=True)):
        first, last = g[0][0], max(e[1] for e in g)
        upto = groups[k + 1][0][0] if k + 1 < len(groups) else math.inf
        mine = [d for d in dels if last <= d.weigh_in < upto]
        pts = tuple(sorted({e[2] for e in g}))
        expected = sum(ctx.expected_kg.get(p, 0.0) for p in pts)
        delivered = float(sum(d.net_kg for d in mine))
        if mine:
            outcome = "short" if expected > 0 and delivered < rules.short_delivery_ratio * expected else "delivered"
        else:
            due = (end[1] if end is not None else ctx.day_end) + rules.delivery_grace_s
            if at >= due:
                outcome = "undelivered"
            else:
                outcome = "open"
                recheck = due if recheck is None else min(recheck, due)
        trips.append(Trip(first, last, pts, round(expected, 3), delivered, tuple(d.serial for d in mine), outcome))
    return trips, recheck


def loads_not_delivered(
    trips: Sequence[Trip],
    stops: Sequence[Stop],
    fx: Sequence[Fix],
    visits: Mapping[str, Sequence[tuple[float, float]]],
    ctx: VehicleContext,
    rules: OperationRules,
) -> list[Violation]:
    out = []
    station_enters = sorted(e for s, spans in visits.items() if s in ctx.stations for e, *_ in spans)
    for trip in trips:
        if trip.outcome not in ("short", "undelivered"):
            continue
        until = next((e for e in station_enters if e >= trip.last), ctx.day_end)
        what = f"trip of {len(trip.points)} point(s), expected {trip.expected_kg:.0f} kg, " + (
            f"delivered {trip.delivered_kg:.0f} kg" if trip.serials else "no ticket"
        )
        suspicious = [
            s for s in stops if s.away and s.seconds >= rules.dump_stop_min_s and trip.first <= s.start <= until
        ]
        for s in suspicious:
            out.append(
                Violation("dumping", s.start, s.end, s.lat, s.lon, round(s.seconds / 60, 1),
                          f"stood {s.seconds / 60:.0f} min away from every site while loaded; {what}")
            )  # fmt: skip
        if not suspicious and trip.outcome == "undelivered":
            at = max((f for f in fx if f.t <= trip.last), key=lambda f: f.t, default=None)
            lat, lon = (at.lat, at.lon) if at is not None else (math.nan, math.nan)
            out.append(Violation("undelivered", trip.last, trip.last, lat, lon, trip.expected_kg, what))
    return out


def wrong_station(dels: Sequence[Delivery], ctx: VehicleContext) -> list[Violation]:
    if not ctx.designated:
        return []
    out = []
    for d in dels:
        if d.station_id not in ctx.designated:
            lat, lon = ctx.station_pos.get(d.station_id, (math.nan, math.nan))
            out.append(
                Violation(
                    "wrong_station",
                    d.weigh_in,
                    d.weigh_out,
                    lat,
                    lon,
                    d.net_kg,
                    f"ticket {d.serial} at {d.station_id}, not a station its routes unload at"
                    f" ({', '.join(sorted(ctx.designated))})",
                )
            )
    return out
