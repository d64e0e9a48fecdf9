"""The stall watch: a partition with messages waiting past the next offset to read and nothing read
for ``after_s``, while the consumer delivers other partitions, is named with that offset; anything
moving, caught up or new is not, and nothing is named while the consumer delivers nothing at all."""

from hypothesis import given
from hypothesis import strategies as st

from wastestream.stream_processors.stalls import PartitionView, StallWatch

TICKETS, FIXES, TICKS = ("weigh.tickets", 1), ("gps.fixes", 1), ("ticks", 1)


def ticking(now: float, **views: PartitionView) -> dict:
    """The partitions given, beside the ticks partition that moves every second."""
    return {TICKS: PartitionView(read=int(now), committed=None, end=int(now) + 1), **views}


def stuck_tickets(now: float) -> dict:
    return {**ticking(now), TICKETS: PartitionView(read=None, committed=None, end=90)}


def test_a_partition_never_read_with_messages_waiting_is_named_after_the_wait_with_its_start():
    w = StallWatch(after_s=30)
    assert w.check(stuck_tickets(0), now=0) == []
    assert w.check(stuck_tickets(29), now=29) == []
    assert w.check(stuck_tickets(30), now=30) == [(TICKETS, 0)]  # no commit: from the start of the log
    assert w.check(stuck_tickets(31), now=31) == []  # once per wait
    assert w.check(stuck_tickets(60), now=60) == [(TICKETS, 0)]


def test_nothing_is_named_while_the_consumer_delivers_nothing_at_all():
    w = StallWatch(after_s=30)
    held = {
        TICKS: PartitionView(read=5, committed=5, end=40),  # agents held back: every offset stands still
        TICKETS: PartitionView(read=None, committed=None, end=90),
    }
    for now in (0, 30, 60, 90):
        assert w.check(held, now=now) == []
    assert w.check(stuck_tickets(95), now=95) == []  # ticks move again: tickets' wait starts over
    assert w.check(stuck_tickets(125), now=125) == [(TICKETS, 0)]


def test_the_next_offset_is_after_the_last_read_else_the_committed_one():
    assert PartitionView(read=41, committed=30, end=50).next == 42
    assert PartitionView(read=None, committed=30, end=50).next == 30
    assert PartitionView(read=None, committed=None, end=50).next == 0


def test_a_partition_that_moves_or_is_caught_up_is_not_named():
    w = StallWatch(after_s=30)
    for now, read in ((0, 5), (20, 6), (40, 7), (60, 8)):
        assert w.check(ticking(now, **{"f": PartitionView(read=read, committed=0, end=100)}), now=now) == []
    for now in (100, 1000):
        assert w.check(ticking(now, **{"f": PartitionView(read=99, committed=100, end=100)}), now=now) == []
    assert w.check(ticking(2000, **{"f": PartitionView(read=None, committed=100, end=100)}), now=2000) == []


def test_a_rebalance_or_a_partition_let_go_starts_its_wait_again():
    w = StallWatch(after_s=30)
    w.check(stuck_tickets(0), now=0)
    w.reset()
    assert w.check(stuck_tickets(40), now=40) == []  # watched afresh from 40
    w.check(ticking(50), now=50)  # tickets let go
    assert w.check(stuck_tickets(75), now=75) == []
    assert w.check(stuck_tickets(105), now=105) == [(TICKETS, 0)]


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
        got = w.check({**ticking(now), TICKETS: v}, now=now)
        if read != prev or not v.waiting:
            since, prev = now, read
            assert got == []
            continue
        if now - since >= 30 and k > 0:
            assert got == [(TICKETS, v.next)]
            since = now
        else:
            assert got == []
