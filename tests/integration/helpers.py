"""Helpers for integration tests: processes of our own CLI, and reading topics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from wastestream import admin
from wastestream.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(s: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "WASTESTREAM_STATE_DIR": str(s.state_dir),
        "WASTESTREAM_KAFKA_PORT": str(s.kafka_port),
        "WASTESTREAM_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap,
        "WASTESTREAM_INFLUX_PORT": str(s.influx_port),
        "WASTESTREAM_TOPIC_PARTITIONS": str(s.topic_partitions),
        **extra,
    }


@contextmanager
def cli_process(args: list[str], env: dict[str, str], log: Path, ready_port: int | None = None, timeout: float = 60):
    """Run `wastestream ARGS` in the background; wait for its port; SIGTERM it at the end."""
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wastestream.cli", *args], env=env, stdout=f, stderr=subprocess.STDOUT
        )
    try:
        if ready_port is not None:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"{args[0]} exited {proc.returncode}: {log.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", ready_port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{args[0]} not listening: {log.read_text()[-2000:]}") from None
                    time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def end_offsets(s: Settings, topic: str) -> dict[TopicPartition, int]:
    return admin.end_offsets(s, [topic])


def read_topic(
    s: Settings,
    topic: str,
    since: dict[TopicPartition, int] | None = None,
    until: Callable[[list[dict]], bool] = lambda msgs: False,
    timeout: float = 30.0,
) -> list[dict]:
    """Values (JSON-decoded, with '_key') from `since` offsets until `until(msgs)` or the timeout."""
    c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        c.assign(parts)
        for tp in parts:
            c.seek(tp, (since or {}).get(tp, 0))
        msgs: list[dict] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(msgs):
            for recs in c.poll(timeout_ms=500).values():
                for r in recs:
                    doc = json.loads(r.value)
                    for one in doc if isinstance(doc, list) else [doc]:  # a batch of fixes: each of them
                        one["_key"] = r.key.decode() if r.key else None
                        msgs.append(one)
        return msgs
    finally:
        c.close()


def seed_day(stack: Settings, day, tag: str, directory: Path):  # noqa: ANN001, ANN201
    """The seed city's simulated ``day`` (demo faults) replayed onto topics and a bucket of its own:
    (settings for them, the events folder, the city, the truth as JSON)."""
    from wastestream.admin import ensure_topics
    from wastestream.producers.replay import replay_files
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.stream_processors.sink import InfluxSink
    from wastestream.topics import ALL_TOPICS

    city = build_city(808)
    truth, counts = write_offline(city, day, 808, Faults.demo(), directory)
    s = stack.model_copy(
        update={"topic_prefix": f"{tag}.", "influx_bucket": tag.replace(".", "-"), "city_file": directory / "city.yaml"}
    )
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.close()
    assert replay_files(s, directory) == counts
    return s, directory, city, truth.to_json()
