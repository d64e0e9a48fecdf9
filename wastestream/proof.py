"""`wastestream evidence --point P --date D`: the proof of service of one point-day, read from the
visits and positions in InfluxDB (:mod:`wastestream.domain.proof` decides what it shows), printed and
written as JSON, GeoJSON and a PNG map (and an HTML page the daily report links to)."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path

from wastestream.domain.proof import SeenFix, SeenVisit, proof_of_service, to_geojson
from wastestream.domain.risk import distance_m
from wastestream.schemas import City
from wastestream.settings import Settings
from wastestream.stream_processors import queries

MAP_RADIUS_M = 1500  # fixes drawn on the map: those within this of the point


def read_evidence(
    settings: Settings, city: City, point_id: str, day: date, token: str | None = None, bucket: str | None = None
) -> tuple[dict, list[SeenFix]]:
    from influxdb_client import InfluxDBClient

    from wastestream.errors import WastestreamError

    point = next((p for p in city.collection_points if p.id == point_id), None)
    if point is None:
        raise WastestreamError(f"--point: no collection point {point_id!r} in the city")
    tz = city.timezone
    b = bucket or settings.influx_bucket
    with InfluxDBClient(
        url=settings.influx_url, token=token or settings.influx_token_value(), org=settings.influx_org
    ) as c:
        q = c.query_api()
        visits = [
            SeenVisit(r["vehicle"], r["_time"], datetime.fromisoformat(r["exit"]))
            for r in q.query_stream(queries.visits_at(b, point_id, day, tz))
        ]
        fixes = [
            SeenFix(r["vehicle"], r["_time"], r["lat"], r["lon"], r["speed_kmh"])
            for r in q.query_stream(queries.positions_of(b, point.contractor_id, day, tz))
        ]
    proof = proof_of_service(point, day, tz, visits, fixes, datetime.now(UTC))
    return proof, fixes


def write_evidence(proof: dict, fixes: list[SeenFix], out_dir: Path) -> dict[str, Path]:
    """<stem>.json, .geojson, .png and .html under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"evidence-{proof['point']}-{proof['day']}"
    centre = (proof["geofence"]["lat"], proof["geofence"]["lon"])
    near = [f for f in fixes if distance_m(centre, (f.lat, f.lon)) <= MAP_RADIUS_M]
    paths = {k: stem.with_suffix(f".{k}") for k in ("json", "geojson", "png", "html")}
    paths["json"].write_text(json.dumps(proof, indent=1, ensure_ascii=False), encoding="utf-8")
    paths["geojson"].write_text(json.dumps(to_geojson(proof, near), ensure_ascii=False), encoding="utf-8")
    _png(proof, near, paths["png"])
    paths["html"].write_text(_html(proof, paths), encoding="utf-8")
    return paths


def _png(proof: dict, near: list[SeenFix], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    g = proof["geofence"]
    by_vehicle: dict[str, list[SeenFix]] = {}
    for f in sorted(near, key=lambda f: f.t):
        by_vehicle.setdefault(f.vehicle, []).append(f)
    for vehicle, track in sorted(by_vehicle.items()):
        ax.plot([f.lon for f in track], [f.lat for f in track], "-", lw=1, alpha=0.7, label=vehicle)
    for f in (proof["service"] or {}).get("fixes", []):
        ax.plot(f["lon"], f["lat"], "o", color="#2e7d32", ms=4)
    colour = {"cleared": "#2e7d32", "late": "#f9a825", "missed": "#c62828"}.get(proof["status"], "#9e9e9e")
    ax.plot(g["lon"], g["lat"], "*", color=colour, ms=18, label=f"{proof['point']} ({proof['status']})")
    ax.set_title(f"Proof of service {proof['point']} {proof['day']}: {proof['status']}")
    ax.set_xlabel("longitude (WGS-84)")
    ax.set_ylabel("latitude (WGS-84)")
    ax.legend(fontsize=8, loc="best")
    ax.set_aspect("equal", adjustable="datalim")
    fig.savefig(path, format="png")
    plt.close(fig)


def _html(proof: dict, paths: dict[str, Path]) -> str:
    s = proof["service"]
    rows = "".join(
        f"<tr><td>{html.escape(v)}</td><td>{c['distance_m']:.0f}</td><td>{html.escape(c['at'])}</td></tr>"
        for v, c in proof["closest_approach"].items()
    )
    service = (
        f"<p id='service'>{html.escape(s['vehicle'])}: {html.escape(s['arrival'])} → {html.escape(s['departure'])}"
        f" ({s['dwell_s']:.0f} s, {len(s['fixes'])} fixes)</p>"
        if s
        else "<p id='service'>无作业记录 no service</p>"
    )
    catch = "".join(f"<li>{html.escape(c['vehicle'])} {html.escape(c['arrival'])}</li>" for c in proof["catch_up"])
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>作业证据 {html.escape(proof["point"])} {proof["day"]}</title>
<h1>作业证据 Proof of service · {html.escape(proof["point"])} {html.escape(proof["name"])} · {proof["day"]}</h1>
<p>状态 status: <b id="status">{proof["status"]}</b></p>
<h2>作业 Service</h2>{service}
<h2>补收 Catch-up</h2><ul id="catch-up">{catch or "<li>none</li>"}</ul>
<h2>最近距离 Closest approach</h2><table id="closest"><tr><th>vehicle</th><th>m</th><th>at</th></tr>{rows}</table>
<p><a href="{paths["geojson"].name}">GeoJSON</a> · <a href="{paths["json"].name}">JSON</a></p>
<img alt="map" src="{paths["png"].name}" style="max-width:100%">
</html>
"""
