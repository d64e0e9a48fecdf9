"""Partitions that stopped moving: messages wait past the next offset to read, and nothing is read.

Seen under load after a rebalance (about one run in three of the scale-out fault test on a busy
2-core machine, faust-streaming 0.15.3 over aiokafka 0.14): partitions of ``weigh.tickets`` and
``deadletter`` that had no committed offset and got their messages during the rebalance were
assigned, not paused, and never delivered one, while the worker's other partitions went on — the
day's tonnage never arrived. The worker reads such a partition again from the offset it should
deliver next (a seek to where the consumer already is: nothing skipped, nothing read twice).

Pure: the caller hands in what the consumer holds and the clock.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

STALL_AFTER_S = 30.0


@dataclass(frozen=True)
class PartitionView:
    """What the consumer holds for one partition: the last offset it delivered (None: none since
    it was assigned), the committed offset (the next to read; None: none), the end offset."""

    read: int | None
    committed: int | None
    end: int | None

    @property
    def next(self) -> int:
        """The offset the consumer should deliver next."""
        if self.read is not None:
            return self.read + 1
        return self.committed or 0

    @property
    def waiting(self) -> bool:
        return self.end is not None and self.end > self.next


@dataclass
class StallWatch:
    """Per partition, the offset last read and since when; :meth:`check` names the stalled ones.

    Only while the consumer delivers at all — some partition's offset moved within ``after_s``
    (the worker's ticks move every second): a consumer that delivers nothing is waiting (agents
    held back while InfluxDB is down, queues full in a catch-up), not stalled on one partition."""

    after_s: float = STALL_AFTER_S
    _seen: dict[Hashable, tuple[int | None, float]] = field(default_factory=dict)
    _moved_at: float | None = None  # when some partition's offset last moved

    def reset(self) -> None:
        """A rebalance: every partition is watched afresh."""
        self._seen.clear()
        self._moved_at = None

    def check(self, views: Mapping[Hashable, PartitionView], now: float) -> list[tuple[Hashable, int]]:
        """The partitions with messages waiting and nothing read for ``after_s`` seconds while
        others moved, each with the offset to read again from; each is named once per ``after_s``
        while it stays stalled."""
        for tp, v in views.items():
            seen = self._seen.get(tp)
            if seen is not None and seen[0] != v.read:
                self._moved_at = now
        delivering = self._moved_at is not None and now - self._moved_at < self.after_s
        found = []
        for tp, v in views.items():
            seen = self._seen.get(tp)
            if seen is None or seen[0] != v.read or not v.waiting or not delivering:
                self._seen[tp] = (v.read, now)  # (a wait counts only while the consumer delivers)
                continue
            if now - seen[1] >= self.after_s:
                found.append((tp, v.next))
                self._seen[tp] = (v.read, now)
        for tp in set(self._seen) - set(views):
            del self._seen[tp]
        return found
