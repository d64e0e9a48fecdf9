"""The evidence watermark: deadlines are judged only as far as the fixes have been read."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from wastestream.domain.watermark import EVIDENCE_MARGIN_S, decision_time, evidence_until, marks_until

times = st.floats(min_value=1.6e9, max_value=1.9e9)
readers = st.lists(st.one_of(st.none(), st.just(math.inf), times), max_size=4)


def test_a_partition_with_nothing_left_to_read_holds_nothing_back():
    # partition 0 read up to 10:00 but drained (an idle fleet at night); partition 1 behind at 09:00
    assert evidence_until({0: 36_000.0, 1: 32_400.0}, {0: 0, 1: 250}) == 32_400.0
    assert evidence_until({0: 36_000.0}, {0: 0, 1: 0}) == math.inf
    assert evidence_until({}, {}) == math.inf


def test_a_backlog_with_nothing_read_yet_or_of_unknown_size_holds_everything():
    assert evidence_until({}, {0: 10}) is None  # the first fixes after a start are still unread
    assert evidence_until({0: 36_000.0}, {0: None}) is None  # the partition's end is not known yet


def test_decisions_wait_for_the_slowest_reader_then_follow_now():
    now = 1_795_420_800.0
    behind = now - 3600
    assert decision_time(now, [math.inf, behind]) == behind - EVIDENCE_MARGIN_S
    assert decision_time(now, [math.inf, math.inf]) == now
    assert decision_time(now, []) == now
    assert decision_time(now, [None]) is None
    assert decision_time(now, [None], previous=behind) == behind  # held, not taken back


@given(times, readers, st.one_of(st.none(), times))
def test_decision_time_never_goes_back_nor_past_now(now, heard, previous):
    t = decision_time(now, heard, previous)
    if previous is not None:
        assert t is not None and t >= previous
    if t is not None and (previous is None or previous <= now):
        assert t <= now
    if all(u == math.inf for u in heard):
        assert t == max(now, previous or now)


@given(
    st.dictionaries(st.integers(0, 5), times),
    st.dictionaries(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 9))),
)
def test_evidence_until_is_the_oldest_progress_among_backlogged_partitions(progress, backlog):
    got = evidence_until(progress, backlog)
    held = [k for k, left in backlog.items() if left != 0]
    if any(backlog[k] is None or k not in progress for k in held):
        assert got is None
    else:
        assert got == min((progress[k] for k in held), default=math.inf)


def test_marks_count_only_once_they_cover_every_partition():
    assert marks_until([([0, 1], 5000.0)], range(3)) is None  # partition 2 not covered
    assert marks_until([([0, 1], 5000.0), ([2], math.inf)], range(3)) == 5000.0
    assert marks_until([([0, 1], 5000.0), ([2], None)], range(3)) is None  # its reader does not know
    assert marks_until([([], None), ([0], math.inf)], range(1)) == math.inf  # a reader holding nothing
    assert marks_until([], range(0)) == math.inf


partition_sets = st.lists(st.integers(0, 5), max_size=4)


@given(st.lists(st.tuples(partition_sets, st.one_of(st.none(), st.just(math.inf), times)), max_size=5))
def test_marks_until_is_the_slowest_covering_reader_or_nothing(marks):
    got = marks_until(marks, range(6))
    counted = [(set(p), u) for p, u in marks if p]
    covered = set().union(*(p for p, _ in counted)) if counted else set()
    if covered != set(range(6)) or any(u is None for _, u in counted):
        assert got is None
    else:
        assert got == min(u for _, u in counted)
