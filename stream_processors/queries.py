"""Flux queries over the figures the worker writes (used by `wastestream summary`, the demo, the
daily report and the dashboards). Daily figures sit at the local day's start timestamp."""

from __future__ import annotations

from datetime import date, timedelta

from wastestream.domain.localtime import day_start


def day_range(day: date, tz: str) -> str:
    start = day_start(day, tz)
    stop = day_start(day + timedelta(days=1), tz)
    return f"range(start: {start.strftime('%Y-%m-%dT%H:%M:%SZ')}, stop: {stop.strftime('%Y-%m-%dT%H:%M:%SZ')})"


def tonnage_by(bucket: str, day: date, tz: str, dimension: str, direction: str = "in") -> str:
    """Net kg per station | contractor | waste_stream | vehicle for the day."""
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "tonnage" and r._field == "net_kg" and r.direction == "{direction}")
  |> group(columns: ["{dimension}"])
  |> sum()'''


def clearance_counts(bucket: str, day: date, tz: str, by: str | None = None) -> str:
    """How many points are pending / cleared / late / missed (optionally per contractor)."""
    cols = f'["{by}", "_value"]' if by else '["_value"]'
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "clearance" and r._field == "status")
  |> group(columns: {cols})
  |> count(column: "point")'''


def clearance_points(bucket: str, day: date, tz: str, status: str) -> str:
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "clearance" and r._field == "status" and r._value == "{status}")
  |> group()
  |> keep(columns: ["point", "contractor", "route", "timed"])'''


def station_balance(bucket: str, day: date, tz: str) -> str:
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "station_balance")
  |> pivot(rowKey: ["_time", "station"], columnKey: ["_field"], valueColumn: "_value")
  |> group()'''


def unknown_terminals(bucket: str, day: date, tz: str) -> str:
    """Terminal ids seen that day but not in the vehicle registry: first/last seen and how often,
    per source (the gateway refusing a registration, the worker refusing a fix)."""
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "unknown_terminals")
  |> pivot(rowKey: ["_time", "terminal", "source"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["terminal", "source", "first_seen", "last_seen", "count"])
  |> sort(columns: ["count"], desc: true)'''


def visits_at(bucket: str, site: str, day: date, tz: str) -> str:
    """Every vehicle's visits at a site on the day (visits sit at their enter time)."""
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "visits" and r.site == "{site}")
  |> pivot(rowKey: ["_time", "vehicle"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "vehicle", "exit", "dwell_s"])
  |> sort(columns: ["_time"])'''


def positions_of(bucket: str, contractor: str, day: date, tz: str) -> str:
    """The day's fixes of a contractor's vehicles."""
    return f'''from(bucket: "{bucket}")
  |> {day_range(day, tz)}
  |> filter(fn: (r) => r._measurement == "positions" and r.contractor == "{contractor}"
      and (r._field == "lat" or r._field == "lon" or r._field == "speed_kmh"))
  |> pivot(rowKey: ["_time", "vehicle"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "vehicle", "lat", "lon", "speed_kmh"])'''
