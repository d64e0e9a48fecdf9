"""Produce event files (JSON Lines per topic) onto Kafka, as the gateway and weighbridge would."""

from __future__ import annotations

import time
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
    rate: float | None = None,
) -> dict[str, int]:
    """Produce the files' events in file order; returns the events per topic. Fixes go as batches of
    up to ``fix_batch`` (``settings.fix_batch``) per partition (schemas.GpsFixBatch): the fixes of a
    vehicle stay in their order, each partition gets its vehicles' fixes as the key would place them.
    ``rate``: at most that many Kafka messages per second (a batch is one), for a feed that lasts, as a
    live one does; None sends as fast as the broker takes them."""
    from kafka import KafkaProducer

    if not directory.is_dir():
        raise WastestreamError(f"--events: {directory} is not a folder")
    if rate is not None and not rate > 0:
        raise WastestreamError(f"--rate: {rate}; give messages per second > 0")
    batch = fix_batch or settings.fix_batch
    pace = _Pacer(rate)
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
                    pace()
                    producer.send(name, key=key.encode(), value=value.to_json_bytes())
                    continue
                p = partition_of(key, settings.topic_partitions)
                waiting = pending.setdefault(p, [])
                waiting.append(value)
                if len(waiting) >= batch:
                    pace()
                    producer.send(name, key=key.encode(), value=fix_batch_bytes(waiting), partition=p)
                    pending[p] = []
            for p, waiting in sorted(pending.items()):
                if waiting:
                    pace()
                    producer.send(
                        name, key=waiting[-1].vehicle_id.encode(), value=fix_batch_bytes(waiting), partition=p
                    )
            counts[topic] = n
        producer.flush()
    finally:
        producer.close()
    return counts


class _Pacer:
    """Called before each message: sleeps while the feed is ahead of ``rate`` messages per second."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.sent = 0
        self.started = time.monotonic()

    def __call__(self) -> None:
        if self.rate is None:
            return
        ahead = self.sent / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)
        self.sent += 1
