"""The gateway's Kafka sink gathers fixes from all connections into batches per partition
(topic contract 2): each caller returns once the batches holding its fixes are acknowledged."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from wastestream.producers.sinks import KafkaSink, PublishError
from wastestream.schemas import GpsFix
from wastestream.settings import Settings
from wastestream.stream_processors.partitioning import partition_of

T0 = datetime(2026, 11, 23, tzinfo=UTC)


class FakeFuture:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def add_callback(self, fn):  # noqa: ANN001, ANN201
        if self.error is None:
            fn(None)
        return self

    def add_errback(self, fn):  # noqa: ANN001, ANN201
        if self.error is not None:
            fn(self.error)
        return self


class FakeProducer:
    def __init__(self, error: BaseException | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []
        self.error = error

    def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> FakeFuture:
        self.sent.append((topic, key, value, partition))
        return FakeFuture(self.error)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def sink(producer: FakeProducer, batch: int = 4) -> KafkaSink:
    s = KafkaSink.__new__(KafkaSink)  # no broker: the producer is the fake
    settings = Settings(fix_batch=batch, fix_batch_linger_ms=20, topic_partitions=6)
    s.timeout_s, s.prefix, s.producer = 5.0, "t.", producer
    s.fix_batch, s.linger_s, s.partitions = settings.fix_batch, settings.fix_batch_linger_ms / 1000, 6
    s._pending, s._timer = {}, None
    return s


def fix(vehicle: str, i: int) -> GpsFix:
    t = T0 + timedelta(seconds=i)
    return GpsFix(
        vehicle_id=vehicle, terminal_id="1", device_time=t, received_at=t, lat=31.2, lon=121.4, speed_kmh=0, heading=0
    )


def test_callers_share_batches_per_partition_and_return_once_theirs_are_acknowledged():
    producer = FakeProducer()
    s = sink(producer, batch=4)
    vehicles = ["V001", "V002", "V003", "V004", "V005", "V006", "V007"]

    async def run() -> None:
        await asyncio.gather(
            s.fixes([fix(v, i) for i, v in enumerate(vehicles)]),
            s.fixes([fix(v, 100 + i) for i, v in enumerate(vehicles)]),
            s.fixes([fix("V001", 200 + i) for i in range(9)]),  # more than a batch: split
        )

    asyncio.run(run())
    got: dict[int, list[dict]] = {}
    for topic, key, value, p in producer.sent:
        assert topic == "t.gps.fixes"
        batch = json.loads(value)
        assert 1 <= len(batch) <= 4
        assert {partition_of(f["vehicle_id"], 6) for f in batch} == {p}  # only its own partition's vehicles
        assert key.decode() == batch[-1]["vehicle_id"]
        got.setdefault(p, []).extend(batch)
    assert sum(len(b) for b in got.values()) == 7 + 7 + 9
    for v in vehicles:  # each vehicle's fixes in the order they were handed over
        times = [f["device_time"] for b in got.values() for f in b if f["vehicle_id"] == v]
        assert times == sorted(times)
    assert len(producer.sent) < 7 + 7 + 9


def test_a_failed_batch_fails_every_caller_with_fixes_in_it():
    s = sink(FakeProducer(error=RuntimeError("broker down")))

    async def run() -> None:
        await s.fixes([fix("V001", 1)])

    with pytest.raises(PublishError, match="broker down"):
        asyncio.run(run())


def test_one_fix_per_message_when_batching_is_off():
    producer = FakeProducer()
    s = sink(producer, batch=1)
    asyncio.run(s.fixes([fix("V001", 1), fix("V002", 2)]))
    assert [json.loads(v)["vehicle_id"] for _, _, v, _ in producer.sent] == ["V001", "V002"]
