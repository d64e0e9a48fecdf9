"""The worker's write-behind over Faust tables, against a plain mapping that records each write."""

from wastestream.stream_processors.tables import WriteBehind


class Recording(dict):
    def __init__(self):
        super().__init__()
        self.writes: list[tuple] = []

    def __setitem__(self, k, v):
        self.writes.append((k, v))
        super().__setitem__(k, v)


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
    assert wb.write_back(0) == 1
    assert table.writes == [("bucket", list(range(100)))]
    assert "other" not in table and wb.pending_partitions() == {3}
    assert wb.write_back(3) == 1 and table["other"] == "x" and wb.pending_partitions() == set()


def test_deletes_are_pending_too():
    table = Recording()
    table["k"] = 1
    wb = WriteBehind(table)
    wb.partition = 2
    del wb["k"]
    assert "k" not in wb and list(wb) == [] and "k" in table
    wb.write_back(2)
    assert "k" not in table
