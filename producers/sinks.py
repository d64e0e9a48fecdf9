"""Where producers put what they accept and what they reject: a small sink ABC and its Kafka
implementation (kafka-python, acks=all, idempotent), plus an in-memory one for tests."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from wastestream.schemas import DeadLetter, DriverShift, GpsFix, Message, TerminalData, WeighTicket
from wastestream.settings import Settings
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


class KafkaSink(EventSink):
    """kafka-python producer; ``publish`` awaits every record's broker acknowledgement."""

    def __init__(self, settings: Settings, client_id: str = "wastestream", timeout_s: float = 30.0):
        from kafka import KafkaProducer

        self.timeout_s = timeout_s
        self.prefix = settings.topic_prefix
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,
            linger_ms=5,
            compression_type=None,
            max_in_flight_requests_per_connection=5,
        )

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
        self.producer.flush(timeout=self.timeout_s)
        self.producer.close(timeout=self.timeout_s)
