"""Reference data: the city's contractors, vehicles, collection points, transfer stations, routes.

A city loads from one YAML or JSON file (``load_city``); a bad entry is reported by its position
and id, e.g. ``collection_points[12] (id 'CP-0013'): service_end: ...``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from wastestream.schemas.events import WasteStream


class Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Geofence(Ref):
    """A circle around a WGS-84 point (a polygon, when given, takes precedence)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=5000)
    polygon: list[tuple[float, float]] | None = Field(None, description="[(lon, lat), ...] WGS-84, closed or not")

    @model_validator(mode="after")
    def _polygon_size(self) -> Self:
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError("polygon needs at least 3 vertices")
        return self


class Contractor(Ref):
    id: str
    name: str
    bucket: str | None = Field(None, description="the contractor's own InfluxDB bucket (default: contractor-<id>)")

    @property
    def bucket_name(self) -> str:
        return self.bucket or f"contractor-{self.id.lower()}"


class Vehicle(Ref):
    id: str
    plate: str
    contractor_id: str
    terminal_id: str = Field(pattern=r"^\d{1,20}$", description="JT/T 808 terminal phone number")
    kind: str = Field("collection", pattern="^(collection|transfer)$")
    waste_stream: WasteStream = WasteStream.other
    rated_load_kg: float = Field(gt=0)
    stored_tare_kg: float = Field(gt=0)


class ServiceWindow(Ref):
    """One more service of a point on its days (a point collected twice a day has one of these)."""

    service_start: time
    service_end: time
    deadline: time

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        if not (self.service_start < self.service_end <= self.deadline):
            raise ValueError("need service_start < service_end <= deadline")
        return self


class ServiceCalendar(Ref):
    """On which local days a point is due (none: every day, the 日产日清 default). The conditions
    combine: a day is due when it passes every one given. See ``wastestream.domain.calendar``."""

    weekdays: list[int] | None = Field(None, description="ISO weekdays served, 1 = Monday … 7 = Sunday")
    every_n_days: int | None = Field(None, ge=2, le=31, description="served every n-th day counted from anchor")
    anchor: date | None = Field(None, description="a day the every-n-days cycle serves")
    workdays_only: bool = Field(False, description="only on the city's working days (holidays off, 调休 days on)")
    holidays_off: bool = Field(True, description="a city holiday cancels the service (weekday / n-day calendars)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.weekdays is not None:
            if not self.weekdays or any(not 1 <= d <= 7 for d in self.weekdays):
                raise ValueError("weekdays: ISO weekdays 1 (Monday) to 7 (Sunday), at least one")
        if (self.every_n_days is None) != (self.anchor is None):
            raise ValueError("every_n_days and anchor go together")
        return self


class CollectionPoint(Ref):
    """A place waste is produced and must be cleared on each of its service days (日产日清: every
    local day unless a ``calendar`` says otherwise)."""

    id: str
    name: str
    contractor_id: str
    waste_stream: WasteStream = WasteStream.other
    geofence: Geofence
    service_start: time = Field(description="local (Asia/Shanghai) time the service window opens")
    service_end: time = Field(description="cleared in [start, end] counts as on time")
    deadline: time = Field(description="after service_end and before this: late; none by then: missed")
    timed_stop: bool = Field(False, description="a 'bus-stop style' timed stop (车到桶出)")
    route_id: str | None = None
    expected_kg: float = Field(0, ge=0, description="typical daily production, for planning and simulation")
    calendar: ServiceCalendar | None = Field(None, description="the days it is due (none: every day)")
    extra_windows: list[ServiceWindow] = Field(
        default_factory=list, description="further services on the same day (twice a day: one entry)"
    )

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        if not (self.service_start < self.service_end <= self.deadline):
            raise ValueError("need service_start < service_end <= deadline")
        last = self.deadline
        for w in self.extra_windows:
            if w.service_start <= last:
                raise ValueError("extra_windows: each window opens after the previous one's deadline")
            last = w.deadline
        return self


class TransferStation(Ref):
    id: str
    name: str
    geofence: Geofence
    capacity_kg_per_day: float = Field(gt=0)
    destination: str = Field("incineration", pattern="^(incineration|landfill)$")


class Route(Ref):
    id: str
    contractor_id: str
    vehicle_id: str
    station_id: str = Field(description="where the truck unloads")
    stops: list[str] = Field(description="collection point ids in driving order")
    start: time | None = Field(None, description="planned departure from the station (local time)")
    end: time | None = Field(None, description="the shift's end: the latest planned return (local time)")
    path: list[tuple[float, float]] | None = Field(
        None, description="the planned driving line [(lon, lat), ...] WGS-84: the corridor it must keep to"
    )
    corridor_m: float = Field(300, gt=0, le=5000, description="how far from the path a truck may be")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.path is not None and len(self.path) < 2:
            raise ValueError("path needs at least 2 vertices")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("need start < end")
        return self


class CalendarDay(Ref):
    """A day off the usual week: a public holiday, or a weekend day worked instead (调休)."""

    date: date
    working: bool = Field(False, description="true: a weekend day worked (调休上班); false: a holiday")
    name: str = ""


class OperationRules(Ref):
    """How the fixes are judged for operating violations and undelivered loads
    (``wastestream.domain.operations``); every figure has a default."""

    speed_limit_kmh: dict[str, float] = Field(
        default_factory=lambda: {"collection": 60.0, "transfer": 70.0}, description="per vehicle kind"
    )
    overspeed_min_s: float = Field(30, ge=0, description="above the limit this long (the alarm bit counts at once)")
    stop_speed_kmh: float = Field(5, ge=0, description="at or below: standing")
    idle_away_min_s: float = Field(1200, gt=0, description="standing away from every site this long in the shift")
    dump_stop_min_s: float = Field(300, gt=0, description="a loaded stop away from sites this long may be dumping")
    short_delivery_ratio: float = Field(
        0.5, gt=0, le=1, description="a trip delivering less than this share of its points' expected kg is short"
    )
    off_route_min_s: float = Field(120, ge=0, description="outside the route corridor this long")
    out_of_shift_min_s: float = Field(300, ge=0, description="moving outside every shift window this long")
    shift_grace_s: float = Field(1800, ge=0, description="before the route start / after its end still in shift")
    delivery_grace_s: float = Field(3600, gt=0, description="a load without a ticket this long after: undelivered")
    jitter_m: float = Field(30, ge=0, description="moves this small between two standing fixes are GPS noise")
    max_gap_s: float = Field(600, gt=0, description="a longer gap between fixes adds no engine time")


class City(Ref):
    name: str
    timezone: str = "Asia/Shanghai"
    contractors: list[Contractor]
    vehicles: list[Vehicle]
    stations: list[TransferStation]
    collection_points: list[CollectionPoint]
    routes: list[Route] = Field(default_factory=list)
    holidays: list[CalendarDay] = Field(default_factory=list, description="holidays and worked weekend days")
    operations: OperationRules = Field(default_factory=OperationRules)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Self:
        if not (info.context or {}).get("defer_reference_checks"):  # a streamed load checks at its end
            self.check_references()
        return self

    def check_references(self) -> None:
        """Raise ValueError naming the entries that refer to ids the city does not have."""
        contractors = {c.id for c in self.contractors}
        vehicles = {v.id for v in self.vehicles}
        stations = {s.id for s in self.stations}
        points = {p.id for p in self.collection_points}
        problems: list[str] = []
        id_lists: tuple[tuple[str, Sequence[Any]], ...] = (
            ("contractors", self.contractors),
            ("vehicles", self.vehicles),
            ("stations", self.stations),
            ("collection_points", self.collection_points),
            ("routes", self.routes),
        )
        for name, items in id_lists:
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.id in seen:
                    problems.append(f"{name}[{i}] (id {item.id!r}): duplicate id")
                seen.add(item.id)
        for i, v in enumerate(self.vehicles):
            if v.contractor_id not in contractors:
                problems.append(f"vehicles[{i}] (id {v.id!r}): unknown contractor_id {v.contractor_id!r}")
        terminals: dict[str, str] = {}
        for i, v in enumerate(self.vehicles):
            if v.terminal_id in terminals:
                problems.append(f"vehicles[{i}] (id {v.id!r}): terminal_id also used by {terminals[v.terminal_id]!r}")
            terminals[v.terminal_id] = v.id
        for i, p in enumerate(self.collection_points):
            if p.contractor_id not in contractors:
                problems.append(f"collection_points[{i}] (id {p.id!r}): unknown contractor_id {p.contractor_id!r}")
        for i, r in enumerate(self.routes):
            if r.vehicle_id not in vehicles:
                problems.append(f"routes[{i}] (id {r.id!r}): unknown vehicle_id {r.vehicle_id!r}")
            if r.station_id not in stations:
                problems.append(f"routes[{i}] (id {r.id!r}): unknown station_id {r.station_id!r}")
            for s in r.stops:
                if s not in points:
                    problems.append(f"routes[{i}] (id {r.id!r}): unknown stop {s!r}")
        if problems:
            raise ValueError(
                "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else "")
            )

    # -- lookups -------------------------------------------------------------------------------
    def vehicle_by_terminal(self) -> dict[str, Vehicle]:
        return {v.terminal_id: v for v in self.vehicles}

    def vehicle_by_plate(self) -> dict[str, Vehicle]:
        return {v.plate: v for v in self.vehicles}


class CityFileError(ValueError):
    """A reference-data file that cannot be loaded; the message names the bad entry."""


def describe_errors(e: ValidationError, raw: dict) -> str:
    """The first problems of a validation, each named by its list entry's position and id."""
    msgs = []
    for err in e.errors()[:5]:
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(raw.get(str(loc[0])), list):
            try:
                entry_id = raw[str(loc[0])][loc[1]].get("id")
            except (IndexError, AttributeError):
                entry_id = None
            where = f"{loc[0]}[{loc[1]}]" + (f" (id {entry_id!r})" if entry_id else "")
            loc = loc[2:]
        field = ".".join(str(x) for x in loc)
        err["msg"] = err["msg"].removeprefix("Value error, ")
        msgs.append(
            f"{where}{': ' if where and field else ''}{field}: {err['msg']}" if (where or field) else err["msg"]
        )
    return "; ".join(msgs)


def load_city(path: Path | str) -> City:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CityFileError(f"{path}: cannot read ({e.strerror})") from None
    if path.suffix == ".json":  # parsed by pydantic-core straight into the models: no dict copy of a big city
        try:
            return City.model_validate_json(text)
        except ValidationError:
            pass  # described below, from the parsed document
    try:
        raw = (
            json.loads(text)
            if path.suffix == ".json"
            else yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        )
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise CityFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if not isinstance(raw, dict):
        raise CityFileError(f"{path}: expected a mapping at the top level")
    try:
        return City.model_validate(raw)
    except ValidationError as e:
        raise CityFileError(f"{path}: {describe_errors(e, raw)}") from None


def dump_city(city: City, path: Path | str) -> None:
    path = Path(path)
    data = city.model_dump(mode="json", exclude_none=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
