"""A seed-city day with poison on every input topic, through real Kafka, the worker and InfluxDB:
raw bytes, JSON of the wrong model, valid messages with unknown ids, a device clock years ahead,
a ticket whose arithmetic does not add up, a visit set of a site that does not exist. The figures
still equal the ground truth, the worker never restarts, every poison message is on the dead-letter
topic with its reason and raw bytes, and the refusals are counted in InfluxDB."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from influxdb_client import InfluxDBClient
from kafka import KafkaProducer

from wastestream.admin import ensure_topics
from wastestream.producers.replay import replay_files
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.schemas import Direction, GpsFix, WeighTicket
from wastestream.schemas.results import Delivery, SiteKind, VisitSet
from wastestream.stream_processors.partitioning import partition_of
from wastestream.stream_processors.sink import InfluxSink
from wastestream.topics import ALL_TOPICS

from .helpers import cli_process, end_offsets, stack_env
from .test_pipeline_e2e import wait_for_truth, wait_until_consumed

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 16)  # the day test_pipeline_e2e.figures reads
NOON = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)


def noon_fix(city):  # noqa: ANN001, ANN201
    """A collection truck of the city, its first station, and a fix of that truck there at noon."""
    v = next(x for x in city.vehicles if x.kind == "collection")
    st = city.stations[0]
    fix = GpsFix(
        vehicle_id=v.id,
        terminal_id=v.terminal_id,
        device_time=NOON,
        received_at=NOON,
        lat=st.geofence.lat,
        lon=st.geofence.lon,
        speed_kmh=0,
        heading=0,
    )
    return v, st, fix


def poison(city) -> list[tuple[str, bytes, bytes, str]]:
    """(topic, key, value, what the dead letter's reason must say)."""
    v, st, fix = noon_fix(city)
    ticket = WeighTicket(
        station_id=st.id,
        serial="POISON-1",
        plate=v.plate,
        vehicle_id=v.id,
        direction=Direction.inbound,
        waste_stream="other",
        gross_kg=20000,
        tare_kg=12000,
        net_kg=8000,
        weigh_in_at=NOON,
        weigh_out_at=NOON + timedelta(minutes=5),
        received_at=NOON + timedelta(minutes=6),
    )
    j = lambda m: m.model_dump_json().encode()  # noqa: E731
    return [
        ("gps.fixes", v.id.encode(), b"\xff\x00 not json at all", "invalid gps.fixes message"),
        ("gps.fixes", v.id.encode(), j(ticket), "invalid gps.fixes message"),  # the wrong model
        (
            "gps.fixes",
            b"V999",
            j(fix.model_copy(update={"vehicle_id": "V999", "terminal_id": "013900000999"})),
            "fix_unknown_vehicle",
        ),
        (
            "gps.fixes",
            v.id.encode(),
            j(fix.model_copy(update={"device_time": datetime(2030, 5, 1, tzinfo=UTC)})),
            "fix_clock_ahead",
        ),
        ("weigh.tickets", b"S99", j(ticket.model_copy(update={"station_id": "S99"})), "ticket_unknown_station"),
        (
            "weigh.tickets",
            st.id.encode(),
            j(ticket.model_copy(update={"serial": "POISON-2", "net_kg": 3000})),
            "ticket_bad_arithmetic",
        ),
        ("weigh.tickets", st.id.encode(), b'{"station_id": "S01", "serial": 7}', "invalid weigh.tickets message"),
        (
            "visits",
            b"P-NOWHERE",
            j(VisitSet(site_id="P-NOWHERE", site_kind=SiteKind.point, vehicle_id=v.id, local_date=DAY, visits=[])),
            "visit_unknown_site",
        ),
        ("deliveries", v.id.encode(), b"[1, 2, 3]", "invalid deliveries message"),
        (
            "deliveries",
            b"V999",
            j(
                Delivery(
                    vehicle_id="V999",
                    station_id=st.id,
                    serial="POISON-3",
                    local_date=DAY,
                    weigh_in_at=NOON,
                    weigh_out_at=NOON + timedelta(minutes=5),
                    net_kg=100,
                )
            ),
            "delivery_unknown_id",
        ),
    ]


def batch_poison(city, partitions: int) -> tuple[int, bytes, list[tuple[bytes, str]]]:
    """A batch value (topic contract 2) of three refused fixes, on the partition of its first one's
    vehicle: (partition, value, [(the dead letter's raw bytes, what its reason must say)])."""
    v, _st, fix = noon_fix(city)
    home = partition_of(v.id, partitions)
    other = next(x for x in city.vehicles if partition_of(x.id, partitions) != home)
    fast = fix.model_copy(update={"speed_kmh": 900.0})  # refused by the core: fix_bad_speed
    misplaced = fix.model_copy(update={"vehicle_id": other.id, "terminal_id": other.terminal_id})
    not_a_fix = {"vehicle_id": 3}
    value = b"[" + b",".join([fast.to_json_bytes(), json.dumps(not_a_fix).encode(), misplaced.to_json_bytes()]) + b"]"
    return (
        home,
        value,
        [
            (fast.to_json_bytes(), "fix_bad_speed"),
            (json.dumps(not_a_fix).encode(), "invalid gps.fixes message"),
            (misplaced.to_json_bytes(), "fix in a batch of another partition"),
        ],
    )


def dead_letters(s) -> list:
    """The dead-letter topic's JSON values (the planted unreadable one left out)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = s.topic("deadletter")
    ends = end_offsets(s, topic)
    c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        out, read = [], 0
        deadline = time.monotonic() + 30
        while read < sum(ends.values()) and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                for r in recs:
                    read += 1
                    try:
                        out.append(json.loads(r.value))
                    except ValueError:
                        pass
        return out
    finally:
        c.close()


def test_poison_on_every_topic_changes_no_figure_and_every_message_is_dead_lettered(stack, tmp_path_factory):
    u = uuid.uuid4().hex[:8]
    d = tmp_path_factory.mktemp("poison")
    city = build_city(808)
    truth, _ = write_offline(city, DAY, 808, Faults.demo(), d)
    t = truth.to_json()
    s = stack.model_copy(
        update={"topic_prefix": f"poison{u}.", "influx_bucket": f"poison-{u}", "city_file": d / "city.yaml"}
    )
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.close()
    bad = poison(city)
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    half = len(bad) // 2
    for topic, key, value, _ in bad[:half]:  # some before the day, some after: interleaved with it
        producer.send(s.topic(topic), key=key, value=value)
    producer.send(s.topic("deadletter"), key=b"junk", value=b"\x00 an unreadable dead letter")
    producer.flush()
    replay_files(s, d)  # in batches (WASTESTREAM_FIX_BATCH)
    for topic, key, value, _ in bad[half:]:
        producer.send(s.topic(topic), key=key, value=value)
    part, batch, in_batch = batch_poison(city, s.topic_partitions)
    producer.send(s.topic("gps.fixes"), key=b"batch", value=batch, partition=part)
    producer.flush()
    producer.close()

    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
    )
    log = tmp_path_factory.mktemp("poisonlog") / "worker.log"
    with cli_process(["worker", "--clock", "event", "--app-id", f"poison-{u}"], env, log) as proc:
        got = wait_for_truth(s, t, log)
        wait_until_consumed(s, f"poison-{u}")
        time.sleep(3)
        assert proc.poll() is None, log.read_text()[-2000:]  # the same worker process throughout
    assert "crashed" not in log.read_text().lower()  # and no agent of it stopped
    assert {st: v for (st, f), v in got["balance"].items() if f == "transferred_kg"} == t["transferred_out"]

    # every poison message is on the dead-letter topic with its raw bytes and its reason
    letters = dead_letters(s)
    by_raw = {x.get("raw_hex"): x for x in letters if isinstance(x, dict) and x.get("source") == "worker"}
    for topic, _, value, reason in bad:
        dl = by_raw.get(value.hex())
        assert dl is not None, f"{topic} {value[:60]!r} not dead-lettered"
        assert reason in dl["reason"], (reason, dl["reason"])
    for k, (raw, reason) in enumerate(in_batch):  # each refused fix of a batch on its own, with its place
        dl = by_raw.get(raw.hex())
        assert dl is not None, f"batch part {raw[:60]!r} not dead-lettered"
        assert reason in dl["reason"], (reason, dl["reason"])
        assert dl["detail"]["at"].endswith(f"#{k}"), dl["detail"]

    # the refusals are counted in InfluxDB, and the unregistered terminal is listed
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        q = c.query_api()
        base = f'from(bucket: "{s.influx_bucket}") |> range(start: 2026-11-14T00:00:00Z, stop: now())'
        counts = {
            (r["kind"], r["detail"]): r["_value"]
            for r in q.query_stream(
                f'{base} |> filter(fn: (r) => r._measurement == "data_quality" and r._field == "count")'
            )
        }
        unknown = {
            (r["terminal"], r["source"]): r["_value"]
            for r in q.query_stream(
                f'{base} |> filter(fn: (r) => r._measurement == "unknown_terminals" and r._field == "count")'
            )
        }
    for kind in (
        "fix_unknown_vehicle",
        "fix_clock_ahead",
        "ticket_unknown_station",
        "ticket_bad_arithmetic",
        "visit_unknown_site",
        "delivery_unknown_id",
    ):
        assert sum(v for (k, _), v in counts.items() if k == kind) == 1, (kind, counts)
    # messages that are no valid model at all: counted on the day the worker refused them (today)
    parse_errors = {k: v for k, v in counts.items() if k[0] == "dead_letter" and k[1].startswith("worker:invalid")}
    assert sum(parse_errors.values()) == 5, parse_errors  # 4 messages, and the batch's part that is no fix
    assert counts[("fix_bad_speed", next(x for x in city.vehicles if x.kind == "collection").id)] == 1
    assert sum(v for (k, d), v in counts.items() if k == "dead_letter" and "another partition" in d) == 1, counts
    assert unknown[("013900000999", "worker")] == 1
    assert unknown[(next(iter(t["unknown_terminals"])), "gateway")] == 1
