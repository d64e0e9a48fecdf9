"""Produce event files (JSON Lines per topic) onto Kafka, as the gateway and weighbridge would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wastestream.errors import WastestreamError
from wastestream.settings import Settings
from wastestream.stream_processors.eventfiles import FILES, read_events


def record_key(topic: str, value) -> str:  # noqa: ANN001
    if topic == "gps.fixes":
        return value.vehicle_id
    if topic == "weigh.tickets":
        return value.station_id
    return value.source


def replay_files(
    settings: Settings, directory: Path, progress: Callable[[str, int], None] = lambda t, n: None
) -> dict[str, int]:
    from kafka import KafkaProducer

    if not directory.is_dir():
        raise WastestreamError(f"--events: {directory} is not a folder")
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
    )
    counts: dict[str, int] = {}
    try:
        for topic in FILES:
            n = 0
            for value in read_events(directory, topic):
                producer.send(settings.topic(topic), key=record_key(topic, value).encode(), value=value.to_json_bytes())
                n += 1
                if n % 10000 == 0:
                    progress(topic, n)
            counts[topic] = n
        producer.flush()
    finally:
        producer.close()
    return counts
