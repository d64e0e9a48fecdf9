"""The Faust worker: thin agents around :class:`~wastestream.stream_processors.core.Core`.

Topology (all topics have the same partition count, so tables are co-partitioned):

* ``gps.fixes`` (key vehicle) → tracks per vehicle-day → ``VisitSet`` on ``visits`` (key site);
* ``visits`` (key site) → evidence per point-day, station visits per station-day; the workers' read
  marks (how far each has read its fixes: the deadlines wait for them);
* ``weigh.tickets`` (key station) → dedupe, tonnage, station balance, ticket flags;
* ``deadletter`` → data-quality counts;
* ``wastestream-ticks``: a timer sends one tick per partition; the tick's agent decides the
  clearance of the points that hash to that partition (Faust tables may only change inside stream
  iteration, and this keeps exactly one writer per point) and publishes status changes on
  ``clearance`` and alerts on ``alerts``.

Every event is processed as it arrives and acknowledged only at a commit point
(:mod:`.checkpoint`), after its table changes are in the changelog and its figures in InfluxDB; after
(re)start every figure held in the tables is re-emitted, so an outage or crash loses none.
The clock is event time: the newest device/weigh time seen (``clock=event``), or the wall clock
if that is later (``clock=wall``, for live deployments). Deadlines are judged at the evidence
watermark (:mod:`wastestream.domain.watermark`): every worker sends read marks on ``visits``,
behind the visit sets of the fixes it has read (:mod:`.evidence`), and a point's deadline counts as
passed once the marks its partition applied cover every fixes partition that far.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import faust
from faust.exceptions import NotReady
from pydantic import ValidationError

from wastestream.domain.localtime import local_date
from wastestream.schemas import City, DeadLetter, GpsFix, WeighTicket
from wastestream.schemas.events import is_fix_batch, read_fix_value
from wastestream.schemas.results import Delivery, ReadMark, VisitSet, is_read_mark
from wastestream.settings import Settings
from wastestream.stream_processors.checkpoint import Checkpoint, SinkManager, write_stats
from wastestream.stream_processors.core import Core, Output, Stores
from wastestream.stream_processors.evidence import EvidenceClock
from wastestream.stream_processors.heap import tune_gc
from wastestream.stream_processors.partitioning import partition_of
from wastestream.stream_processors.sink import InfluxSink, Sink
from wastestream.stream_processors.stalls import PartitionView, StallWatch
from wastestream.stream_processors.tables import FaustWriteBehind
from wastestream.topics import ALERTS, CLEARANCE, DEADLETTER, DELIVERIES, GPS_FIXES, VISITS, WEIGH_TICKETS

log = logging.getLogger("wastestream.worker")
LIVE_WITHIN_S = 300  # the event clock is "live" within this of the wall clock
RESEND_AFTER_S = 20.0  # after a rebalance, every visit set is sent once more after this long
STALL_CHECK_S = 5.0  # how often partitions are checked for a stall (.stalls)
MARK_REFRESH_S = 30.0  # a read mark that says nothing new is sent again after this long


class Worker:
    def __init__(
        self,
        settings: Settings,
        city: City,
        sink: Sink | None = None,
        app_id: str = "wastestream-worker",
        clock: str | None = None,
    ):
        """``clock``: ``settings.worker_clock`` unless given (tests and benchmarks replay: event)."""
        self.s = settings
        self.app_id = app_id
        self.city = city
        self.n = settings.topic_partitions
        self.clock = clock or settings.worker_clock
        datadir = settings.state_dir / "faust" / app_id
        datadir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
        self.app = faust.App(
            app_id,
            broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
            store="memory://",
            # Faust makes <datadir>/v1/tables even for memory stores; its default is the working directory
            datadir=str(datadir),
            topic_partitions=self.n,
            topic_replication_factor=settings.topic_replication_factor,  # changelogs, leader, ticks
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            # a commit point hands tens of thousands of changelog messages to the producer at once;
            # with 16 KB batches each partition's next batch waited for the broker's answer to the last
            producer_max_batch_size=settings.worker_producer_batch_bytes,
            table_standby_replicas=settings.table_standby_replicas,
            broker_commit_every=1000,
            broker_commit_interval=2.0,
        )
        app = self.app
        self.sinks = SinkManager(sink, settings.worker_latency_window)
        self.watermark: datetime | None = None
        self.days: set[date] = set()
        self._expired_before: date | None = None  # the core's working copies of older days were dropped
        self.reemit_pending = True
        # tables are complete only once Faust has recovered them from the changelogs; until then a
        # tick neither re-emits nor decides (a decision on half the evidence would stick: clearance
        # is re-decided only when evidence changes or a deadline passes)
        self.recovered = False
        self.stopping = False  # a stop was signalled: the producer may be gone under the timers
        self._decided_since_recovery: set[int] = set()
        self._resend_all_at: float | None = None  # when to send every visit set again after a rebalance
        self.stats = {
            "fixes": 0,
            "tickets": 0,
            "visit_sets": 0,
            "dead": 0,
            "rejected": 0,
            "errors": 0,
            "stalls": 0,  # partitions found with messages waiting and nothing read, and read again
        }
        self._failed: list = []  # (event, exception, the fix if one of a batch) the core failed on, to dead-letter
        self._stats_written = 0.0
        self._progress: dict[str, dict[str, Any]] = {}  # the per-partition view last written
        self.stall_watch = StallWatch()  # partitions with messages waiting and nothing read (.stalls)
        # the core writes through write-behind wrappers: one changelog message per key per batch
        tables = {name: FaustWriteBehind(app.Table(name, default=None, partitions=self.n)) for name in Stores.NAMES}
        self.core = Core(city, Stores(**tables), **settings.core_options())
        # the event-time clock survives restarts: newest event time per source partition
        self.clock_table = FaustWriteBehind(app.Table("clock", default=None, partitions=self.n))
        self.stores = [*tables.values(), self.clock_table]
        # commit points: table changes and figures durable before Faust may commit the events' offsets
        self.checkpoint = Checkpoint(
            self.stores,
            self.sinks,
            max_events=settings.worker_commit_max_events,
            rebalancing=lambda: not app.flow_control.is_active(),
        )
        # which points and stations (keys of visits/tickets) and vehicles (keys of fixes) a partition holds
        self.keys_by_partition: dict[int, set[str]] = {}
        for key in (
            [p.id for p in city.collection_points] + [s.id for s in city.stations] + [v.id for v in city.vehicles]
        ):
            self.keys_by_partition.setdefault(partition_of(key, self.n), set()).add(key)

        self.vehicles_by_partition: dict[int, list[str]] = {}  # in the city's order
        for v in city.vehicles:
            self.vehicles_by_partition.setdefault(partition_of(v.id, self.n), []).append(v.id)

        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        t = settings.topic
        self.t_fixes = app.topic(t(GPS_FIXES.name), **raw)
        # the evidence watermark (wastestream.domain.watermark): how far this worker and its peers have read
        self.evidence = EvidenceClock(app_id, set(self.t_fixes.topics), self.n)
        self._marked_at = 0.0  # when this worker last made its read mark (monotonic)
        self._mark_sent: tuple[Any, float] = (None, 0.0)  # what the last mark sent said, and when
        self._holding_marks = 0  # re-emits of visit sets under way: marks say nothing is known
        self.t_tickets = app.topic(t(WEIGH_TICKETS.name), **raw)
        self.t_visits = app.topic(t(VISITS.name), **raw)
        self.t_deliveries = app.topic(t(DELIVERIES.name), **raw)
        self.t_dead = app.topic(t(DEADLETTER.name), **raw)
        self.t_clearance = app.topic(t(CLEARANCE.name), **raw)
        self.t_alerts = app.topic(t(ALERTS.name), **raw)
        self.t_ticks = app.topic(
            f"{app_id}-ticks", partitions=self.n, internal=True, retention=timedelta(hours=1), **raw
        )
        # every topic an agent reads: watched for stalls and shown in the stats (.stalls)
        self._watched_topics = {
            name
            for t in (self.t_fixes, self.t_visits, self.t_tickets, self.t_deliveries, self.t_dead, self.t_ticks)
            for name in t.topics
        }

        app.agent(self.t_fixes, name="fixes")(self._fixes)
        app.agent(self.t_visits, name="visits")(self._visits)
        app.agent(self.t_deliveries, name="deliveries")(self._deliveries)
        app.agent(self.t_tickets, name="tickets")(self._tickets)
        app.agent(self.t_dead, name="deadletters")(self._deadletters)
        app.agent(self.t_ticks, name="ticks")(self._ticks)
        app.timer(settings.worker_tick_interval_s)(self._send_ticks)
        self.commit_interval = settings.worker_commit_interval_s
        app.task(self._commit_loop)  # a loop, not a timer: a commit point may take longer than the interval
        app.timer(settings.worker_visits_interval_s)(self._send_visit_sets)
        app.timer(STALL_CHECK_S)(self._watch_partitions)
        # mode's connect() is typed for plain functions (positional-only sender), not bound methods
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        app.on_rebalance_complete.connect(self._on_recovered)  # type: ignore[arg-type]
        app.on_before_shutdown.connect(self._on_before_shutdown)  # type: ignore[arg-type]

    # -- helpers --------------------------------------------------------------------------------
    def _advance(self, t: datetime) -> None:
        if self.watermark is None or t > self.watermark:
            self.watermark = t

    def now(self) -> datetime | None:
        if self.clock == "wall":
            wall = datetime.now(UTC)
            return wall if self.watermark is None or wall > self.watermark else self.watermark
        return self.watermark

    async def _reject(self, topic: str, raw: bytes, err: Exception, reason: str | None = None, **detail_: str) -> None:
        self.stats["dead"] += 1
        reason = reason or f"invalid {topic} message"
        detail = str(err).splitlines()[0][:300]
        if isinstance(err, ValidationError):
            e0 = err.errors()[0]
            detail = f"{'.'.join(str(x) for x in e0['loc'])}: {e0['msg']}"
        dl = DeadLetter(
            source="worker",
            reason=reason,
            raw_hex=raw.hex(),
            received_at=datetime.now(UTC),
            detail={"topic": topic, "error": detail, **detail_},
        )
        await self.t_dead.send(key=b"worker", value=dl.to_json_bytes())

    async def _parse(self, model, topic: str, raw: bytes):  # noqa: ANN001, ANN202
        """The message as ``model``, or None after sending it to the dead-letter topic with the reason."""
        try:
            return model.model_validate_json(raw)
        except (ValidationError, ValueError) as e:
            await self._reject(topic, raw, e)
            return None

    def _apply(self, event, fn, *args, own: GpsFix | None = None) -> Output | None:  # noqa: ANN001
        """Run one event through the core (tagged with its partition). An unexpected error does not
        stop the pipeline: the core rolled the event back, and :meth:`_poisoned` dead-letters it
        (``own``: the fix, when it is one of a batch: dead-lettered alone)."""
        self._at(event.message.partition)
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - one bad message must never stop the city's pipeline
            self._failed.append((event, e, own))
            return None

    async def _poisoned(self) -> None:
        """Dead-letter the events the core failed on: topic/partition/offset and the exception."""
        failed, self._failed = self._failed, []
        for event, e, own in failed:
            m = event.message
            at = f"{m.topic}/{m.partition}/{m.offset}"
            self.stats["errors"] += 1
            log.error(
                "processing %s failed (%s: %s); dead-lettered, going on",
                at,
                type(e).__name__,
                e,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            raw = event.value if isinstance(event.value, bytes) else str(event.value).encode()
            if own is not None:
                raw = own.to_json_bytes()
            dl = DeadLetter(
                source="worker",
                reason=f"processing error: {type(e).__name__}",
                raw_hex=raw.hex(),
                received_at=datetime.now(UTC),
                detail={
                    "topic": m.topic,
                    "partition": str(m.partition),
                    "offset": str(m.offset),
                    "error": f"{type(e).__name__}: {e}"[:300],
                },
            )
            await self.t_dead.send(key=b"worker", value=dl.to_json_bytes())

    async def _emit_event(  # noqa: ANN001
        self, event, out: Output | None, own: list[tuple[bytes | None, str]] | None = None
    ) -> None:
        """Publish what one event produced; its refused inputs go to the dead-letter topic with
        their raw bytes and where they sat (the core counted them under their kind). ``own``: for a
        batch, each refused fix's bytes (None: its JSON) and place, in the order of ``out.rejected``."""
        if self._failed:
            await self._poisoned()
        if out is None:
            return
        m = event.message
        for i, rej in enumerate(out.rejected):
            self.stats["rejected"] += 1
            raw, at = own[i] if own else (event.value, f"{m.topic}/{m.partition}/{m.offset}")
            dl = self.core.dead_letter(rej, raw, at)
            await self.t_dead.send(key=b"worker", value=dl.to_json_bytes())
        await self._emit(out)

    async def _emit(self, out: Output) -> None:
        self.sinks.add(out.records)
        for st in out.statuses:
            await self.t_clearance.send(key=st.point_id.encode(), value=st.to_json_bytes())
        for a in out.alerts:
            await self.t_alerts.send(key=a.key.encode(), value=a.to_json_bytes())
        await self._send_deliveries(out.deliveries)

    async def _send_deliveries(self, deliveries: list[Delivery]) -> None:
        try:
            for d in deliveries:
                await self.t_deliveries.send(
                    key=d.vehicle_id.encode(), value=d.to_json_bytes(), partition=partition_of(d.vehicle_id, self.n)
                )
        except NotReady as e:
            self._stopped_under(f"some of {len(deliveries)} deliveries", e)

    # -- agents ---------------------------------------------------------------------------------
    def _at(self, partition: int) -> None:
        """Tag the table changes that follow with their source partition. Agents interleave at every
        await, so this is called right before each synchronous core call, never across an await."""
        for s in self.stores:
            s.partition = partition

    def _events(self, stream):  # noqa: ANN001, ANN202
        """One event at a time, acknowledged at the commit point after it (:mod:`.checkpoint`)."""
        return self.checkpoint.events(stream, self.app.consumer)

    def _persist_clock(self, event, t: datetime) -> None:  # noqa: ANN001
        m = event.message
        key = f"{m.topic}/{m.partition}"
        stored = self.clock_table.get(key)
        if stored is None or (t - datetime.fromisoformat(stored)).total_seconds() >= 30:
            self.clock_table[key] = t.isoformat()

    def _accepted(self, event, out: Output | None) -> None:  # noqa: ANN001
        """An accepted event's day and event time move the worker's days and clocks (a refused one,
        e.g. a device clock years ahead, moves nothing)."""
        if out is None:
            return
        if out.day is not None:
            self.days.add(out.day)
        if out.event_time is not None:
            self._advance(out.event_time)
            self._at(event.message.partition)
            self._persist_clock(event, out.event_time)

    async def _fixes(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            await self._fix_event(event)

    async def _fix_event(self, event) -> None:  # noqa: ANN001
        """One message of gps.fixes: a fix (contract 1) or a batch of them (contract 2)."""
        m = event.message
        self.evidence.read(m.tp, m.offset)
        if not is_fix_batch(event.value):
            fix = await self._parse(GpsFix, GPS_FIXES.name, event.value)
            if fix is not None:
                await self._emit_event(event, self._fix(event, fix, f"{m.topic}/{m.partition}/{m.offset}"))
            return
        # a batch (schemas.GpsFixBatch): its fixes one by one with no await between, then what
        # they produced at once; a refused fix is dead-lettered on its own, with its place
        fixes, bad = read_fix_value(event.value)
        at = f"{m.topic}/{m.partition}/{m.offset}"
        total, misplaced = Output(), []
        places: list[tuple[bytes | None, str]] = []
        refused = {b.index for b in bad}  # a fix's place in the batch counts the refused parts too
        kept = (k for k in range(len(fixes) + len(refused)) if k not in refused)
        for i, fix in zip(kept, fixes, strict=False):
            home = partition_of(fix.vehicle_id, self.n)
            if home != m.partition:  # its vehicle's state is another partition's
                misplaced.append((i, home, fix))
                continue
            out = self._fix(event, fix, f"{at}#{i}", own=fix)
            if out is not None:
                places += [(None, f"{at}#{i}")] * len(out.rejected)
                total.extend(out)
        for b in bad:  # each counted once however often the batch is read: by its place
            where = at if b.index is None else f"{at}#{b.index}"
            await self._reject(GPS_FIXES.name, b.raw, b.error, at=where)
        for i, home, fix in misplaced:
            await self._reject(
                GPS_FIXES.name,
                fix.to_json_bytes(),
                ValueError(f"vehicle_id: {fix.vehicle_id} belongs to partition {home}, not {m.partition}"),
                reason="fix in a batch of another partition",
                at=f"{at}#{i}",
            )
        await self._emit_event(event, total, places)

    def _fix(self, event, fix: GpsFix, position: str, own: GpsFix | None = None) -> Output | None:  # noqa: ANN001
        """One fix through the core and the clocks it moves (synchronous: no await)."""
        self.stats["fixes"] += 1
        self.sinks.received(fix.received_at.timestamp())
        out = self._apply(event, self.core.on_fix, fix, position, own=own)
        if out is not None and out.event_time is not None:
            self.evidence.progressed(event.message.partition, out.event_time.timestamp())
        self._accepted(event, out)
        return out

    async def _visits(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            if is_read_mark(event.value):  # a reader's mark: the visit sets before it are applied
                mark = await self._parse(ReadMark, VISITS.name, event.value)
                if mark is not None:
                    self.evidence.marked(event.message.partition, mark)
                continue
            vs = await self._parse(VisitSet, VISITS.name, event.value)
            if vs is None:
                continue
            await self._emit_event(event, self._apply(event, self.core.on_visit_set, vs))

    async def _deliveries(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            d = await self._parse(Delivery, DELIVERIES.name, event.value)
            if d is None:
                continue
            await self._emit_event(event, self._apply(event, self.core.on_delivery, d))

    async def _tickets(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            t = await self._parse(WeighTicket, WEIGH_TICKETS.name, event.value)
            if t is None:
                continue
            self.stats["tickets"] += 1
            m = event.message
            out = self._apply(event, self.core.on_ticket, t, f"{m.topic}/{m.partition}/{m.offset}")
            self._accepted(event, out)
            await self._emit_event(event, out)

    async def _deadletters(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            raw = event.value
            try:
                dl = DeadLetter.model_validate_json(raw)
            except (ValidationError, ValueError):
                log.error("unreadable dead letter (%d bytes) left on the topic", len(raw))
                continue
            m = event.message
            out = self._apply(event, self.core.on_dead_letter, dl, f"{m.topic}/{m.partition}/{m.offset}")
            if self._failed:  # a dead letter that cannot be counted is not sent round again
                _, e, _raw = self._failed.pop()
                log.error(
                    "dead letter %s/%s/%s not counted (%s: %s)", m.topic, m.partition, m.offset, type(e).__name__, e
                )
            if out is not None:
                await self._emit(out)

    async def _ticks(self, stream):  # noqa: ANN001, ANN202
        async for event in self._events(stream):
            try:
                await self._on_tick(event)
            except Exception as e:  # noqa: BLE001 - a bad tick (or a bug in deciding) must not stop the worker
                self.stats["errors"] += 1
                m = event.message
                log.error(
                    "tick %s/%s/%s failed (%s: %s); going on",
                    m.topic,
                    m.partition,
                    m.offset,
                    type(e).__name__,
                    e,
                    exc_info=True,
                )

    async def _on_tick(self, event) -> None:  # noqa: ANN001
        tick = json.loads(event.value)
        partition = event.message.partition
        if not self.recovered:
            return
        if self.reemit_pending:
            self._holding_marks += 1  # until they are all sent, this worker's marks say nothing
            try:
                await self._send_visits(self._reemit())
                await self._send_deliveries(self.core.all_deliveries())
            finally:
                self._holding_marks -= 1
        now = datetime.fromisoformat(tick["now"]) if tick["now"] else self.now()
        if now is None:
            return
        mine_now = self.now()
        if mine_now is not None and mine_now > now:  # the clock restored by a re-emit is newer
            now = mine_now
        wm_day = local_date(now, self.city.timezone)
        if self._expired_before != wm_day - timedelta(days=1):  # a new day: yesterday's yesterday is let go
            self._expired_before = wm_day - timedelta(days=1)
            self.core.expire_days(self._expired_before)
        days = sorted(
            {date.fromisoformat(d) for d in tick["days"]}
            | {d for d in self.days if wm_day - timedelta(days=1) <= d <= wm_day}
        )
        mine = self.keys_by_partition.get(partition, set())
        # silent terminals page only while the clock is current: not while a replay catches up
        live = abs((datetime.now(UTC) - now).total_seconds()) < LIVE_WITHIN_S
        if live:  # today counts even before anything of today was read (a fleet whose terminals are all dark)
            days = sorted({*days, wm_day})
        # deadlines are judged at the event time up to which every worker has read its fixes and
        # this partition has applied their visit sets (the read marks on visits)
        points_at = self.evidence.decision_time(partition, now.timestamp())
        parts = self.core.evaluate_in_parts(
            now,
            days,
            owns=mine.__contains__,
            vehicles=self.vehicles_by_partition.get(partition, ()),
            live=live,
            scope=partition,
            points_at=None if points_at is None else datetime.fromtimestamp(points_at, UTC),
            decide_points=points_at is not None,
        )
        changed = 0
        while True:  # each part is decided synchronously, tagged with this partition, then published
            self._at(partition)
            out = next(parts, None)
            if out is None:
                break
            changed += len(out.statuses)
            await self._emit(out)
            await self.checkpoint.relieve()
        if partition not in self._decided_since_recovery:
            self._decided_since_recovery.add(partition)
            log.info(
                "partition %d decided after recovery at %s: %d statuses changed, days %s",
                partition,
                now.isoformat(),
                changed,
                [d.isoformat() for d in days],
            )

    # -- timers ---------------------------------------------------------------------------------
    async def _send_visit_sets(self) -> None:
        """Publish the visit sets changed by the fixes since the last call (each once, with its
        latest spans: a truck standing at a stop changes its visit with every fix). Some seconds
        after a rebalance, all of them once more: visit sets sent around a rebalance have been seen
        lost on the way to their point's new owner (the re-emit right after recovery included), and
        downstream a visit set replaces the previous one, so sending it again is harmless."""
        if self._resend_all_at is not None and time.monotonic() >= self._resend_all_at and self.recovered:
            self._resend_all_at = None
            self.core.take_visit_sets()  # included in all of them
            visit_sets = self._all_visit_sets()
            log.info("re-sent %d visit sets %.0f s after the rebalance", len(visit_sets), RESEND_AFTER_S)
            await self._send_visits(visit_sets)
            await self._send_deliveries(self.core.all_deliveries())
            return
        mark_due = time.monotonic() - self._marked_at >= self.s.worker_tick_interval_s
        left = await self.evidence.fixes_left(self.app.consumer) if mark_due else None
        # from the mark to the take no await: the mark covers exactly the fixes whose visit sets are
        # taken here or were before, and it is sent after them (.evidence)
        holding = not self.recovered or self.reemit_pending or self._holding_marks > 0
        mark = self.evidence.mark(left, datetime.now(UTC), holding) if mark_due else None
        await self._send_visits(self.core.take_visit_sets())
        if mark is None:
            return
        self._marked_at = now = time.monotonic()
        said = (mark.generation, mark.partitions, mark.until)
        # sent when it says something new, and every MARK_REFRESH_S anyway (a mark lost on its way
        # would otherwise hold the decisions back until the next change)
        if said != self._mark_sent[0] or now - self._mark_sent[1] >= MARK_REFRESH_S:
            self._mark_sent = (said, now)
            await self._send_mark(mark)

    async def _send_mark(self, mark: ReadMark) -> None:
        """The read mark to every visits partition (each partition's owner decides its deadlines)."""
        body = mark.to_json_bytes()
        try:
            for p in range(self.n):
                await self.t_visits.send(key=mark.worker.encode(), value=body, partition=p)
        except NotReady as e:
            self._stopped_under("a read mark", e)

    def _views(self) -> dict[Any, PartitionView]:
        """What the consumer holds for each of the worker's source partitions (Faust's own
        bookkeeping, read without awaiting)."""
        consumer: Any = self.app.consumer
        return {
            tp: PartitionView(consumer._read_offset.get(tp), consumer._committed_offset.get(tp), consumer.highwater(tp))
            for tp in consumer.assignment()
            if tp.topic in self._watched_topics
        }

    async def _watch_partitions(self) -> None:
        """Read a stalled partition (:mod:`.stalls`) again from the next offset it should deliver: a
        seek to where the consumer already is, so nothing is skipped or read twice; the client drops
        what it holds for that partition and fetches it again."""
        if not self.recovered or self.stopping or not self.app.flow_control.is_active():
            self.stall_watch.reset()
            return
        try:
            views = self._views()
        except Exception:  # noqa: BLE001 - the consumer is not (or no longer) started
            return
        for tp, offset in self.stall_watch.check(views, time.monotonic()):
            self.stats["stalls"] += 1
            log.warning(
                "%s/%d: messages up to offset %s waiting and none read for %.0f s; reading it again from %d "
                "(the client's view: %s)",
                tp.topic,
                tp.partition,
                self.app.consumer.highwater(tp),
                self.stall_watch.after_s,
                offset,
                _client_position(self.app.consumer, tp),
            )
            try:
                await self.app.consumer.seek(tp, offset)
            except Exception as e:  # noqa: BLE001 - a rebalance under way: the next check tries again
                log.error("cannot read %s/%d again (%s: %s)", tp.topic, tp.partition, type(e).__name__, e)

    def _stopped_under(self, what: str, e: Exception) -> None:
        """A timer's send failed: once a stop was signalled Faust stops its producer while the timers
        may still run (seen: a stop during the re-send of 2,000 visit sets crashed the app). What was
        not sent is derived from the tables again at the next start; before a stop, ``e`` stands."""
        if not self.stopping:
            raise e
        log.info("stopping: %s not sent (%s); re-emitted from the tables at the next start", what, e)

    async def _send_visits(self, visit_sets: list[VisitSet]) -> None:
        try:
            await self._publish_visits(visit_sets)
        except NotReady as e:
            self._stopped_under(f"some of {len(visit_sets)} visit sets", e)

    async def _publish_visits(self, visit_sets: list[VisitSet]) -> None:
        for vs in visit_sets:
            self.stats["visit_sets"] += 1
            await self.t_visits.send(
                key=vs.site_id.encode(), value=vs.to_json_bytes(), partition=partition_of(vs.site_id, self.n)
            )

    async def _send_ticks(self) -> None:
        try:  # liveness: the worker's event loop is turning (deploy/k8s probes this file)
            self.s.state_dir.mkdir(parents=True, exist_ok=True)
            (self.s.state_dir / "worker.alive").touch()
        except OSError:
            pass
        now = self.now()
        if now is None:
            if not self.reemit_pending:
                return
            tick: dict[str, Any] = {"now": None, "days": []}  # a tick to re-emit state after a start
        else:
            wm_day = local_date(now, self.city.timezone)
            days = sorted(d.isoformat() for d in self.days if wm_day - timedelta(days=1) <= d <= wm_day)
            if not days and not self.reemit_pending:
                return
            tick = {"now": now.isoformat(), "days": days}
        body = json.dumps(tick).encode()
        try:
            for p in range(self.n):
                await self.t_ticks.send(key=b"tick", value=body, partition=p)
        except NotReady as e:
            self._stopped_under("ticks", e)

    async def _commit_loop(self) -> None:
        # not `while not should_stop`: in a revocation Faust waits for every event read to be
        # acknowledged (Consumer.wait_empty) and only commit points acknowledge; at a stop the loop
        # makes a last commit point while Faust stops the consumer (which no longer waits: run_worker)
        while True:
            await self.checkpoint.next_due(self.commit_interval)
            try:
                await self._commit_point()
            except Exception as e:  # noqa: BLE001 - e.g. the producer in a rebalance: the next one retries
                log.error("commit point failed (%s: %s); retrying", type(e).__name__, e)

    async def _commit_point(self) -> None:
        """The timer's commit point (agents make their own when enough events wait), and the stats."""
        await self.checkpoint.commit()
        if time.monotonic() - self._stats_written > 2:
            self._write_stats()

    def _write_stats(self) -> None:
        """<state_dir>/worker-stats-<app>-<pid>.json: counts, commit points and receive → InfluxDB latency."""
        self._stats_written = time.monotonic()
        body = {
            **self.stats,
            **self.checkpoint.stats,
            "flushed": self.sinks.flushed,
            "flush_errors": self.sinks.flush_errors,
            **self.sinks.latency_summary(),
            # per partition decided here: how far the read marks applied say the fixes are read
            "evidence": self.evidence.view(),
            # at a stop the consumer has let go of its partitions: the last view while it held them stays
            "partitions": self._progress if self.stopping else self._partition_progress(),
        }
        write_stats(self.s.state_dir / f"worker-stats-{self.app_id}-{os.getpid()}.json", body)

    def _partition_progress(self) -> dict[str, dict[str, Any]]:
        """Per source topic-partition held: the last offset read, the offset committed, the end
        offset, whether fetching is paused, and the Kafka client's own position (an operator's view
        of a partition that stopped moving)."""
        consumer: Any = self.app.consumer
        try:
            views = self._views()
        except Exception:  # noqa: BLE001 - not started, or stopping
            return self._progress
        paused: set = getattr(consumer, "_paused_partitions", set())
        active = getattr(consumer, "_active_partitions", None) or set()
        self._progress = {
            f"{tp.topic}/{tp.partition}": {
                "read": v.read,
                "committed": v.committed,
                "end": v.end,
                "fetching": tp in active and tp not in paused,
                **_client_position(consumer, tp),
            }
            for tp, v in sorted(views.items())
        }
        return self._progress

    # Faust's signals call receiver(sender, *args, signal=..., **kwargs)
    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """A last commit point before the rebalance completes (Faust waited for every event read to be
        acknowledged already): a partition's next owner starts only after that, so a figure this
        worker decided cannot land in InfluxDB after the new owner's."""
        await self.checkpoint.commit(wait=True)  # InfluxDB down: handed over (flow control is suspended)

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs["assigned"]
        # partitions of our own source topics: not the changelogs, nor Faust's one-partition leader topic
        # (its partition 0 would make every leader look like an owner of partition 0)
        ours = (self.t_fixes, self.t_visits, self.t_tickets, self.t_dead, self.t_ticks)
        sources = {name for t in ours for name in t.topics}
        mine = {tp.partition for tp in assigned if tp.topic in sources}
        log.info(
            "partitions assigned (%d topic-partitions; partitions %s): recovering the tables",
            len(assigned),
            sorted(mine),
        )
        dropped = sum(s.keep_only(mine) for s in self.stores)
        if dropped:
            log.info("dropped %d keys of partitions now owned by another worker", dropped)
        self.recovered = False
        self.reemit_pending = True
        self.core.forget_cached_tracks()
        self.checkpoint.assigned()
        # the group generation Faust recorded for this assignment: read marks of other generations
        # describe other assignments
        self.evidence.assigned(getattr(self.app, "consumer_generation_id", None), set(assigned), datetime.now(UTC))

    async def _on_recovered(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust sends this signal, then resumes the source partitions, seeks them to their committed
        # offsets (awaiting the consumer thread) and only then resumes flow control — and resuming
        # clears every channel queue. Flow control is already active at that point (recovery resumed
        # it to read the changelogs), so messages fetched in between were put into the agents' queues
        # and cleared, with the client's position already past them: partitions without a committed
        # offset lost them for good (seen: every weigh.tickets message of a partition, the day's
        # tonnage never came), others got a gap. Suspended here, the conductor holds each message in
        # its wait for flow control until that resume, and delivers it after the clear.
        self.app.flow_control.suspend()
        self.core.forget_cached_tracks()  # what was cached or decided during recovery is not trusted
        self._decided_since_recovery.clear()
        self._resend_all_at = time.monotonic() + RESEND_AFTER_S
        self.recovered = True
        sizes = {name: len(getattr(self.core.s, name).table.data) for name in ("fixlog", "evidence", "statuses")}
        log.info("tables recovered (keys held: %s): deciding and re-emitting", sizes)

    def _on_before_shutdown(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        # events not acknowledged are read again at the next start (the core is idempotent)
        self.sinks.flush_now()

    def _reemit(self) -> list[VisitSet]:
        """Rebuild every figure held in this worker's tables (after start or a rebalance), and return
        the visit sets of its vehicles: a crash can lose a visit set sent just before it while the
        fix that caused it is already in the fixlog, so they are sent again (downstream replaces)."""
        self.reemit_pending = False
        n = 0
        for part in self.core.figures():
            self.sinks.add(part)
            n += 1
        for stored in list(self.clock_table.values()):
            if stored:
                self._advance(datetime.fromisoformat(stored))
        visit_sets = self._all_visit_sets()
        log.info("re-emitted %d figures and %d visit sets from the tables", n, len(visit_sets))
        return visit_sets

    def _all_visit_sets(self) -> list[VisitSet]:
        self.days |= self.core.days_held()  # ticks keep evaluating them after a restart
        return self.core.all_visit_sets()


def _client_position(consumer: Any, tp: Any) -> dict[str, Any]:
    """The Kafka client's own view of a partition (aiokafka, under Faust's consumer): its fetch
    position, whether it waits for an offset reset, and whether it holds fetched records."""
    try:
        client = consumer._thread._consumer
        state = client._subscription.subscription.assignment.state_value(tp)
        return {
            "position": state.position if state.has_valid_position else None,
            "awaiting_reset": state.awaiting_reset,
            "buffered": tp in client._fetcher._records,
        }
    except Exception:  # noqa: BLE001 - another client, or not assigned (any more)
        return {}


def _ensure_ticks_topic(settings: Settings, app_id: str) -> None:
    """Create the ticks topic before Faust subscribes: a topic Faust creates itself right after
    subscribing can be missing from the consumer's first metadata ("Ignoring missing topic"), and
    then no tick ever arrives and nothing is decided (seen in the demo, which starts on a fresh broker)."""
    from wastestream.admin import ensure_topics
    from wastestream.topics import TopicSpec

    ticks = TopicSpec(
        f"{app_id}-ticks", "tick", "the worker's timer ticks, one per partition", retention_ms=3600 * 1000
    )
    ensure_topics(settings.model_copy(update={"topic_prefix": ""}), [ticks])  # Faust's name: no prefix


def run_worker(
    settings: Settings, city: City, clock: str | None = None, loglevel: str = "warn", app_id: str = "wastestream-worker"
) -> None:
    _ensure_ticks_topic(settings, app_id)
    sink = InfluxSink(settings, city)
    w = Worker(settings, city, sink, app_id=app_id, clock=clock)
    tune_gc()  # the city and the core's maps are loaded: out of the cyclic collector's sight
    from faust.worker import Worker as FaustWorker

    class _FaustWorker(FaustWorker):
        """A stop does not wait for every event read to be acknowledged (Faust's ``stream_wait_empty``,
        kept for rebalances): only commit points acknowledge, a busy agent — a tick deciding 200,000
        points — can hold the last ones for minutes, and what is not acknowledged is read again at the
        next start (the core is idempotent). Seen: a stop that never ended."""

        def _schedule_shutdown(self, signal) -> None:  # noqa: ANN001
            w.app.conf.stream_wait_empty = False
            w.stopping = True
            super()._schedule_shutdown(signal)

        def on_worker_shutdown(self) -> None:
            w.app.conf.stream_wait_empty = False
            w.stopping = True

    fw = _FaustWorker(w.app, loglevel=loglevel, quiet=True)
    # Faust's progress spinner sets the root logger to DEBUG so that every log record turns it: every
    # message sent then builds a debug record (a tenth of the worker's time in the profile). No spinner.
    fw.spinner = None
    # the worker's own lines (assignment, recovery, re-emit: rare, and what an operator needs after a
    # rebalance) at info even when Faust's are at warn
    if loglevel in ("warn", "warning", "info"):  # Faust's handler filters below its level: our own
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"))
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
    fw.execute_from_commandline()
