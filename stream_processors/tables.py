"""Write-behind over Faust tables: one changelog message per key per batch, not per event.

A truck at a stop changes the same fixlog bucket with every fix; writing the table each time sends
a changelog message each time (the profile showed the producer as the worker's main cost). The
worker processes events, the core writes into a :class:`WriteBehind` (reads see the pending
values), and at each commit point (:mod:`.checkpoint`) — before the events' offsets are
acknowledged — each changed key is written once, to the changelog partition of the source partition whose event
changed it (Faust's table semantics: a key's changelog partition is its source partition).

Two things Faust's own table path does not give, and this does:

* **Durable before acknowledged.** Faust hands changelog messages to a buffer that a background
  task drains, and its commit "flushes" that buffer only until no message has gone out for 0.1 s
  (``ProducerBuffer.flush_atmost``): under load, offsets can be committed while changelog messages
  are still in the buffer, and a kill -9 then loses them for good. Here each changelog message is
  handed to the Kafka producer and the hand-off awaited before the batch is acknowledged; Faust's
  commit flushes the producer (waits for the broker) before it commits offsets.
* **No stale keys after a rebalance.** Faust's in-memory store forgets a revoked partition's keys
  only if they came from changelog recovery, not if this process wrote them. A worker that once
  owned a partition kept its (then stale) keys and re-emitted them after the next rebalance,
  overwriting the new owner's figures. :meth:`WriteBehind.keep_only` drops them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

_DELETED = object()
_MISSING = object()


class WriteBehind(MutableMapping[str, Any]):
    """Write-behind over a plain mapping (offline, tests); :class:`FaustWriteBehind` over a table."""

    def __init__(self, table: MutableMapping[str, Any]):
        self.table = table
        self.partition: int | None = None  # the partition of the event being processed
        self._pending: dict[str, tuple[Any, int | None]] = {}
        self._written_by: dict[str, int | None] = {}  # keys this process wrote, by partition

    # -- the mapping the core sees -----------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        hit = self._pending.get(key)
        if hit is not None:
            if hit[0] is _DELETED:
                raise KeyError(key)
            return hit[0]
        value = self._lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        hit = self._pending.get(key)
        if hit is not None:
            return default if hit[0] is _DELETED else hit[0]
        value = self._lookup(key)
        return default if value is _MISSING else value

    def _lookup(self, key: str) -> Any:
        """The local value of ``key`` (``_MISSING`` if none), past the pending changes."""
        return self.table.get(key, _MISSING)

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

    # -- writing back --------------------------------------------------------------------------
    def pending_partitions(self) -> set[int | None]:
        return {p for _, p in self._pending.values()}

    def _local(self) -> MutableMapping[str, Any]:
        """Where this process keeps the values (without sending anything)."""
        return self.table

    async def publish(self, partition: int | None, key: str, value: Any) -> None:
        """Hand one change to the changelog (a plain mapping has none); ``None`` deletes."""

    def take_pending(self, partitions: Iterable[int | None] | None = None) -> list[tuple[int | None, str, Any]]:
        """The pending changes (of ``partitions``, or all), applied to the local values at once (no
        await: other agents never see half of them); :meth:`publish` each before acknowledging the
        events that made them."""
        wanted = None if partitions is None else set(partitions)
        taken = [(k, v, p) for k, (v, p) in self._pending.items() if wanted is None or p in wanted]
        local = self._local()
        changes: list[tuple[int | None, str, Any]] = []
        for k, v, p in taken:
            del self._pending[k]
            if v is _DELETED:
                local.pop(k, None)
                self._written_by.pop(k, None)
                changes.append((p, k, None))
            else:
                local[k] = v
                self._written_by[k] = p
                changes.append((p, k, v))
        return changes

    def requeue(self, changes: list[tuple[int | None, str, Any]]) -> None:
        """Changes taken whose hand-off failed: pending again (unless changed since), so the next
        commit point sends them (sending one twice is harmless: the same value)."""
        for p, k, v in changes:
            self._pending.setdefault(k, (_DELETED if v is None else v, p))

    async def write_back(self, partition: int) -> int:
        """Write the pending changes made under ``partition``; return how many."""
        return await publish_changes([(self, self.take_pending([partition]))])

    def keep_only(self, partitions: set[int]) -> int:
        """After a rebalance: forget the keys this process wrote for partitions it no longer owns,
        and pending changes tagged with them (their events are processed again by the new owner).
        Returns how many keys were dropped."""
        self._pending = {k: vp for k, vp in self._pending.items() if vp[1] in partitions}
        gone = [k for k, p in self._written_by.items() if p not in partitions]
        local = self._local()
        for k in gone:
            local.pop(k, None)
            del self._written_by[k]
        return len(gone)


class FaustWriteBehind(WriteBehind):
    """Over a Faust table with the in-memory store: values go straight into the table's store and
    each change is sent to the table's changelog topic with an awaited hand-off (see the module
    docstring).

    Both ways go under Faust's table API, which costs more than the work itself when a big fleet's
    first fixes look up many keys that are not there (a vehicle-day's 96 fix-log buckets): a read
    is a look-up in the store's dict (no get sensor, no KeyError per missing key), and a change is
    serialised as the changelog topic serialises it and handed to the app's producer, started if it
    is not yet (no FutureMessage, no channel). The producer is the one Faust flushes before it commits offsets; the
    in-memory store keeps no persisted offsets, so no send callback is needed."""

    def __init__(self, table: Any):
        super().__init__(table)
        data = getattr(table.data, "data", None)
        if not isinstance(data, dict):
            raise TypeError("FaustWriteBehind needs a table with the in-memory store (store='memory://')")
        self._data: dict[str, Any] = data  # the store's dict: Faust clears it, never replaces it

    def get(self, key: str, default: Any = None) -> Any:  # the base's, with the look-up inlined (hot)
        hit = self._pending.get(key)
        if hit is not None:
            return default if hit[0] is _DELETED else hit[0]
        return self._data.get(key, default)

    def _lookup(self, key: str) -> Any:
        return self._data.get(key, _MISSING)

    def _local(self) -> MutableMapping[str, Any]:
        return self.table.data  # type: ignore[attr-defined]  # the Faust table's store: setting it does not send a changelog message

    async def publish(self, partition: int | None, key: str, value: Any) -> None:
        t: Any = self.table  # a faust Table
        topic = t.changelog_topic
        k, _ = topic.prepare_key(key, t.key_serializer)
        v = None if value is None else topic.prepare_value(value, t.value_serializer)[0]  # None: a tombstone
        producer = await t.app.maybe_start_producer()  # as Faust's Topic.send: the first commit point can come first
        await producer.send(topic.get_topic_name(), k, v, partition, None, None)


def take_changes(stores: Iterable[WriteBehind]) -> list[tuple[WriteBehind, list[tuple[int | None, str, Any]]]]:
    """Every store's pending changes, applied locally at once (no await: other agents never see half
    of them); :func:`publish_changes` sends them to the changelogs."""
    return [(s, s.take_pending()) for s in stores]


async def publish_changes(taken: list[tuple[WriteBehind, list[tuple[int | None, str, Any]]]]) -> int:
    n = 0
    for store, changes in taken:
        for partition, key, value in changes:
            await store.publish(partition, key, value)
            n += 1
    return n
