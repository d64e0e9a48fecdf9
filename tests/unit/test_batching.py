"""Batches of stream events: every event handed out once, with its own message, in order; acked only
after the consumer is done with its batch; duplicates refused and gaps reported (no broker)."""

import asyncio
from dataclasses import dataclass

from wastestream.stream_processors.batching import OffsetGuard, batches


@dataclass(frozen=True)
class Msg:
    tp: str
    offset: int


@dataclass(frozen=True)
class Event:
    message: Msg
    value: bytes


class FakeStream:
    """What :func:`batches` uses of a Faust stream: ``events()``, ``enable_acks``, ``ack()``."""

    def __init__(self, items: list[tuple[str, int]], pause_every: int = 0, pause_s: float = 0.0):
        self.items = items
        self.enable_acks = True
        self.acked: list[tuple[str, int]] = []
        self.pause_every, self.pause_s = pause_every, pause_s

    async def events(self):
        for k, (tp, off) in enumerate(self.items):
            if self.pause_every and k and k % self.pause_every == 0:
                await asyncio.sleep(self.pause_s)
            yield Event(Msg(tp, off), f"{tp}:{off}".encode())

    async def ack(self, event: Event) -> bool:
        self.acked.append((event.message.tp, event.message.offset))
        return True


def run(stream: FakeStream, max_: int, within: float, guard: OffsetGuard | None = None):
    seen: list[list[tuple[str, int]]] = []
    acked_when_yielded: list[int] = []

    async def main() -> None:
        async for batch in batches(stream, max_, within, guard):
            acked_when_yielded.append(len(stream.acked))
            # each event carries its own value, whatever the timing
            assert all(e.value == f"{e.message.tp}:{e.message.offset}".encode() for e in batch)
            seen.append([(e.message.tp, e.message.offset) for e in batch])
            await asyncio.sleep(0.01)  # the consumer works on its batch

    asyncio.run(main())
    return seen, acked_when_yielded


def test_every_event_once_in_order_acked_only_after_its_batch():
    items = [(f"p{p}", o) for o in range(50) for p in range(3)]
    stream = FakeStream(items, pause_every=7, pause_s=0.02)
    seen, acked_when_yielded = run(stream, 10, 0.05)
    flat = [x for b in seen for x in b]
    assert flat == items  # once each, in arrival order
    assert all(len(b) <= 10 for b in seen)
    # when a batch is handed out, exactly the events of the batches before it have been acked
    assert acked_when_yielded == [sum(len(b) for b in seen[:k]) for k in range(len(seen))]
    assert stream.acked == items and stream.enable_acks is False


def test_a_partial_batch_is_handed_out_after_within_seconds():
    stream = FakeStream([("p0", o) for o in range(5)], pause_every=3, pause_s=0.3)
    seen, _ = run(stream, 100, 0.05)
    assert seen == [[("p0", 0), ("p0", 1), ("p0", 2)], [("p0", 3), ("p0", 4)]]


def test_a_duplicate_offset_is_not_processed_twice_and_a_gap_is_counted():
    guard = OffsetGuard()
    stream = FakeStream([("p0", 0), ("p0", 1), ("p0", 1), ("p0", 2), ("p0", 5), ("p1", 0)])
    seen, _ = run(stream, 100, 0.05, guard)
    assert [x for b in seen for x in b] == [("p0", 0), ("p0", 1), ("p0", 2), ("p0", 5), ("p1", 0)]
    assert (guard.duplicates, guard.gaps) == (1, 1)
    assert len(stream.acked) == 6  # the duplicate is acknowledged too
    guard.forget()
    assert guard.admit("p0", 0)  # after a rebalance a partition is read again from its commit
