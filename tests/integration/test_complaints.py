"""Complaints end to end: the simulator's planted cases posted to the real API process with a
dispatcher token (a reused case id is refused), `wastestream complaints` judges each against the
evidence in the real InfluxDB and the verdicts equal the planted truth; a catch-up visit after a
valid complaint clears its order, with the time it took; the Contractor dashboard's complaints
panel shows the counts."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from influxdb_client import InfluxDBClient

from wastestream.admin import ensure_topics
from wastestream.domain.localtime import local_date
from wastestream.grafana.dashboards import all_dashboards, contractor_ds_uid
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.complaints import plant_complaints
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.schemas import SiteKind
from wastestream.schemas.complaints import ComplaintCategory
from wastestream.schemas.results import Visit
from wastestream.stream_processors.queries import day_range
from wastestream.stream_processors.recompute import recompute
from wastestream.stream_processors.records import Records
from wastestream.stream_processors.sink import InfluxSink
from wastestream.topics import ALL_TOPICS

from .helpers import cli_process, free_port, read_topic, stack_env

pytestmark = pytest.mark.integration
TOKEN = "dispatch-" + uuid.uuid4().hex


def outcomes(s, day) -> dict[str, dict]:
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        rows = c.query_api().query_stream(
            f'from(bucket: "{s.influx_bucket}") |> {day_range(day, "Asia/Shanghai")}'
            ' |> filter(fn: (r) => r._measurement == "complaints")'
            ' |> pivot(rowKey: ["_time", "case"], columnKey: ["_field"], valueColumn: "_value")'
        )
        return {r["case"]: r.values for r in rows}


def test_planted_complaints_get_their_verdicts_and_a_catch_up_clears_one(stack, tmp_path):
    u = uuid.uuid4().hex[:8]
    city = build_city(808)
    day = local_date(datetime.now(UTC), city.timezone) - timedelta(days=1)  # within the API's horizon
    d = tmp_path / "day"
    truth, _ = write_offline(city, day, 808, Faults.demo(), d)
    t = truth.to_json()
    s = stack.model_copy(update={"topic_prefix": f"cp{u}.", "influx_bucket": f"cp-{u}", "city_file": d / "city.yaml"})
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.write(list(recompute(city, d).records.values()))  # the day's visits, as the worker writes them
    planted = plant_complaints(city, day, t)
    port = free_port()
    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
        WASTESTREAM_DISPATCH_TOKENS=f"dispatch={TOKEN}",
    )
    with cli_process(["weighbridge", "--port", str(port)], env, tmp_path / "api.log", ready_port=port):
        url = f"http://127.0.0.1:{port}/v1/complaints"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for c, _ in planted:
            r = httpx.post(url, content=c.model_dump_json(exclude={"received_at"}), headers=auth, timeout=10)
            assert r.status_code == 201, r.text
        again = planted[0][0].model_copy(update={"category": ComplaintCategory.overflow})
        r = httpx.post(url, content=again.model_dump_json(exclude={"received_at"}), headers=auth, timeout=10)
        assert r.status_code == 409 and r.json()["detail"][0]["field"] == "case_id"
    # poison on the complaints topic (anyone with Kafka access can write there): the API still
    # starts, the tracker judges the real cases and dead-letters the record with its raw bytes
    from kafka import KafkaProducer

    poison = b"\xffnot a case"
    prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    prod.send(s.topic("complaints"), key=b"junk-1", value=poison).get(timeout=30)
    prod.close()

    # the API restarted still knows the case ids on the compacted topic
    with cli_process(["weighbridge", "--port", str(port)], env, tmp_path / "api2.log", ready_port=port):
        r = httpx.post(url, content=again.model_dump_json(exclude={"received_at"}), headers=auth, timeout=10)
        assert r.status_code == 409

    judge = [sys.executable, "-m", "wastestream.cli", "complaints", "--once"]
    r = subprocess.run(judge, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = outcomes(s, day)
    assert {k: v["verdict"] for k, v in got.items()} == {c.case_id: want for c, want in planted}

    def junk(m: dict) -> bool:
        return m.get("source") == "complaints" and m["detail"].get("key") == "junk-1"

    (dl,) = [d for d in read_topic(s, s.topic("deadletter"), until=lambda m: any(junk(x) for x in m)) if junk(d)]
    assert bytes.fromhex(dl["raw_hex"]) == poison
    # besides it, the API's two refusals of the reused case id above: dead letters of their own
    assert sum(1 for d in read_topic(s, s.topic("deadletter"), timeout=5) if d.get("source") == "complaints") == 3
    assert {k for k, v in got.items() if v["valid"]} == {c.case_id for c, want in planted if want == "not_served"}
    assert {k for k, v in got.items() if v["open"]} == {c.case_id for c, want in planted if want == "not_served"}

    # a catch-up visit (补收) 40 minutes after the first valid complaint clears its order
    c0 = planted[0][0]
    p = next(x for x in city.collection_points if x.id == c0.point_id)
    enter = c0.reported_at + timedelta(minutes=40)
    visit = Visit(
        vehicle_id=next(v.id for v in city.vehicles if v.contractor_id == p.contractor_id),
        site_id=p.id,
        site_kind=SiteKind.point,
        enter_at=enter,
        exit_at=enter + timedelta(minutes=3),
        dwell_s=180,
        local_date=day,
        contractor_id=p.contractor_id,
    )
    sink.write([Records(city).visit(visit)])
    sink.close()
    r = subprocess.run(judge, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = outcomes(s, day)
    assert got[c0.case_id]["open"] is False and got[c0.case_id]["minutes_to_resolve"] == 40.0
    assert got[c0.case_id]["resolved_at"] == enter.isoformat()

    # the Contractor dashboard: cases, valid, open and minutes to resolve, from the contractor's bucket
    (panel,) = [
        q
        for dash in all_dashboards(
            f"contractor-{p.contractor_id.lower()}", contractor_ds_uid(p.contractor_id), 1.0, contractor=p.contractor_id
        )
        for q in dash.panels
        if q.key == "c_complaints"
    ]
    start = f"{(day - timedelta(days=1)).isoformat()}T00:00:00Z"
    stop = f"{(day + timedelta(days=2)).isoformat()}T00:00:00Z"
    flux = panel.flux.replace("v.timeRangeStart", start).replace("v.timeRangeStop", stop)
    flux = flux.replace("${contractor}", p.contractor_id).replace(
        f"contractor-{p.contractor_id.lower()}", s.influx_bucket
    )
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        (row,) = [r.values for r in c.query_api().query_stream(flux)]
    mine = [
        (c, want) for c, want in planted if got[c.case_id].get("contractor") == p.contractor_id
    ]  # (no tag: no point)
    assert row["cases"] == len(mine)
    assert row["valid"] == sum(want == "not_served" for _, want in mine)
    assert row["open"] == sum(want == "not_served" for c, want in mine if c.case_id != c0.case_id)

    # and the daily report's complaints table
    from wastestream.report import write_report

    _, _, data = write_report(s, day, tmp_path / "report")
    assert data["complaints"][p.contractor_id] == {
        "cases": row["cases"],
        "valid": row["valid"],
        "open": row["open"],
        "mean_minutes_to_resolve": 40.0,  # the one catch-up above
    }
