"""Every dashboard panel's Flux, with Grafana's variables substituted, run against the real InfluxDB
holding a simulated day's figures, returns what the simulator's ground truth says. And a contractor's
read token is refused by InfluxDB on any other bucket."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

from wastestream.domain.datum import gcj02
from wastestream.domain.localtime import day_start
from wastestream.grafana.dashboards import DISPATCH_DS_UID, all_dashboards
from wastestream.grafana.isolation import contractor_read_tokens
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.eventfiles import read_events
from wastestream.stream_processors.recompute import recompute
from wastestream.stream_processors.sink import InfluxSink

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 2)
VARS = {"contractor": "C01", "station": "S01", "vehicle": "V001"}


@pytest.fixture(scope="module")
def filled(stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("panels")
    city = build_city(808)
    # the demo's faults and a truck dumping part of a load by the roadside
    truth, _ = write_offline(city, DAY, 808, Faults(**{**vars(Faults.demo()), "dumping": 1}), d)
    s = stack.model_copy(update={"influx_bucket": f"panels-{uuid.uuid4().hex[:8]}"})
    sink = InfluxSink(s, city)
    sink.write(list(recompute(city, d).records.values()))
    sink.close()
    plan = round(sum(p.expected_kg for p in city.collection_points) / 1000, 1)
    t = truth.to_json()
    t["fixes_v001"] = [(f.device_time, f.lat, f.lon) for f in read_events(d, "gps.fixes") if f.vehicle_id == "V001"]
    return s, city, t, plan


def substitute(flux: str) -> str:
    start, stop = day_start(DAY, "Asia/Shanghai"), day_start(DAY + timedelta(days=1), "Asia/Shanghai")
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    out = flux.replace("v.timeRangeStart", start.strftime(fmt)).replace("v.timeRangeStop", stop.strftime(fmt))
    out = out.replace("v.windowPeriod", "1h")
    for k, v in VARS.items():
        out = out.replace("${" + k + "}", v)
    return out


def rows(s, flux: str) -> list[dict]:
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        return [r.values for r in c.query_api().query_stream(substitute(flux))]


def test_every_panel_returns_the_ground_truth(filled):
    s, city, truth, plan = filled
    stops = truth["stops"]
    where = {p.id: (p.geofence.lat, p.geofence.lon) for p in city.collection_points}
    track = sorted(truth["fixes_v001"])
    status_counts = {k: v for k, v in truth["status_counts"].items() if v}
    route_v001 = next(r for r in city.routes if r.vehicle_id == "V001")
    visit_at = {
        x["point"]: x["_value"]
        for x in rows(
            s,
            f'from(bucket: "{s.influx_bucket}") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)'
            ' |> filter(fn: (r) => r._measurement == "clearance" and r._field == "visit_at")',
        )
    }
    c01_vehicles = {v.id for v in city.vehicles if v.contractor_id == "C01"}
    missed_timed = [p.id for p in city.collection_points if p.timed_stop and stops[p.id]["status"] == "missed"]
    expect = {
        "tonnage_in": lambda r: r[0]["_value"] == pytest.approx(truth["tonnage_in_total_kg"] / 1000),
        "tonnage_plan": lambda r: r[0]["_value"] == plan,
        "clearance_rate": lambda r: (
            r[0]["_value"]
            == pytest.approx((status_counts.get("cleared", 0) + status_counts.get("late", 0)) / len(stops) * 100)
        ),
        "status_counts": lambda r: {x["status"]: x["points"] for x in r} == status_counts,
        "points_map": lambda r: points_shown(r, stops, where, city, gcj02, visit_at),
        "c_points_map": lambda r: points_shown(
            r, {p: v for p, v in stops.items() if v["contractor"] == "C01"}, where, city, gcj02, visit_at
        ),
        "points_map@osm": lambda r: points_shown(r, stops, where, city, wgs84, visit_at),
        "c_points_map@osm": lambda r: points_shown(
            r, {p: v for p, v in stops.items() if v["contractor"] == "C01"}, where, city, wgs84, visit_at
        ),
        "not_cleared": lambda r: (
            {(x["point"], x["status"]) for x in r}
            == {(p, v["status"]) for p, v in stops.items() if v["status"] in ("missed", "late")}
        ),
        "station_balance": lambda r: (
            {x["station"]: x["transferred_kg"] for x in r} == truth["transferred_out"]
            and {x["station"]: x["received_kg"] for x in r} == truth["tonnage_in_by_station"]
            and sum(not x["cleared_same_day"] for x in r) == 1
        ),
        "vehicles_seen": lambda r: r[0]["_value"] == len({v["vehicle"] for v in stops.values() if v["vehicle"]}),
        "alerts_missed_timed": lambda r: r[0]["_value"] == len(missed_timed) == 1,
        "alerts_missed": lambda r: r[0]["_value"] == status_counts.get("missed", 0) - len(missed_timed),
        # a recompute of a past day is not live: no terminal alerts (and the stat shows no data)
        "alerts_silent": lambda r: r == [],
        "alerts_dark": lambda r: r == [],
        "alerts_at_risk": lambda r: r == [],  # warnings are live only
        # no complaints on this day (tests/integration/test_complaints.py fills and checks these)
        "complaints_open": lambda r: r == [],
        "c_complaints": lambda r: r == [],
        # the operating violations the simulator made the trucks commit (demo faults: a ghost ticket)
        "violations_by_kind": lambda r: (
            {x["kind"]: x["_value"] for x in r}
            == dict(Counter(k for kinds in truth["violations"].values() for k, n in kinds.items() for _ in range(n)))
        ),
        "c_violations": lambda r: (
            sorted((x["kind"], x["vehicle"]) for x in r)
            == sorted(
                (k, v)
                for v, kinds in truth["violations"].items()
                if v in c01_vehicles
                for k, n in kinds.items()
                for _ in range(n)
            )
        ),
        "c_assessment": lambda r: r == [],  # written by `wastestream assess` (tests/integration/test_assess.py)
        "v_day": lambda r: (
            len(r) == 1
            and r[0]["km_track"] == pytest.approx(truth["driven_km"]["V001"], rel=0.005)
            and r[0]["trips"] == truth["trips"]["V001"]
            and r[0]["delivered_kg"] == truth["tonnage_in_by_vehicle"]["V001"]
            and r[0]["engine_h"] == pytest.approx(truth["engine_h"]["V001"], abs=1e-3)
        ),
        "c_tonnage": lambda r: r[0]["_value"] == pytest.approx(truth["tonnage_in_by_contractor"]["C01"] / 1000),
        "c_scorecard": lambda r: (
            {x["status"]: x["points"] for x in r}
            == dict(Counter(v["status"] for v in stops.values() if v["contractor"] == "C01"))
        ),
        "c_rate_trend": lambda r: (
            len(r) == 1
            and r[0]["_value"]
            == pytest.approx(
                100
                * sum(v["status"] in ("cleared", "late") for v in stops.values() if v["contractor"] == "C01")
                / sum(v["contractor"] == "C01" for v in stops.values())
            )
        ),
        "c_tonnage_trend": lambda r: [x["_value"] for x in r] == [truth["tonnage_in_by_contractor"]["C01"]],
        "s_in_out": lambda r: (
            {x["direction"]: x["_value"] for x in r}
            == {"in": truth["tonnage_in_by_station"]["S01"], "out": truth["transferred_out"]["S01"]}
        ),
        "s_balance": lambda r: len(r) == 1 and r[0]["received_kg"] == truth["tonnage_in_by_station"]["S01"],
        "v_track": lambda r: (
            len(r) == len(track)
            and all(
                (x["lat"], x["lon"]) == pytest.approx(gcj02(lat, lon), abs=1e-6)
                for x, (_, lat, lon) in zip(r, track, strict=True)
            )
        ),
        "v_track@osm": lambda r: [(x["lat"], x["lon"]) for x in r] == [(lat, lon) for _, lat, lon in track],
        "v_track:B": lambda r: (  # one marker per site the truck stood at: its route's stops served + station
            {x["site"] for x in r}
            == {p for p in route_v001.stops if stops[p]["status"] != "missed"} | {route_v001.station_id}
        ),
        "v_track:B@osm": lambda r: len(r) > 0,
        "v_visits": lambda r: (
            Counter(x["site_kind"] for x in r)
            == Counter({"point": sum(stops[p]["status"] != "missed" for p in route_v001.stops), "station": 3})
        ),
        "v_tonnage": lambda r: (
            sum(x["net_kg"] for x in r if x["direction"] == "in") == truth["tonnage_in_by_vehicle"]["V001"]
            and sum(x["tickets"] for x in r) == 3
        ),
        "q_by_kind": lambda r: (
            {x["kind"]: x["_value"] for x in r}
            == {
                "dead_letter": 3 + len(truth["unknown_terminals"]),
                "duplicate_ticket": 5,
                "dark_terminal": sum(truth["dark_terminals"].values()),
                "ticket_manual_weight": 3,
                "backfill_fix": truth["counts"]["backfilled_fixes"],
                "ticket_no_station_dwell": sum(truth["tickets_without_dwell"].values()),
                "silent_terminal": sum(truth["silent_terminals"].values()),
            }
        ),
        "q_silent": lambda r: {x["vehicle"]: x["_value"] for x in r} == truth["silent_terminals"],
        "q_no_dwell": lambda r: {x["station"]: x["_value"] for x in r} == truth["tickets_without_dwell"],
        "q_dead_letters": lambda r: (
            {x["detail"]: x["_value"] for x in r}
            == {"gateway:bad checksum": 3, "gateway:unknown terminal": len(truth["unknown_terminals"])}
        ),
        "q_dark": lambda r: {x["vehicle"]: x["_value"] for x in r} == truth["dark_terminals"],
        "q_unknown_terminals": lambda r: (
            {x["terminal"]: x["count"] for x in r} == truth["unknown_terminals"]
            and all(x["source"] == "gateway" for x in r)
        ),
    }
    queries = {}  # the AMap (GCJ-02) build, and the map panels of the OpenStreetMap (WGS-84) build
    for basemap in ("amap", "osm"):
        for d in all_dashboards(s.influx_bucket, DISPATCH_DS_UID, plan, basemap=basemap):
            for p in d.panels:
                if basemap == "amap" or p.kind == "geomap":
                    for ref, flux in p.queries():
                        key = p.key + ("" if ref == "A" else f":{ref}") + ("" if basemap == "amap" else "@osm")
                        queries[key] = flux
    assert set(queries) == set(expect), "every panel query has an expectation"
    failures = []
    for key, flux in queries.items():
        result = rows(s, flux)
        try:
            ok = (bool(result) or key in EMPTY_HERE) and expect[key](result)
        except (IndexError, KeyError) as e:
            ok = f"{type(e).__name__} {e}"
        if ok is not True:
            failures.append(f"{key}: {ok} {result[:5]}")
    assert failures == [], "\n".join(failures)


EMPTY_HERE = (
    "alerts_silent",
    "alerts_dark",
    "alerts_at_risk",
    "complaints_open",
    "c_complaints",
    "c_violations",
    "c_assessment",
)


def wgs84(lat: float, lon: float) -> tuple[float, float]:
    return lat, lon


def points_shown(r, stops, where, city, datum, visit_at) -> bool:  # noqa: ANN001
    """The map's points: every point once with its status, in the base map's datum, and a tooltip
    with the local visit time and vehicle of each served point."""
    tz = ZoneInfo(city.timezone)
    ok = sorted(x["point"] for x in r) == sorted(stops)
    for x in r:
        truth = stops[x["point"]]
        ok = ok and {0: "pending", 1: "cleared", 2: "late", 3: "missed"}[x["status_code"]] == truth["status"]
        ok = ok and (x["lat"], x["lon"]) == pytest.approx(datum(*where[x["point"]]), abs=1e-6)
        if truth["status"] in ("cleared", "late"):  # the tooltip's visit: the record's UTC visit_at, local
            ok = ok and x["vehicle"] == truth["vehicle"]
            ok = ok and x["visit"] == datetime.fromisoformat(visit_at[x["point"]]).astimezone(tz).strftime("%H:%M")
        else:
            ok = ok and not x["visit"] and not x["vehicle"]  # (the record has no such fields: null)
        if not ok:
            print("points_shown: first mismatch", x, truth)
            return False
    return bool(ok)


def test_contractor_token_reads_only_its_bucket(filled):
    s, city, truth, _ = filled
    tokens = contractor_read_tokens(s, city)
    assert contractor_read_tokens(s, city) == tokens  # idempotent: found again, not re-created
    q = 'from(bucket: "{b}") |> range(start: -3650d) |> filter(fn: (r) => r._measurement == "tonnage") |> limit(n: 1)'
    with InfluxDBClient(url=s.influx_url, token=tokens["C01"], org=s.influx_org) as c:
        own = list(c.query_api().query_stream(q.format(b="contractor-c01")))
        assert own and all(r["contractor"] == "C01" for r in own)
        for other in ("contractor-c02", s.influx_bucket):
            with pytest.raises(ApiException) as e:
                list(c.query_api().query_stream(q.format(b=other)))
            assert e.value.status in (401, 403, 404)
        with pytest.raises(ApiException) as e:  # read-only: no writes, even to its own bucket
            c.write_api().write  # noqa: B018
            from influxdb_client.client.write_api import SYNCHRONOUS

            c.write_api(write_options=SYNCHRONOUS).write("contractor-c01", record="x v=1")
        assert e.value.status in (401, 403, 404)


def test_daily_report_png_and_html_match_the_ground_truth(filled, tmp_path):
    from PIL import Image

    from wastestream.report import write_report

    s, city, truth, _ = filled
    png, page, data = write_report(s, DAY, tmp_path)
    img = Image.open(png)
    assert img.format == "PNG" and img.size == (1400, 900)
    shown = json.loads(img.info["wastestream-figures"])
    assert shown["tonnage_in_kg"] == truth["tonnage_in_total_kg"]
    assert shown["tonnage_by_contractor"] == truth["tonnage_in_by_contractor"]
    assert shown["status_counts"] == {k: v for k, v in truth["status_counts"].items() if v}
    assert shown["missed"] == sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")
    c01 = [v for v in truth["stops"].values() if v["contractor"] == "C01"]
    assert shown["scorecard"]["C01"]["due"] == len(c01)
    assert shown["scorecard"]["C01"]["missed"] == sum(v["status"] == "missed" for v in c01)
    text = page.read_text(encoding="utf-8")
    assert f"{truth['tonnage_in_total_kg'] / 1000:,.3f}" in text
    # a contractor's report, read with its own token from its own bucket
    tokens = contractor_read_tokens(s, city)
    png2, _, data2 = write_report(s, DAY, tmp_path, contractor="C01", token=tokens["C01"])
    assert data2["tonnage_in_kg"] == truth["tonnage_in_by_contractor"]["C01"]
    assert set(data2["scorecard"]) == {"C01"}


def test_every_alert_rule_query_returns_what_the_ground_truth_says(filled):
    """Each rule's query (refId A) runs against the real InfluxDB over the day; the reduce/threshold
    steps are Grafana's own, so the series the threshold would let through are checked here."""
    from wastestream.grafana.alerts import alert_rules

    s, city, truth, _ = filled
    fires = {}
    for rule in alert_rules(s.influx_bucket, DISPATCH_DS_UID):
        (a,) = [q for q in rule["data"] if q["refId"] == "A"]
        (c,) = [q for q in rule["data"] if q["refId"] == "C"]
        threshold = c["model"]["conditions"][0]["evaluator"]["params"][0]
        result = rows(s, a["model"]["query"])
        fires[rule["uid"]] = {
            r.get("subject") or r.get("station") or r.get("vehicle"): r["_value"]
            for r in result
            if float(r["_value"]) > threshold
        }
    missed = {p: 1 for p, v in truth["stops"].items() if v["status"] == "missed"}
    backlog = {
        st: kg - truth["transferred_out"][st]
        for st, kg in truth["tonnage_in_by_station"].items()
        if kg - truth["transferred_out"][st] > 1000
    }
    timed = {p.id for p in city.collection_points if p.timed_stop}
    assert missed and {**fires["ws-missed-clearance"], **fires["ws-missed-timed-stop"]} == missed
    assert set(fires["ws-missed-timed-stop"]) == set(missed) & timed  # critical: timed stops only
    assert not set(fires["ws-missed-clearance"]) & timed
    assert backlog and fires["ws-station-not-cleared"] == pytest.approx(backlog)
    assert fires["ws-station-over-capacity"] == {}
    dumped = {v for v, kinds in truth["violations"].items() if "dumping" in kinds or "undelivered" in kinds}
    assert dumped and set(fires["ws-dumping"]) == dumped
    # a recompute of a past day is not live: no terminal alerts, no early warnings
    assert fires["ws-terminal-silent"] == fires["ws-terminal-dark"] == fires["ws-at-risk"] == {}
