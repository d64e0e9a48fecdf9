"""Operating violations, undelivered loads, service calendars and vehicle-day summaries end to end:
a seeded day with planted overspeeding, detours, dumping, undelivered loads, a night trip and a
breakdown, on a simulated holiday of a city whose points have calendars, goes through real Kafka,
the Faust worker (tickets handed to the vehicles' owners on the deliveries topic) and real InfluxDB.
The violations per vehicle equal the simulator's truth, points not due that day have no status, the
summaries equal what the trucks drove, and ``recompute`` over the same events writes the same."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date

import pytest
from influxdb_client import InfluxDBClient

from wastestream.admin import ensure_topics
from wastestream.producers.replay import replay_files
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.queries import day_range
from wastestream.stream_processors.recompute import recompute
from wastestream.stream_processors.sink import InfluxSink
from wastestream.topics import ALL_TOPICS

from .helpers import cli_process, read_topic, stack_env

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 26)  # a holiday of the simulated calendar
FAULTS = Faults(
    missed_stops=3,
    breakdowns=1,
    ghost_tickets=1,
    dropouts=2,
    midnight_upload=1,
    duplicate_tickets=2,
    overspeeding=2,
    detours=2,
    dumping=2,
    undelivered=2,
    night_trips=1,
)


def violations(q, base: str) -> dict[str, dict[str, int]]:  # noqa: ANN001
    rows = q.query_stream(f'{base} |> filter(fn: (r) => r._measurement == "violations" and r._field == "active")')
    return violations_of([{"active": r["_value"], "vehicle": r["vehicle"], "kind": r["kind"]} for r in rows])


def test_violations_calendars_and_day_summaries_through_the_worker_equal_the_truth(stack, tmp_path):
    u = uuid.uuid4().hex[:8]
    city = build_city(808, calendars=60)
    d = tmp_path / "day"
    truth, counts = write_offline(city, DAY, 808, FAULTS, d)
    s = stack.model_copy(update={"topic_prefix": f"op{u}.", "influx_bucket": f"op-{u}", "city_file": d / "city.yaml"})
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.close()
    assert replay_files(s, d) == counts
    not_due = {p.id for p in city.collection_points if p.calendar is not None}
    assert not_due and not not_due & set(truth.stops)  # the day is a holiday: no calendar point is due
    want = {v: dict(sorted(k.items())) for v, k in sorted(truth.violations.items())}
    assert {k for c in want.values() for k in c} == {
        "overspeed", "off_route", "dumping", "undelivered", "out_of_shift", "idle_away", "wrong_station",
    }  # fmt: skip

    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
    )
    base = f'from(bucket: "{s.influx_bucket}") |> {day_range(DAY, city.timezone)}'
    log = tmp_path / "worker.log"
    got: dict = {}
    with (
        cli_process(["worker", "--clock", "event", "--app-id", f"op-{u}"], env, log),
        InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c,
    ):
        q = c.query_api()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            got = violations(q, base)
            statuses = {
                r["point"]: r["_value"]
                for r in q.query_stream(
                    f'{base} |> filter(fn: (r) => r._measurement == "clearance" and r._field == "status")'
                )
            }
            if got == want and statuses == {p: v["status"] for p, v in truth.stops.items()}:
                break
            time.sleep(3)
        else:
            raise AssertionError(f"violations (got, want): {got} != {want}; log: {log.read_text()[-1500:]}")
        time.sleep(5)  # one more flush after the last tick
        summaries = {
            r["vehicle"]: r.values
            for r in q.query_stream(
                f'{base} |> filter(fn: (r) => r._measurement == "vehicle_day")'
                ' |> pivot(rowKey: ["_time", "vehicle"], columnKey: ["_field"], valueColumn: "_value")'
            )
        }
        rows = [
            r.values
            for r in q.query_stream(
                f'{base} |> filter(fn: (r) => r._measurement == "violations")'
                ' |> pivot(rowKey: ["_time", "vehicle", "kind"], columnKey: ["_field"], valueColumn: "_value")'
            )
        ]
    assert violations_of(rows) == want
    # the summaries: what each truck drove, its engine time and trips, the tonnage its tickets carried
    by_vehicle = truth.roll_up(1)
    for v, km in truth.driven_km.items():
        sm = summaries[v]
        # the track also counts the GPS noise (±3 m) of the first standing fix at each stop: ≤ 0.5 %
        assert abs(sm["km_track"] - km) <= 0.005 * km, (v, sm["km_track"], km)
        assert abs(sm["km_odometer"] - km) <= 0.15, (v, sm["km_odometer"], km)  # 0.1 km odometer steps
        assert abs(sm["engine_h"] - truth.engine_h[v]) < 1e-3, v
        assert sm["trips"] == truth.trips[v], v
        assert sm["delivered_kg"] == by_vehicle.get(v, 0.0), v
    # every dumping row carries the place it happened, and its evidence names the short trip
    dumps = [r for r in rows if r["kind"] == "dumping" and r["active"]]
    assert len(dumps) == FAULTS.dumping and all(r["lat"] and r["lon"] and "expected" in r["detail"] for r in dumps)

    # loads not delivered page: raised on the alerts topic, once per violation, for the truth's vehicles
    alerts = read_topic(s, s.topic("alerts"), timeout=10)
    raised = Counter(
        (a["subject"], a["kind"]) for a in alerts if a["kind"] in ("dumping", "undelivered") and a["state"] == "raised"
    )
    assert raised == Counter(
        {(v, k): n for v, kinds in want.items() for k, n in kinds.items() if k in ("dumping", "undelivered")}
    )

    # recompute over the same events: the same summaries and violations
    res = recompute(city, d)
    rec_rows = [dict(r.fields) | dict(r.tags) for r in res.select("violations")]
    assert violations_of(rec_rows) == want
    for r in res.select("vehicle_day"):
        t, f = dict(r.tags), dict(r.fields)
        assert {k: summaries[t["vehicle"]].get(k) for k in f} == f, t["vehicle"]


def violations_of(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for r in rows:
        if r["active"]:
            out.setdefault(r["vehicle"], Counter())[r["kind"]] += 1
    return {v: dict(sorted(c.items())) for v, c in sorted(out.items())}
