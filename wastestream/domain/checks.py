"""Input checks: every value that can be wrong is checked once, here, for the worker, ``recompute``
and the weighbridge API alike.

A check returns the problems it found as :class:`Problem` (a data-quality kind, the field, a
message); an event with a problem is *rejected*: it changes no table, advances no clock,
watermark or day selection, is counted under its kind and goes to the dead-letter topic with its
raw value. The rules and their limits (:class:`InputRules`) are in the README's data-quality table.

What is checked:

* a fix: its vehicle is registered and its terminal id is that vehicle's; the device time is not
  more than ``max_ahead_s`` after the receive time (a terminal's clock ahead: RTC faults, GPS
  week-rollover) nor more than ``backfill_horizon_s`` before it (older than any blind-area
  upload); a valid position lies within the city's area (its sites' bounding box widened by
  ``area_margin_km``) and is not (0, 0); the speed is at most ``max_speed_kmh``.
* a ticket: its station exists; each weight within the scale's range; tare ≤ gross;
  net = gross − tare within the tolerance; weigh-out not before weigh-in and not more than
  ``max_weigh_duration_s`` after it; against its receive time, when it has one, the same clock
  rules as a fix (weigh-out not ahead, weigh-in not older than the horizon).
* a visit set: its site is a registered site of the stated kind, its vehicle registered, each visit
  ends after it starts and belongs to the stated vehicle and site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from wastestream.domain.quality import EXACT_MARGIN_S


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an input is refused: its data-quality kind, the field at fault and a message."""

    kind: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InputRules(BaseModel):
    """The limits of the input checks (settings ``WASTESTREAM_CHECK_*``)."""

    model_config = ConfigDict(frozen=True)
    max_ahead_s: float = Field(600, gt=0, description="device/weigh time at most this far after its receive time")
    backfill_horizon_s: float = Field(7 * 86400, gt=0, description="and at most this far before it")
    max_speed_kmh: float = Field(220, gt=0, description="reported speed of a fix")
    area_margin_km: float = Field(100, ge=0, description="a valid position lies within the city's sites ± this")
    scale_max_kg: float = Field(80_000, gt=0, description="each weight of a ticket")
    net_tolerance_kg: float = Field(20, ge=0, description="|gross − tare − net| at most max(this, pct × gross)")
    net_tolerance_pct: float = Field(0.005, ge=0)
    max_weigh_duration_s: float = Field(6 * 3600, gt=0, description="weigh-out at most this after weigh-in")


DEFAULT_INPUT_RULES = InputRules()


@dataclass(frozen=True, slots=True)
class Area:
    """The city's area: the bounding box of its sites, widened by a margin (degrees)."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    @classmethod
    def around(cls, coords: Iterable[tuple[float, float]], margin_km: float) -> Area:
        pts = list(coords)
        if not pts:  # a city without sites: no area check
            return cls(-90.0, 90.0, -180.0, 180.0)
        lats = [p[0] for p in pts]
        lons = [p[1] for p in pts]
        dlat = margin_km / 111.32
        mid = math.radians((min(lats) + max(lats)) / 2)
        dlon = margin_km / max(1e-6, 111.32 * math.cos(mid))
        return cls(min(lats) - dlat, max(lats) + dlat, min(lons) - dlon, max(lons) + dlon)

    @classmethod
    def of_city(cls, city, margin_km: float) -> Area:  # noqa: ANN001 - a City (schemas import nothing of here)
        """Around every collection point and station of the city."""
        return cls.around(
            [(p.geofence.lat, p.geofence.lon) for p in city.collection_points]
            + [(st.geofence.lat, st.geofence.lon) for st in city.stations],
            margin_km,
        )

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


def clock_problem(
    prefix: str,
    event_at: datetime,
    received_at: datetime,
    rules: InputRules,
    field: str,
    old_field: str | None = None,
    old_at: datetime | None = None,
    event_ts: float | None = None,
    received_ts: float | None = None,
) -> Problem | None:
    """A device or weigh clock that cannot be right against its (trusted) receive time:
    ``<prefix>_clock_ahead`` or ``<prefix>_clock_stale``. ``event_ts``/``received_ts``: the same
    instants as epoch seconds, when the caller has them (without ``old_at``): a time well inside the
    limits is passed on them alone; one near a limit is judged on the datetimes, as without them."""
    if event_ts is not None and received_ts is not None and old_at is None:
        ahead_s = event_ts - received_ts
        if -rules.backfill_horizon_s + EXACT_MARGIN_S < ahead_s < rules.max_ahead_s - EXACT_MARGIN_S:
            return None
    ahead = (event_at - received_at).total_seconds()
    if ahead > rules.max_ahead_s:
        return Problem(
            f"{prefix}_clock_ahead",
            field,
            f"{event_at.isoformat()} is {ahead:.0f} s after its receive time "
            f"{received_at.isoformat()} (at most {rules.max_ahead_s:g} s)",
        )
    old = old_at or event_at
    age = (received_at - old).total_seconds()
    if age > rules.backfill_horizon_s:
        return Problem(
            f"{prefix}_clock_stale",
            old_field or field,
            f"{old.isoformat()} is {age / 86400:.1f} days before its receive time "
            f"{received_at.isoformat()} (back-fill horizon {rules.backfill_horizon_s / 86400:g} days)",
        )
    return None


def fix_problem(
    fix,  # noqa: ANN001
    terminal_of: Mapping[str, str],
    area: Area,
    rules: InputRules,
    device_ts: float | None = None,
    received_ts: float | None = None,
) -> Problem | None:
    """The first reason to refuse a :class:`~wastestream.schemas.GpsFix`, or None.
    ``terminal_of``: registered vehicle id → its terminal id. ``device_ts``/``received_ts``: its
    device and receive times as epoch seconds, when the caller has them (the same answer, sooner)."""
    registered = terminal_of.get(fix.vehicle_id)
    if registered is None:
        return Problem(
            "fix_unknown_vehicle",
            "vehicle_id",
            f"vehicle {fix.vehicle_id!r} (terminal {fix.terminal_id}) is not in the vehicle registry",
        )
    if registered != fix.terminal_id:
        return Problem(
            "fix_terminal_mismatch",
            "terminal_id",
            f"terminal {fix.terminal_id} is not vehicle {fix.vehicle_id}'s (registered: {registered})",
        )
    p = clock_problem(
        "fix", fix.device_time, fix.received_at, rules, "device_time", event_ts=device_ts, received_ts=received_ts
    )
    if p is not None:
        return p
    if not math.isfinite(fix.speed_kmh) or fix.speed_kmh > rules.max_speed_kmh:
        return Problem("fix_bad_speed", "speed_kmh", f"{fix.speed_kmh} km/h (at most {rules.max_speed_kmh:g})")
    if fix.fix_valid:
        if not (math.isfinite(fix.lat) and math.isfinite(fix.lon)) or (fix.lat == 0 and fix.lon == 0):
            return Problem("fix_bad_position", "lat", f"({fix.lat}, {fix.lon}) is no position")
        if not area.contains(fix.lat, fix.lon):
            return Problem(
                "fix_bad_position",
                "lat",
                f"({fix.lat}, {fix.lon}) is more than {rules.area_margin_km:g} km outside the city",
            )
    return None


def ticket_problems(
    t,
    stations: Mapping[str, object] | set[str],
    rules: InputRules,  # noqa: ANN001
    received_at: datetime | None = None,
) -> list[Problem]:
    """Every reason to refuse a :class:`~wastestream.schemas.WeighTicket` (the API names them all;
    the worker and ``recompute`` count the first). ``received_at``: the receive time if the ticket
    carries none yet (the API checking what it is about to stamp)."""
    received_at = received_at or getattr(t, "received_at", None)
    errs: list[Problem] = []
    if t.station_id not in stations:
        errs.append(Problem("ticket_unknown_station", "station_id", f"unknown station {t.station_id!r}"))
    for name in ("gross_kg", "tare_kg", "net_kg"):
        v = getattr(t, name)
        if not (math.isfinite(v) and 0 <= v <= rules.scale_max_kg):
            errs.append(
                Problem("ticket_bad_weight", name, f"{v} kg outside the scale's range 0..{rules.scale_max_kg:g} kg")
            )
    if t.tare_kg > t.gross_kg:
        errs.append(Problem("ticket_bad_weight", "tare_kg", "tare greater than gross"))
    tol = max(rules.net_tolerance_kg, rules.net_tolerance_pct * t.gross_kg)
    if not abs(t.gross_kg - t.tare_kg - t.net_kg) <= tol:
        errs.append(
            Problem(
                "ticket_bad_arithmetic",
                "net_kg",
                f"net {t.net_kg} ≠ gross {t.gross_kg} − tare {t.tare_kg} (tolerance {tol:g} kg)",
            )
        )
    if t.weigh_out_at < t.weigh_in_at:
        errs.append(Problem("ticket_bad_times", "weigh_out_at", "before weigh_in_at"))
    elif (t.weigh_out_at - t.weigh_in_at).total_seconds() > rules.max_weigh_duration_s:
        errs.append(
            Problem(
                "ticket_bad_times",
                "weigh_out_at",
                f"more than {rules.max_weigh_duration_s / 3600:g} h after weigh_in_at",
            )
        )
    if received_at is not None:
        ahead_in = (t.weigh_in_at - received_at).total_seconds() > rules.max_ahead_s
        p = clock_problem(
            "ticket",
            t.weigh_in_at if ahead_in else t.weigh_out_at,
            received_at,
            rules,
            "weigh_in_at" if ahead_in else "weigh_out_at",
            "weigh_in_at",
            t.weigh_in_at,
        )
        if p is not None:
            errs.append(p)
    return errs


def visit_set_problem(
    vs,
    kind_of: Mapping[str, str],
    points: Mapping[str, object],  # noqa: ANN001
    vehicles: Mapping[str, object],
) -> Problem | None:
    """The first reason to refuse a :class:`~wastestream.schemas.results.VisitSet`, or None.
    ``kind_of``: station id → its kind; ``points``: point id → point."""
    kind = vs.site_kind.value
    actual = "point" if vs.site_id in points else kind_of.get(vs.site_id)
    if actual is None:
        return Problem("visit_unknown_site", "site_id", f"unknown site {vs.site_id!r}")
    if actual != kind:
        return Problem("visit_unknown_site", "site_kind", f"site {vs.site_id!r} is a {actual}, not a {kind}")
    if vs.vehicle_id not in vehicles:
        return Problem("visit_unknown_vehicle", "vehicle_id", f"unknown vehicle {vs.vehicle_id!r}")
    for i, v in enumerate(vs.visits):
        if v.vehicle_id != vs.vehicle_id or v.site_id != vs.site_id:
            return Problem("visit_inconsistent", f"visits.{i}", "visit of another vehicle or site than its set")
        if v.exit_at < v.enter_at:
            return Problem("visit_inconsistent", f"visits.{i}.exit_at", "before enter_at")
    return None
