"""How far the evidence has been read: the event time up to which deadlines may be decided.

A worker reading a backlog (after an outage, a restart, a replay) has a clock ahead of its
evidence: weigh tickets are few and read at once, fixes are many and read over minutes. A point
decided "missed" at that clock is missed only until its visit is read — and its alert pages
someone for nothing. So a point's deadline counts as passed only once the fixes up to it have been
read: per fixes partition, the newest device time read from it, as long as something is left to
read there (a partition with nothing left holds nothing back: an idle fleet at night must not stop
the clock). This is a watermark over the readers' partitions, as stream processors keep one; the
margin covers the step from fixes to visit sets to evidence, and fixes of one partition arriving
slightly out of order. Late data (a blind-area upload) still counts when it comes: the status is
corrected and the alert resolved, as before.

How a decider learns how far the readers have read is causal, not timed: each reader sends a *read
mark* into the same partitions as the visit sets its fixes produced, after them (the watermark
travels in-band, as in Flink or Kafka Streams), so a decider that has applied a mark has applied
every visit set of the fixes the mark covers. A decider judges at :func:`marks_until` of the marks
it has applied: they must cover every fixes partition of the group's current generation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

EVIDENCE_MARGIN_S = 120.0  # a deadline is decided once fixes this far past it have been read


def evidence_until(progress: Mapping[Any, float], backlog: Mapping[Any, int | None]) -> float | None:
    """The event time (epoch s) up to which one reader has read its fixes: the oldest progress
    (newest device time read) among its partitions with something left to read; ``math.inf`` if
    none has; None if a partition has a backlog of unknown size or nothing read from it yet."""
    until = math.inf
    for key, left in backlog.items():
        if left == 0:
            continue
        seen = progress.get(key)
        if left is None or seen is None:
            return None
        until = min(until, seen)
    return until


def decision_time(
    now: float, readers: Iterable[float | None], previous: float | None = None, margin_s: float = EVIDENCE_MARGIN_S
) -> float | None:
    """The event time at which to decide deadlines: ``now``, held back to ``margin_s`` before the
    slowest reader's :func:`evidence_until` while any reader has fixes left to read, and never
    earlier than ``previous`` (time does not go back: a deadline once passed stays passed). None
    when nothing may be decided yet (a reader's progress is unknown and nothing was decided)."""
    t = now
    for until in readers:
        if until is None:
            t = -math.inf
        elif until != math.inf:
            t = min(t, until - margin_s)
    if previous is not None:
        t = max(t, previous)
    return None if t == -math.inf else t


def marks_until(marks: Iterable[tuple[Iterable[int], float | None]], partitions: Iterable[int]) -> float | None:
    """The event time up to which the fixes of every partition in ``partitions`` have been read,
    from read marks ``(fixes partitions the reader holds, its evidence_until)`` of one group
    generation: the oldest ``until`` among them (``math.inf`` if all read everything); None while
    some partition is not covered by a mark, or a mark covering one does not know (``None``). A
    reader that holds no fixes partition holds nothing back."""
    until, covered = math.inf, set()
    for held, u in marks:
        held = set(held)
        if not held:
            continue
        if u is None:
            return None
        covered |= held
        until = min(until, u)
    return until if covered >= set(partitions) else None
