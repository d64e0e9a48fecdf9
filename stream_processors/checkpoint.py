"""Commit points: an event's offset may be committed only after all of its effects are durable.

As in quixstreams (``Application`` → ``Checkpoint`` → ``SinkManager``), the worker processes each
event as it arrives and hands it to a :class:`Checkpoint`. Every ``interval`` seconds, or once
``max_events`` events are waiting, the checkpoint

1. takes every table change the waiting events made (one changelog message per changed key) and
   hands them to the Kafka producer, awaiting each hand-off;
2. flushes the figures buffered for InfluxDB (:class:`SinkManager`); and only then
3. acknowledges the events to Faust, partition by partition in offset order, so that Faust's
   commit (which flushes the producer before it commits offsets) can include them.

If the InfluxDB flush fails, the events stay unacknowledged and the next commit point tries again;
processing goes on until ``max_held`` events wait, then the agents wait too (backpressure). During
a revocation with InfluxDB down, the events are handed over instead: their table changes are in the
changelog, whoever owns the partition next re-emits every figure the tables hold, and the buffered
figures are dropped (written later, they could overwrite the new owner's newer ones).

Two behaviours of faust-streaming 0.15.3 are closed off here:

* ``Stream.take_events`` pairs a buffered value with the stream's ``current_event`` read after an
  ``await``; a batch could hold one offset twice and another not at all. Events are taken from
  ``Stream.events()`` instead, which hands out each event in the step it was read.
* The consumer commits over a gap of one offset at the head of its acknowledgements (with the last
  commit at *n*, acks from *n* + 1 on are committed), and ``Stream`` acknowledges, unprocessed, an
  event it skips because a rebalance began. So the checkpoint is the only way an acknowledgement
  reaches the consumer (any other is refused and counted: the event is read again after the
  rebalance), and per partition it acknowledges offsets only one by one from the last commit: an
  event after a gap is not acknowledged, the gap is logged and counted, and the partition is read
  again from the gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wastestream.stream_processors.records import Record
from wastestream.stream_processors.sink import CoalescingBuffer, Sink
from wastestream.stream_processors.tables import WriteBehind, delivered, publish_changes, take_changes

log = logging.getLogger("wastestream.worker")


class SinkManager:
    """Figures on their way to InfluxDB: the newest value per series until a flush succeeds, and the
    latency from a fix's receipt to its results being written."""

    def __init__(self, sink: Sink | None, latency_window: int = 200_000) -> None:
        self.sink = sink
        self.buffer = CoalescingBuffer()
        self.flushed = 0
        self.flush_errors = 0
        self.last_ok = time.monotonic()
        self.failing = False  # the last flush failed
        self._received: list[float] = []  # receive times of fixes whose results are buffered
        self.latencies: deque[float] = deque(maxlen=latency_window)  # of the latest fixes written
        self.latency_total = 0  # fixes whose figures were written, since the start
        self.flushes = 0  # successful flushes, and the seconds they took (wall clock, in all; the longest)
        self.flush_s = 0.0
        self.flush_max_s = 0.0

    def __len__(self) -> int:
        return len(self.buffer)

    def add(self, records: Iterable[Record]) -> None:
        self.buffer.add(records)

    def received(self, at: float) -> None:
        self._received.append(at)

    async def flush(self) -> bool:
        """Write everything buffered; False (and everything kept) if the sink failed."""
        if self.sink is None or not len(self.buffer):
            return True
        batch = self.buffer.take()
        received, self._received = self._received, []
        started = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.sink.write, batch)
        except Exception as e:  # noqa: BLE001 - keep the figures and try again at the next commit point
            self.flush_errors += 1
            self.failing = True
            self.buffer.put_back(batch)
            self._received[:0] = received
            log.error("InfluxDB flush of %d records failed (%s); will retry", len(batch), e)
            return False
        self.flushed += len(batch)
        self.failing = False
        self.last_ok = time.monotonic()
        took = self.last_ok - started
        self.flushes += 1
        self.flush_s += took
        self.flush_max_s = max(self.flush_max_s, took)
        done = time.time()
        self.latencies.extend(done - r for r in received)
        self.latency_total += len(received)
        return True

    def drop(self) -> int:
        """Forget what is buffered (handed over: the tables' owners re-emit it)."""
        self._received = []
        return len(self.buffer.take())

    def flush_now(self) -> None:
        """A last synchronous write at shutdown (a failure is logged: the tables still hold it)."""
        if self.sink is not None and len(self.buffer):
            try:
                self.sink.write(self.buffer.take())
            except Exception as e:  # noqa: BLE001 - re-emitted from the tables at the next start
                log.error("final flush failed (%s); figures will be re-emitted at the next start", e)

    def latency_summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def q(f: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(f * len(lat)))], 4) if lat else None

        return {
            "flushes": self.flushes,
            "flush_mean_s": round(self.flush_s / self.flushes, 4) if self.flushes else None,
            "flush_max_s": round(self.flush_max_s, 4),
            "latency_total": self.latency_total,
            "latency_n": len(lat),  # the quantiles are over the latest latency_n (the window)
            "latency_p50_s": q(0.50),
            "latency_p99_s": q(0.99),
            "latency_max_s": round(lat[-1], 4) if lat else None,
        }


def write_stats(path: Path, body: dict[str, Any]) -> None:
    """Replace a small JSON stats file atomically (a reader never sees half of it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**body, "at": datetime.now(UTC).isoformat(), "pid": os.getpid()}))
        tmp.replace(path)
    except OSError as e:
        log.warning("cannot write worker stats (%s)", e)


class Checkpoint:
    """The events processed since the last commit point and what makes them durable (module doc)."""

    def __init__(
        self,
        stores: list[WriteBehind],
        sinks: SinkManager,
        *,
        max_events: int = 5000,
        max_buffered: int = 20_000,
        max_held: int = 200_000,
        rebalancing: Callable[[], bool] = lambda: False,
    ) -> None:
        self.stores = stores
        self.sinks = sinks
        self.max_events = max_events
        self.max_buffered = max_buffered
        self.max_held = max_held
        self.rebalancing = rebalancing  # a revocation is under way (Faust's flow control is suspended)
        self._waiting: list[tuple[Any, Any]] = []  # (stream, event) processed since the last commit point
        self._held: list[tuple[Any, Any]] = []  # written back, not acknowledged (the sink failed)
        self._lock = asyncio.Lock()
        self.wake = asyncio.Event()  # set when a commit point is due before the loop's interval
        self._acking = False
        self._consumer: Any = None
        self._next: dict[Any, int] = {}  # per topic-partition, the offset to acknowledge next
        self.stats = {
            "commits": 0,
            "acked": 0,
            "refused_acks": 0,
            "gaps": 0,
            "handed_over": 0,
            "changelog_failures": 0,
            "publish_s": 0.0,
        }

    # -- the agents' side ----------------------------------------------------------------------
    def guard(self, consumer: Any) -> None:
        """Let acknowledgements reach ``consumer`` only from this checkpoint (module doc)."""
        if self._consumer is consumer:
            return
        self._consumer = consumer
        real_ack = consumer.ack

        def ack(message: Any) -> bool:
            if self._acking:
                return real_ack(message)
            self.stats["refused_acks"] += 1
            log.info(
                "acknowledgement of unprocessed %s/%s refused (read again after the rebalance)",
                message.tp,
                message.offset,
            )
            return False

        consumer.ack = ack

    async def events(self, stream: Any, consumer: Any) -> AsyncIterator[Any]:
        """The stream's events one at a time; each is waiting for the next commit point once the
        caller asks for the next (the caller has processed it by then)."""
        self.guard(consumer)
        stream.enable_acks = False  # acknowledged by the checkpoint
        async for event in stream.events():
            yield event
            self._waiting.append((stream, event))
            if self.due():
                if self.pending() >= self.max_held:  # InfluxDB down: the agent waits for a commit point
                    await self.commit(wait=True)
                elif len(self.sinks) >= 2 * self.max_buffered:  # figures pile up faster than they flush
                    async with self._lock:  # the agent waits for the one under way (memory stays bounded)
                        pass
                    await self.commit()
                else:  # the commit loop makes it while the agents go on (the flush overlaps their work)
                    self.wake.set()

    async def relieve(self) -> None:
        """For a timer whose output comes in parts (a tick deciding 200,000 points): between parts, a
        commit point once ``max_buffered`` figures wait, as for events, so that a first decision does
        not hold every point's figures at once; past twice that, the caller waits for the commit point
        under way first. It never waits for InfluxDB to come back (a failed flush keeps the figures)."""
        if len(self.sinks) < self.max_buffered:
            return
        if len(self.sinks) >= 2 * self.max_buffered:
            async with self._lock:
                pass
        await self.commit()

    def pending(self) -> int:
        return len(self._waiting) + len(self._held)

    def due(self) -> bool:
        return len(self._waiting) >= self.max_events or len(self.sinks) >= self.max_buffered

    # -- commit points ---------------------------------------------------------------------------
    async def next_due(self, interval: float) -> None:
        """Until the next commit point is due: ``interval`` seconds, or sooner if enough events wait."""
        try:
            await asyncio.wait_for(self.wake.wait(), interval)
        except TimeoutError:
            pass
        self.wake.clear()

    async def commit(self, wait: bool = False) -> bool:
        """Make the waiting events durable and acknowledge them. With a commit point already under
        way this returns at once, unless ``wait`` (then it waits and retries until one succeeds:
        backpressure while InfluxDB is down)."""
        while True:
            if self._lock.locked() and not wait:
                return False
            async with self._lock:
                ok = await self._commit_once()
            if ok or not wait:
                return ok
            await asyncio.sleep(1.0)

    async def _commit_once(self) -> bool:
        waiting, self._waiting = self._waiting, []
        taken = take_changes(self.stores)  # the changes of exactly the events taken above
        self._held += waiting
        started = time.monotonic()
        try:
            deliveries = await publish_changes(taken)
            self.stats["publish_s"] = round(self.stats["publish_s"] + time.monotonic() - started, 4)
        except BaseException:
            self._requeue(taken)
            raise
        ok = await self.sinks.flush()  # while the broker takes the changelog batches
        failed = await delivered(deliveries)
        if failed is not None:
            self._requeue(taken)
            self.stats["changelog_failures"] += 1
            log.error("changelog delivery failed (%s); the changes go again at the next commit point", failed)
            return False
        if not ok and self.rebalancing():
            dropped = self.sinks.drop()
            self.stats["handed_over"] += len(self._held)
            log.warning(
                "InfluxDB is down during a rebalance: %d events handed over (their table changes "
                "are in the changelog; %d buffered figures dropped, re-emitted from the tables)",
                len(self._held),
                dropped,
            )
            ok = True
        if not ok:
            return False
        held, self._held = self._held, []
        for tp, offset in self._ack(held):
            try:
                await self._consumer.seek(tp, offset)
            except Exception as e:  # noqa: BLE001 - then the commit stays before the gap (the lag shows it)
                log.error("cannot read %s again from %d (%s)", tp, offset, e)
        self.stats["commits"] += 1
        return True

    @staticmethod
    def _requeue(taken: list) -> None:
        """Changes whose hand-off or delivery failed: sent again at the next commit point (nothing of
        theirs acknowledged)."""
        for store, changes in taken:
            store.requeue(changes)

    def _ack(self, held: list[tuple[Any, Any]]) -> list[tuple[Any, int]]:
        """Acknowledge, in the order processed, with no await between (Faust never commits half a
        commit point), and per partition only the offset that comes next: the consumer's last
        commit, then one by one. An event after a gap is not acknowledged (Faust would commit over
        the gap) and the partition is read again from the gap: returns those (partition, offset)."""
        consumer = self._consumer
        committed = getattr(consumer, "_committed_offset", {})  # what Faust's commit compares with
        seeks: dict[Any, int] = {}
        self._acking = True
        try:
            for stream, event in held:
                m = event.message
                tp = m.tp
                if tp in seeks:
                    continue  # after a gap: read again, processed again (the core is idempotent)
                expected = self._next.get(tp, committed.get(tp))
                if expected is not None and m.offset > expected:
                    self.stats["gaps"] += 1
                    log.error(
                        "%s: offsets %d..%d never reached the worker; not committing past them, "
                        "reading the partition again from %d",
                        tp,
                        expected,
                        m.offset - 1,
                        expected,
                    )
                    seeks[tp] = expected
                    continue
                if event.ack():  # the last stream holding the message: the consumer may commit it
                    stream._on_message_out(tp, m.offset, m)  # Faust's sensors, as Stream.ack does
                self.stats["acked"] += 1
                if expected is None or m.offset >= expected:
                    self._next[tp] = m.offset + 1
        finally:
            self._acking = False
        return list(seeks.items())

    def assigned(self) -> None:
        """After a rebalance: partitions are read again from their committed offsets."""
        self._next.clear()
