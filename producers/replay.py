"""Produce event files (JSON Lines per topic) onto Kafka, as the gateway and weighbridge would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wastestream.errors import WastestreamError
from wastestream.schemas.events import fix_batch_bytes
from wastestream.settings import Settings
from wastestream.stream_processors.eventfiles import FILES, read_events
from wastestream.stream_processors.partitioning import partition_of


def record_key(topic: str, value) -> str:  # noqa: ANN001
    if topic == "gps.fixes":
        return value.vehicle_id
    if topic == "weigh.tickets":
        return value.station_id
    return value.source


def replay_files(
    settings: Settings,
    directory: Path,
    progress: Callable[[str, int], None] = lambda t, n: None,
    fix_batch: int | None = None,
) -> dict[str, int]:
    """Produce the files' events in file order; returns the events per topic. Fixes go as batches of
    up to ``fix_batch`` (``settings.fix_batch``) per partition (schemas.GpsFixBatch): the fixes of a
    vehicle stay in their order, each partition gets its vehicles' fixes as the key would place them."""
    from kafka import KafkaProducer

    if not directory.is_dir():
        raise WastestreamError(f"--events: {directory} is not a folder")
    batch = fix_batch or settings.fix_batch
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
    )
    counts: dict[str, int] = {}
    try:
        for topic in FILES:
            n = 0
            name = settings.topic(topic)
            pending: dict[int, list] = {}  # partition → fixes not sent yet
            for value in read_events(directory, topic):
                key = record_key(topic, value)
                n += 1
                if n % 10000 == 0:
                    progress(topic, n)
                if topic != "gps.fixes" or batch == 1:
                    producer.send(name, key=key.encode(), value=value.to_json_bytes())
                    continue
                p = partition_of(key, settings.topic_partitions)
                waiting = pending.setdefault(p, [])
                waiting.append(value)
                if len(waiting) >= batch:
                    producer.send(name, key=key.encode(), value=fix_batch_bytes(waiting), partition=p)
                    pending[p] = []
            for p, waiting in sorted(pending.items()):
                if waiting:
                    producer.send(
                        name, key=waiting[-1].vehicle_id.encode(), value=fix_batch_bytes(waiting), partition=p
                    )
            counts[topic] = n
        producer.flush()
    finally:
        producer.close()
    return counts
