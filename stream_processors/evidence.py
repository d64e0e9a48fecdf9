"""The evidence clock of one worker: how far it has read its fixes, and how far its peers have
(:mod:`wastestream.domain.watermark` holds the rules; this is their bookkeeping in the worker).

Every worker puts its mark in each tick it sends (``until``: the newest device time it had read on
every fixes partition with something left to read, ``VISIT_HOP_S`` ago); each partition's owner
decides that partition's deadlines at the slowest mark heard in the last ``PEER_TICK_TTL_S``.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from typing import Any

from wastestream.domain.watermark import decision_time, evidence_until

log = logging.getLogger("wastestream.worker")
PEER_TICK_TTL_S = 5.0  # a worker's evidence watermark counts while its ticks keep coming
# a fix read has its visit set published (every 0.25 s) and applied (at the next commit point) within
# this many seconds: a worker reports how far it had read its fixes this long ago
# (3 s was measured enough on an idle machine; with a second test suite running on the same 2 cores,
# one point was paged falsely while a backlog was read: 10 s, which delays a live decision by as much)
VISIT_HOP_S = 10.0


class EvidenceClock:
    def __init__(self, fix_topics: set[str], hop_s: float = VISIT_HOP_S, ttl_s: float = PEER_TICK_TTL_S):
        self.instance = uuid.uuid4().hex[:12]  # this worker, in its ticks
        self.fix_topics = fix_topics
        self.hop_s, self.ttl_s = hop_s, ttl_s
        self._read_upto: dict[Any, int] = {}  # per fixes topic-partition, the next offset to process
        self._progress: dict[int, float] = {}  # per fixes partition, the newest device time processed
        self._samples: deque[tuple[float, float | None]] = deque(maxlen=64)  # (monotonic, until)
        self._peers: dict[str, tuple[float, float | None]] = {}  # worker → (heard at, its until)
        self._decided_at: dict[int, float] = {}  # per partition, the event time last decided at

    # -- this worker ----------------------------------------------------------------------------
    def read(self, tp: Any, offset: int) -> None:
        self._read_upto[tp] = offset + 1

    def progressed(self, partition: int, device_time: float) -> None:
        if device_time > self._progress.get(partition, -math.inf):
            self._progress[partition] = device_time

    def assigned(self) -> None:
        """After a rebalance: nothing is known of the new assignment yet."""
        self._read_upto.clear()
        self._progress.clear()
        self._samples.clear()

    async def backlog(self, consumer: Any) -> dict[int, int | None] | None:
        """Per fixes partition assigned, how many fixes are left to process (None: not known yet);
        None while the assignment is not known."""
        backlog: dict[int, int | None] = {}
        try:
            for tp in consumer.assignment():
                if tp.topic not in self.fix_topics:
                    continue
                end = consumer.highwater(tp)
                upto = self._read_upto.get(tp)
                if upto is None:  # nothing processed since the assignment: from where it reads
                    upto = await consumer.position(tp)
                backlog[tp.partition] = None if end is None or upto is None else max(0, end - upto)
        except Exception as e:  # noqa: BLE001 - e.g. in a rebalance: not known (nothing decided meanwhile)
            log.debug("fix backlog not known (%s)", e)
            return None
        return backlog

    async def mark(self, consumer: Any) -> dict[str, Any]:
        """This worker's mark, for its ticks: how far it had read its fixes ``hop_s`` ago (their visit
        sets have been published and applied since: a bound that holds while the visits agent keeps
        up, as it does with its small messages)."""
        now = time.monotonic()
        fixes = await self.backlog(consumer)
        self._samples.append((now, None if fixes is None else evidence_until(self._progress, fixes)))
        until = next((u for at, u in reversed(self._samples) if now - at >= self.hop_s), None)
        return {"from": self.instance, "until": "all" if until == math.inf else until}

    # -- the peers ------------------------------------------------------------------------------
    def heard(self, tick: dict[str, Any]) -> None:
        """A tick's mark (every worker's ticks carry one)."""
        if "from" in tick:
            until = tick.get("until")
            self._peers[tick["from"]] = (time.monotonic(), math.inf if until == "all" else until)

    def decision_time(self, partition: int, now: float) -> float | None:
        """The event time at which ``partition``'s deadlines may be decided now (never earlier than
        the last), or None when nothing may be decided yet."""
        heard = [u for at, u in self._peers.values() if time.monotonic() - at < self.ttl_s]
        t = decision_time(now, heard, previous=self._decided_at.get(partition))
        if t is not None:
            self._decided_at[partition] = t
        return t
