"""Write-behind over Faust tables: one changelog message per key per batch, not per event.

A truck at a stop changes the same fixlog bucket with every fix; writing the table each time sends
a changelog message each time (the profile showed the producer as the worker's main cost). The
worker processes a batch of events, the core writes into a :class:`WriteBehind` (reads see the
pending values), and at the end of the batch — before the batch's offsets are acknowledged — each
changed key is written once, under an event of the partition whose event changed it, so the key's
changelog partition is the one its source partition owns (Faust's table semantics).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, MutableMapping
from typing import Any

_DELETED = object()


class WriteBehind(MutableMapping[str, Any]):
    def __init__(self, table: MutableMapping[str, Any]):
        self.table = table
        self.partition: int | None = None  # the partition of the event being processed
        self._pending: dict[str, tuple[Any, int | None]] = {}

    def __getitem__(self, key: str) -> Any:
        hit = self._pending.get(key)
        if hit is not None:
            if hit[0] is _DELETED:
                raise KeyError(key)
            return hit[0]
        return self.table[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Any) -> None:
        self._pending[key] = (value, self.partition)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = (_DELETED, self.partition)

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for k in list(self.table.keys()):
            seen.add(k)
            if self._pending.get(k, (None,))[0] is not _DELETED:
                yield k
        for k, (v, _) in list(self._pending.items()):
            if k not in seen and v is not _DELETED:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def pending_partitions(self) -> set[int | None]:
        return {p for _, p in self._pending.values()}

    def write_back(self, partition: int | None) -> int:
        """Write the pending changes made under ``partition`` to the table; return how many."""
        done = [k for k, (_, p) in self._pending.items() if p == partition]
        for k in done:
            v, _ = self._pending.pop(k)
            if v is _DELETED:
                self.table.pop(k, None)
            else:
                self.table[k] = v
        return len(done)


def write_back_under_events(stores: list[WriteBehind], last_event_of: dict[int, Any]) -> int:
    """Write every store's pending changes, each partition's under that partition's last event of
    the batch (Faust picks a table key's changelog partition from the current event)."""
    from faust.streams import _current_event  # the context variable behind faust.current_event()

    n = 0
    for partition, event in sorted(last_event_of.items()):
        token = _current_event.set(weakref.ref(event))
        try:
            for s in stores:
                n += s.write_back(partition)
        finally:
            _current_event.reset(token)
    return n
