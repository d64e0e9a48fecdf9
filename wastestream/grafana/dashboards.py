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
from typing import Any, Literal

from grafana_foundation_sdk.builders import barchart, dashboard, geomap, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import FrameGeometrySourceMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    FieldColorModeId,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
)
from grafana_foundation_sdk.models.geomap import TooltipMode

from wastestream.grafana.glossary import title

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
    layer: str = ""  # geomap panels: "points" (markers by status) or "track" (route line + visits)
    more: tuple[str, ...] = ()  # further queries (refId B, C, ...), e.g. a map's second layer

    def queries(self) -> list[tuple[str, str]]:
        """(refId, Flux) of every query of the panel."""
        return [(chr(ord("A") + i), q) for i, q in enumerate((self.flux, *self.more))]


def _src(bucket: str, measurement: str, extra: str = "") -> str:
    return (
        f'from(bucket: "{bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
        f'  |> filter(fn: (r) => r._measurement == "{measurement}"{extra})'
    )


def dispatch_panels(bucket: str, plan_t: float, basemap: Basemap = "osm", tz: str = TIMEZONE) -> list[PanelSpec]:
    ton_in = _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"')
    status = _src(bucket, "clearance", ' and r._field == "status"')
    return [
        PanelSpec(
            "tonnage_in",
            title("tonnage_in"),
            "stat",
            f"{ton_in}\n  |> group()\n  |> sum()\n  |> map(fn: (r) => ({{_value: r._value / 1000.0}}))",
            "t",
        ),
        PanelSpec(
            "tonnage_plan",
            title("tonnage_plan"),
            "stat",
            f'import "array"\narray.from(rows: [{{_value: {plan_t:.1f}}}])',
            "t",
        ),
        PanelSpec(
            "clearance_rate",
            title("clearance_rate"),
            "stat",
            f"{status}\n  |> group()\n  |> reduce(identity: {{due: 0.0, done: 0.0}}, fn: (r, accumulator) => ({{due: accumulator.due + 1.0,"
            f' done: accumulator.done + (if r._value == "cleared" or r._value == "late" then 1.0 else 0.0)}}))\n'
            f"  |> map(fn: (r) => ({{_value: if r.due > 0.0 then r.done / r.due * 100.0 else 100.0}}))",
            "percent",
        ),
        PanelSpec(
            "status_counts",
            title("status_counts"),
            "barchart",
            f'{status}\n  |> group(columns: ["_value"])\n  |> count(column: "point")\n  |> rename(columns: {{_value: "status", point: "points"}})\n  |> group()',
            w=6,
            unit="none",
        ),
        PanelSpec(
            "points_map",
            title("points_map"),
            "geomap",
            points_map_flux(bucket, "", basemap, tz),
            w=12,
            h=12,
            layer="points",
            unit="none",
        ),
        PanelSpec(
            "not_cleared",
            title("not_cleared"),
            "table",
            _src(bucket, "clearance", ' and (r._field == "status" or r._field == "visit_at")')
            + '\n  |> pivot(rowKey: ["_time", "point"], columnKey: ["_field"], valueColumn: "_value")'
            '\n  |> filter(fn: (r) => r.status == "missed" or r.status == "late")\n  |> group()'
            '\n  |> keep(columns: ["point", "contractor", "route", "timed", "status", "visit_at"])\n  |> sort(columns: ["status", "point"])',
            w=12,
            h=12,
            unit="none",
        ),
        PanelSpec(
            "station_balance",
            title("station_balance"),
            "table",
            _src(bucket, "station_balance")
            + '\n  |> pivot(rowKey: ["_time", "station"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["station", "received_kg", "transferred_kg", "backlog_kg", "cleared_same_day", "over_capacity"])'
            '\n  |> sort(columns: ["station"])',
            w=12,
            h=10,
            unit="kg",
        ),
        PanelSpec(
            "complaints_open",
            title("complaints_open"),
            "table",
            _src(bucket, "complaints", ' and (r._field == "open" or r._field == "reported_at")')
            + '\n  |> pivot(rowKey: ["_time", "case"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            "\n  |> filter(fn: (r) => r.open)"
            '\n  |> keep(columns: ["case", "point", "contractor", "category", "source", "reported_at"])'
            '\n  |> sort(columns: ["reported_at"])',
            unit="none",
            w=12,
            h=8,
        ),
        PanelSpec(
            "violations_by_kind",
            title("violations_by_kind"),
            "table",
            _src(bucket, "violations", ' and r._field == "active"')
            + '\n  |> group(columns: ["kind"])\n  |> sum()\n  |> group()\n  |> filter(fn: (r) => r._value > 0)'
            '\n  |> sort(columns: ["kind"])',
            unit="none",
            w=12,
            h=8,
        ),
        PanelSpec(
            "vehicles_seen",
            title("vehicles_seen"),
            "stat",
            _src(bucket, "visits", ' and r._field == "dwell_s"')
            + '\n  |> group()\n  |> distinct(column: "vehicle")\n  |> count()',
            unit="none",
        ),
        *(
            PanelSpec(
                f"alerts_{key}",
                title(f"alerts_{key}"),
                "stat",
                _src(bucket, "alerts", f' and r._field == "active" and {where}') + "\n  |> group()\n  |> sum()",
                "none",
                w=6,
                h=4,
            )
            for key, where in ALERT_STATS
        ),
    ]


# one stat per alert kind on the dispatch overview (a missed timed stop is the critical one)
ALERT_STATS = (
    ("missed_timed", 'r.kind == "missed_clearance" and r.severity == "critical"'),
    ("missed", 'r.kind == "missed_clearance" and r.severity == "warning"'),
    ("silent", 'r.kind == "terminal_silent"'),
    ("dark", 'r.kind == "terminal_dark"'),
    ("at_risk", 'r.kind == "at_risk"'),
)


def points_map_flux(bucket: str, extra: str, basemap: Basemap, tz: str) -> str:
    """Each point's status on the day with what its tooltip shows: point, contractor, route, the
    (local) visit time and the vehicle; coordinates in the base map's datum."""
    return (
        'import "date"\nimport "timezone"\n'
        + _src(bucket, "clearance", extra)
        + '\n  |> pivot(rowKey: ["_time", "point"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
        + _coords(basemap)
        + _local_hhmm("visit_at", tz)
        + '\n  |> keep(columns: ["point", "contractor", "route", "status", "status_code", "visit", "vehicle", "lat", "lon"])'
        + '\n  |> sort(columns: ["point"])'
    )


def _local_hhmm(column: str, tz: str) -> str:
    """Flux: a map adding ``visit``, the local HH:MM of the RFC 3339 string ``column`` ("" stays "")."""
    return (
        "\n  |> map(fn: (r) => {\n"
        f'    t = time(v: if r.{column} == "" then "1970-01-01T00:00:00Z" else r.{column})\n'
        f'    loc = timezone.location(name: "{tz}")\n'
        "    h = date.hour(t: t, location: loc)\n    m = date.minute(t: t, location: loc)\n"
        '    hh = if h < 10 then "0" + string(v: h) else string(v: h)\n'
        '    mm = if m < 10 then "0" + string(v: m) else string(v: m)\n'
        f'    return {{r with visit: if r.{column} == "" then "" else hh + ":" + mm}}\n  }})'
    )


def contractor_panels(bucket: str, tz: str = TIMEZONE, basemap: Basemap = "osm") -> list[PanelSpec]:
    c = ' and r.contractor == "${contractor}"'
    status = _src(bucket, "clearance", ' and r._field == "status"' + c)
    return [
        PanelSpec(
            "c_tonnage",
            title("c_tonnage"),
            "stat",
            _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"' + c)
            + "\n  |> group()\n  |> sum()\n  |> map(fn: (r) => ({_value: r._value / 1000.0}))",
            "t",
        ),
        PanelSpec(
            "c_scorecard",
            title("c_scorecard"),
            "table",
            f'{status}\n  |> group(columns: ["_value"])\n  |> count(column: "point")\n  |> rename(columns: {{_value: "status", point: "points"}})\n  |> group()\n  |> sort(columns: ["status"])',
            w=8,
            unit="none",
        ),
        PanelSpec(
            "c_rate_trend",
            title("c_rate_trend"),
            "timeseries",
            f'import "timezone"\n{status}\n  |> group()\n  |> window({_daily(tz)})\n'
            '  |> reduce(identity: {due: 0.0, done: 0.0}, fn: (r, accumulator) => ({due: accumulator.due + 1.0, done: accumulator.done + (if r._value == "cleared" or r._value == "late" then 1.0 else 0.0)}))\n'
            "  |> map(fn: (r) => ({_time: r._start, _value: r.done / r.due * 100.0}))\n  |> group()",
            "percent",
            w=10,
        ),
        PanelSpec(
            "c_tonnage_trend",
            title("c_tonnage_trend"),
            "timeseries",
            'import "timezone"\n'
            + _src(bucket, "tonnage", ' and r._field == "net_kg" and r.direction == "in"' + c)
            + f'\n  |> group()\n  |> aggregateWindow({_daily(tz)}, fn: sum, createEmpty: false, timeSrc: "_start")',
            "kg",
            w=10,
        ),
        PanelSpec(
            "c_complaints",
            title("c_complaints"),
            "table",
            _src(
                bucket,
                "complaints",
                ' and r.contractor == "${contractor}" and (r._field == "valid" or r._field == "open"'
                ' or r._field == "minutes_to_resolve")',
            )
            + '\n  |> pivot(rowKey: ["_time", "case"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            "\n  |> reduce(identity: {cases: 0, valid: 0, open: 0, resolved: 0, minutes: 0.0}, fn: (r, accumulator) => ({"
            "\n      cases: accumulator.cases + 1,"
            "\n      valid: accumulator.valid + (if r.valid then 1 else 0),"
            "\n      open: accumulator.open + (if r.open then 1 else 0),"
            "\n      resolved: accumulator.resolved + (if exists r.minutes_to_resolve then 1 else 0),"
            "\n      minutes: accumulator.minutes + (if exists r.minutes_to_resolve then r.minutes_to_resolve else 0.0)}))"
            "\n  |> map(fn: (r) => ({cases: r.cases, valid: r.valid, open: r.open,"
            " mean_minutes_to_resolve: if r.resolved > 0 then r.minutes / float(v: r.resolved) else 0.0}))",
            unit="none",
            w=8,
        ),
        PanelSpec(
            "c_violations",
            title("c_violations"),
            "table",
            _src(bucket, "violations", c)
            + '\n  |> pivot(rowKey: ["_time", "vehicle", "kind"], columnKey: ["_field"], valueColumn: "_value")'
            "\n  |> filter(fn: (r) => r.active == 1)\n  |> group()"
            '\n  |> keep(columns: ["_time", "kind", "vehicle", "value", "detail", "lat", "lon"])'
            '\n  |> sort(columns: ["_time"])',
            unit="none",
            w=16,
            h=8,
        ),
        PanelSpec(
            "c_assessment",
            title("c_assessment"),
            "timeseries",
            _src(bucket, "assessment", c + ' and r.period == "day" and r._field == "score"')
            + '\n  |> group()\n  |> keep(columns: ["_time", "_value"])\n  |> sort(columns: ["_time"])',
            "none",
            w=8,
        ),
        PanelSpec(
            "c_points_map",
            title("c_points_map"),
            "geomap",
            points_map_flux(bucket, c, basemap, tz),
            w=24,
            h=12,
            layer="points",
            unit="none",
        ),
    ]


def station_panels(bucket: str, tz: str = TIMEZONE) -> list[PanelSpec]:
    s = ' and r.station == "${station}"'
    return [
        PanelSpec(
            "s_in_out",
            title("s_in_out"),
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
            title("s_balance"),
            "table",
            _src(bucket, "station_balance", s)
            + '\n  |> pivot(rowKey: ["_time", "station"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["_time", "received_kg", "transferred_kg", "carried_in_kg", "backlog_kg", "cleared_same_day", "over_capacity"])',
            w=12,
            unit="kg",
        ),
    ]


def vehicle_panels(bucket: str, basemap: Basemap = "osm") -> list[PanelSpec]:
    v = ' and r.vehicle == "${vehicle}"'
    return [
        PanelSpec(
            "v_day",
            title("v_day"),
            "table",
            _src(bucket, "vehicle_day", v)
            + '\n  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["_time", "km_track", "km_odometer", "engine_h", "trips", "trips_short",'
            ' "trips_undelivered", "stops", "collections", "delivered_kg", "t_per_km"])',
            unit="none",
            w=24,
            h=5,
        ),
        PanelSpec(
            "v_track",
            title("v_track"),
            "geomap",
            _src(bucket, "positions", v)
            + '\n  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            + _coords(basemap)
            + '\n  |> keep(columns: ["_time", "lat", "lon", "speed_kmh", "backfill", "site"])\n  |> sort(columns: ["_time"])',
            w=24,
            h=12,
            layer="track",
            more=(  # B: a marker where the truck first stood at each site it visited
                _src(bucket, "positions", v)
                + '\n  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
                + '\n  |> filter(fn: (r) => r.site != "")\n  |> group(columns: ["site"])\n  |> first(column: "_time")'
                + "\n  |> group()"
                + _coords(basemap)
                + '\n  |> keep(columns: ["_time", "site", "lat", "lon"])\n  |> sort(columns: ["_time"])',
            ),
            unit="velocitykmh",
        ),
        PanelSpec(
            "v_visits",
            title("v_visits"),
            "table",
            _src(bucket, "visits", ' and r._field == "dwell_s"' + v)
            + '\n  |> group()\n  |> keep(columns: ["_time", "site", "site_kind", "_value"])\n  |> sort(columns: ["_time"])',
            w=12,
            h=10,
            unit="s",
        ),
        PanelSpec(
            "v_tonnage",
            title("v_tonnage"),
            "table",
            _src(bucket, "tonnage", v)
            + '\n  |> pivot(rowKey: ["_time", "station", "direction"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            '\n  |> keep(columns: ["_time", "station", "direction", "net_kg", "tickets"])',
            w=12,
            unit="kg",
        ),
    ]


def _per_vehicle(bucket: str, key: str, kind: str) -> PanelSpec:
    """A table of one data-quality kind counted per vehicle over the time range."""
    return PanelSpec(
        key,
        title(key),
        "table",
        _src(bucket, "data_quality", f' and r._field == "count" and r.kind == "{kind}"')
        + '\n  |> group(columns: ["detail"])\n  |> sum()\n  |> group()\n  |> rename(columns: {detail: "vehicle"})'
        '\n  |> sort(columns: ["vehicle"])',
        unit="none",
        w=12,
    )


def quality_panels(bucket: str) -> list[PanelSpec]:
    return [
        PanelSpec(
            "q_by_kind",
            title("q_by_kind"),
            "table",
            _src(bucket, "data_quality", ' and r._field == "count"')
            + '\n  |> group(columns: ["kind"])\n  |> sum()\n  |> group()\n  |> sort(columns: ["kind"])',
            w=12,
            unit="none",
        ),
        PanelSpec(
            "q_dead_letters",
            title("q_dead_letters"),
            "table",
            _src(bucket, "data_quality", ' and r._field == "count" and r.kind == "dead_letter"')
            + '\n  |> group(columns: ["detail"])\n  |> sum()\n  |> group()\n  |> sort(columns: ["detail"])',
            w=12,
            unit="none",
        ),
        _per_vehicle(bucket, "q_silent", "silent_terminal"),
        _per_vehicle(bucket, "q_dark", "dark_terminal"),
        PanelSpec(
            "q_unknown_terminals",
            title("q_unknown_terminals"),
            "table",
            _src(bucket, "unknown_terminals")
            + '\n  |> pivot(rowKey: ["_time", "terminal", "source"], columnKey: ["_field"], valueColumn: "_value")'
            '\n  |> group()\n  |> keep(columns: ["terminal", "source", "first_seen", "last_seen", "count"])'
            '\n  |> sort(columns: ["count"], desc: true)',
            w=12,
            unit="none",
        ),
        PanelSpec(
            "q_no_dwell",
            title("q_no_dwell"),
            "table",
            _src(bucket, "data_quality", ' and r._field == "count" and r.kind == "ticket_no_station_dwell"')
            + '\n  |> group(columns: ["detail"])\n  |> last()\n  |> group()\n  |> filter(fn: (r) => r._value > 0)'
            '\n  |> rename(columns: {detail: "station"})\n  |> sort(columns: ["station"])',
            w=12,
            unit="none",
        ),
    ]


# Base maps: OpenStreetMap draws in WGS-84 (what JT/T 808 terminals report); Chinese base maps
# (AutoNavi/Gaode, Tencent) draw in GCJ-02, where WGS-84 points sit a few hundred metres off. Grafana
# cannot switch a panel's base layer by a variable, so the base map is chosen when the dashboards are
# built, and the map panels read the coordinates in its datum (both are stored).
Basemap = Literal["osm", "amap"]
BASEMAPS: tuple[Basemap, ...] = ("osm", "amap")
AMAP_TILES = "https://webrd0{1-4}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
STATUS_STEPS = (  # status_code → colour and legend (0 pending, 1 cleared, 2 late, 3 missed)
    (0, "#8e8e8e", "待清运 pending"),
    (1, "green", "已清运 cleared"),
    (2, "orange", "迟清运 late"),
    (3, "red", "漏清运 missed"),
)


def _coords(basemap: Basemap) -> str:
    if basemap == "amap":
        return "\n  |> map(fn: (r) => ({r with lat: r.lat_gcj02, lon: r.lon_gcj02}))"
    return ""


def _base_layer(basemap: Basemap) -> common_builders.MapLayerOptions:
    if basemap == "amap":
        return (
            common_builders.MapLayerOptions()
            .type("xyz")
            .name("高德地图 AMap (GCJ-02)")
            .config({"url": AMAP_TILES, "attribution": "© AutoNavi 高德地图"})
        )
    return common_builders.MapLayerOptions().type("osm-standard").name("OpenStreetMap").config({})


def _data_layer(kind: str, name: str, config: dict) -> common_builders.MapLayerOptions:
    """A layer drawn from the query's ``lat``/``lon`` columns, with tooltips."""
    location = (
        common_builders.FrameGeometrySource().mode(FrameGeometrySourceMode.COORDS).latitude("lat").longitude("lon")
    )
    return common_builders.MapLayerOptions().type(kind).name(name).location(location).tooltip(True).config(config)


def _marker_style(color: dict, size: int) -> dict:
    return {
        "color": color,
        "size": {"fixed": size},
        "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
        "opacity": 0.9,
    }


def _map_layers(layer: str) -> list:
    if layer == "points":
        style = _marker_style({"field": "status_code", "fixed": "dark-green"}, 7)
        return [_data_layer("markers", "收集点 Points", {"showLegend": True, "style": style})]
    if layer == "track":
        line = {"arrow": 1, "style": {"color": {"fixed": "blue"}, "lineWidth": 2, "opacity": 1}}
        visits = {"showLegend": False, "style": _marker_style({"fixed": "orange"}, 6)}
        return [
            _data_layer("route", "轨迹 Track", line).filter_data({"id": "byRefId", "options": "A"}),
            _data_layer("markers", "到点 Visits", visits).filter_data({"id": "byRefId", "options": "B"}),
        ]
    raise ValueError(f"map layer {layer!r}")


def _geomap(p: geomap.Panel, spec: PanelSpec, basemap: Basemap) -> geomap.Panel:
    p = (
        p.basemap(_base_layer(basemap))
        .layers(_map_layers(spec.layer))
        .view(geomap.MapViewConfig().id("fit").all_layers(True).zoom(14))
        .controls(
            geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_attribution(True).show_scale(True)
        )
        .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
    )
    if spec.layer == "points":
        steps = [Threshold(value=None if code == 0 else float(code), color=color) for code, color, _ in STATUS_STEPS]
        p = (
            p.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
            .color_scheme(dashboard.FieldColor().mode(FieldColorModeId.THRESHOLDS))
            .mappings(
                [
                    ValueMap(
                        options={
                            str(code): ValueMappingResult(text=text, color=color, index=code)
                            for code, color, text in STATUS_STEPS
                        }
                    )
                ]
            )
        )
    return p


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


def _panel(spec: PanelSpec, pid: int, x: int, y: int, ds_uid: str, basemap: Basemap = "osm") -> cogbuilder.Builder:
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
        .targets([Flux(q, ds_uid, ref) for ref, q in spec.queries()])
        .grid_pos(GridPos(h=spec.h, w=spec.w, x=x, y=y))
    )
    if spec.unit:
        p = p.unit(spec.unit)
    if spec.kind == "geomap":
        p = _geomap(p, spec, basemap)
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
    basemap: Basemap = "osm",
) -> BuiltDashboard:
    d = dashboard.Dashboard(title).uid(uid).tags(tags).timezone(tz).time("now/d", "now/d").refresh("1m")
    for name, label, measurement in variables:
        d = d.with_variable(_tag_variable(name, label, bucket, measurement, ds_uid))
    x = y = row_h = 0
    for i, spec in enumerate(panels, 1):
        if x + spec.w > 24:
            x, y, row_h = 0, y + row_h, 0
        d = d.with_panel(_panel(spec, i, x, y, ds_uid, basemap))
        x += spec.w
        row_h = max(row_h, spec.h)
    model = json.loads(JSONEncoder(sort_keys=True).encode(d.build()))
    return BuiltDashboard(uid, title, panels, model)


def all_dashboards(
    bucket: str, ds_uid: str, plan_t: float, contractor: str | None = None, tz: str = TIMEZONE, basemap: Basemap = "osm"
) -> list[BuiltDashboard]:
    """The dispatch set (whole city) or, with ``contractor``, that contractor's set on its own bucket;
    days are the city's local days (``tz``: its time zone); maps on ``basemap`` (osm or amap)."""
    suffix = f"-{contractor.lower()}" if contractor else ""
    contractors = build(
        f"ws-contractor{suffix}",
        f"承包商 Contractor {contractor}" if contractor else "承包商 Contractor",
        contractor_panels(bucket, tz, basemap),
        ds_uid,
        [("contractor", "Contractor", "clearance")],
        bucket,
        ["wastestream", "contractor"],
        tz,
        basemap,
    )
    if contractor:
        return [contractors]
    return [
        build(
            "ws-dispatch",
            "调度总览 Dispatch overview",
            dispatch_panels(bucket, plan_t, basemap, tz),
            ds_uid,
            [],
            bucket,
            ["wastestream", "dispatch"],
            tz,
            basemap,
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
            basemap,
        ),
        build(
            "ws-vehicle",
            "车辆 Vehicle",
            vehicle_panels(bucket, basemap),
            ds_uid,
            [("vehicle", "Vehicle", "positions")],  # every vehicle that reported
            bucket,
            ["wastestream", "vehicle"],
            tz,
            basemap,
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
            basemap,
        ),
    ]
