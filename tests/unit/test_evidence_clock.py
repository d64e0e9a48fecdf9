"""The worker's evidence clock: its own read mark (how far it read its fixes) and the marks it
decides deadlines at (the rules are wastestream.domain.watermark's)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from datetime import UTC, datetime, timedelta

from wastestream.schemas.results import ReadMark, is_read_mark
from wastestream.stream_processors.evidence import EvidenceClock

TP = namedtuple("TP", "topic partition")
T0 = datetime(2026, 11, 16, 8, tzinfo=UTC)


class FakeConsumer:
    def __init__(self, ends: dict) -> None:
        self.ends = ends

    def highwater(self, tp) -> int:  # noqa: ANN001
        return self.ends[tp]

    async def position(self, tp) -> int:  # noqa: ANN001
        return 0


def a_mark(worker: str, partitions: list[int], until, generation: int = 7, group: str = "g", at=T0) -> ReadMark:  # noqa: ANN001
    return ReadMark(group=group, worker=worker, generation=generation, partitions=partitions, until=until, sent_at=at)


def test_a_reader_marks_the_oldest_progress_among_its_partitions_with_fixes_left():
    a, b, other = TP("gps.fixes", 0), TP("gps.fixes", 1), TP("visits", 0)
    clock = EvidenceClock("g", {"gps.fixes"}, 2)
    consumer = FakeConsumer({a: 10, b: 5, other: 99})
    assert clock.mark(asyncio.run(clock.fixes_left(consumer)), T0) is None  # no assignment yet
    clock.assigned(7, {a, b, other}, T0)
    mark = clock.mark(asyncio.run(clock.fixes_left(consumer)), T0)
    assert mark is not None and mark.until is None  # nothing read yet from a partition with a backlog
    assert (mark.group, mark.generation, mark.partitions) == ("g", 7, [0, 1])  # not the visits partition
    clock.read(a, 4)
    clock.progressed(0, 1000.0)
    clock.read(b, 4)  # b is read to its end: it holds nothing back
    clock.progressed(1, 500.0)
    assert clock.mark(asyncio.run(clock.fixes_left(consumer)), T0).until == 1000.0
    assert clock.mark(asyncio.run(clock.fixes_left(consumer)), T0, holding=True).until is None  # a re-emit
    clock.read(a, 9)
    assert clock.mark(asyncio.run(clock.fixes_left(consumer)), T0).until == "all"
    clock.assigned(8, {b}, T0)  # a new generation: what was read of the old assignment says nothing
    mark = clock.mark(asyncio.run(clock.fixes_left(consumer)), T0)
    assert (mark.generation, mark.partitions, mark.until) == (8, [1], None)


def test_a_mark_on_the_wire_is_told_from_a_visit_set():
    body = a_mark("w1", [0], "all").to_json_bytes()
    assert is_read_mark(body)
    assert ReadMark.model_validate_json(body) == a_mark("w1", [0], "all")
    assert not is_read_mark(b'{"schema_version":1,"site_id":"P1","site_kind":"point","vehicle_id":"V1"}')


def test_deadlines_wait_until_the_marks_cover_every_fixes_partition():
    clock = EvidenceClock("g", {"gps.fixes"}, 3)
    clock.assigned(7, set(), T0)
    clock.marked(0, a_mark("w1", [0, 1], 5000.0))
    assert clock.decision_time(0, now=9000.0) is None  # fixes partition 2's reader has not marked yet
    clock.marked(1, a_mark("w2", [2], "all"))
    assert clock.decision_time(0, now=9000.0) is None  # its mark went to another visits partition
    clock.marked(0, a_mark("w2", [2], "all"))
    assert clock.decision_time(0, now=9000.0) == 5000.0 - 120.0  # the slowest reader, less the margin
    clock.marked(0, a_mark("w1", [0, 1], None))  # w1 does not know (a re-emit under way)...
    assert clock.decision_time(0, now=9000.0) == 5000.0 - 120.0  # ...a passed deadline stays passed
    clock.marked(0, a_mark("w1", [0, 1], "all"))
    assert clock.decision_time(0, now=9000.0) == 9000.0


def test_marks_of_another_generation_group_or_life_of_the_group_do_not_count():
    clock = EvidenceClock("g", {"gps.fixes"}, 1)
    clock.assigned(7, set(), T0)
    clock.marked(0, a_mark("w1", [0], "all", generation=6))  # the assignment before this rebalance
    clock.marked(0, a_mark("w2", [0], "all", group="replay"))  # a fresh group replaying the topics
    clock.marked(0, a_mark("w3", [0], "all", at=T0 - timedelta(days=8)))  # the group's generation 7 of last week
    assert clock.decision_time(0, now=9000.0) is None
    clock.marked(0, a_mark("w4", [0], "all", generation=8))  # read before this worker's own next assignment
    assert clock.decision_time(0, now=9000.0) is None
    clock.assigned(8, set(), T0 + timedelta(seconds=30))
    assert clock.decision_time(0, now=9000.0) == 9000.0


def test_a_reader_without_fixes_partitions_holds_nothing_back():
    clock = EvidenceClock("g", {"gps.fixes"}, 1)
    clock.assigned(7, set(), T0)
    clock.marked(0, a_mark("idle", [], None))
    clock.marked(0, a_mark("w1", [0], 4000.0))
    assert clock.decision_time(0, now=9000.0) == 4000.0 - 120.0


def test_the_stats_view_says_how_far_each_partition_may_decide():
    clock = EvidenceClock("g", {"gps.fixes"}, 2)
    clock.assigned(7, set(), T0)
    clock.marked(0, a_mark("w1", [0, 1], T0.timestamp()))
    clock.marked(1, a_mark("w1", [0], "all"))
    assert clock.decision_time(0, now=T0.timestamp() + 600) == T0.timestamp() - 120
    assert clock.view() == {
        "0": {"until": T0.isoformat(), "decided_at": (T0 - timedelta(seconds=120)).isoformat(), "marks": 1},
        "1": {"until": None, "decided_at": None, "marks": 1},
    }
