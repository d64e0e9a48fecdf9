"""Foundation: a message produced with kafka-python is consumed by a Faust agent and written by
influxdb-client; a Flux query reads it back with the same values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient
from kafka import KafkaProducer

from wastestream.admin import ensure_topics
from wastestream.stack import Stack
from wastestream.topics import ALL_TOPICS, TopicSpec

pytestmark = pytest.mark.integration
APP = Path(__file__).parent / "apps" / "roundtrip_app.py"


def test_stack_is_ready_and_topics_exist(stack):
    statuses = Stack(stack).status()
    assert [(x.name, x.running) for x in statuses] == [("kafka", True), ("influxdb", True)]
    from wastestream.admin import admin_client

    with admin_client(stack) as admin:
        names = set(admin.list_topics())
        assert {t.name for t in ALL_TOPICS} <= names
        desc = {d["name"]: d for d in admin.describe_topics(["gps.fixes"])}
        assert len(desc["gps.fixes"]["partitions"]) == stack.topic_partitions


def test_kafka_faust_influx_roundtrip(stack, unique, tmp_path):
    topic = f"test.roundtrip.{unique}"
    measurement = f"rt_{unique}"
    ensure_topics(stack, [TopicSpec(topic, "vehicle", "round-trip test", partitions=1)])
    env = {
        **os.environ,
        "RT_APP_ID": f"rt-{unique}",
        "RT_TOPIC": topic,
        "RT_MEASUREMENT": measurement,
        "WASTESTREAM_STATE_DIR": str(stack.state_dir),
        "WASTESTREAM_KAFKA_PORT": str(stack.kafka_port),
        "WASTESTREAM_INFLUX_PORT": str(stack.influx_port),
        "WASTESTREAM_INFLUX_TOKEN": stack.influx_token_value(),
    }
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, str(APP), "worker", "--loglevel", "warn", "--without-web"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        sent = {f"沪A{i:05d}": 1000.0 + i * 12.5 for i in range(5)}
        ts0 = 1_763_856_000_000_000_000  # 2025-11-23T00:00:00Z in ns
        producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
        for i, (vehicle, net) in enumerate(sent.items()):
            doc = {"vehicle": vehicle, "net_kg": net, "ts_ns": ts0 + i * 1_000_000_000}
            producer.send(topic, key=vehicle.encode(), value=json.dumps(doc).encode())
        producer.flush()
        producer.close()

        client = InfluxDBClient(url=stack.influx_url, token=stack.influx_token_value(), org=stack.influx_org)
        flux = f'''
from(bucket: "{stack.influx_bucket}")
  |> range(start: 2025-11-22T00:00:00Z, stop: 2025-11-24T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "net_kg")
'''
        got: dict[str, float] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(got) < len(sent):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            got = {r["vehicle"]: r["_value"] for r in client.query_api().query_stream(flux)}
            time.sleep(1)
        assert got == sent, (tmp_path / "worker.log").read_text()[-3000:]
        client.close()
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()


def test_stack_up_a_service_starts_what_it_needs(tmp_path):
    """`wastestream stack up weighbridge` on a stopped stack starts Kafka first, then the API."""
    import httpx

    from wastestream.producers.simulator.city import build_city
    from wastestream.schemas.reference import dump_city

    from .helpers import free_port

    state = tmp_path / "state"
    dump_city(build_city(808), tmp_path / "city.yaml")
    kafka_port = free_port()
    env = {
        **os.environ,
        "WASTESTREAM_STATE_DIR": str(state),
        "WASTESTREAM_CITY_FILE": str(tmp_path / "city.yaml"),
        "WASTESTREAM_KAFKA_PORT": str(kafka_port),
        "WASTESTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "WASTESTREAM_KAFKA_HEAP": "512m",
        "WASTESTREAM_WEIGHBRIDGE_PORT": str(free_port()),
        "WASTESTREAM_KAFKA_BOOTSTRAP_SERVERS": "",
    }
    ws = [sys.executable, "-m", "wastestream.cli", "stack"]
    try:
        up = subprocess.run([*ws, "up", "weighbridge"], env=env, capture_output=True, text=True, timeout=240)
        assert up.returncode == 0, up.stderr[-2000:]
        assert "kafka" in up.stderr and "weighbridge" in up.stderr
        port = int(env["WASTESTREAM_WEIGHBRIDGE_PORT"])
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
                break
            except (httpx.HTTPError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        from wastestream.admin import admin_client
        from wastestream.settings import Settings

        with admin_client(Settings(kafka_port=kafka_port, kafka_bootstrap_servers=None)) as admin:
            assert "weigh.tickets" in set(admin.list_topics())  # the topics it writes exist
    finally:
        subprocess.run([*ws, "down", "weighbridge", "kafka"], env=env, capture_output=True, timeout=120)
