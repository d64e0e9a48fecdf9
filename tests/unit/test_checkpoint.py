"""Commit points (stream_processors/checkpoint.py) over faust-streaming's own consumer, messages and
events (no broker: the consumer's acknowledgement bookkeeping is all in memory)."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from wastestream.stream_processors.checkpoint import Checkpoint, SinkManager
from wastestream.stream_processors.sink import Sink
from wastestream.stream_processors.tables import WriteBehind

TOPIC = "gps.fixes"


class RecordingSink(Sink):
    def __init__(self, log: list) -> None:
        self.log = log
        self.up = True

    def write(self, records) -> None:  # noqa: ANN001
        if not self.up:
            self.log.append(("sink failed", len(records)))
            raise ConnectionError("InfluxDB down")
        self.log.append(("sink", sorted(r.series for r in records)))


class RecordingStore(WriteBehind):
    def __init__(self, log: list) -> None:
        super().__init__({})
        self.log = log

    deliver_fails = False  # the broker refuses the batch after the hand-off

    async def publish(self, changes: list) -> list[asyncio.Future]:
        await asyncio.sleep(0)  # a real hand-off yields to the loop
        for partition, key, value in changes:
            self.log.append(("changelog", partition, key, value))
        f = asyncio.get_running_loop().create_future()  # one delivery for the lot, as a batch's
        if self.deliver_fails:
            f.set_exception(ConnectionError("not enough replicas"))
        else:
            f.set_result(None)
        return [f]


class FakeStream:
    """What Checkpoint uses of a Faust stream: ``events()``, ``enable_acks``, the sensors' hook."""

    def __init__(self, events: list) -> None:
        self._events = events
        self.enable_acks = True
        self.out: list[int] = []

    async def events(self):  # noqa: ANN201
        for e in self._events:
            yield e

    def _on_message_out(self, tp, offset, message) -> None:  # noqa: ANN001
        self.out.append(offset)


def record(series: str):  # noqa: ANN201
    from datetime import UTC, datetime

    from wastestream.stream_processors.records import Record

    return Record("m", (("k", series),), (("v", 1),), datetime(2026, 11, 16, tzinfo=UTC))


@pytest.fixture
def app():  # noqa: ANN201
    async def make():  # noqa: ANN202
        a = faust.App("checkpoint-test", broker="kafka://localhost:1", store="memory://")
        a.topic(TOPIC)  # acks are enabled for the app's source topics
        a.topics._acking_topics.add(TOPIC)
        return a

    return asyncio.run(make())


def events_of(app, offsets, partition: int = 0) -> list:  # noqa: ANN001
    out = []
    for o in offsets:
        m = ConsumerMessage(TOPIC, partition, o, 0.0, 0, {}, b"k", b"v", None)
        m.refcount = 1
        out.append(faust.Event(app, b"k", b"v", {}, m))
    return out


def committable(app) -> int | None:  # noqa: ANN001
    return app.consumer._new_offset(TP(TOPIC, 0))


def test_faust_commits_over_a_gap_of_one_offset_which_is_why_acks_are_guarded(app):
    """The upstream behaviour the guard exists for: last commit at 10, offset 10 never acknowledged,
    11 and 12 acknowledged → Faust would commit 13, past the unprocessed 10."""
    c = app.consumer
    c._committed_offset[TP(TOPIC, 0)] = 10
    c._acked[TP(TOPIC, 0)] = [11, 12]
    assert committable(app) == 13


def test_events_are_acknowledged_only_after_their_changes_and_figures_are_durable(app):
    log: list = []
    store, sinks = RecordingStore(log), SinkManager(RecordingSink(log))
    cp = Checkpoint([store], sinks, max_events=3)
    evs = events_of(app, range(5))
    stream = FakeStream(evs)

    due: list[int] = []

    async def run() -> None:
        async for event in cp.events(stream, app.consumer):
            if cp.wake.is_set() and not due:  # the agent does not commit itself: it wakes the loop
                due.append(event.message.offset)
                await cp.next_due(1.0)  # returns at once: what the worker's commit loop waits on
                await cp.commit()
            store.partition = 0
            store[f"key{event.message.offset}"] = event.message.offset
            sinks.add([record(f"s{event.message.offset}")])
            log.append(("processed", event.message.offset, committable(app)))
        await cp.commit()

    asyncio.run(run())
    assert stream.enable_acks is False
    assert due == [3]  # a commit point was due once 3 events waited
    # nothing was committable while an event's changelog message or figure was not written
    kinds = [e[0] for e in log]
    first_sink = kinds.index("sink")
    assert all(e[2] is None for e in log if e[0] == "processed" and e[1] < 3)
    assert {e[2] for e in log[:first_sink] if e[0] == "changelog"} == {"key0", "key1", "key2"}
    assert sorted(stream.out) == [0, 1, 2, 3, 4]
    assert committable(app) == 5
    assert cp.stats["acked"] == 5 and cp.stats["refused_acks"] == 0 and cp.stats["gaps"] == 0


def test_a_failed_flush_holds_the_acknowledgements_until_a_flush_succeeds(app):
    log: list = []
    sink = RecordingSink(log)
    store, sinks = RecordingStore(log), SinkManager(sink)
    cp = Checkpoint([store], sinks)
    evs = events_of(app, range(4))

    async def run() -> None:
        async for event in cp.events(FakeStream(evs), app.consumer):
            sinks.add([record(f"s{event.message.offset}")])
        sink.up = False
        assert await cp.commit() is False
        assert committable(app) is None and cp.pending() == 4 and len(sinks) == 4
        sink.up = True
        assert await cp.commit() is True

    asyncio.run(run())
    assert committable(app) == 4
    assert log[-1] == ("sink", sorted(record(f"s{i}").series for i in range(4)))


def test_during_a_rebalance_with_influxdb_down_events_are_handed_over_and_the_buffer_dropped(app):
    log: list = []
    sink = RecordingSink(log)
    sink.up = False
    sinks = SinkManager(sink)
    cp = Checkpoint([RecordingStore(log)], sinks, rebalancing=lambda: True)
    evs = events_of(app, range(3))

    async def run() -> None:
        async for _ in cp.events(FakeStream(evs), app.consumer):
            sinks.add([record("a")])
        assert await cp.commit(wait=True) is True

    asyncio.run(run())
    assert committable(app) == 3 and len(sinks) == 0 and cp.stats["handed_over"] == 3


def seeks_of(app) -> list:  # noqa: ANN001
    seen: list = []

    async def seek(tp, offset) -> None:  # noqa: ANN001
        seen.append((tp.partition, offset))

    app.consumer.seek = seek
    return seen


def test_an_acknowledgement_that_does_not_come_from_a_commit_point_is_refused(app):
    """Faust's Stream acks an event it skips when a rebalance begins, unprocessed; with the guard the
    consumer never sees that ack. And the events after it are not acknowledged either (Faust would
    commit over a gap of one): the partition is read again from the skipped event."""
    cp = Checkpoint([], SinkManager(None))
    seeks = seeks_of(app)
    skipped, *later = events_of(app, [7, 8, 9])
    app.consumer._committed_offset[TP(TOPIC, 0)] = 7

    async def run() -> None:
        async for _ in cp.events(FakeStream(later), app.consumer):
            pass
        skipped.ack()  # what Stream's skip path does
        await cp.commit()

    asyncio.run(run())
    assert cp.stats["refused_acks"] == 1
    assert committable(app) is None and app.consumer._acked[TP(TOPIC, 0)] == []
    assert seeks == [(0, 7)] and cp.stats["gaps"] == 1


def test_a_gap_is_never_committed_over_and_the_partition_is_read_again_from_it(app):
    cp = Checkpoint([], SinkManager(None))
    seeks = seeks_of(app)

    async def run() -> None:
        async for _ in cp.events(FakeStream(events_of(app, [0, 1, 3, 4])), app.consumer):
            pass
        await cp.commit()
        # read again from 2: 2, 3, 4 arrive (3 and 4 a second time) and are acknowledged
        async for _ in cp.events(FakeStream(events_of(app, [2, 3, 4])), app.consumer):
            pass
        await cp.commit()

    asyncio.run(run())
    assert seeks == [(0, 2)] and cp.stats["gaps"] == 1
    assert committable(app) == 5


def test_offsets_read_twice_are_acknowledged_once_more_harmlessly(app):
    cp = Checkpoint([], SinkManager(None))

    async def run() -> None:
        async for _ in cp.events(FakeStream(events_of(app, [0, 1, 2, 1, 2, 3])), app.consumer):
            pass
        await cp.commit()

    asyncio.run(run())
    assert committable(app) == 4 and cp.stats["gaps"] == 0


def test_a_commit_point_under_way_is_not_waited_for_unless_asked(app):
    log: list = []
    store = RecordingStore(log)
    cp = Checkpoint([store], SinkManager(None))

    async def run() -> tuple:
        store.partition = 0
        store["a"] = 1
        first = asyncio.ensure_future(cp.commit())
        await asyncio.sleep(0)  # the first is publishing (it yields)
        second = await cp.commit()
        third = await cp.commit(wait=True)
        return await first, second, third

    assert asyncio.run(run()) == (True, False, True)
    assert [e for e in log if e[0] == "changelog"] == [("changelog", 0, "a", 1)]


def test_a_failed_changelog_hand_off_acknowledges_nothing_and_sends_the_changes_again(app):
    log: list = []

    class Flaky(RecordingStore):
        fail = True

        async def publish(self, changes: list) -> list[asyncio.Future]:
            if self.fail:
                raise ConnectionError("broker gone")
            return await super().publish(changes)

    store = Flaky(log)
    cp = Checkpoint([store], SinkManager(None))

    async def run() -> None:
        async for event in cp.events(FakeStream(events_of(app, [0, 1])), app.consumer):
            store.partition = 0
            store[f"k{event.message.offset}"] = 1
        with pytest.raises(ConnectionError):
            await cp.commit()
        assert committable(app) is None
        store.fail = False
        assert await cp.commit() is True

    asyncio.run(run())
    assert sorted(e[2] for e in log if e[0] == "changelog") == ["k0", "k1"]
    assert committable(app) == 2


def test_a_timer_relieved_between_parts_flushes_once_enough_figures_wait(app):
    """A tick deciding many points hands its figures over part by part: below ``max_buffered`` they
    wait for the commit loop; at it, a commit point writes them (nothing acknowledged that was not
    processed); with InfluxDB down the figures stay and the timer goes on."""
    log: list = []
    sink = RecordingSink(log)
    sinks = SinkManager(sink)
    cp = Checkpoint([], sinks, max_buffered=3)

    async def run() -> list[int]:
        sizes = []
        for part in (["a", "b"], ["c", "d"], ["e"], ["f", "g"]):
            sinks.add(record(x) for x in part)
            await cp.relieve()
            sizes.append(len(sinks))
        sink.up = False
        sinks.add(record(x) for x in ("h", "i", "j"))
        await cp.relieve()  # fails, keeps them, does not wait
        sizes.append(len(sinks))
        return sizes

    assert asyncio.run(run()) == [2, 0, 1, 0, 3]
    assert [e for e in log if e[0] == "sink"] == [
        ("sink", sorted(record(x).series for x in "abcd")),
        ("sink", sorted(record(x).series for x in "efg")),
    ]
    assert log[-1] == ("sink failed", 3)


def test_a_failed_changelog_delivery_acknowledges_nothing_and_sends_the_changes_again(app):
    """The hand-off went through but the broker did not take the batch: the events stay unacknowledged
    and their changes are sent again at the next commit point."""
    log: list = []
    store = RecordingStore(log)
    store.deliver_fails = True
    cp = Checkpoint([store], SinkManager(RecordingSink(log)))

    async def run() -> None:
        async for event in cp.events(FakeStream(events_of(app, [0, 1, 2])), app.consumer):
            store.partition = 0
            store[f"k{event.message.offset}"] = event.message.offset
            cp.sinks.add([record(f"s{event.message.offset}")])
        assert await cp.commit() is False
        assert committable(app) is None and cp.stats["changelog_failures"] == 1
        store.deliver_fails = False
        assert await cp.commit() is True

    asyncio.run(run())
    sent = [e[2] for e in log if e[0] == "changelog"]
    assert sorted(sent) == ["k0", "k0", "k1", "k1", "k2", "k2"]  # each key twice: the same value again
    assert committable(app) == 3
