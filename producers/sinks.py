"""Where producers put what they accept and what they reject: a small sink ABC and its Kafka
implementation (kafka-python, acks=all, idempotent), plus an in-memory one for tests."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from wastestream.schemas import DeadLetter, DriverShift, GpsFix, Message, TerminalData, WeighTicket
from wastestream.schemas.events import fix_batch_bytes
from wastestream.settings import Settings
from wastestream.stream_processors.partitioning import partition_of
from wastestream.topics import DEADLETTER, DRIVER_SHIFTS, GPS_FIXES, TERMINAL_DATA, WEIGH_TICKETS

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Kafka did not acknowledge a record."""


class EventSink(ABC):
    """Accepted events and dead letters. ``publish`` returns once the records are durable."""

    prefix = ""  # topic name prefix (Settings.topic_prefix)

    @abstractmethod
    async def publish(self, topic: str, records: Sequence[tuple[str, Message]]) -> None: ...

    async def fixes(self, fixes: Sequence[GpsFix]) -> None:
        await self.publish(self.prefix + GPS_FIXES.name, [(f.vehicle_id, f) for f in fixes])

    async def tickets(self, tickets: Sequence[WeighTicket]) -> None:
        await self.publish(self.prefix + WEIGH_TICKETS.name, [(t.station_id, t) for t in tickets])

    async def terminal_events(self, events: Sequence[DriverShift | TerminalData]) -> None:
        """Driver shifts and transparent data, each to its topic, keyed by vehicle."""
        for cls, spec in ((DriverShift, DRIVER_SHIFTS), (TerminalData, TERMINAL_DATA)):
            mine = [(e.vehicle_id, e) for e in events if isinstance(e, cls)]
            if mine:
                await self.publish(self.prefix + spec.name, mine)

    async def dead_letter(self, dl: DeadLetter) -> None:
        await self.publish(self.prefix + DEADLETTER.name, [(dl.source, dl)])

    def close(self) -> None:  # noqa: B027 - optional
        pass


class MemorySink(EventSink):
    def __init__(self) -> None:
        self.records: dict[str, list[tuple[str, Message]]] = {}

    async def publish(self, topic: str, records: Sequence[tuple[str, Message]]) -> None:
        self.records.setdefault(topic, []).extend(records)

    def values(self, topic: str) -> list[Message]:
        return [v for _, v in self.records.get(topic, [])]


class _Waiter:
    """One ``fixes`` call waiting for the batches that carry its fixes (one per partition it touched)."""

    __slots__ = ("future", "remaining")

    def __init__(self, future: asyncio.Future[None], remaining: int) -> None:
        self.future, self.remaining = future, remaining

    def settle(self, exc: BaseException | None) -> None:
        if self.future.done():
            return
        if exc is not None:
            self.future.set_exception(PublishError(f"{GPS_FIXES.name}: {exc}"))
            return
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(None)


class KafkaSink(EventSink):
    """kafka-python producer; ``publish`` awaits every record's broker acknowledgement.

    Fixes are gathered across callers (the gateway's connections) into batches per partition
    (schemas.GpsFixBatch, topic contract 2): up to ``settings.fix_batch`` fixes, for at most
    ``settings.fix_batch_linger_ms``; each caller returns once the batches holding its fixes are
    acknowledged. A partition is the one the vehicle id as key would give (Kafka's default
    partitioner over ``settings.topic_partitions``), so a batch holds only its own vehicles'."""

    def __init__(self, settings: Settings, client_id: str = "wastestream", timeout_s: float = 30.0):
        from kafka import KafkaProducer

        self.timeout_s = timeout_s
        self.prefix = settings.topic_prefix
        self.fix_batch = settings.fix_batch
        self.linger_s = settings.fix_batch_linger_ms / 1000
        self.partitions = settings.topic_partitions
        self._pending: dict[int, tuple[list[GpsFix], list[_Waiter]]] = {}  # partition → fixes, callers
        self._timer: asyncio.TimerHandle | None = None
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,
            linger_ms=5,
            compression_type=None,
            max_in_flight_requests_per_connection=5,
            max_request_size=2 * 1024 * 1024,  # a batch of FIX_BATCH_MAX fixes is ~0.5 MB
        )

    async def fixes(self, fixes: Sequence[GpsFix]) -> None:
        if self.fix_batch <= 1 or not fixes:
            return await super().fixes(fixes)
        loop = asyncio.get_running_loop()
        parts: dict[int, list[GpsFix]] = {}
        for f in fixes:
            parts.setdefault(partition_of(f.vehicle_id, self.partitions), []).append(f)
        waiter = _Waiter(loop.create_future(), len(parts))
        for p, mine in parts.items():
            gathered, callers = self._pending.setdefault(p, ([], []))
            gathered += mine
            callers.append(waiter)
            if len(gathered) >= self.fix_batch:
                self._send(p, loop)
        if self._pending and self._timer is None:
            self._timer = loop.call_later(self.linger_s, self._send_all, loop)
        await asyncio.wait_for(asyncio.shield(waiter.future), self.timeout_s)

    def _send_all(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        for p in list(self._pending):
            self._send(p, loop)

    def _send(self, p: int, loop: asyncio.AbstractEventLoop) -> None:
        """Publish a partition's gathered fixes (in batches of at most ``fix_batch``); its callers
        are settled once every one of those batches is acknowledged, or failed with the first error."""
        gathered, callers = self._pending.pop(p)
        futures = self._publish_batches(p, gathered)
        left = [len(futures)]

        def done(exc: BaseException | None) -> None:
            if exc is None:
                left[0] -= 1
                if left[0]:
                    return
            for w in callers:
                w.settle(exc)

        for fut in futures:
            fut.add_callback(lambda _md: loop.call_soon_threadsafe(done, None))
            fut.add_errback(lambda exc: loop.call_soon_threadsafe(done, exc))

    def _publish_batches(self, p: int, fixes: list[GpsFix]) -> list:
        """Hand ``fixes`` of partition ``p`` to the producer as batches of at most ``fix_batch``; their futures."""
        topic = self.prefix + GPS_FIXES.name
        return [
            self.producer.send(topic, key=chunk[-1].vehicle_id.encode(), value=fix_batch_bytes(chunk), partition=p)
            for chunk in (fixes[i : i + self.fix_batch] for i in range(0, len(fixes), self.fix_batch))
        ]

    async def publish(self, topic: str, records: Sequence[tuple[str, Message]]) -> None:
        if not records:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        remaining = len(records)
        errors: list[BaseException] = []

        def settle(exc: BaseException | None) -> None:
            nonlocal remaining
            if exc is not None:
                errors.append(exc)
            remaining -= 1
            if remaining == 0 and not done.done():
                if errors:
                    done.set_exception(PublishError(f"{topic}: {errors[0]}"))
                else:
                    done.set_result(None)

        for key, value in records:
            fut = self.producer.send(topic, key=key.encode(), value=value.to_json_bytes())
            fut.add_callback(lambda _md: loop.call_soon_threadsafe(settle, None))
            fut.add_errback(lambda exc: loop.call_soon_threadsafe(settle, exc))
        await asyncio.wait_for(done, self.timeout_s)

    def close(self) -> None:
        if self._timer is not None:  # what is gathered goes out before the producer is flushed
            self._timer.cancel()
            self._timer = None
            for p in list(self._pending):
                self._publish_batches(p, self._pending.pop(p)[0])
        self.producer.flush(timeout=self.timeout_s)
        self.producer.close(timeout=self.timeout_s)
