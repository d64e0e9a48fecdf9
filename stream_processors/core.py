"""The processing core shared by the Faust worker and ``wastestream recompute``.

It folds events into state held in plain mappings (dicts offline, Faust tables in the worker, where
every change is written back with ``store[key] = value`` so the changelog sees it) and returns what
to publish and what to write. All figures are *absolute* values for a (series, local day), so
writing them again — after a replay, a restart or a recompute — overwrites instead of adding.

State (one mapping each, string keys):

==================  ===========================  =====================================================
store               key                          value
==================  ===========================  =====================================================
fixlog              vehicle|day|HHMM             the day's classified fixes [t, site, speed, backfill]
                                                 in 15-minute buckets (small changelog messages);
                                                 the Track of a vehicle-day is rebuilt from them
last_fix            vehicle                      [t, lat, lon, received, parked (ACC off), silent-alert-open]
                                                 of the newest fix (speed jumps, silent terminals)
evidence            point|day                    {vehicle: [[enter, exit], ...]} visits at the point
station_visits      station|day                  {vehicle: [[enter, exit], ...]}
statuses            point|day                    last decided [status, visit at, vehicle, last missed-clearance
                                                 alert written: [active, message] or None]
tickets_seen        station|serial               [tonnage key, source position] of the first copy
ticket_checks       station|day                  [[serial, vehicle, weigh-in, weigh-out], ...] inbound
                                                 tickets awaiting/under the station-dwell cross-check
tonnage             day|station|vehicle|...      [net_kg, tickets, serials counted]
station_days        station|day                  [received_kg, transferred_kg, serials counted]
quality             day|kind|detail              count; seen|<position> for a dead letter counted,
                                                 seen|rejected|<position> for a refused record,
                                                 seen|duplicate|<position> for a duplicate ticket,
                                                 seen|ticket|station|serial for a ticket's flags
heard               vehicle|day                  :class:`~.state.Heard`: first heard that day; dark counted / alerted
unknown_terminals   day|source|terminal          [first seen, last seen, count] of an unregistered terminal
risk                vehicle|day, pace|route      {point: [active, message]}: the at_risk warnings of its routes;
                                                 a route's pace over its past days
deliveries          vehicle|day                  {station|serial: [station, weigh-in, weigh-out, net kg]}: its
                                                 inbound tickets, handed over by the stations' owners
vehicle_days        vehicle|day                  {"s": day summary, "v": {violation key: [active, ...]}} as last
                                                 written (:mod:`wastestream.domain.operations`)
==================  ===========================  =====================================================

Every input is checked first (:mod:`wastestream.domain.checks`): an event with a problem is
*rejected* — counted under its data-quality kind, returned in ``Output.rejected`` for the caller
to dead-letter, and it changes nothing else, advances no clock and selects no day. Each accepted
event is applied in one :class:`~.state.Transaction`: all of its changes or none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from statistics import median
from sys import intern
from typing import Any

from wastestream.domain.balance import balance
from wastestream.domain.calendar import holiday_map, is_due
from wastestream.domain.checks import (
    DEFAULT_INPUT_RULES,
    Area,
    InputRules,
    Problem,
    fix_problem,
    ticket_problems,
    visit_set_problem,
)
from wastestream.domain.clearance import alert_transition, all_windows, decide, missed_severity, window
from wastestream.domain.crosschecks import has_station_dwell, ticket_flags
from wastestream.domain.geo import SiteIndex
from wastestream.domain.localtime import LocalClock, at_local, day_start, local_date, zone
from wastestream.domain.operations import Corridor, Fix, VehicleContext, analyse_day
from wastestream.domain.operations import Delivery as Load
from wastestream.domain.quality import MAX_SILENCE_S, dark_at, is_late, silence_in_shift, silent, speed_jump
from wastestream.domain.risk import (
    DEFAULT_RISK_RULE,
    PlannedStop,
    RiskRule,
    learned_pace,
    leg_ratios,
    predict,
    transitions,
)
from wastestream.domain.tonnage import TonnageKey, tonnage_key
from wastestream.domain.visits import DEFAULT_RULES, Track
from wastestream.schemas import (
    Alert,
    AlertState,
    City,
    Clearance,
    ClearanceStatus,
    DeadLetter,
    Delivery,
    Direction,
    FixSource,
    GpsFix,
    WeighTicket,
)
from wastestream.schemas.results import SiteKind, Visit, VisitSet
from wastestream.stream_processors.records import Record, Records
from wastestream.stream_processors.state import (
    Heard,
    LastFix,
    SeenTicket,
    StationDay,
    StatusSnapshot,
    Stores,
    Tally,
    Transaction,
    UnknownTerminal,
)

TICKET_GRACE_S = 1800  # event time a ticket waits for its vehicle's GPS before the dwell check counts


@dataclass(frozen=True)
class Rejection:
    """An input the checks refused: what it was (``topic``), the problem, and the value."""

    topic: str
    problem: Problem
    value: GpsFix | WeighTicket | VisitSet | Delivery
    received_at: datetime


@dataclass
class Output:
    statuses: list[ClearanceStatus] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)  # for the vehicles' owners
    # of an accepted event: its local day, and its event time if it may move clocks
    day: date | None = None
    event_time: datetime | None = None

    def extend(self, other: Output) -> None:
        self.statuses += other.statuses
        self.alerts += other.alerts
        self.records += other.records
        self.rejected += other.rejected
        self.deliveries += other.deliveries


class _ExpectedKg(Mapping[str, float]):
    """point id → its typical kg, read from the points themselves."""

    __slots__ = ("points",)

    def __init__(self, points: dict) -> None:
        self.points = points

    def __getitem__(self, key: str) -> float:
        return self.points[key].expected_kg

    def __iter__(self) -> Iterator[str]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)


_FIRST = itemgetter(0)


_QUARTERS = tuple(f"|{q // 4:02d}{q % 4 * 15:02d}" for q in range(96))  # "|0000" … "|2345"


def _vehicle_day(vehicle: str, day: date) -> str:
    """The ``vehicle|day`` key, one string object however many maps hold it (a worker keeps it in
    several per vehicle-day: working copies and stores alike)."""
    return intern(f"{vehicle}|{day.isoformat()}")


def _bucket_key(vehicle_day: str, q: int) -> str:
    """The fix-log key of quarter-hour ``q`` (0–95, local time) of ``vehicle|day``."""
    return vehicle_day + _QUARTERS[q]


def _not_counted(counted: bool | None, again: bool) -> bool:
    """Whether a ticket must still be added to a state that says ``counted`` (None: an older state
    that keeps no serials, trusted as counted when the ticket is its first copy read again)."""
    return not (counted or (counted is None and again))


def _ts(t: datetime) -> float:
    return t.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


DARK_AFTER_S = 1800  # a vehicle due on a route and not heard from this long after its start is dark
SHIFT_START = time(5, 0)  # when a route has no start time: the shift's start
VEHICLE_DAY_FIELDS = ("km_track", "km_odometer", "engine_h", "trips", "trips_short", "trips_undelivered", "stops",
                      "collections", "delivered_kg", "t_per_km")  # fmt: skip
PAGED_VIOLATIONS = ("dumping", "undelivered")  # raised on the alerts topic too (wastestream notify pages them)
OPS_EVERY_S = 300.0  # a vehicle-day's operations are judged again at most this often while the clock moves


class Core:
    def __init__(
        self,
        city: City,
        stores: Stores | None = None,
        rules: dict | None = None,
        station_tolerance_kg: float = 1000,
        input_rules: InputRules = DEFAULT_INPUT_RULES,
        dark_after_s: float = DARK_AFTER_S,
        risk_rule: RiskRule = DEFAULT_RISK_RULE,
        risk_every_s: float = 60.0,
        ops_every_s: float = OPS_EVERY_S,
        terminal_every_s: float = 0.0,
    ):
        self.city = city
        self.tz = city.timezone
        self.clock = LocalClock(self.tz)  # epoch seconds → local day and quarter-hour (per fix)
        self.stores = stores or Stores()
        self.s = self.stores
        self._txn = Transaction(self.stores)
        self.input_rules = input_rules
        self.terminal_of = {v.id: v.terminal_id for v in city.vehicles}
        self.area = Area.of_city(city, input_rules.area_margin_km)
        # a vehicle is due on a day when it has a route: at its earliest route's start (local time)
        self.dark_after_s = dark_after_s
        self.due_at: dict[str, time] = {}
        for r in city.routes:
            start = r.start or SHIFT_START
            if r.vehicle_id not in self.due_at or start < self.due_at[r.vehicle_id]:
                self.due_at[r.vehicle_id] = start
        # early warning (wastestream.domain.risk): each vehicle's routes, in order of their start
        self.risk_rule = risk_rule
        self.risk_every_s = risk_every_s
        self.routes_of: dict[str, list] = {}
        for r in sorted(city.routes, key=lambda r: (r.start or SHIFT_START, r.id)):
            self.routes_of.setdefault(r.vehicle_id, []).append(r)
        self._risk_checked: dict[str, datetime] = {}  # vehicle|day → when last looked at (working copy)
        self._planned_stops: dict[tuple[str, date], list[PlannedStop]] = {}
        self.rules = rules or DEFAULT_RULES
        self.index = SiteIndex.for_city(city)
        # site id → kind for the stations; every other site is a point (no 200,000-entry map of "point")
        self.kind_of = {s.id: s.kind for s in self.index.sites if s.kind != "point"}
        self.points = {p.id: p for p in city.collection_points}
        self.stations = {s.id: s for s in city.stations}
        self.vehicles = {v.id: v for v in city.vehicles}
        self.contractor_of = {v.id: v.contractor_id for v in city.vehicles}
        self.station_tolerance_kg = station_tolerance_kg
        self.rec = Records(city, self.points, self.contractor_of)
        # working copies rebuilt from the fixlog store: vehicle|day -> (Track, visit map)
        self._tracks: dict[str, tuple[Track, dict[str, list]]] = {}
        self._dirty_visits: set[tuple[str, date, str]] = set()  # (vehicle, day, site) to publish
        # vehicle|day → (vehicle, day) of the tracks with fixes not folded into their visit map yet: a
        # track's visits are brought up to date when they are read (take_visit_sets, the operations,
        # the route risk), once for all the fixes added since — not once per fix
        self._unfolded: dict[str, tuple[str, date]] = {}
        # incremental clearance: points whose evidence changed, the last evaluation time per (scope, day)
        self._dirty_points: set[tuple[str, date]] = set()
        self._evaluated: dict[tuple[object, date], datetime] = {}
        self._deadline_index: dict[date, tuple[list[float], list[str]]] = {}
        # service calendars, operations (wastestream.domain.calendar, .operations)
        self.holidays = holiday_map(city.holidays)
        self.ops_rules = city.operations
        self.station_ids = frozenset(self.stations)
        self.station_pos = {s.id: (s.geofence.lat, s.geofence.lon) for s in city.stations}
        self.expected_kg = _ExpectedKg(self.points)  # a view, not a 200,000-entry dict
        self.corridors = {
            v: tuple(Corridor(tuple((lat, lon) for lon, lat in r.path), r.corridor_m) for r in rs if r.path)
            for v, rs in self.routes_of.items()
        }
        self._ops_checked: dict[str, tuple[datetime, float | None]] = {}  # vehicle|day → (judged at now, recheck)
        self._ops_dirty: set[str] = set()  # vehicle|day whose fixes or deliveries changed since
        self._ops_clock: dict[object, datetime] = {}  # scope → the clock at its last evaluation
        self.ops_every_s = ops_every_s
        self._buckets: dict[str, int] = {}  # vehicle|day → which fix-log buckets hold fixes (bit mask)
        self.terminal_every_s = terminal_every_s
        self._terminals_checked: dict[str, float] = {}  # vehicle → the clock (epoch s) last checked at
        self._due_cache: dict[tuple[time, date], datetime] = {}  # (route start, day) → when dark
        self._vdays: dict[tuple[str, date], str] = {}  # (vehicle, day) → ``vehicle|day`` (:meth:`_vday`)

    def forget_cached_tracks(self) -> None:
        """Drop the working copies (after a rebalance the store is the truth)."""
        self._tracks.clear()
        self._dirty_visits.clear()
        self._unfolded.clear()
        self._evaluated.clear()  # a new owner decides all its points once
        self._ops_checked.clear()  # and judges all its vehicle-days once
        self._ops_clock.clear()
        self._buckets.clear()  # another owner may have logged fixes meanwhile
        self._terminals_checked.clear()

    def _track(self, vehicle: str, day: date) -> tuple[Track, dict[str, list]]:
        """The working copy of a vehicle-day: its track and its visit map (site → visit spans), which
        may lag the track by the fixes added since it was last read (:meth:`_visits_of` reads it)."""
        key = self._vday(vehicle, day)
        cached = self._tracks.get(key)
        if cached is None:
            track = Track()
            for t, site, speed, bf, *_ in self._logged(key):
                track.add(t, site, speed, bf)
            track.refresh(self.kind_of, self.rules)
            vmap: dict[str, list] = {}
            self._update_visit_map(track, vmap, None)
            cached = self._tracks[key] = (track, vmap)
            if self._unfolded.pop(key, None) is not None:  # rebuilt before its changes were published
                self._dirty_visits.update((vehicle, day, site) for site in vmap)
        return cached

    def _visits_of(self, vehicle: str, day: date) -> dict[str, list]:
        """The vehicle-day's visit map, up to date with every fix added (sites whose visits changed are
        marked to publish)."""
        key = self._vday(vehicle, day)
        track, vmap = self._track(vehicle, day)
        if self._unfolded.pop(key, None) is not None:
            for member in self._update_visit_map(track, vmap, track.refresh(self.kind_of, self.rules)):
                self._dirty_visits.add((vehicle, day, member))
        return vmap

    def _fold_all(self) -> None:
        """Bring every visit map up to date (before the changed visit sets are handed out)."""
        for vehicle, day in list(self._unfolded.values()):
            self._visits_of(vehicle, day)

    def _logged(self, key: str) -> Iterator[list]:
        """The fix-log entries of a vehicle-day (``vehicle|day``), bucket by bucket (15 minutes each).
        Which of the 96 buckets hold fixes is kept as a bit mask once they were all looked up (a
        working copy: set only from a full look-up, then by every fix; forgotten after a rebalance)."""
        mask = self._buckets.get(key)
        if mask is None:  # every bucket looked up once, the mask built on the way
            mask = 0
            get = self.s.fixlog.get
            for q, sfx in enumerate(_QUARTERS):
                entries = get(key + sfx)
                if entries:
                    mask |= 1 << q
                    yield from entries
            self._buckets[key] = mask
            return
        q = 0
        while mask:
            if mask & 1:
                yield from self.s.fixlog.get(_bucket_key(key, q)) or ()
            mask >>= 1
            q += 1

    def expire_days(self, before: date) -> None:
        """Forget working copies of days older than ``before`` (their state stays in the stores: a
        late fix of such a day rebuilds its track from them)."""
        self._fold_all()  # (a working copy dropped with changes not published would have to be rebuilt)
        for cache in (self._tracks, self._risk_checked, self._ops_checked, self._buckets):
            for key in [k for k in cache if date.fromisoformat(k.split("|")[1]) < before]:
                del cache[key]
        for planned in [k for k in self._planned_stops if k[1] < before]:
            del self._planned_stops[planned]
        for due in [k for k in self._due_cache if k[1] < before]:
            del self._due_cache[due]
        for vd in [k for k in self._vdays if k[1] < before]:
            del self._vdays[vd]

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Apply one event in full or not at all: if it fails, what it changed is put back."""
        self.s = self._txn.view
        self._txn.begin()
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        finally:
            self.s = self.stores

    def _rollback(self) -> None:
        """Put back what a failed event changed (:meth:`_atomic`; :meth:`on_fix` does the same inline)."""
        self._txn.discard()
        # working copies may hold half the event: rebuilt from the stores (the sites of those with
        # changes not folded yet are all published again: what they showed before is not known)
        for key, (vehicle, day) in self._unfolded.items():
            held = self._tracks.get(key)
            self._dirty_visits.update((vehicle, day, site) for site in (held[1] if held else ()))
        self._tracks.clear()
        self._buckets.clear()

    def _vday(self, vehicle: str, day: date) -> str:
        """``vehicle|day`` (:func:`_vehicle_day`), built once per vehicle-day (a fix asks for it three times)."""
        try:
            return self._vdays[vehicle, day]
        except KeyError:
            key = self._vdays[vehicle, day] = _vehicle_day(vehicle, day)
            return key

    def _reject(
        self,
        topic: str,
        problem: Problem,
        value,
        received_at: datetime,
        detail: str,  # noqa: ANN001
        out: Output,
        position: str = "",
    ) -> Output:
        """Count a refused input under its kind (on the local day it was received) and hand it back.
        ``position``: where it sits in its source; the same record read again (a restart) is handed
        back again but counted once."""
        if position:
            mark = f"seen|rejected|{position}"
            if self.s.quality.get(mark):
                out.rejected.append(Rejection(topic, problem, value, received_at))
                return out
            self.s.quality[mark] = 1
        self._count(local_date(received_at, self.tz), problem.kind, detail, out)
        out.rejected.append(Rejection(topic, problem, value, received_at))
        return out

    # -- GPS ------------------------------------------------------------------------------------
    def on_fix(self, fix: GpsFix, position: str = "") -> Output:
        """Fold one fix into its vehicle-day. Visit sets that change are collected, not returned:
        :meth:`take_visit_sets` hands them out (once per batch of fixes, each with its latest spans).
        ``position``: where it sits in its source, so a refused fix read again is counted once (an
        accepted one is recognised in the fix log)."""
        self.s = self._txn.view  # (``_atomic`` inline: one is applied per fix)
        self._txn.begin()
        try:
            return self._on_fix(fix, position)
        except BaseException:
            self._rollback()
            raise
        finally:
            self.s = self.stores

    def _on_fix(self, fix: GpsFix, position: str = "") -> Output:
        out = Output()
        t, recv = _ts(fix.device_time), _ts(fix.received_at)
        problem = fix_problem(fix, self.terminal_of, self.area, self.input_rules, t, recv)
        if problem is not None:
            return self._reject("gps.fixes", problem, fix, fix.received_at, fix.vehicle_id, out, position)
        day, quarter = self.clock.day_quarter(t)
        track = self._track(fix.vehicle_id, day)[0]
        site = self.index.locate(fix.lat, fix.lon, self.contractor_of.get(fix.vehicle_id)) if fix.fix_valid else None
        site_id = site.id if site else None
        backfill = fix.source == FixSource.backfill
        vday = self._vday(fix.vehicle_id, day)
        bucket = _bucket_key(vday, quarter)
        # bit 0: ACC on, bit 1: the overspeed alarm, bit 2: ACC known (entries of older state have 6 items)
        flags = int(fix.acc_on) | int(fix.alarm_overspeed) << 1 | 4
        entry = [t, site_id, fix.speed_kmh, backfill, fix.lat, fix.lon, flags, fix.odometer_km]
        logged = self.s.fixlog.get(bucket) or []
        out.day, out.event_time = day, fix.device_time
        latest = track.last_t  # every logged fix of the vehicle-day is in its track: a later one is new
        if (
            latest is not None
            and t <= latest
            and t in map(_FIRST, logged)
            and any(e[0] == t and e[4:6] == entry[4:6] for e in logged)
        ):
            # the same fix again (a replay; a position re-sent as blind-area data because its
            # acknowledgement was lost): nothing changes
            return out
        self.s.fixlog[bucket] = [*logged, entry]
        if vday in self._buckets:
            self._buckets[vday] |= 1 << quarter
        self._ops_dirty.add(vday)
        self._quality_fix(fix, day, t, out, recv)
        out.records.append(self.rec.position(fix.vehicle_id, *entry[:6]))  # the track, for replay on a map
        if track.add(t, site_id, fix.speed_kmh, backfill):  # visits may have changed: folded when read
            self._unfolded[vday] = (fix.vehicle_id, day)
        return out

    def take_visit_sets(self) -> list[VisitSet]:
        """The visit sets changed since the last call, with their current spans."""
        self._fold_all()
        dirty, self._dirty_visits = sorted(self._dirty_visits), set()
        return [
            self._visit_set(vehicle, site, day, self._visits_of(vehicle, day).get(site, []))
            for vehicle, day, site in dirty
        ]

    def _update_visit_map(self, track: Track, vmap: dict[str, list], changed: set[str] | None) -> list[str]:
        """Update site → visit spans for the changed sites (all if None); return the sites updated.
        A visit to a cluster of side-by-side points counts for each of them."""
        spans = track.spans_of(self.kind_of, self.rules, changed)
        updated = []
        for rep in sorted(spans if changed is None else changed):
            for site in self.index.members.get(rep, [rep]):
                if spans.get(rep):
                    vmap[site] = spans[rep]
                else:
                    vmap.pop(site, None)
                updated.append(site)
        return updated

    def _visit_set(self, vehicle: str, site_id: str, day: date, spans: list) -> VisitSet:
        kind = SiteKind(self.kind_of.get(site_id, "point"))
        contractor = self.contractor_of.get(vehicle)
        return VisitSet(
            site_id=site_id,
            site_kind=kind,
            vehicle_id=vehicle,
            local_date=day,
            visits=[
                Visit(
                    vehicle_id=vehicle,
                    site_id=site_id,
                    site_kind=kind,
                    enter_at=_dt(a),
                    exit_at=_dt(b),
                    dwell_s=b - a,
                    local_date=day,
                    contractor_id=contractor,
                    backfill=bf,
                )
                for a, b, bf in spans
            ],
        )

    def _quality_fix(self, fix: GpsFix, day: date, t: float, out: Output, recv: float) -> None:
        if fix.extras_tail:  # additional information that did not parse: the fix is kept, the tail counted
            self._count(day, "fix_extras_malformed", fix.vehicle_id, out)
        if fix.source == FixSource.backfill:
            self._count(day, "backfill_fix", fix.vehicle_id, out)
        elif is_late(fix.device_time, fix.received_at, device_ts=t, received_ts=recv):
            self._count(day, "late_fix", fix.vehicle_id, out)
        last = LastFix.from_state(self.s.last_fix.get(fix.vehicle_id))
        if last is not None and fix.source == FixSource.realtime and t > last.t:
            if speed_jump(last.lat, last.lon, last.t, fix.lat, fix.lon, t):
                self._count(day, "speed_jump", fix.vehicle_id, out)
        self._heard(fix.vehicle_id, fix.received_at, out, recv)
        if last is None:
            self.s.last_fix[fix.vehicle_id] = LastFix(t, fix.lat, fix.lon, recv, not fix.acc_on).to_state()
            return
        if recv > last.received + MAX_SILENCE_S - 1.0:  # (within the limit, with a second to spare: no silence)
            # a silence closed by this fix: counted if it lasted long enough in the shift (and was
            # not counted while it was going on)
            self._count_silence(fix.vehicle_id, last, fix.received_at, out)
        if last.alert_open:
            self._silent_alert(fix.vehicle_id, last, fix.received_at, False, out)
        newest = t > last.t
        if newest or recv > last.received:
            nxt = LastFix(t, fix.lat, fix.lon, recv, not fix.acc_on) if newest else last
            nxt.received = max(recv, last.received)
            nxt.alert_open = False
            nxt.counted = last.counted and nxt.received == last.received
            self.s.last_fix[fix.vehicle_id] = nxt.to_state()

    def _count_silence(self, vehicle: str, last: LastFix, until: datetime, out: Output) -> None:
        """Count the vehicle's silence since its last receive time if, by ``until``, it had lasted the
        limit in its shift (after a fix with the ignition on); once per silence."""
        if last.counted or last.parked:
            return
        at = silence_in_shift(_dt(last.received), until, tz=self.tz)
        if at is not None:
            last.counted = True
            self._count(local_date(at, self.tz), "silent_terminal", vehicle, out)

    def _heard(self, vehicle: str, received_at: datetime, out: Output, recv: float | None = None) -> None:
        """When the vehicle was first heard on the local day of ``received_at``; a dark alert resolves."""
        recv = _ts(received_at) if recv is None else recv
        day = self.clock.day(recv)
        key = self._vday(vehicle, day)
        state = self.s.heard.get(key)
        if state and state[0] is not None and state[0] <= recv and not state[2]:  # heard before, no alert open
            return
        h = Heard.from_state(state)
        if h.first is None or recv < h.first:
            h.first = recv
        if h.dark_alert_open:
            h.dark_alert_open = False
            self._dark_alert(vehicle, day, received_at, False, out)
        self.s.heard[key] = h.to_state()

    def _silent_alert(self, vehicle: str, last: LastFix, at: datetime, raise_: bool, out: Output) -> None:
        """Raise or resolve the terminal_silent alert (``last`` is changed; the caller stores it)."""
        last.alert_open = raise_
        since = _dt(last.received)
        self._vehicle_alert(
            "terminal_silent",
            vehicle,
            local_date(since, self.tz),
            at,
            raise_,
            out,
            f"terminal of {vehicle} silent since {since:%H:%M}Z with the ignition on"
            if raise_
            else f"terminal of {vehicle} reporting again",
        )

    def _dark_alert(
        self, vehicle: str, day: date, at: datetime, raise_: bool, out: Output, last_heard: float | None = None
    ) -> None:
        """Raise or resolve the terminal_dark alert of a vehicle due on a route and not heard from."""
        due = self._due(vehicle, day)
        heard = "never" if last_heard is None else f"{_dt(last_heard):%Y-%m-%d %H:%M}Z"
        self._vehicle_alert(
            "terminal_dark",
            vehicle,
            day,
            at,
            raise_,
            out,
            f"{vehicle} due on its route at {due:%H:%M}Z and not heard from (last heard {heard})"
            if raise_
            else f"{vehicle} reporting",
        )

    def _vehicle_alert(
        self, kind: str, vehicle: str, day: date, at: datetime, raise_: bool, out: Output, message: str
    ) -> None:
        prefix = {"terminal_silent": "silent", "terminal_dark": "dark"}[kind]
        self._alert(kind, prefix, vehicle, self.contractor_of.get(vehicle), "warning", day, at, raise_, message, out)

    def _alert(
        self,
        kind: str,
        prefix: str,
        subject: str,
        contractor: str | None,
        severity: str,
        day: date,
        at: datetime,
        raise_: bool,
        message: str,
        out: Output,
    ) -> None:
        """An alert raised or resolved: on the alerts topic (key ``prefix:subject:day``) and its record."""
        out.alerts.append(
            Alert(
                key=f"{prefix}:{subject}:{day.isoformat()}",
                kind=kind,
                state=AlertState.raised if raise_ else AlertState.resolved,
                severity=severity,  # type: ignore[arg-type]
                local_date=day,
                subject=subject,
                contractor_id=contractor,
                message=message,
                at=at,
            )
        )
        out.records.append(self.rec.alert(kind, subject, contractor, day, 1 if raise_ else 0, message, severity))

    def _due(self, vehicle: str, day: date) -> datetime:
        """When a vehicle due on a route counts as dark if not heard from: its start + the grace
        (kept per start time and day: a fleet has few start times)."""
        start_at = self.due_at[vehicle]
        due = self._due_cache.get((start_at, day))
        if due is None:
            start = datetime.combine(day, start_at, tzinfo=zone(self.tz))
            due = self._due_cache[(start_at, day)] = (start + timedelta(seconds=self.dark_after_s)).astimezone(UTC)
        return due

    def _terminal_checks(
        self, vehicle: str, days: list[date], now: datetime, at: datetime, live: bool, out: Output
    ) -> None:
        """Silences and dark terminals judged at event time ``at`` (the evidence watermark), counted
        whether or not the terminal comes back; alerts (only ``live``) at ``now``. Most vehicles of a
        big fleet have nothing to judge: heard within the silence limit, heard by their due time; that
        is told from the raw states, without building them."""
        raw = self.s.last_fix.get(vehicle)
        t_at, t_now = at.timestamp(), now.timestamp()
        # no silence to count or page before the limit has passed (``silence_in_shift``, ``silent``),
        # nor for a parked truck whose silence alert is not open
        quiet = not raw or ((max(t_at, t_now) - raw[3] < MAX_SILENCE_S or raw[4]) and not raw[5])
        last = None if quiet else LastFix.from_state(raw)
        if last is not None:
            was = last.to_state()
            self._count_silence(vehicle, last, at, out)
            if live and not last.alert_open and not last.parked and silent(_dt(last.received), now, tz=self.tz):
                self._silent_alert(vehicle, last, now, True, out)
            if last.to_state() != was:
                self.s.last_fix[vehicle] = last.to_state()
        if vehicle not in self.due_at:
            return
        for day in days:
            due = self._due(vehicle, day)
            t_due = due.timestamp()
            if t_at < t_due:  # not dark before its due time
                continue
            key = self._vday(vehicle, day)
            raw_h = self.s.heard.get(key)
            if raw_h and raw_h[0] is not None and raw_h[0] <= t_due:  # heard by its due time: never dark
                continue
            h = Heard.from_state(raw_h)
            if h.dark_counted and (h.dark_alert_open or not live):
                continue
            first = None if h.first is None else _dt(h.first)
            if not dark_at(first, due, at):
                continue
            if not h.dark_counted:
                h.dark_counted = True
                self._count(day, "dark_terminal", vehicle, out)
            if live and (first is None or first > at) and not h.dark_alert_open:
                h.dark_alert_open = True
                self._dark_alert(vehicle, day, now, True, out, raw[3] if raw else None)
            if h.to_state() != (raw_h or Heard().to_state()):
                self.s.heard[key] = h.to_state()

    def _route_risk(self, vehicle: str, day: date, now: datetime, out: Output) -> None:
        """Warn of the open stops of the vehicle's routes predicted to be served after their windows
        (:mod:`wastestream.domain.risk`); at most once every ``risk_every_s`` of event time."""
        routes = self.routes_of.get(vehicle)
        if not routes:
            return
        key = self._vday(vehicle, day)
        last = self._risk_checked.get(key)
        if last is not None and last <= now < last + timedelta(seconds=self.risk_every_s):
            return
        self._risk_checked[key] = now
        vmap = self._visits_of(vehicle, day)  # site → the vehicle's visit spans there today
        served = set(vmap)
        capacity = self.vehicles[vehicle].rated_load_kg
        lf = LastFix.from_state(self.s.last_fix.get(vehicle))
        position = (lf.lat, lf.lon) if lf is not None and local_date(_dt(lf.t), self.tz) == day else None
        predictions = []
        for r in routes:
            depot = self.stations[r.station_id].geofence
            start = at_local(day, r.start or SHIFT_START, self.tz)
            stops = self._planned(r, day)
            unloaded = max((span[1] for span in vmap.get(r.station_id, [])), default=None)
            load = sum(  # picked up since it last stood at its station
                s.expected_kg
                for s in stops
                if s.point_id in vmap and (unloaded is None or vmap[s.point_id][0][0] > unloaded)
            )
            seen = {pid: (_dt(spans[0][0]), _dt(spans[0][1])) for pid, spans in vmap.items() if spans}
            pace = self._pace(r.id, day, leg_ratios(stops, seen, self.risk_rule))
            predictions += predict(
                stops, served, now, start, (depot.lat, depot.lon), position, self.risk_rule, capacity, load, pace
            )
        state = dict(self.s.risk.get(key) or {})
        up, down = transitions([p for p, (active, _) in state.items() if active], predictions)
        reasons = {p.point_id: p.reason for p in predictions}
        for pid in up:
            self._risk_alert(pid, day, now, True, reasons[pid], state, out)
        for pid in down:
            p = self.points[pid]
            why = (
                "served"
                if pid in served
                else "deadline passed"
                if now >= window(p, day, self.tz)[2]
                else "back on schedule"
            )
            self._risk_alert(pid, day, now, False, why, state, out)
        if up or down:
            self.s.risk[key] = state

    def _operations(self, vehicle: str, day: date, key: str, now: datetime, at: datetime, out: Output) -> None:
        """Judge the vehicle-day (``key``: ``vehicle|day``)'s summary, violations and trips
        (:mod:`wastestream.domain.operations`) at event time ``at``. :meth:`evaluate_in_parts` calls it
        once for each vehicle-day not judged yet, and again when its fixes or deliveries changed — at
        most once every ``ops_every_s`` while the clock moves, at once when it stands still — or when an
        open trip's grace has passed. While the worker catches up (not live), a changed vehicle-day
        waits for the clock to stand still: judging every vehicle each few minutes of a replayed day
        cost a worker a fifth of its rate. Writes what changed since the last judgement (a violation no
        longer found is written inactive)."""
        self._ops_dirty.discard(key)
        fixes = []
        for e in self._logged(key):
            flags = e[6] if len(e) > 6 else 0
            fixes.append(
                Fix(e[0], e[4], e[5], e[2], e[1], bool(flags & 1) if flags & 4 else None, bool(flags & 2),
                    e[7] if len(e) > 7 else None)
            )  # fmt: skip
        held = self.s.deliveries.get(key) or {}
        stored = self.s.vehicle_days.get(key)
        if not fixes and not held and stored is None:
            self._ops_checked[key] = (now, None)
            return
        vmap = self._visits_of(vehicle, day)
        loads = [Load(st, sk.split("|", 1)[1], a, b, kg) for sk, (st, a, b, kg) in sorted(held.items())]
        v = self.vehicles[vehicle]
        res = analyse_day(
            fixes,
            {site: [(a, b) for a, b, *_ in spans] for site, spans in vmap.items()},
            loads,
            self._vehicle_context(v, day),
            self.ops_rules,
            at.timestamp(),
        )
        self._ops_checked[key] = (now, res.recheck_at)
        sm = res.summary
        summary = [  # in VEHICLE_DAY_FIELDS' order (a list: 50,000 vehicle-days of dicts weigh)
            sm.km_track,
            sm.km_odometer,
            sm.engine_h,
            sm.trips,
            sum(1 for t in res.trips if t.outcome == "short"),
            sum(1 for t in res.trips if t.outcome == "undelivered"),
            sm.stops,
            sm.collections,
            sm.delivered_kg,
            None if sm.t_per_km is None else round(sm.t_per_km, 4),
        ]
        before = stored or {"s": None, "v": {}}
        found = {x.key: [1, x.kind, x.start, x.end, x.lat, x.lon, x.value, x.detail] for x in res.violations}
        rows = dict(before["v"])
        for k, row in before["v"].items():
            if k not in found and row[0]:
                rows[k] = [0, *row[1:]]
        rows.update(found)
        if summary != before["s"]:
            out.records.append(self.rec.vehicle_day(vehicle, day, dict(zip(VEHICLE_DAY_FIELDS, summary, strict=True))))
        for k, row in rows.items():
            was = before["v"].get(k)
            if was != row:
                out.records.append(self.rec.violation(vehicle, row))
            if row[1] in PAGED_VIOLATIONS and bool(row[0]) != bool(was and was[0]):
                self._alert(
                    row[1], f"load:{row[2]:.0f}", vehicle, self.contractor_of.get(vehicle), "warning", day, now,
                    bool(row[0]), self._violation_message(vehicle, row), out,
                )  # fmt: skip
        if summary != before["s"] or rows != before["v"]:
            self.s.vehicle_days[key] = {"s": summary, "v": rows}

    def _violation_message(self, vehicle: str, row: list) -> str:
        active, kind, start, _end, lat, lon, _value, detail = row
        at = _dt(start).astimezone(zone(self.tz))
        where = f" at {lat:.5f},{lon:.5f}" if lat == lat else ""  # (NaN: no place)
        if not active:
            return f"{vehicle}: the {kind} of {at:%H:%M} is no longer shown by the evidence"
        return f"{vehicle}: {kind}{where} {at:%H:%M}: {detail}"

    def _vehicle_context(self, v, day: date) -> VehicleContext:  # noqa: ANN001
        routes = self.routes_of.get(v.id, [])
        shifts = tuple(
            (at_local(day, r.start or SHIFT_START, self.tz).timestamp(), at_local(day, r.end, self.tz).timestamp())
            for r in routes
            if r.end is not None
        )
        return VehicleContext(
            kind=v.kind,
            stations=self.station_ids,
            designated=frozenset(r.station_id for r in routes),
            expected_kg=self.expected_kg,
            shifts=shifts,
            corridors=self.corridors.get(v.id, ()),
            station_pos=self.station_pos,
            day_end=day_start(day + timedelta(days=1), self.tz).timestamp(),
        )

    def _pace(self, route_id: str, day: date, ratios: list[float]) -> float:
        """Today's legs weighed against the route's past days (``risk[pace|route]``: [day, that day's
        median leg ratio, the past's average])."""
        key = f"pace|{route_id}"
        d_iso = day.isoformat()
        held = self.s.risk.get(key)
        last_day, last, past = held if held is not None else (None, None, None)
        if last_day is not None and last_day < d_iso:  # a new day: the last one joins the past
            if last is not None:
                past = last if past is None else round(0.7 * past + 0.3 * last, 4)
            last_day, last = d_iso, None
        today = round(median(ratios), 4) if ratios else None
        if today is not None:
            last_day, last = d_iso, today
        if [last_day, last, past] != (list(held) if held is not None else None):
            self.s.risk[key] = [last_day, last, past]
        return learned_pace(ratios, past)

    def _planned(self, route, day: date) -> list[PlannedStop]:  # noqa: ANN001
        key = (route.id, day)
        if key not in self._planned_stops:
            stops = []
            for pid in route.stops:
                p = self.points[pid]
                if not is_due(p, day, self.holidays):
                    continue  # not served today: nothing to warn of
                begin, end, deadline = window(p, day, self.tz)
                stops.append(PlannedStop(pid, p.geofence.lat, p.geofence.lon, end, deadline, p.expected_kg, begin))
            self._planned_stops[key] = stops
        return self._planned_stops[key]

    def _risk_alert(
        self, pid: str, day: date, now: datetime, raise_: bool, reason: str, state: dict, out: Output
    ) -> None:
        p = self.points[pid]
        message = f"{p.name} ({pid}) at risk: {reason}" if raise_ else f"{p.name} ({pid}) no longer at risk: {reason}"
        state[pid] = [1 if raise_ else 0, message]
        self._alert("at_risk", "risk", pid, p.contractor_id, missed_severity(p), day, now, raise_, message, out)

    def _count(self, day: date, kind: str, detail: str, out: Output, n: int = 1) -> None:
        key = f"{day.isoformat()}|{kind}|{detail}"
        value = self.s.quality.get(key, 0) + n
        self.s.quality[key] = value
        out.records.append(self.rec.data_quality(day, kind, detail, value))

    # -- visits ---------------------------------------------------------------------------------
    def on_visit_set(self, vs: VisitSet) -> Output:
        """Replace a vehicle's visits at a site on a day (a refused one is counted on that day)."""
        with self._atomic():
            return self._on_visit_set(vs)

    def _on_visit_set(self, vs: VisitSet) -> Output:
        problem = visit_set_problem(vs, self.kind_of, self.points, self.vehicles)
        if problem is not None:
            return self._reject("visits", problem, vs, day_start(vs.local_date, self.tz), vs.site_id, Output())
        key = f"{vs.site_id}|{vs.local_date.isoformat()}"
        store = self.s.evidence if vs.site_kind == SiteKind.point else self.s.station_visits
        current = dict(store.get(key) or {})
        spans = [[_ts(v.enter_at), _ts(v.exit_at)] for v in vs.visits]
        if spans:
            current[vs.vehicle_id] = spans
        else:
            current.pop(vs.vehicle_id, None)
        store[key] = current
        if vs.site_kind == SiteKind.point:
            self._dirty_points.add((vs.site_id, vs.local_date))
        out = Output()
        out.records.extend(self.rec.visit(v) for v in vs.visits)
        return out

    # -- deliveries -----------------------------------------------------------------------------
    def on_delivery(self, d: Delivery) -> Output:
        """Note an inbound ticket of one of this owner's vehicles (from its station's owner)."""
        with self._atomic():
            return self._on_delivery(d)

    def _on_delivery(self, d: Delivery) -> Output:
        out = Output()
        for name, value, known in (
            ("vehicle_id", d.vehicle_id, self.vehicles),
            ("station_id", d.station_id, self.stations),
        ):
            if value not in known:
                problem = Problem("delivery_unknown_id", name, f"{value!r} is not in the reference data")
                return self._reject("deliveries", problem, d, d.weigh_out_at, d.vehicle_id, out)
        key = self._vday(d.vehicle_id, d.local_date)
        held = dict(self.s.deliveries.get(key) or {})
        entry = [d.station_id, _ts(d.weigh_in_at), _ts(d.weigh_out_at), d.net_kg]
        sk = f"{d.station_id}|{d.serial}"
        if held.get(sk) != entry:
            held[sk] = entry
            self.s.deliveries[key] = held
            self._ops_dirty.add(key)
        return out

    def all_deliveries(self) -> list[Delivery]:
        """Every delivery the stations' inbound tickets make (sent again after a rebalance)."""
        out = []
        for k, checks in sorted(self.s.ticket_checks.items()):
            station, d = k.split("|")
            for serial, vehicle, t_in, t_out, *rest in checks or ():
                if rest:
                    out.append(self._delivery(station, serial, vehicle, date.fromisoformat(d), t_in, t_out, rest[0]))
        return out

    def _delivery(self, station: str, serial: str, vehicle: str, day: date, t_in: float, t_out: float, net: float):  # noqa: ANN202
        return Delivery(
            vehicle_id=vehicle,
            station_id=station,
            serial=serial,
            local_date=day,
            weigh_in_at=_dt(t_in),
            weigh_out_at=_dt(t_out),
            net_kg=net,
        )

    # -- clearance ------------------------------------------------------------------------------
    def evaluate(self, now: datetime, days: list[date], **options: Any) -> Output:
        """Decide every point's status for ``days`` at event time ``now``; emit what changed. Also the
        ticket ↔ station-dwell cross-checks of those days and, when ``live`` (the clock is current,
        not a replay catching up), terminals silent in their shift. ``owns(key)`` says which points,
        stations and vehicles are this caller's (one writer per key). A point is decided again only
        when its evidence changed or its deadline passed since the last call with the same ``scope``
        (the first call decides them all): a status changes at no other time.

        ``points_at``: the event time at which the points' deadlines and the tickets' grace periods are
        judged, if not ``now`` (a worker reading a backlog: see :mod:`wastestream.domain.watermark`);
        ``decide_points=False``: neither is judged this time. ``options``: :meth:`evaluate_in_parts`'s."""
        out = Output()
        for part in self.evaluate_in_parts(now, days, **options):
            out.extend(part)
        return out

    def evaluate_in_parts(
        self,
        now: datetime,
        days: list[date],
        owns: Callable[[str], bool] = lambda key: True,
        live: bool = False,
        scope: object = None,
        part_size: int = 2000,
        points_at: datetime | None = None,
        decide_points: bool = True,
        vehicles: Iterable[str] | None = None,
    ) -> Iterator[Output]:
        """:meth:`evaluate` as a series of outputs of at most ``part_size`` decided points each, so that
        a worker deciding 100,000 points does not hold 100,000 status objects at once. The caller may
        publish each part before asking for the next."""
        out = Output()
        at = now if points_at is None else points_at
        for day in days if decide_points else ():  # tickets wait for GPS evidence too: judged at ``at``
            for st in self.city.stations:
                if owns(st.id):
                    self._check_tickets(st.id, day, at, out)
        n = 0
        prev = self._ops_clock.get(scope)  # the clock at this scope's previous evaluation
        if prev is None or now > prev:
            self._ops_clock[scope] = now
        still = prev is not None and now <= prev
        # ``vehicles``: the ones ``owns`` holds, when the caller knows them (a worker's partition: not
        # 50,000 ids tested per tick)
        ids = (v.id for v in self.city.vehicles if owns(v.id)) if vehicles is None else vehicles
        t_at = at.timestamp()
        day_isos = [(day, day.isoformat()) for day in days]
        ops_dirty, ops_due_before = self._ops_dirty, now - timedelta(seconds=self.ops_every_s)
        for vid in ids if decide_points else ():  # silences and dark terminals: judged at ``at``
            # at most every ``terminal_every_s`` of the clock (a 30-minute silence needs no check a
            # second), and always once the clock stands still (the final state is recompute's)
            last_checked = self._terminals_checked.get(vid)
            if still or last_checked is None or t_at >= last_checked + self.terminal_every_s:
                self._terminals_checked[vid] = t_at
                self._terminal_checks(vid, days, now, at, live, out)
            for day, d_iso in day_isos:
                key = f"{vid}|{d_iso}"
                checked = self._ops_checked.get(key)
                # judged before: again once its fixes or deliveries changed and it is due (live: after
                # ops_every_s; catching up: once the clock stands still), or once its recheck time came
                if checked is not None and not (
                    (key in ops_dirty and (still or (live and checked[0] <= ops_due_before)))
                    or (checked[1] is not None and t_at >= checked[1])
                ):
                    continue
                self._operations(vid, day, key, now, at, out)
            if live:  # an early warning is for now: a replay or a recompute warns nobody
                for day in days:
                    self._route_risk(vid, day, now, out)
            n += 1
            if n % part_size == 0:  # 50,000 vehicles' day summaries are not held at once
                yield out
                out = Output()
        yield out
        if not decide_points:
            return
        for day in days:
            d_iso = day.isoformat()
            points = self._to_decide(day, at, owns, scope)
            for i in range(0, len(points), part_size):
                out = Output()
                for p in points[i : i + part_size]:
                    self._decide(p, day, d_iso, at, out)
                yield out

    def _decide(self, p, day: date, d_iso: str, now: datetime, out: Output) -> None:  # noqa: ANN001
        """Decide one point-day; record the status (and alert) if it changed."""
        key = f"{p.id}|{d_iso}"
        ev = self.s.evidence.get(key) or {}
        visits = [(_dt(a), _dt(b), veh) for veh, spans in sorted(ev.items()) for a, b in spans]
        dec = decide(p, day, visits, now, self.tz)
        was = StatusSnapshot.from_state(self.s.statuses.get(key))
        prev = Clearance(was.status) if was else None
        if prev == Clearance.missed and dec.status == Clearance.pending:
            return  # decided at an earlier clock than before (a new owner, a replay): a passed deadline stays passed
        snap = StatusSnapshot(dec.status.value, dec.visit_at.isoformat() if dec.visit_at else None, dec.vehicle_id)
        if was is not None and was.decision() == snap.decision():
            return
        if was is not None:  # the last alert written for the point-day is kept with its status
            snap.alert_active, snap.alert_message = was.alert_active, was.alert_message
        st = ClearanceStatus(
            point_id=p.id,
            local_date=day,
            status=dec.status,
            contractor_id=p.contractor_id,
            waste_stream=p.waste_stream.value,
            visit_at=dec.visit_at,
            vehicle_id=dec.vehicle_id,
            evidence=f"{len(visits)} visit(s)",
        )
        out.statuses.append(st)
        out.records.append(self.rec.clearance(st))
        transition = alert_transition(prev, dec.status)
        if transition:
            raise_ = transition == "raise"
            message = (
                f"{p.name} ({p.id}) not cleared by {(dec.deadline or window(p, day, self.tz)[2]).astimezone(zone(self.tz)):%H:%M}"
                if raise_
                else f"{p.name} ({p.id}) cleared at {dec.visit_at:%H:%M}Z ({dec.status.value})"
            )
            snap.alert_active, snap.alert_message = (1 if raise_ else 0), message
            self._alert(
                "missed_clearance", "missed", p.id, p.contractor_id, missed_severity(p), day, now, raise_, message, out
            )
        self.s.statuses[key] = snap.to_state()

    def _to_decide(self, day: date, now: datetime, owns, scope: object) -> list:  # noqa: ANN001
        last = self._evaluated.get((scope, day))
        self._evaluated[(scope, day)] = now if last is None or now > last else last
        if last is None or now < last:
            return [p for p in self.city.collection_points if owns(p.id) and is_due(p, day, self.holidays)]
        ts, ids = self._deadlines(day)
        due = set(ids[bisect_right(ts, last.timestamp()) : bisect_right(ts, now.timestamp())])
        for key in [k for k in self._dirty_points if k[1] == day and owns(k[0])]:
            self._dirty_points.discard(key)
            due.add(key[0])
        return [self.points[pid] for pid in sorted(due) if owns(pid) and is_due(self.points[pid], day, self.holidays)]

    def _deadlines(self, day: date) -> tuple[list[float], list[str]]:
        """The points of ``day`` by deadline (when a point with no visit turns from pending to missed)."""
        got = self._deadline_index.get(day)
        if got is None:
            pairs = sorted(
                (w[2].timestamp(), p.id)
                for p in self.city.collection_points
                if is_due(p, day, self.holidays)
                for w in all_windows(p, day, self.tz)
            )
            got = self._deadline_index[day] = ([t for t, _ in pairs], [pid for _, pid in pairs])
            for old in [d for d in self._deadline_index if d < day - timedelta(days=3)]:
                del self._deadline_index[old]
        return got

    def _check_tickets(self, station_id: str, day: date, now: datetime, out: Output) -> None:
        """How many of the station-day's inbound tickets have no GPS dwell of their vehicle at the
        station around the weigh times — decided once ``TICKET_GRACE_S`` of event time has passed
        (the GPS may still be coming in), and counted again whenever asked, so late evidence clears it."""
        checks = self.s.ticket_checks.get(f"{station_id}|{day.isoformat()}")
        if not checks:
            return
        visits: dict[str, list] = {}
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            for vehicle, spans in (self.s.station_visits.get(f"{station_id}|{d.isoformat()}") or {}).items():
                visits.setdefault(vehicle, []).extend((_dt(a), _dt(b)) for a, b in spans)
        n = sum(
            1
            for _serial, vehicle, t_in, t_out, *_ in checks
            if now.timestamp() >= t_out + TICKET_GRACE_S
            and not has_station_dwell(_dt(t_in), _dt(t_out), visits.get(vehicle, []))
        )
        key = f"{day.isoformat()}|ticket_no_station_dwell|{station_id}"
        if (self.s.quality.get(key) or 0) != n:
            self.s.quality[key] = n
            out.records.append(self.rec.data_quality(day, "ticket_no_station_dwell", station_id, n))

    # -- tickets --------------------------------------------------------------------------------
    def on_ticket(self, t: WeighTicket, position: str = "") -> Output:
        """``position``: where the ticket sits in its source (topic/partition/offset, or file/line), so
        reading the same record again after a crash is not mistaken for a duplicate ticket."""
        with self._atomic():
            return self._on_ticket(t, position)

    def _on_ticket(self, t: WeighTicket, position: str) -> Output:
        out = Output()
        problems = ticket_problems(t, self.stations, self.input_rules)
        if problems:
            first = problems[0]
            if len(problems) > 1:
                first = Problem(first.kind, first.field, "; ".join(str(p) for p in problems))
            return self._reject("weigh.tickets", first, t, t.received_at or t.weigh_in_at, t.station_id, out, position)
        out.day = local_date(t.weigh_in_at, self.tz)
        # a ticket moves clocks only when its weigh times could be checked against its receive time
        out.event_time = t.weigh_out_at if t.received_at is not None else None
        seen_key = f"{t.station_id}|{t.serial}"
        seen = SeenTicket.from_state(self.s.tickets_seen.get(seen_key))
        digest = f"{t.direction.value}|{t.net_kg:.3f}|{t.weigh_in_at.timestamp():.0f}"
        k = tonnage_key(t, self.contractor_of, self.tz)
        if seen is not None:
            if position and seen.position == position:
                # the same record read again (a restart): not a duplicate. Its effects went to other
                # tables than its mark, and a worker killed in a commit point may have had only some
                # of their changelog messages delivered: what is missing is counted now, nothing twice
                self._count_ticket(t, k, out, again=True)
                return out
            if seen.digest is not None and seen.digest != digest:  # the serial again, with other weights or times
                problem = Problem(
                    "ticket_serial_conflict",
                    "serial",
                    f"{t.station_id} ticket {t.serial} was first counted with other weights or times",
                )
                return self._reject(
                    "weigh.tickets", problem, t, t.received_at or t.weigh_in_at, t.station_id, out, position
                )
            if position:  # a copy counted once however often it is read (a restart reads it again)
                mark = f"seen|duplicate|{position}"
                if self.s.quality.get(mark):
                    return out
                self.s.quality[mark] = 1
            self._count(local_date(t.weigh_in_at, self.tz), "duplicate_ticket", t.station_id, out)
            return out
        self.s.tickets_seen[seen_key] = SeenTicket(k.as_str(), position, digest).to_state()
        self._count_ticket(t, k, out, again=False)
        return out

    def _count_ticket(self, t: WeighTicket, k: TonnageKey, out: Output, again: bool) -> None:
        """Add a ticket to its tonnage key and its station-day, count its flags and queue its GPS
        cross-check — each only where this serial is not counted yet (so it is idempotent per table,
        whichever of them a crash left without it). ``again``: the first copy read again; a state
        too old to say which serials it holds then counts as holding it, and no figure is written
        unless something was missing."""
        tk, day, station = k.as_str(), k.day, t.station_id
        tally = Tally.from_state(self.s.tonnage.get(tk))
        counted = tally.counted(t.serial)
        legacy = counted is None
        tonnage_missing = _not_counted(counted, again)
        if tonnage_missing:
            tally.add(t.serial, t.net_kg)
            self.s.tonnage[tk] = tally.to_state()
        if tonnage_missing or not again:
            out.records.append(self.rec.tonnage(k, tally.net_kg, tally.tickets))
        vehicle = self.vehicles.get(t.vehicle_id or "")
        flags = ticket_flags(t, vehicle)
        if flags:
            mark = f"seen|ticket|{station}|{t.serial}"  # its flags are counted (in the same store as the counts)
            if not self.s.quality.get(mark) and not (legacy and again):
                self.s.quality[mark] = 1
                for flag in flags:
                    self._count(day, f"ticket_{flag}", station, out)
        if vehicle is not None and vehicle.kind != "transfer" and t.direction == Direction.inbound:
            ck = f"{station}|{day.isoformat()}"  # checked against the GPS once it has had time to come in
            checks = self.s.ticket_checks.get(ck) or []
            if not any(c[0] == t.serial for c in checks):
                self.s.ticket_checks[ck] = [
                    *checks,
                    [t.serial, vehicle.id, _ts(t.weigh_in_at), _ts(t.weigh_out_at), t.net_kg],
                ]
                out.deliveries.append(
                    self._delivery(
                        station, t.serial, vehicle.id, day, _ts(t.weigh_in_at), _ts(t.weigh_out_at), t.net_kg
                    )
                )
        sd_key = f"{station}|{day.isoformat()}"
        sd = StationDay.from_state(self.s.station_days.get(sd_key)) or StationDay()
        balance_missing = _not_counted(sd.counted(t.serial), again)
        if balance_missing:
            sd.add(t.serial, t.net_kg, t.direction == Direction.inbound)
            self.s.station_days[sd_key] = sd.to_state()
        if balance_missing or not again:
            out.records.extend(self.balance_records(station, day))

    def balance_records(self, station_id: str, day: date) -> list[Record]:
        """This day's balance and the following days' (their carried-in backlog depends on it)."""
        recs = []
        d = day
        while True:
            sd = self.s.station_days.get(f"{station_id}|{d.isoformat()}")
            if sd is None and d != day:
                break
            recs.append(self.rec.station_balance(station_id, d, self._balance(station_id, d)))
            d = d + timedelta(days=1)
        return recs

    def _balance(self, station_id: str, day: date):  # noqa: ANN202
        carried = 0.0
        prev = self.s.station_days.get(f"{station_id}|{(day - timedelta(days=1)).isoformat()}")
        if prev is not None:
            carried = self._balance(station_id, day - timedelta(days=1)).backlog_kg
        sd = StationDay.from_state(self.s.station_days.get(f"{station_id}|{day.isoformat()}")) or StationDay()
        return balance(
            self.stations[station_id], day, sd.received_kg, sd.transferred_kg, carried, self.station_tolerance_kg
        )

    # -- dead letters ---------------------------------------------------------------------------
    def on_dead_letter(self, dl: DeadLetter, position: str = "") -> Output:
        """Count a dead letter (once per rejected record: ``position`` is where the dead letter sits,
        or its ``detail['at']``, where the record it refuses sat); note unregistered terminals."""
        with self._atomic():
            return self._on_dead_letter(dl, position)

    def _on_dead_letter(self, dl: DeadLetter, position: str) -> Output:
        out = Output()
        position = dl.detail.get("at") or position
        if position:  # counted once per record, however often it is read
            seen_key = f"seen|{position}"
            if self.s.quality.get(seen_key):
                return out
            self.s.quality[seen_key] = 1
        day = local_date(dl.received_at, self.tz)
        counted_as = dl.detail.get("kind")
        if counted_as is None:  # the core's own rejections are counted under their kind already
            self._count(day, "dead_letter", f"{dl.source}:{dl.reason}", out)
        if dl.terminal_id and (dl.reason == "unknown terminal" or counted_as == "fix_unknown_vehicle"):
            self._unknown_terminal(day, dl, out)
        return out

    def _unknown_terminal(self, day: date, dl: DeadLetter, out: Output) -> None:
        """An unregistered terminal: first and last seen that day and how often (per source)."""
        assert dl.terminal_id is not None
        key = f"{day.isoformat()}|{dl.source}|{dl.terminal_id}"
        t = _ts(dl.received_at)
        u = UnknownTerminal.from_state(self.s.unknown_terminals.get(key)) or UnknownTerminal(t, t, 0)
        u = UnknownTerminal(min(u.first, t), max(u.last, t), u.count + 1)
        self.s.unknown_terminals[key] = u.to_state()
        out.records.append(self.rec.unknown_terminal(day, dl.source, dl.terminal_id, u.first, u.last, u.count))

    # -- re-emit -------------------------------------------------------------------------------
    def figures(self) -> Iterator[list[Record]]:
        """Every figure the stores hold, rebuilt (after a start or a rebalance, or a crash between an
        offset commit and a flush): tonnage, station balances, statuses with their missed-clearance
        alerts, data quality, unregistered terminals, and the positions of the fix log. In parts (one
        per stored key), so a caller may hand each on before the next is built."""
        s = self.s
        for k, raw in list(s.tonnage.items()):
            if raw:
                tally = Tally.from_state(raw)
                yield [self.rec.tonnage(TonnageKey.from_str(k), tally.net_kg, tally.tickets)]
        for k in list(s.station_days.keys()):
            station, d = k.split("|")
            yield self.balance_records(station, date.fromisoformat(d))
        for k, raw in list(s.statuses.items()):
            snap = StatusSnapshot.from_state(raw)
            if snap is None:
                continue
            point, d = k.split("|")
            p, day = self.points[point], date.fromisoformat(d)
            st = ClearanceStatus(
                point_id=point,
                local_date=day,
                status=snap.status,
                contractor_id=p.contractor_id,
                waste_stream=p.waste_stream.value,
                vehicle_id=snap.vehicle,
                visit_at=datetime.fromisoformat(snap.visit_at) if snap.visit_at else None,
            )
            recs = [self.rec.clearance(st)]
            if snap.alert_active is not None:
                recs.append(
                    self.rec.alert(
                        "missed_clearance",
                        point,
                        p.contractor_id,
                        day,
                        snap.alert_active,
                        snap.alert_message or "",
                        missed_severity(p),
                    )
                )
            yield recs
        for key, warnings in list(s.risk.items()):
            if key.startswith("pace|"):
                continue
            day = date.fromisoformat(key.split("|")[1])
            yield [
                self.rec.alert(
                    "at_risk",
                    pid,
                    self.points[pid].contractor_id,
                    day,
                    active,
                    message,
                    missed_severity(self.points[pid]),
                )
                for pid, (active, message) in sorted(warnings.items())
            ]
        for k, vd in list(s.vehicle_days.items()):
            if vd:
                vehicle, d = k.split("|")
                day = date.fromisoformat(d)
                contractor = self.contractor_of.get(vehicle)
                yield [
                    self.rec.vehicle_day(vehicle, day, dict(zip(VEHICLE_DAY_FIELDS, vd["s"], strict=True))),
                    *(self.rec.violation(vehicle, row) for _, row in sorted(vd["v"].items())),
                    *(
                        self.rec.alert(row[1], vehicle, contractor, day, row[0], self._violation_message(vehicle, row))
                        for _, row in sorted(vd["v"].items())
                        if row[1] in PAGED_VIOLATIONS
                    ),
                ]
        for k, count in list(s.quality.items()):
            if count and not k.startswith("seen|"):
                d, kind, detail = k.split("|", 2)
                yield [self.rec.data_quality(date.fromisoformat(d), kind, detail, count)]
        for k, raw in list(s.unknown_terminals.items()):
            u = UnknownTerminal.from_state(raw)
            if u is not None:
                d, source, terminal = k.split("|", 2)
                yield [self.rec.unknown_terminal(date.fromisoformat(d), source, terminal, u.first, u.last, u.count)]
        for k, entries in list(s.fixlog.items()):
            vehicle = k.split("|")[0]
            yield [self.rec.position(vehicle, *e[:6]) for e in entries or ()]

    def days_held(self) -> set[date]:
        """The local days the stores hold statuses, station days or fixes for."""
        keys = [*self.s.statuses.keys(), *self.s.station_days.keys(), *self.s.fixlog.keys(), *self.s.deliveries.keys()]
        return {date.fromisoformat(k.split("|")[1]) for k in keys}

    def all_visit_sets(self) -> list[VisitSet]:
        """The current visit sets of every vehicle-day in the fix log (downstream, a visit set replaces
        the previous one: sending them again is harmless)."""
        visit_sets: list[VisitSet] = []
        vehicle_days = {tuple(k.split("|")[:2]) for k in list(self.s.fixlog.keys())}
        for vehicle, d in sorted(vehicle_days):
            day = date.fromisoformat(d)
            vmap = self._visits_of(vehicle, day)
            visit_sets += [self._visit_set(vehicle, site, day, spans) for site, spans in sorted(vmap.items())]
        return visit_sets

    def dead_letter(self, rej: Rejection, raw: bytes | None, at: str, source: str = "worker") -> DeadLetter:
        """The dead letter of a refused input: its raw bytes (or its JSON), the reason, where it sat."""
        v = rej.value
        body = raw if raw is not None else v.to_json_bytes()
        terminal = getattr(v, "terminal_id", None)
        return DeadLetter(
            source=source,
            reason=f"{rej.problem.kind}: {rej.problem}",
            raw_hex=body.hex(),
            received_at=rej.received_at,
            terminal_id=terminal,
            detail={"kind": rej.problem.kind, "field": rej.problem.field, "topic": rej.topic, "at": at},
        )
