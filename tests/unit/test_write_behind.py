"""The worker's write-behind over Faust tables, against a plain mapping that records each write."""

import asyncio
from types import SimpleNamespace

import pytest

from wastestream.stream_processors.tables import FaustWriteBehind, WriteBehind, delivered, publish_changes, take_changes


class Recording(dict):
    def __init__(self):
        super().__init__()
        self.writes: list[tuple] = []

    def __setitem__(self, k, v):
        self.writes.append((k, v))
        super().__setitem__(k, v)


def run(coro):
    return asyncio.run(coro)


def test_reads_see_pending_writes_and_each_key_is_written_once_per_partition_flush():
    table = Recording()
    table["old"] = 1
    table.writes.clear()
    wb = WriteBehind(table)
    wb.partition = 0
    for i in range(100):  # a truck at a stop: the same bucket changes with every fix
        wb["bucket"] = (wb.get("bucket") or []) + [i]
    wb.partition = 3
    wb["other"] = "x"
    assert wb["bucket"] == list(range(100)) and wb.get("old") == 1 and wb.get("missing") is None
    assert sorted(wb) == ["bucket", "old", "other"] and len(wb) == 3
    assert table.writes == []  # nothing written yet
    assert run(wb.write_back(0)) == 1
    assert table.writes == [("bucket", list(range(100)))]
    assert "other" not in table and wb.pending_partitions() == {3}
    assert run(wb.write_back(3)) == 1 and table["other"] == "x" and wb.pending_partitions() == set()


def test_deletes_are_pending_too():
    table = Recording()
    table["k"] = 1
    wb = WriteBehind(table)
    wb.partition = 2
    del wb["k"]
    assert "k" not in wb and list(wb) == [] and "k" in table
    run(wb.write_back(2))
    assert "k" not in table


def test_keep_only_forgets_keys_written_for_partitions_now_owned_elsewhere():
    """A worker that owned partition 2 and lost it in a rebalance must not keep (and later re-emit)
    what it wrote for it; recovered keys of kept partitions and pending changes of kept partitions stay."""
    table = {"recovered": "r"}  # came from changelog recovery: Faust's store forgets those itself
    wb = WriteBehind(table)
    wb.partition = 2
    wb["mine-then"] = 1
    run(wb.write_back(2))
    wb.partition = 0
    wb["kept"] = 2
    run(wb.write_back(0))
    wb["pending-kept"] = 3
    wb.partition = 2
    wb["pending-lost"] = 4
    assert wb.keep_only({0, 1}) == 1
    assert "mine-then" not in table and table["kept"] == 2 and table["recovered"] == "r"
    assert wb.pending_partitions() == {0} and "pending-lost" not in wb and wb["pending-kept"] == 3


class _Kafka:
    """What FaustWriteBehind uses of the aiokafka producer under Faust's: real batches (aiokafka's
    BatchBuilder) read back as the broker would store them; deliveries succeed unless told to fail."""

    def __init__(self, batch_bytes: int = 16384, fail: bool = False) -> None:
        self.batch_bytes, self.fail = batch_bytes, fail
        self.batches: list[tuple[str, int, list[tuple]]] = []

    def create_batch(self):  # noqa: ANN201
        from aiokafka.producer.message_accumulator import BatchBuilder

        return BatchBuilder(self.batch_bytes, 0)

    async def send_batch(self, batch, topic, *, partition):  # noqa: ANN001, ANN201
        from aiokafka.record.default_records import DefaultRecordBatch

        await asyncio.sleep(0)
        self.batches.append((topic, partition, [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]))
        f = asyncio.get_running_loop().create_future()
        if self.fail:
            f.set_exception(ConnectionError("broker gone"))
        else:
            f.set_result(None)
        return f


def _faust_app(kafka: _Kafka):  # noqa: ANN202
    import faust

    class Producer:  # what FaustWriteBehind uses of Faust's producer
        started = False

        async def maybe_start(self):  # the first commit point can come before Faust started its producer
            self.started = True

        def _ensure_producer(self):  # noqa: ANN202
            assert self.started
            return kafka

    app = faust.App("wb-test", broker="kafka://localhost:1", store="memory://")
    app.producer = Producer()
    return app


def test_faust_tables_get_values_in_the_store_and_changes_go_in_batches_per_partition():
    """A real Faust table (in-memory store): reads come from the store, and each changed key is one
    message in its partition's batch, the bytes Faust's own changelog path would send."""
    kafka = _Kafka()
    app = _faust_app(kafka)
    table = app.Table("fixlog", default=None, partitions=4)
    table.data["gone"] = 1
    table.data["kept"] = [3]
    a, b = FaustWriteBehind(table), FaustWriteBehind(table)
    assert a.get("kept") == [3] and a.get("absent", "d") == "d" and "absent" not in a
    a.partition = b.partition = 1
    a["k"] = [1]
    a["k"] = [1, 2]
    a.partition = 3
    a["j"] = {"x": 1}
    b.partition = 1
    del b["gone"]
    assert a.get("k") == [1, 2] and b.get("gone", "d") == "d"

    async def go():  # noqa: ANN202
        futures = await publish_changes(take_changes([a, b]))
        return len(futures), await delivered(futures)

    assert run(go()) == (3, None)  # a's two partitions, b's one
    assert dict(table.data) == {"k": [1, 2], "kept": [3], "j": {"x": 1}}
    name = "wb-test-fixlog-changelog"
    assert sorted(kafka.batches) == [
        (name, 1, [(b'"gone"', None)]),  # a tombstone
        (name, 1, [(b'"k"', b"[1,2]")]),
        (name, 3, [(b'"j"', b'{"x":1}')]),
    ]


def test_a_full_batch_is_handed_over_and_the_next_one_started():
    kafka = _Kafka(batch_bytes=300)
    table = _faust_app(kafka).Table("fixlog", default=None, partitions=2)
    wb = FaustWriteBehind(table)
    wb.partition = 0
    for i in range(40):
        wb[f"key-{i:02d}"] = list(range(i % 7))
    futures = run(publish_changes(take_changes([wb])))
    assert len(futures) == len(kafka.batches) > 1 and {p for _, p, _ in kafka.batches} == {0}
    got = [kv for _, _, kvs in kafka.batches for kv in kvs]
    assert got == [(f'"key-{i:02d}"'.encode(), str(list(range(i % 7))).replace(" ", "").encode()) for i in range(40)]


def test_a_failed_delivery_is_reported():
    kafka = _Kafka(fail=True)
    table = _faust_app(kafka).Table("fixlog", default=None, partitions=2)
    wb = FaustWriteBehind(table)
    wb.partition = 1
    wb["k"] = 1

    async def go():  # noqa: ANN202
        return await delivered(await publish_changes(take_changes([wb])))

    assert isinstance(run(go()), ConnectionError)


def test_a_delivery_that_does_not_come_is_a_failure_after_the_timeout():
    async def go():  # noqa: ANN202
        never = asyncio.get_running_loop().create_future()
        return await delivered([never], timeout=0.05)

    assert isinstance(run(go()), TimeoutError)


def test_faust_write_behind_refuses_a_store_it_cannot_read_directly():
    class Store:  # e.g. RocksDB: no dict inside
        pass

    with pytest.raises(TypeError, match="in-memory store"):
        FaustWriteBehind(SimpleNamespace(data=Store()))
