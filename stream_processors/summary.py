"""`wastestream summary`: a day's figures read back from InfluxDB with the same Flux the dashboards use."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table

from wastestream.settings import Settings
from wastestream.stream_processors import queries


def fetch(settings: Settings, day: date) -> dict:
    from influxdb_client import InfluxDBClient

    tz, b = settings.timezone, settings.influx_bucket
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        q = c.query_api()
        res = {
            "by_station": {
                r["station"]: r["_value"] for r in q.query_stream(queries.tonnage_by(b, day, tz, "station"))
            },
            "by_contractor": {
                r["contractor"]: r["_value"] for r in q.query_stream(queries.tonnage_by(b, day, tz, "contractor"))
            },
            "by_stream": {
                r["waste_stream"]: r["_value"] for r in q.query_stream(queries.tonnage_by(b, day, tz, "waste_stream"))
            },
            "status": {r["_value"]: r["point"] for r in q.query_stream(queries.clearance_counts(b, day, tz))},
            "missed": [
                dict(point=r["point"], contractor=r["contractor"], route=r["route"])
                for r in q.query_stream(queries.clearance_points(b, day, tz, "missed"))
            ],
            "balance": [dict(r.values) for r in q.query_stream(queries.station_balance(b, day, tz))],
            "violations": [
                dict(r.values)
                for r in q.query_stream(
                    f'from(bucket: "{b}") |> {queries.day_range(day, tz)}'
                    ' |> filter(fn: (r) => r._measurement == "violations")'
                    ' |> pivot(rowKey: ["_time", "vehicle", "kind"], columnKey: ["_field"], valueColumn: "_value")'
                    ' |> filter(fn: (r) => r.active == 1) |> group() |> sort(columns: ["_time"])'
                )
            ],
        }
    return res


def print_summary(settings: Settings, day: date, out: Console) -> dict:
    f = fetch(settings, day)
    total = sum(f["by_station"].values())
    out.print(
        f"[bold]{day} ({settings.timezone})[/bold]  in-tonnage {total / 1000:,.1f} t at {len(f['by_station'])} stations"
    )
    t = Table("contractor", "t delivered")
    for k, v in sorted(f["by_contractor"].items()):
        t.add_row(k, f"{v / 1000:,.1f}")
    out.print(t)
    st = f["status"]
    due = sum(st.values())
    done = st.get("cleared", 0) + st.get("late", 0)
    out.print(
        f"clearance: {due} points due — cleared {st.get('cleared', 0)}, late {st.get('late', 0)}, "
        f"missed {st.get('missed', 0)}, pending {st.get('pending', 0)}; 清运率 {done / due:.2%}"
        if due
        else "clearance: no data"
    )
    for m in f["missed"][:10]:
        out.print(f"  missed: {m['point']} ({m['contractor']}, route {m['route']})")
    not_cleared = [b for b in f["balance"] if not b.get("cleared_same_day", True)]
    out.print(
        f"stations: {len(f['balance'])}, not cleared the same day (日产日清): {[b['station'] for b in not_cleared]}"
    )
    for v in f["violations"][:10]:
        out.print(f"  violation: {v['kind']} {v['vehicle']} ({v['contractor']}) {v['_time']:%H:%M}Z: {v['detail']}")
    if len(f["violations"]) > 10:
        out.print(f"  … {len(f['violations']) - 10} more violations")
    return f
