"""Events of a Faust stream in batches — each event taken where it arrives, and acknowledged only
after the batch's effects are durable.

Faust's ``Stream.take_events`` pairs each buffered value with the stream's ``current_event`` read
*after* an ``await`` in its buffering processor (faust-streaming 0.15.3): a value can be paired with
a later event, so a batch may hold one offset twice and another not at all — and the consumer then
commits past the missing one. Here a background task iterates ``stream.events()`` (the event is read
in the same step its value is yielded, nothing in between) with the stream's own acks switched off,
and hands the events over a bounded queue; the caller gets them in batches and :func:`batches` acks
each event only when the caller asks for the next batch, i.e. after the caller has made the
previous batch durable (table changes written back, figures buffered for the sink, which the
worker flushes before offsets are committed).

Per partition the offsets handed out must grow one by one: an event at or below an offset already
handed out is a duplicate (acknowledged, not processed again); a jump forward is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger("wastestream.worker")
_END = object()


class OffsetGuard:
    """Per topic-partition, the last offset handed out: refuses duplicates, reports gaps."""

    def __init__(self) -> None:
        self.last: dict[Any, int] = {}
        self.duplicates = 0
        self.gaps = 0

    def admit(self, tp: Any, offset: int) -> bool:
        last = self.last.get(tp)
        if last is not None and offset <= last:
            self.duplicates += 1
            log.error("%s offset %d handed out again (last %d): not processed twice", tp, offset, last)
            return False
        if last is not None and offset > last + 1:
            self.gaps += 1
            log.warning("%s offsets %d..%d were not delivered", tp, last + 1, offset - 1)
        self.last[tp] = offset
        return True

    def forget(self) -> None:
        """After a rebalance: a partition may be read again from its committed offset."""
        self.last.clear()


async def batches(stream: Any, max_: int, within: float, guard: OffsetGuard | None = None) -> AsyncIterator[list]:
    """Yield lists of at most ``max_`` events, waiting at most ``within`` seconds for a batch to
    fill. Every event of a batch is acknowledged when the next batch is asked for (or the
    iteration ends), never before."""
    guard = guard or OffsetGuard()
    stream.enable_acks = False  # acked here, after the caller's batch is durable
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=max_)
    ended = asyncio.Event()

    async def pull() -> None:
        try:
            async for event in stream.events():
                await queue.put(event)
        finally:
            ended.set()

    task = loop.create_task(pull())

    async def next_event(timeout: float | None) -> Any:
        if not queue.empty():
            return queue.get_nowait()
        if ended.is_set() and queue.empty():
            return _END
        getter = loop.create_task(queue.get())
        waiter = loop.create_task(ended.wait())
        done, _ = await asyncio.wait({getter, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        try:
            await getter
        except asyncio.CancelledError:
            pass
        else:  # it got one in the moment it was cancelled: keep it
            return getter.result()
        return _END if ended.is_set() and queue.empty() else None

    try:
        while True:
            first = await next_event(None)
            if first is _END or first is None:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                return
            batch, skipped = [], []
            deadline = loop.time() + within
            event = first
            while True:
                m = event.message
                (batch if guard.admit(m.tp, m.offset) else skipped).append(event)
                if len(batch) + len(skipped) >= max_:
                    break
                event = await next_event(max(0.0, deadline - loop.time()))
                if event is None or event is _END:
                    break
            if batch:
                yield batch
            for e in batch + skipped:  # the caller asked for more: the batch is durable
                await stream.ack(e)
            if event is _END:
                return
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the stream is being stopped
            pass
