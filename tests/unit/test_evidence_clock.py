"""The worker's evidence clock: its own mark (how far it read its fixes) and the peers' marks it
decides deadlines at (the rules are wastestream.domain.watermark's)."""

from __future__ import annotations

import asyncio
from collections import namedtuple

from wastestream.stream_processors.evidence import EvidenceClock

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    def __init__(self, ends: dict) -> None:
        self.ends = ends

    def assignment(self) -> set:
        return set(self.ends)

    def highwater(self, tp) -> int:  # noqa: ANN001
        return self.ends[tp]

    async def position(self, tp) -> int:  # noqa: ANN001
        return 0


def test_a_worker_marks_the_oldest_progress_among_partitions_with_fixes_left():
    a, b, other = TP("gps.fixes", 0), TP("gps.fixes", 1), TP("visits", 0)
    clock = EvidenceClock({"gps.fixes"}, hop_s=0)
    consumer = FakeConsumer({a: 10, b: 5, other: 99})
    assert asyncio.run(clock.mark(consumer))["until"] is None  # nothing read yet from a partition with a backlog
    clock.read(a, 4)
    clock.progressed(0, 1000.0)
    clock.read(b, 4)  # b is read to its end: it holds nothing back
    clock.progressed(1, 500.0)
    assert asyncio.run(clock.mark(consumer)) == {"from": clock.instance, "until": 1000.0}
    clock.read(a, 9)
    assert asyncio.run(clock.mark(consumer))["until"] == "all"
    clock.assigned()
    assert asyncio.run(clock.mark(consumer))["until"] is None


def test_a_mark_is_reported_hop_s_late():
    clock = EvidenceClock({"gps.fixes"}, hop_s=3600)
    consumer = FakeConsumer({})
    assert asyncio.run(clock.mark(consumer))["until"] is None  # nothing measured an hour ago


def test_deadlines_wait_for_the_slowest_peer_and_never_go_back():
    clock = EvidenceClock({"gps.fixes"})
    clock.heard({"from": "w1", "until": 5000.0})
    clock.heard({"from": "w2", "until": "all"})
    assert clock.decision_time(0, now=9000.0) == 5000.0 - 120.0
    clock.heard({"from": "w1", "until": None})  # w1 lost its assignment: nothing decided now...
    assert clock.decision_time(0, now=9000.0) == 5000.0 - 120.0  # ...but a passed deadline stays passed
    assert clock.decision_time(1, now=9000.0) is None  # a partition never decided waits
    clock.heard({"from": "w1", "until": "all"})
    assert clock.decision_time(1, now=9000.0) == 9000.0
