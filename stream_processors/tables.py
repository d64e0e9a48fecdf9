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
  are still in the buffer, and a kill -9 then loses them for good. Here the changelog messages are
  appended to the Kafka producer's batches, and the events are acknowledged only once the broker
  confirmed every batch (a failed delivery acknowledges nothing and sends the changes again); Faust's
  commit flushes the producer too before it commits offsets, but does not look at what failed.
* **No stale keys after a rebalance.** Faust's in-memory store forgets a revoked partition's keys
  only if they came from changelog recovery, not if this process wrote them. A worker that once
  owned a partition kept its (then stale) keys and re-emitted them after the next rebalance,
  overwriting the new owner's figures. :meth:`WriteBehind.keep_only` drops them.
"""

from __future__ import annotations

import asyncio
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

    async def publish(self, changes: list[tuple[int | None, str, Any]]) -> list[asyncio.Future]:
        """Hand changes (partition, key, value; ``None`` deletes) to the changelog (a plain mapping
        has none); returns the futures of their delivery to the broker."""
        return []

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
        taken = self.take_pending([partition])
        await self.publish(taken)
        return len(taken)

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

    async def publish(self, changes: list[tuple[int | None, str, Any]]) -> list[asyncio.Future]:
        """Each partition's changes appended to batches of the app's aiokafka producer (one future
        per batch; a message through ``send`` cost ~25 µs, most of a commit point with 100,000
        changes), each batch handed over with ``send_batch`` (which waits while that partition's
        previous batch is not yet drained)."""
        if not changes:
            return []
        t: Any = self.table  # a faust Table
        topic = t.changelog_topic
        name = topic.get_topic_name()
        producer = await t.app.maybe_start_producer()  # as Faust's Topic.send: the first commit point can come first
        kafka = producer._ensure_producer()  # the aiokafka producer Faust flushes before it commits offsets
        batches: dict[int, Any] = {}
        futures: list[asyncio.Future] = []
        for partition, key, value in changes:
            k = topic.prepare_key(key, t.key_serializer)[0]
            v = None if value is None else topic.prepare_value(value, t.value_serializer)[0]  # None: a tombstone
            if partition is None:  # no source partition (not the worker's case): the producer's partitioner
                futures.append(await producer.send(name, k, v, None, None, None))
                continue
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = kafka.create_batch()
            if batch.append(key=k, value=v, timestamp=None) is None:  # full: hand it over, start the next
                futures.append(await kafka.send_batch(batch, name, partition=partition))
                batch = batches[partition] = kafka.create_batch()
                batch.append(key=k, value=v, timestamp=None)  # an empty batch takes any message
        for partition, batch in batches.items():
            futures.append(await kafka.send_batch(batch, name, partition=partition))
        return futures


def take_changes(stores: Iterable[WriteBehind]) -> list[tuple[WriteBehind, list[tuple[int | None, str, Any]]]]:
    """Every store's pending changes, applied locally at once (no await: other agents never see half
    of them); :func:`publish_changes` sends them to the changelogs."""
    return [(s, s.take_pending()) for s in stores]


async def publish_changes(taken: list[tuple[WriteBehind, list[tuple[int | None, str, Any]]]]) -> list[asyncio.Future]:
    """Hand every store's taken changes to its changelog; returns the futures of their delivery."""
    futures: list[asyncio.Future] = []
    for store, changes in taken:
        futures += await store.publish(changes)
    return futures


async def delivered(futures: list[asyncio.Future], timeout: float = 30.0) -> BaseException | None:
    """Wait (at most ``timeout`` seconds: a broker that is down keeps them waiting) for the
    deliveries; the first failure, or None when the broker took every one."""
    if not futures:
        return None
    done, waiting = await asyncio.wait(futures, timeout=timeout)
    if waiting:
        return TimeoutError(f"{len(waiting)} of {len(futures)} changelog batches not delivered in {timeout:g} s")
    for f in futures:
        if f.cancelled():
            return asyncio.CancelledError("a changelog delivery was cancelled")
        if f.exception() is not None:
            return f.exception()
    return None
