"""The month's assessment end to end: a simulated day (missed and late points, a breakdown, overspeed,
dumping, a ghost ticket) in the real InfluxDB, contractors' reasons posted to the real API process
with their own tokens, then `wastestream assess`: every item's occurrences equal the simulator's truth,
each planted reason excuses, reduces or (reported too late) does not, the files (JSON, CSV, .xlsx,
HTML, PNG) and the InfluxDB series agree, the Contractor dashboard's score panel shows it — and a
point proven served by a late upload comes off at the next run, which says what changed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from influxdb_client import InfluxDBClient

from wastestream.admin import ensure_topics
from wastestream.domain.localtime import day_start, local_date
from wastestream.grafana.dashboards import all_dashboards, contractor_ds_uid
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.exceptions import plant_exceptions
from wastestream.producers.simulator.offline import write_offline
from wastestream.schemas import Clearance, ClearanceStatus
from wastestream.schemas.assessment import load_table
from wastestream.stream_processors.recompute import recompute
from wastestream.stream_processors.records import Records
from wastestream.stream_processors.sink import InfluxSink
from wastestream.topics import ALL_TOPICS

from .helpers import cli_process, free_port, stack_env

pytestmark = pytest.mark.integration


def test_a_month_assessed_from_the_figures_and_the_contractors_reasons(stack, tmp_path):
    u = uuid.uuid4().hex[:8]
    city = build_city(808)
    # two days ago: within the API's horizon, and a reason reported 40 h after its start is in the past
    day = local_date(datetime.now(UTC), city.timezone) - timedelta(days=2)
    month = day.isoformat()[:7]
    d = tmp_path / "day"
    faults = Faults(**{**vars(Faults.demo()), "breakdowns": 1, "overspeeding": 1, "dumping": 1})
    truth, _ = write_offline(city, day, 808, faults, d)
    t = truth.to_json()
    s = stack.model_copy(update={"topic_prefix": f"as{u}.", "influx_bucket": f"as-{u}", "city_file": d / "city.yaml"})
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.write(list(recompute(city, d).records.values()))  # the day's figures, as the worker writes them
    planted = plant_exceptions(city, day, t)
    tokens = {c.id: f"tok-{c.id}-{u}" for c in city.contractors}
    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
        WASTESTREAM_CONTRACTOR_TOKENS=",".join(f"{c}={tok}" for c, tok in tokens.items()),
    )
    owner = {p.id: p.contractor_id for p in city.collection_points} | {v.id: v.contractor_id for v in city.vehicles}
    port = free_port()
    with cli_process(["weighbridge", "--port", str(port)], env, tmp_path / "api.log", ready_port=port):
        url = f"http://127.0.0.1:{port}/v1/service-exceptions"
        for x, _ in planted:
            who = owner[x.point_id or x.vehicle_id or ""]
            body = x.model_dump_json(exclude={"received_at", "contractor_id"})
            r = httpx.post(url, content=body, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=10)
            assert r.status_code == 201, r.text
        x0 = planted[0][0]
        other = next(c for c in tokens if c != owner[x0.point_id or ""])
        foreign = x0.model_copy(update={"report_id": "X-foreign"}).model_dump_json(
            exclude={"received_at", "contractor_id"}
        )
        r = httpx.post(url, content=foreign, headers={"Authorization": f"Bearer {tokens[other]}"}, timeout=10)
        assert r.status_code == 403 and r.json()["detail"][0]["field"] == "point_id"
        reused = x0.model_copy(update={"note": "changed"}).model_dump_json(exclude={"received_at", "contractor_id"})
        r = httpx.post(
            url, content=reused, headers={"Authorization": f"Bearer {tokens[owner[x0.point_id or '']]}"}, timeout=10
        )
        assert r.status_code == 409 and r.json()["detail"][0]["field"] == "report_id"
        r = httpx.post(url, content=body, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert r.status_code == 401

    # junk on the reasons topic (anyone with Kafka access can write there): left out, and said so
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    prod.send(s.topic("service.exceptions"), key=b"junk-x", value=b"\xffnot a report").get(timeout=30)
    prod.close()

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "wastestream.cli", "assess", "--month", month, "--out", str(out)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "service.exceptions record 'junk-x' left out" in r.stdout + r.stderr
    a = json.loads((out / f"assessment-{month}.json").read_text())
    table = load_table()
    measure_of = {i.id: i.measure for i in table.items}

    # every item's occurrences are the truth's
    contractor_of_vehicle = {v.id: v.contractor_id for v in city.vehicles}
    want: Counter = Counter()
    timed = {p.id for p in city.collection_points if p.timed_stop}
    for pid, st in t["stops"].items():
        if st["status"] == "missed":
            want[(st["contractor"], "missed_timed" if pid in timed else "missed")] += 1
        elif st["status"] == "late":
            want[(st["contractor"], "late")] += 1
    for v, kinds in t["violations"].items():
        for k, n in kinds.items():
            want[(contractor_of_vehicle[v], k)] += n
    got = Counter((c, x["item"]) for c, v in a["contractors"].items() for x in v["deductions"])
    assert got == want and {measure_of[i] for _, i in got} >= {"violation:dumping", "violation:idle_away"}

    # the planted reasons: excused, reduced, or reported too late
    by_subject = {(x["item"], x["subject"]): x for v in a["contractors"].values() for x in v["deductions"]}
    broken = {x.vehicle_id for x, _ in planted if x.vehicle_id}
    route_vehicle = {p.id: next(r.vehicle_id for r in city.routes if p.id in r.stops) for p in city.collection_points}
    for x, status in planted:
        if x.point_id:
            item = "missed_timed" if x.point_id in timed else "missed"
            ded = by_subject[(item, x.point_id)]
            expected = "reduced" if status == "counted" and route_vehicle[x.point_id] in broken else status
            assert ded["status"] == expected, (x, ded)
            if status == "counted":
                assert "too late" in ded["note"]
        else:
            assert by_subject[("idle_away", x.vehicle_id)]["status"] == "excused"
    for v in a["contractors"].values():
        assert v["score"] == pytest.approx(max(0, 100 - sum(x["points"] for x in v["deductions"])))
        assert v["money"] == pytest.approx(sum(x["money"] for x in v["deductions"]))

    # the files agree
    from openpyxl import load_workbook

    n = sum(len(v["deductions"]) for v in a["contractors"].values())
    wb = load_workbook(out / f"assessment-{month}.xlsx")
    assert wb.sheetnames == ["scores", "daily", "deductions"] and wb["deductions"].max_row == n + 1
    scores_sheet = {row[0]: row[4] for row in wb["scores"].iter_rows(min_row=2, values_only=True) if row[4] is not None}
    assert scores_sheet == {c: v["score"] for c, v in a["contractors"].items()}
    assert len((out / f"assessment-{month}.csv").read_text(encoding="utf-8-sig").strip().splitlines()) == n + 1
    page = (out / f"assessment-{month}.html").read_text()
    assert page.count("<tr data-contractor=") == len(a["contractors"]) + n
    assert (out / f"assessment-{month}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the InfluxDB series, and the Contractor dashboard's score panel (its own bucket)
    start = day_start(day.replace(day=1), city.timezone).strftime("%Y-%m-%dT%H:%M:%SZ")
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        q = c.query_api()
        month_scores = {
            r["contractor"]: r["_value"]
            for r in q.query_stream(
                f'from(bucket: "{s.influx_bucket}") |> range(start: {start})'
                ' |> filter(fn: (r) => r._measurement == "assessment" and r.period == "month" and r._field == "score")'
            )
        }
        assert month_scores == {c: v["score"] for c, v in a["contractors"].items()}
        n_deductions = sum(
            1
            for _ in q.query_stream(
                f'from(bucket: "{s.influx_bucket}") |> range(start: {start})'
                ' |> filter(fn: (r) => r._measurement == "deductions" and r._field == "points")'
            )
        )
        assert n_deductions == n
        # a contractor with a counted miss that costs points (the planted reason reported too late is
        # one, every day): its running score falls with it; a late upload later takes one off
        counted_misses = sorted(
            (
                (c, x)
                for c, v in a["contractors"].items()
                for x in v["deductions"]
                if x["item"] in ("missed", "missed_timed") and x["status"] == "counted" and x["points"] > 0
            ),
            key=lambda cx: (cx[1]["item"] != "missed", cx[0], cx[1]["subject"], cx[1]["day"]),  # untimed first
        )
        assert counted_misses, "the reason reported too late leaves a counted miss"
        cid, fixed = counted_misses[0]
        (panel,) = [
            p
            for dash in all_dashboards(f"contractor-{cid.lower()}", contractor_ds_uid(cid), 1.0, contractor=cid)
            for p in dash.panels
            if p.key == "c_assessment"
        ]
        end = day_start(day + timedelta(days=1), city.timezone).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )  # the day: the last written
        flux = panel.flux.replace("v.timeRangeStart", start).replace("v.timeRangeStop", end)
        flux = flux.replace("${contractor}", cid)
        running = [x.values["_value"] for x in q.query_stream(flux)]
    mine = a["contractors"][cid]
    assert running and running[-1] == pytest.approx(mine["score"]) and running == sorted(running, reverse=True)

    # a late upload proves a missed point served: the worker writes its corrected status; the next run
    # takes the deduction off and says so
    st = ClearanceStatus(
        point_id=fixed["subject"],
        local_date=day,
        status=Clearance.cleared,
        contractor_id=cid,
        waste_stream=next(p for p in city.collection_points if p.id == fixed["subject"]).waste_stream.value,
        visit_at=day_start(day, city.timezone) + timedelta(hours=7),
        vehicle_id=route_vehicle[fixed["subject"]],
    )
    sink.write([Records(city).clearance(st)])
    sink.close()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "changed since the last run" in r.stdout and f"removed: {cid} {fixed['item']} {fixed['subject']}" in r.stdout
    moved = json.loads((out / f"changes-assessment-{month}.json").read_text())
    assert [(m["what"], m["before"]["subject"]) for m in moved["deductions"]] == [("removed", fixed["subject"])]
    after = json.loads((out / f"assessment-{month}.json").read_text())["contractors"][cid]["score"]
    assert moved["scores"][cid] == {"before": mine["score"], "after": after}
    assert after == pytest.approx(min(100, mine["score"] + fixed["points"]))
