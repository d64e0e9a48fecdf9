"""The evidence clock of one worker: how far it has read its fixes (its read marks), and how far
every reader has, as the marks it applied say (:mod:`wastestream.domain.watermark` holds the rules;
this is their bookkeeping in the worker).

A reader's mark is causal: it is built right when the worker takes the visit sets its fixes changed
(no await between), and sent to every ``visits`` partition after those visit sets, so the
producer's per-partition order puts it behind them. The partition's owner reads the mark after
applying them; it decides that partition's deadlines at :func:`marks_until` of the marks of the
current group generation (each names the fixes partitions its sender holds: all of them must be
covered). No time bound is assumed between a fix read and its visit applied — on a slow machine
that bound (10 s, then) was exceeded and hundreds of points were paged as missed, then resolved.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from wastestream.domain.watermark import decision_time, evidence_until, marks_until
from wastestream.schemas.results import ReadMark

log = logging.getLogger("wastestream.worker")
# a mark sent this long before the assignment it is read in is another life of the group: a group
# deleted (its offsets expired) and made again counts its generations from 1 again
MARK_STALE_BEFORE = timedelta(hours=1)


class EvidenceClock:
    def __init__(self, group: str, fix_topics: set[str], partitions: int):
        self.group = group  # this worker's group: only its marks count
        self.instance = uuid.uuid4().hex[:12]  # this worker, in its marks
        self.fix_topics = fix_topics
        self.partitions = range(partitions)  # every fixes partition a decision must have covered
        self.generation: int | None = None  # the group generation of the assignment held
        self._assigned_at: datetime | None = None  # when it was assigned (wall clock)
        self._fix_tps: set[Any] = set()  # the fixes topic-partitions assigned in that generation
        self._read_upto: dict[Any, int] = {}  # per fixes topic-partition, the next offset to process
        self._progress: dict[int, float] = {}  # per fixes partition, the newest device time processed
        # per visits partition, per worker: its newest mark applied here (any generation)
        self._marks: dict[int, dict[str, ReadMark]] = {}
        self._decided_at: dict[int, float] = {}  # per partition, the event time last decided at

    # -- this worker as a reader ----------------------------------------------------------------
    def read(self, tp: Any, offset: int) -> None:
        self._read_upto[tp] = offset + 1

    def progressed(self, partition: int, device_time: float) -> None:
        if device_time > self._progress.get(partition, -math.inf):
            self._progress[partition] = device_time

    def assigned(self, generation: int | None, assigned: set[Any], now: datetime) -> None:
        """A new assignment (a group generation) at wall time ``now``: nothing is known of it yet;
        marks of older generations are let go."""
        self.generation, self._assigned_at = generation, now
        self._fix_tps = {tp for tp in assigned if tp.topic in self.fix_topics}
        self._read_upto.clear()
        self._progress.clear()
        for marks in self._marks.values():
            for worker in [w for w, m in marks.items() if generation is None or m.generation < generation]:
                del marks[worker]

    async def fixes_left(self, consumer: Any) -> dict[int, int | None] | None:
        """Per fixes partition assigned, how many fixes are left to process (None: not known yet);
        None while the assignment is not known."""
        if self.generation is None:
            return None
        backlog: dict[int, int | None] = {}
        try:
            for tp in self._fix_tps:
                end = consumer.highwater(tp)
                upto = self._read_upto.get(tp)
                if upto is None:  # nothing processed since the assignment: from where it reads
                    upto = await consumer.position(tp)
                backlog[tp.partition] = None if end is None or upto is None else max(0, end - upto)
        except Exception as e:  # noqa: BLE001 - e.g. in a rebalance: not known (nothing decided meanwhile)
            log.debug("fix backlog not known (%s)", e)
            return None
        return backlog

    def mark(self, fixes_left: dict[int, int | None] | None, now: datetime, holding: bool = False) -> ReadMark | None:
        """This worker's mark now (synchronous: built right before the visit sets are taken), or None
        before its assignment is known. ``holding``: visit sets of fixes read are still to be sent
        (a re-emit after recovery): the mark says nothing is known. ``now``: the wall clock."""
        if self.generation is None:
            return None
        until = None if holding or fixes_left is None else evidence_until(self._progress, fixes_left)
        return ReadMark(
            group=self.group,
            worker=self.instance,
            generation=self.generation,
            sent_at=now,
            partitions=sorted(tp.partition for tp in self._fix_tps),
            until="all" if until == math.inf else until,
        )

    # -- this worker as a decider ---------------------------------------------------------------
    def marked(self, partition: int, mark: ReadMark) -> None:
        """A mark read from ``visits`` partition ``partition``: every visit set its sender sent there
        before it has been applied. Another group's marks are not kept."""
        if mark.group != self.group:
            return
        self._marks.setdefault(partition, {})[mark.worker] = mark

    def _current(self, partition: int) -> list[ReadMark]:
        """The marks applied on ``partition`` that describe the assignment held: of its generation,
        and not sent long before it (another life of the group)."""
        if self._assigned_at is None:
            return []
        since = self._assigned_at - MARK_STALE_BEFORE
        return [
            m for m in self._marks.get(partition, {}).values() if m.generation == self.generation and m.sent_at >= since
        ]

    def until(self, partition: int) -> float | None:
        """How far every fixes partition has been read and its visit sets for ``partition`` applied."""
        marks = [(m.partitions, math.inf if m.until == "all" else m.until) for m in self._current(partition)]
        return marks_until(marks, self.partitions)

    def decision_time(self, partition: int, now: float) -> float | None:
        """The event time at which ``partition``'s deadlines may be decided now (never earlier than
        the last), or None when nothing may be decided yet."""
        t = decision_time(now, [self.until(partition)], previous=self._decided_at.get(partition))
        if t is not None:
            self._decided_at[partition] = t
        return t

    def view(self) -> dict[str, Any]:
        """For the stats file: per partition with marks, how far its evidence is read (UTC ISO time,
        "all" or None) and the event time last decided at, and the workers whose marks count."""
        out: dict[str, Any] = {}
        for p in sorted(self._marks):
            u = self.until(p)
            decided = self._decided_at.get(p)
            out[str(p)] = {
                "until": "all" if u == math.inf else None if u is None else datetime.fromtimestamp(u, UTC).isoformat(),
                "decided_at": None if decided is None else datetime.fromtimestamp(decided, UTC).isoformat(),
                "marks": len(self._current(p)),
            }
        return out
