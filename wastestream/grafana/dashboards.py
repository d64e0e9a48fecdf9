"""Grafana dashboards as code (grafana-foundation-sdk), with Flux queries against InfluxDB.

Every panel's query uses only Grafana's Flux variables (``v.timeRangeStart``, ``v.timeRangeStop``,
``v.windowPeriod``) and the dashboard variables (``${contractor}``, ``${station}``, ``${vehicle}``),
so the tests can substitute them and run each query against the real InfluxDB.

Dashboards are built per bucket: the dispatch organisation reads ``wastestream`` (the whole city);
each contractor's organisation reads its own ``contractor-<id>`` bucket through its own token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import barchart, dashboard, geomap, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableOption, VariableRefresh

DS_TYPE = "influxdb"
DISPATCH_DS_UID = "wastestream-influxdb"
TIMEZONE = "Asia/Shanghai"  # the default; every builder takes the city's


def _daily(tz: str) -> str:
    """Flux arguments for windows of one local calendar day (DST-safe: the zone, not an offset)."""
    return f'every: 1d, location: timezone.location(name: "{tz}")'


def contractor_ds_uid(contractor_id: str) -> str:
    return f"wastestream-influxdb-{contractor_id.lower()}"


class FluxQuery(cogvariants.Dataquery):
    """An InfluxDB (Flux) target; the SDK has no typed InfluxDB query, so this is its data query."""

    def __init__(self, ref_id: str, query: str, ds_uid: str):
        self.ref_id, self.query, self.ds_uid = ref_id, query, ds_uid

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "query": self.query, "datasource": {"type": DS_TYPE, "uid": self.ds_uid}}


class Flux(cogbuilder.Builder[FluxQuery]):
    def __init__(self, query: str, ds_uid: str, ref_id: str = "A"):
        self._internal = FluxQuery(ref_id, query, ds_uid)

    def build(self) -> FluxQuery:
        return self._internal


@dataclass(frozen=True)
class PanelSpec:
    """One panel: what it shows and its Flux (kept so the tests can run it)."""

    key: str
    title: str
    kind: str  # stat | table | geomap | timeseries | barchart
    flux: str
    unit: str = ""
    w: int = 6
    h: int = 5


def _src(bucket: str, measurement: str, extra: str = "") -> str:
    return (
        f'from(bucket: "{bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
        f'  |> filter(fn: (r) => r._measurement == "{measurement}"{extra})'
    )


def dispatch_panels(bucket: str, plan_t: float) -> list[PanelSpec]:
    ton_in = _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"')
    status = _src(bucket, "clearance", ' and r._field == "status"')
    return [
        PanelSpec(
            "tonnage_in",
            "In-tonnage (t)",
            "stat",
            f"{ton_in}\n  |> group()\n  |> sum()\n  |> map(fn: (r) => ({{_value: r._value / 1000.0}}))",
            "t",
        ),
        PanelSpec(
            "tonnage_plan", "Plan (t/day)", "stat", f'import "array"\narray.from(rows: [{{_value: {plan_t:.1f}}}])', "t"
        ),
        PanelSpec(
            "clearance_rate",
            "清运率 clearance rate",
            "stat",
            f"{status}\n  |> group()\n  |> reduce(identity: {{due: 0.0, done: 0.0}}, fn: (r, accumulator) => ({{due: accumulator.due + 1.0,"
            f' done: accumulator.done + (if r._value == "cleared" or r._value == "late" then 1.0 else 0.0)}}))\n'
            f"  |> map(fn: (r) => ({{_value: if r.due > 0.0 then r.done / r.due * 100.0 else 100.0}}))",
            "percent",
        ),
        PanelSpec(
            "status_counts",
            "Points by status",
            "barchart",
            f'{status}\n  |> group(columns: ["_value"])\n  |> count(column: "point")\n  |> rename(columns: {{_value: "status", point: "points"}})\n  |> group()',
            w=6,
        ),
        PanelSpec(
            "points_map",
            "Collection points (status: 0 pending, 1 cleared, 2 late, 3 missed)",
            "geomap",
            _src(bucket, "clearance", ' and (r._field == "status_code" or r._field =~ /^(lat|lon)/)')
            + '\n  |> pivot(rowKey: ["_time", "point"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            + DATUM
            + '\n  |> keep(columns: ["point", "contractor", "lat", "lon", "status_code"])',
            w=12,
            h=12,
        ),
        PanelSpec(
            "not_cleared",
            "Missed and late",
            "table",
            _src(bucket, "clearance", ' and (r._field == "status" or r._field == "visit_at")')
            + '\n  |> pivot(rowKey: ["_time", "point"], columnKey: ["_field"], valueColumn: "_value")'
            '\n  |> filter(fn: (r) => r.status == "missed" or r.status == "late")\n  |> group()'
            '\n  |> keep(columns: ["point", "contractor", "route", "timed", "status", "visit_at"])\n  |> sort(columns: ["status", "point"])',
            w=12,
            h=12,
        ),
        PanelSpec(
            "station_balance",
            "Stations: received, transferred, backlog (日产日清)",
            "table",
            _src(bucket, "station_balance")
            + '\n  |> pivot(rowKey: ["_time", "station"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["station", "received_kg", "transferred_kg", "backlog_kg", "cleared_same_day", "over_capacity"])'
            '\n  |> sort(columns: ["station"])',
            w=12,
            h=10,
        ),
        PanelSpec(
            "vehicles_seen",
            "Vehicles seen at sites",
            "stat",
            _src(bucket, "visits", ' and r._field == "dwell_s"')
            + '\n  |> group()\n  |> distinct(column: "vehicle")\n  |> count()',
        ),
        PanelSpec(
            "alerts_active",
            "Active missed-clearance alerts",
            "stat",
            _src(bucket, "alerts", ' and r._field == "active"') + "\n  |> group()\n  |> sum()",
        ),
    ]


def contractor_panels(bucket: str, tz: str = TIMEZONE) -> list[PanelSpec]:
    c = ' and r.contractor == "${contractor}"'
    status = _src(bucket, "clearance", ' and r._field == "status"' + c)
    return [
        PanelSpec(
            "c_tonnage",
            "Tonnage delivered (t)",
            "stat",
            _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"' + c)
            + "\n  |> group()\n  |> sum()\n  |> map(fn: (r) => ({_value: r._value / 1000.0}))",
            "t",
        ),
        PanelSpec(
            "c_scorecard",
            "Scorecard: points by status",
            "table",
            f'{status}\n  |> group(columns: ["_value"])\n  |> count(column: "point")\n  |> rename(columns: {{_value: "status", point: "points"}})\n  |> group()\n  |> sort(columns: ["status"])',
            w=8,
        ),
        PanelSpec(
            "c_rate_trend",
            "Clearance rate by day (%)",
            "timeseries",
            f'import "timezone"\n{status}\n  |> group()\n  |> window({_daily(tz)})\n'
            '  |> reduce(identity: {due: 0.0, done: 0.0}, fn: (r, accumulator) => ({due: accumulator.due + 1.0, done: accumulator.done + (if r._value == "cleared" or r._value == "late" then 1.0 else 0.0)}))\n'
            "  |> map(fn: (r) => ({_time: r._start, _value: r.done / r.due * 100.0}))\n  |> group()",
            "percent",
            w=10,
        ),
        PanelSpec(
            "c_tonnage_trend",
            "Tonnage by day (kg)",
            "timeseries",
            'import "timezone"\n'
            + _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"' + c)
            + f'\n  |> group()\n  |> aggregateWindow({_daily(tz)}, fn: sum, createEmpty: false, timeSrc: "_start")',
            "kg",
            w=10,
        ),
    ]


def station_panels(bucket: str, tz: str = TIMEZONE) -> list[PanelSpec]:
    s = ' and r.station == "${station}"'
    return [
        PanelSpec(
            "s_in_out",
            "In / out by day (kg)",
            "barchart",
            'import "timezone"\n'
            + _src(bucket, "tonnage", ' and r._field == "net_kg"' + s)
            + '\n  |> group(columns: ["direction"])'
            + f'\n  |> aggregateWindow({_daily(tz)}, fn: sum, createEmpty: false, timeSrc: "_start")',
            "kg",
            w=12,
        ),
        PanelSpec(
            "s_balance",
            "Balance, 日产日清 and capacity",
            "table",
            _src(bucket, "station_balance", s)
            + '\n  |> pivot(rowKey: ["_time", "station"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["_time", "received_kg", "transferred_kg", "carried_in_kg", "backlog_kg", "cleared_same_day", "over_capacity"])',
            w=12,
        ),
    ]


def vehicle_panels(bucket: str) -> list[PanelSpec]:
    v = ' and r.vehicle == "${vehicle}"'
    return [
        PanelSpec(
            "v_track",
            "Track of the day (replay: narrow the time range; speed km/h)",
            "geomap",
            _src(bucket, "positions", ' and r._field != "site"' + v)
            + '\n  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            + DATUM
            + '\n  |> keep(columns: ["_time", "lat", "lon", "speed_kmh", "backfill"])\n  |> sort(columns: ["_time"])',
            w=24,
            h=12,
        ),
        PanelSpec(
            "v_visits",
            "Visits (enter time, site, dwell)",
            "table",
            _src(bucket, "visits", ' and r._field == "dwell_s"' + v)
            + '\n  |> group()\n  |> keep(columns: ["_time", "site", "site_kind", "_value"])\n  |> sort(columns: ["_time"])',
            w=12,
            h=10,
        ),
        PanelSpec(
            "v_tonnage",
            "Delivered (kg) and tickets",
            "table",
            _src(bucket, "tonnage", v)
            + '\n  |> pivot(rowKey: ["_time", "station", "direction"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["_time", "station", "direction", "net_kg", "tickets"])',
            w=12,
        ),
    ]


def _per_vehicle(bucket: str, key: str, title: str, kind: str) -> PanelSpec:
    """A table of one data-quality kind counted per vehicle over the time range."""
    return PanelSpec(
        key,
        title,
        "table",
        _src(bucket, "data_quality", f' and r._field == "count" and r.kind == "{kind}"')
        + '\n  |> group(columns: ["detail"])\n  |> sum()\n  |> group()\n  |> rename(columns: {detail: "vehicle"})'
        '\n  |> sort(columns: ["vehicle"])',
        w=12,
    )


def quality_panels(bucket: str) -> list[PanelSpec]:
    return [
        PanelSpec(
            "q_by_kind",
            "Data quality events by kind",
            "table",
            _src(bucket, "data_quality", ' and r._field == "count"')
            + '\n  |> group(columns: ["kind"])\n  |> sum()\n  |> group()\n  |> sort(columns: ["kind"])',
            w=12,
        ),
        PanelSpec(
            "q_dead_letters",
            "Dead letters by reason",
            "table",
            _src(bucket, "data_quality", ' and r._field == "count" and r.kind == "dead_letter"')
            + '\n  |> group(columns: ["detail"])\n  |> sum()\n  |> group()\n  |> sort(columns: ["detail"])',
            w=12,
        ),
        _per_vehicle(
            bucket, "q_silent", "Terminals silent in shift (episodes > 30 min, ignition on)", "silent_terminal"
        ),
        _per_vehicle(
            bucket,
            "q_dark",
            "Dark terminals: due on a route, not heard 30 min after its start 未按时上线车辆",
            "dark_terminal",
        ),
        PanelSpec(
            "q_unknown_terminals",
            "Unregistered terminals (register them) 未登记终端",
            "table",
            _src(bucket, "unknown_terminals")
            + '\n  |> pivot(rowKey: ["_time", "terminal", "source"], columnKey: ["_field"], valueColumn: "_value")'
            '\n  |> group()\n  |> keep(columns: ["terminal", "source", "first_seen", "last_seen", "count"])'
            '\n  |> sort(columns: ["count"], desc: true)',
            w=12,
        ),
        PanelSpec(
            "q_no_dwell",
            "Inbound tickets with no GPS dwell of the truck at the station",
            "table",
            _src(bucket, "data_quality", ' and r._field == "count" and r.kind == "ticket_no_station_dwell"')
            + '\n  |> group(columns: ["detail"])\n  |> last()\n  |> group()\n  |> filter(fn: (r) => r._value > 0)'
            '\n  |> rename(columns: {detail: "station"})\n  |> sort(columns: ["station"])',
            w=12,
        ),
    ]


# Chinese base maps draw in GCJ-02: map panels follow the dashboard's ${datum} (coordinates are stored
# WGS-84, and GCJ-02 beside them)
DATUM = (
    '\n  |> map(fn: (r) => ({r with lat: if "${datum}" == "gcj02" then r.lat_gcj02 else r.lat,'
    ' lon: if "${datum}" == "gcj02" then r.lon_gcj02 else r.lon}))'
)


def _datum_variable() -> dashboard.CustomVariable:
    return (
        dashboard.CustomVariable("datum")
        .label("Map datum")
        .values("wgs84,gcj02")
        .current(VariableOption(text="wgs84", value="wgs84", selected=True))
    )


def _tag_variable(name: str, label: str, bucket: str, measurement: str, ds_uid: str) -> dashboard.QueryVariable:
    q = (
        f'import "influxdata/influxdb/schema"\nschema.measurementTagValues(bucket: "{bucket}", '
        f'measurement: "{measurement}", tag: "{name}")'
    )
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .query(q)
        .datasource(DataSourceRef(type_val=DS_TYPE, uid=ds_uid))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _panel(spec: PanelSpec, pid: int, x: int, y: int, ds_uid: str) -> cogbuilder.Builder:
    builders: dict[str, Any] = {
        "stat": stat.Panel,
        "table": table.Panel,
        "geomap": geomap.Panel,
        "timeseries": timeseries.Panel,
        "barchart": barchart.Panel,
    }
    p = (
        builders[spec.kind]()
        .id(pid)
        .title(spec.title)
        .datasource(DataSourceRef(type_val=DS_TYPE, uid=ds_uid))
        .with_target(Flux(spec.flux, ds_uid))
        .grid_pos(GridPos(h=spec.h, w=spec.w, x=x, y=y))
    )
    if spec.unit:
        p = p.unit(spec.unit)
    return p


@dataclass
class BuiltDashboard:
    uid: str
    title: str
    panels: list[PanelSpec]
    model: dict


def build(
    uid: str,
    title: str,
    panels: list[PanelSpec],
    ds_uid: str,
    variables: list[tuple[str, str, str]],
    bucket: str,
    tags: list[str],
    tz: str = TIMEZONE,
) -> BuiltDashboard:
    d = dashboard.Dashboard(title).uid(uid).tags(tags).timezone(tz).time("now/d", "now/d").refresh("1m")
    if any("${datum}" in p.flux for p in panels):
        d = d.with_variable(_datum_variable())
    for name, label, measurement in variables:
        d = d.with_variable(_tag_variable(name, label, bucket, measurement, ds_uid))
    x = y = row_h = 0
    for i, spec in enumerate(panels, 1):
        if x + spec.w > 24:
            x, y, row_h = 0, y + row_h, 0
        d = d.with_panel(_panel(spec, i, x, y, ds_uid))
        x += spec.w
        row_h = max(row_h, spec.h)
    model = json.loads(JSONEncoder(sort_keys=True).encode(d.build()))
    return BuiltDashboard(uid, title, panels, model)


def all_dashboards(
    bucket: str, ds_uid: str, plan_t: float, contractor: str | None = None, tz: str = TIMEZONE
) -> list[BuiltDashboard]:
    """The dispatch set (whole city) or, with ``contractor``, that contractor's set on its own bucket;
    days are the city's local days (``tz``: its time zone)."""
    suffix = f"-{contractor.lower()}" if contractor else ""
    contractors = build(
        f"ws-contractor{suffix}",
        f"承包商 Contractor {contractor}" if contractor else "承包商 Contractor",
        contractor_panels(bucket, tz),
        ds_uid,
        [("contractor", "Contractor", "clearance")],
        bucket,
        ["wastestream", "contractor"],
        tz,
    )
    if contractor:
        return [contractors]
    return [
        build(
            "ws-dispatch",
            "调度总览 Dispatch overview",
            dispatch_panels(bucket, plan_t),
            ds_uid,
            [],
            bucket,
            ["wastestream", "dispatch"],
            tz,
        ),
        contractors,
        build(
            "ws-station",
            "转运站 Station",
            station_panels(bucket, tz),
            ds_uid,
            [("station", "Station", "station_balance")],
            bucket,
            ["wastestream", "station"],
            tz,
        ),
        build(
            "ws-vehicle",
            "车辆 Vehicle",
            vehicle_panels(bucket),
            ds_uid,
            [("vehicle", "Vehicle", "tonnage")],
            bucket,
            ["wastestream", "vehicle"],
            tz,
        ),
        build(
            "ws-quality",
            "数据质量 Data quality",
            quality_panels(bucket),
            ds_uid,
            [],
            bucket,
            ["wastestream", "quality"],
            tz,
        ),
    ]
