"""`wastestream report`: a day's figures as a PNG and an HTML page, for contractors who get a file
rather than a Grafana login. Figures are read from InfluxDB with the dashboards' kind of Flux; the
PNG carries them as metadata (``wastestream-figures``) so what it shows can be checked."""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from wastestream.domain.scorecard import scorecard
from wastestream.schemas import City, Clearance
from wastestream.settings import Settings
from wastestream.stream_processors import queries

STATUS_COLOURS = {"cleared": "#2e7d32", "late": "#f9a825", "missed": "#c62828", "pending": "#9e9e9e"}


def report_figures(settings: Settings, day: date, contractor: str | None = None, token: str | None = None) -> dict:
    """Tonnage, clearance per point and the scorecard per contractor for ``day``."""
    from influxdb_client import InfluxDBClient

    tz = settings.timezone
    bucket = f"contractor-{contractor.lower()}" if contractor else settings.influx_bucket
    rng = queries.day_range(day, tz)
    with InfluxDBClient(
        url=settings.influx_url, token=token or settings.influx_token_value(), org=settings.influx_org
    ) as c:
        q = c.query_api()
        ton = {r["contractor"]: r["_value"] for r in q.query_stream(queries.tonnage_by(bucket, day, tz, "contractor"))}
        by_station = {r["station"]: r["_value"] for r in q.query_stream(queries.tonnage_by(bucket, day, tz, "station"))}
        points = [
            r.values
            for r in q.query_stream(
                f'from(bucket: "{bucket}") |> {rng}\n'
                '  |> filter(fn: (r) => r._measurement == "clearance" and (r._field == "status" or r._field == "lat" or r._field == "lon"))\n'
                '  |> pivot(rowKey: ["_time", "point"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            )
        ]
        complaints = [
            r.values
            for r in q.query_stream(
                f'from(bucket: "{bucket}") |> {rng}\n'
                '  |> filter(fn: (r) => r._measurement == "complaints"'
                ' and (r._field == "valid" or r._field == "open" or r._field == "minutes_to_resolve"))\n'
                '  |> pivot(rowKey: ["_time", "case"], columnKey: ["_field"], valueColumn: "_value")\n  |> group()'
            )
        ]
    if contractor:
        complaints = [c for c in complaints if c.get("contractor") == contractor]
        points = [p for p in points if p["contractor"] == contractor]
        ton = {k: v for k, v in ton.items() if k == contractor}
    by_contractor: dict[str, list[Clearance]] = defaultdict(list)
    for p in points:
        by_contractor[p["contractor"]].append(Clearance(p["status"]))
    cards = {c: scorecard(c, statuses, ton.get(c, 0.0)) for c, statuses in sorted(by_contractor.items())}
    scores = {
        c: {
            "due": sc.due,
            "cleared": sc.cleared,
            "late": sc.late,
            "missed": sc.missed,
            "pending": sc.pending,
            "clearance_rate": round(sc.clearance_rate, 4),
            "tonnage_kg": sc.tonnage_kg,
        }
        for c, sc in cards.items()
    }
    return {
        "day": day.isoformat(),
        "timezone": tz,
        "contractor": contractor,
        "tonnage_in_kg": round(sum(ton.values()), 3),
        "tonnage_by_contractor": dict(sorted(ton.items())),
        "tonnage_by_station": dict(sorted(by_station.items())) if not contractor else {},
        "status_counts": dict(Counter(p["status"] for p in points)),
        "scorecard": scores,
        "missed": sorted(p["point"] for p in points if p["status"] == "missed"),
        "complaints": {
            c: {
                "cases": sum(1 for x in complaints if x.get("contractor") == c),
                "valid": sum(1 for x in complaints if x.get("contractor") == c and x["valid"]),
                "open": sum(1 for x in complaints if x.get("contractor") == c and x["open"]),
                "mean_minutes_to_resolve": _mean(
                    [
                        x["minutes_to_resolve"]
                        for x in complaints
                        if x.get("contractor") == c and x.get("minutes_to_resolve") is not None
                    ]
                ),
            }
            for c in sorted({x["contractor"] for x in complaints if x.get("contractor")})  # (no point: no contractor)
        },
        "points": [(p["point"], p["lat"], p["lon"], p["status"]) for p in points],
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _minutes(m: float | None) -> str:
    return "" if m is None else f"{m:.0f}"


def render_png(fig_data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = plt.figure(figsize=(14, 9), dpi=100)
    title = f"wastestream daily report {fig_data['day']} ({fig_data.get('timezone', 'Asia/Shanghai')})"
    if fig_data["contractor"]:
        title += f" - contractor {fig_data['contractor']}"
    f.suptitle(title, fontsize=14)
    ax = f.add_subplot(1, 2, 1)
    for status, colour in STATUS_COLOURS.items():
        pts = [(lon, lat) for _, lat, lon, s in fig_data["points"] if s == status]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=8 if status == "cleared" else 30, c=colour, label=f"{status} ({len(pts)})")
    ax.set_title("Collection points (WGS-84)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="lower left", fontsize=8)
    ax2 = f.add_subplot(2, 2, 2)
    ton = fig_data["tonnage_by_contractor"]
    ax2.bar(list(ton), [v / 1000 for v in ton.values()], color="#1565c0")
    ax2.set_title(f"In-tonnage by contractor: {fig_data['tonnage_in_kg'] / 1000:,.1f} t in total")
    ax2.set_ylabel("t")
    ax3 = f.add_subplot(2, 2, 4)
    ax3.axis("off")
    rows = [
        [
            c,
            s["due"],
            s["cleared"],
            s["late"],
            s["missed"],
            f"{s['clearance_rate']:.2%}",
            f"{s['tonnage_kg'] / 1000:,.1f}",
        ]
        for c, s in fig_data["scorecard"].items()
    ]
    t = ax3.table(
        cellText=rows, colLabels=["contractor", "due", "cleared", "late", "missed", "rate", "t"], loc="center"
    )
    t.scale(1, 1.3)
    ax3.set_title("Scorecard")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(f)
    meta = {"wastestream-figures": json.dumps({k: v for k, v in fig_data.items() if k != "points"}, ensure_ascii=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    f.savefig(path, format="png", metadata=meta)
    plt.close(f)


STATUS_LABELS = {
    "cleared": "已清运 cleared",
    "late": "迟清运 late",
    "missed": "漏清运 missed",
    "pending": "待清运 pending",
}


def svg_map(points: list, width: int = 720, height: int = 520) -> str:
    """The points coloured by status as inline SVG (no tiles, no script, no network): an
    equirectangular projection of the points' own extent, north up, with a legend."""
    if not points:
        return '<p id="map-empty">no points</p>'
    lats = [p[1] for p in points]
    lons = [p[2] for p in points]
    pad = 20
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    kx = (width - 2 * pad) / max(lon1 - lon0, 1e-9)
    ky = (height - 2 * pad - 30) / max(lat1 - lat0, 1e-9)
    k = min(kx, ky)  # one scale for both axes (the city's small extent: cos(lat) is left out)
    order = {"cleared": 0, "pending": 1, "late": 2, "missed": 3}  # problems drawn last, on top
    circles = "".join(
        f'<circle cx="{pad + (lon - lon0) * k:.1f}" cy="{height - pad - (lat - lat0) * k:.1f}" '
        f'r="{6 if status in ("missed", "late") else 3.5}" fill="{STATUS_COLOURS.get(status, "#000")}" '
        f'data-point="{html.escape(point)}" data-status="{html.escape(status)}">'
        f"<title>{html.escape(point)}: {html.escape(STATUS_LABELS.get(status, status))}</title></circle>"
        for point, lat, lon, status in sorted(points, key=lambda p: (order.get(p[3], 9), p[0]))
    )
    counts = Counter(p[3] for p in points)
    legend = "".join(
        f'<g transform="translate({pad + i * 170},{pad - 4})"><circle r="6" fill="{colour}"/>'
        f'<text x="10" y="4" font-size="13">{STATUS_LABELS[status]} ({counts.get(status, 0)})</text></g>'
        for i, (status, colour) in enumerate(STATUS_COLOURS.items())
    )
    return (
        f'<svg id="points-map" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="collection points by status">'
        f'<rect width="100%" height="100%" fill="#f7f7f4" stroke="#ccc"/>{legend}{circles}</svg>'
    )


def render_html(fig_data: dict, png: Path) -> str:
    img = base64.b64encode(png.read_bytes()).decode()
    rows = "".join(
        f'<tr data-contractor="{html.escape(c)}"><td>{html.escape(c)}</td><td>{s["due"]}</td><td>{s["cleared"]}</td>'
        f"<td>{s['late']}</td><td>{s['missed']}</td><td>{s['clearance_rate']:.2%}</td>"
        f"<td>{s['tonnage_kg'] / 1000:,.3f}</td></tr>"
        for c, s in fig_data["scorecard"].items()
    )
    evidence = fig_data.get("evidence", {})
    missed = (
        "".join(
            f'<li><a href="{html.escape(evidence[p])}">{html.escape(p)}</a></li>'
            if p in evidence
            else f"<li>{html.escape(p)}</li>"
            for p in fig_data["missed"]
        )
        or "<li>none</li>"
    )
    complaints = "".join(
        f'<tr data-contractor="{html.escape(c)}"><td>{html.escape(c)}</td><td>{v["cases"]}</td>'
        f"<td>{v['valid']}</td><td>{v['open']}</td><td>{_minutes(v['mean_minutes_to_resolve'])}</td></tr>"
        for c, v in fig_data.get("complaints", {}).items()
    )
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>环卫日报 {fig_data["day"]}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:right}}</style>
<h1>环卫日报 Daily report {fig_data["day"]}{" · " + html.escape(fig_data["contractor"]) if fig_data["contractor"] else ""}</h1>
<p>进站量 In-tonnage: <b id="tonnage">{fig_data["tonnage_in_kg"] / 1000:,.3f}</b> t</p>
<h2>考核 Scorecard</h2>
<table id="scorecard"><tr><th>作业单位 contractor</th><th>due</th><th>cleared</th><th>late</th><th>missed</th><th>清运率</th><th>t</th></tr>{rows}</table>
<h2>未清运 Missed (作业证据 proof of service linked)</h2><ul id="missed">{missed}</ul>
<h2>投诉 Complaints</h2>
<table id="complaints"><tr><th>作业单位 contractor</th><th>件数 cases</th><th>有效 valid</th><th>待补收 open</th><th>平均处置 (分钟) mean minutes to resolve</th></tr>{complaints}</table>
<h2>收集点地图 Points by status</h2>
{svg_map(fig_data["points"])}
<h2>图表 Charts</h2>
<img alt="report" src="data:image/png;base64,{img}" style="max-width:100%">
</html>
"""


def write_report(
    settings: Settings,
    day: date,
    out_dir: Path,
    contractor: str | None = None,
    token: str | None = None,
    city: City | None = None,
) -> tuple[Path, Path, dict]:
    """With ``city``: a proof-of-service page for each missed point, linked from the report."""
    data = report_figures(settings, day, contractor, token)
    if city is not None:
        from wastestream.proof import read_evidence, write_evidence

        bucket = f"contractor-{contractor.lower()}" if contractor else None
        data["evidence"] = {}
        for pid in data["missed"]:
            proof, fixes = read_evidence(settings, city, pid, day, token, bucket)
            data["evidence"][pid] = write_evidence(proof, fixes, out_dir)["html"].name
    stem = f"report-{day}" + (f"-{contractor}" if contractor else "")
    png = out_dir / f"{stem}.png"
    render_png(data, png)
    page = out_dir / f"{stem}.html"
    page.write_text(render_html(data, png), encoding="utf-8")
    return png, page, data
