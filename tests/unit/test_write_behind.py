"""The worker's write-behind over Faust tables, against a plain mapping that records each write."""

import asyncio
from types import SimpleNamespace

import pytest

from wastestream.stream_processors.tables import FaustWriteBehind, WriteBehind, publish_changes, take_changes


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


def test_faust_tables_get_values_in_the_store_and_one_awaited_changelog_send_per_key():
    """A real Faust table (in-memory store) and a recording producer: reads come from the store,
    and each changed key is one send of the bytes Faust's own changelog path would send."""
    import faust

    sent: list[tuple] = []

    class Producer:  # what FaustWriteBehind uses of Faust's producer: send(topic, key, value, partition, ts, headers)
        started = False

        async def maybe_start(self):  # the first commit point can come before Faust started its producer
            self.started = True

        async def send(self, topic, key, value, partition, timestamp, headers):
            assert self.started
            await asyncio.sleep(0)
            sent.append((topic, key, value, partition))

    app = faust.App("wb-test", broker="kafka://localhost:1", store="memory://")
    app.producer = Producer()
    table = app.Table("fixlog", default=None, partitions=4)
    table.data["gone"] = 1
    table.data["kept"] = [3]
    a, b = FaustWriteBehind(table), FaustWriteBehind(table)
    assert a.get("kept") == [3] and a.get("absent", "d") == "d" and "absent" not in a
    a.partition = b.partition = 1
    a["k"] = [1]
    a["k"] = [1, 2]
    del b["gone"]
    assert a.get("k") == [1, 2] and b.get("gone", "d") == "d"
    assert run(publish_changes(take_changes([a, b]))) == 2
    assert dict(table.data) == {"k": [1, 2], "kept": [3]}
    assert sent == [
        ("wb-test-fixlog-changelog", b'"k"', b"[1,2]", 1),
        ("wb-test-fixlog-changelog", b'"gone"', None, 1),  # a tombstone
    ]


def test_faust_write_behind_refuses_a_store_it_cannot_read_directly():
    class Store:  # e.g. RocksDB: no dict inside
        pass

    with pytest.raises(TypeError, match="in-memory store"):
        FaustWriteBehind(SimpleNamespace(data=Store()))
