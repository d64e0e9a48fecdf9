"""The stall watch: a partition with messages waiting past the next offset to read and nothing read
for ``after_s`` is named, with that offset; anything moving, caught up or new is not."""

from hypothesis import given
from hypothesis import strategies as st

from wastestream.stream_processors.stalls import PartitionView, StallWatch

TICKETS, FIXES = ("weigh.tickets", 1), ("gps.fixes", 1)


def test_a_partition_never_read_with_messages_waiting_is_named_after_the_wait_with_its_start():
    w = StallWatch(after_s=30)
    stuck = {TICKETS: PartitionView(read=None, committed=None, end=90)}
    assert w.check(stuck, now=0) == []
    assert w.check(stuck, now=29) == []
    assert w.check(stuck, now=30) == [(TICKETS, 0)]  # no commit: from the start of the log
    assert w.check(stuck, now=31) == []  # once per wait
    assert w.check(stuck, now=60) == [(TICKETS, 0)]


def test_the_next_offset_is_after_the_last_read_else_the_committed_one():
    assert PartitionView(read=41, committed=30, end=50).next == 42
    assert PartitionView(read=None, committed=30, end=50).next == 30
    assert PartitionView(read=None, committed=None, end=50).next == 0


def test_a_partition_that_moves_or_is_caught_up_is_not_named():
    w = StallWatch(after_s=30)
    for now, read in ((0, 5), (20, 6), (40, 7), (60, 8)):
        assert w.check({FIXES: PartitionView(read=read, committed=0, end=100)}, now=now) == []
    caught_up = {FIXES: PartitionView(read=99, committed=100, end=100)}
    assert w.check(caught_up, now=100) == []
    assert w.check(caught_up, now=1000) == []
    assert w.check({FIXES: PartitionView(read=None, committed=100, end=100)}, now=2000) == []


def test_a_rebalance_or_a_partition_let_go_starts_its_wait_again():
    w = StallWatch(after_s=30)
    stuck = {TICKETS: PartitionView(read=None, committed=None, end=90)}
    w.check(stuck, now=0)
    w.reset()
    assert w.check(stuck, now=40) == []  # watched afresh from 40
    w.check({}, now=50)  # let go
    assert w.check(stuck, now=75) == []
    assert w.check(stuck, now=105) == [(TICKETS, 0)]


@given(
    reads=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=1, max_size=30),
    end=st.integers(0, 8),
    step=st.floats(0.5, 20),
)
def test_named_only_when_the_read_offset_stood_still_with_messages_waiting_for_the_whole_wait(reads, end, step):
    w = StallWatch(after_s=30)
    since = None  # when the read offset last changed (or the partition was last named)
    prev = object()
    for k, read in enumerate(reads):
        now = k * step
        v = PartitionView(read=read, committed=None, end=end)
        got = w.check({TICKETS: v}, now=now)
        if read != prev or not v.waiting:
            since, prev = now, read
            assert got == []
            continue
        if now - since >= 30:
            assert got == [(TICKETS, v.next)]
            since = now
        else:
            assert got == []
