from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from wastestream.domain.localtime import local_date
from wastestream.domain.visits import DEFAULT_RULES, Track

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC).timestamp()  # 08:00 Shanghai
KIND = {"P1": "point", "P2": "point", "S1": "station"}


def feed(track, fixes):
    for t, site, speed in fixes:
        track.add(T0 + t, site, speed)
    return track.visits(KIND)


def test_dwell_is_a_visit():
    fixes = [(0, None, 30), (10, "P1", 8), (20, "P1", 0), (50, "P1", 0), (80, "P1", 2), (90, None, 20)]
    (v,) = feed(Track(), fixes)
    # the visit is the stop: from the first to the last slow fix (the 8 km/h approach is not in it)
    assert (v.site, v.enter - T0, v.exit - T0, v.dwell_s) == ("P1", 20, 80, 60)


def test_pass_by_without_dwell_is_not_a_visit():
    fixes = [(0, None, 30), (10, "P1", 30), (20, "P1", 28), (30, None, 30)]
    assert feed(Track(), fixes) == []


def test_slow_but_short_is_not_a_visit_and_long_but_fast_is_not_either():
    assert feed(Track(), [(0, "P1", 0), (30, "P1", 0), (40, None, 10)]) == []
    assert feed(Track(), [(t, "P1", 12) for t in range(0, 200, 10)]) == []


def test_station_needs_longer_dwell():
    fixes = [(t, "S1", 0) for t in range(0, 100, 10)] + [(110, None, 30)]
    assert feed(Track(), fixes) == []
    fixes = [(t, "S1", 0) for t in range(0, 200, 10)] + [(210, None, 30)]
    assert [v.site for v in feed(Track(), fixes)] == ["S1"]


def test_jitter_outside_fence_is_merged():
    fixes = [(0, "P1", 0), (30, "P1", 0), (40, None, 1), (50, "P1", 0), (90, "P1", 0)]
    (v,) = feed(Track(), fixes)
    assert (v.enter - T0, v.exit - T0) == (0, 90)


def test_late_fix_inside_a_run_splits_it():
    tr = Track()
    feed(tr, [(t, "P1", 0) for t in range(0, 400, 10)])
    tr.add(T0 + 195, "P2", 0)  # a late fix elsewhere in the middle of the dwell
    vs = tr.visits({"P1": "point", "P2": "point"})
    assert [(v.site, v.enter - T0, v.exit - T0) for v in vs] == [("P1", 0, 190), ("P1", 200, 390)]


def test_backfill_fills_a_dropout():
    fixes = [(0, None, 30), (10, None, 20)]
    tr = Track()
    feed(tr, fixes + [(500, None, 30)])
    assert tr.visits(KIND) == []
    for t in range(100, 300, 10):
        assert tr.add(T0 + t, "P1", 0, backfill=True)
    (v,) = tr.visits(KIND)
    assert v.backfill and (v.enter - T0, v.exit - T0) == (100, 290)


def test_state_round_trip():
    tr = Track()
    feed(tr, [(0, None, 30), (10, "P1", 0), (100, "P1", 0), (110, None, 30)])
    again = Track.from_state(tr.to_state())
    assert again.visits(KIND) == tr.visits(KIND)


def test_a_fix_backfilled_after_midnight_counts_for_the_day_it_was_recorded():
    recorded = datetime(2026, 11, 23, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
    received = recorded + timedelta(minutes=40)  # 00:30 the next day
    assert local_date(recorded).isoformat() == "2026-11-23"
    assert local_date(received).isoformat() == "2026-11-24"


fixes_strategy = st.lists(
    st.tuples(st.integers(0, 3000), st.sampled_from([None, "P1", "P2", "S1"]), st.sampled_from([0.0, 3.0, 20.0])),
    max_size=60,
    unique_by=lambda f: f[0],
)


@given(fixes_strategy, st.randoms())
def test_arrival_order_does_not_matter(fixes, rnd):
    in_order = Track()
    feed(in_order, sorted(fixes))
    shuffled = list(fixes)
    rnd.shuffle(shuffled)
    any_order = Track()
    feed(any_order, shuffled)
    assert any_order.visits(KIND) == in_order.visits(KIND)


@given(fixes_strategy, st.randoms())
def test_incremental_spans_equal_a_full_recomputation_after_every_fix(fixes, rnd):
    """refresh() rebuilds only what a fix can change; after every fix, in any arrival order, the
    visits equal those of a track built from scratch, and the changed sites it reports are exactly
    the sites whose visits differ from before."""
    shuffled = list(fixes)
    rnd.shuffle(shuffled)
    track, seen = Track(), []
    before: list = []
    for t, site, speed in shuffled:
        track.add(T0 + t, site, speed)
        seen.append((t, site, speed))
        changed = track.refresh(KIND, DEFAULT_RULES)
        fresh = Track()
        for f in sorted(seen):
            fresh.add(T0 + f[0], f[1], f[2])
        after = fresh.visits(KIND)
        assert track.visits(KIND) == after
        by_site = lambda vs: {s: [v for v in vs if v.site == s] for s in {v.site for v in vs}}  # noqa: E731
        b, a = by_site(before), by_site(after)
        assert changed == {s for s in set(a) | set(b) if a.get(s) != b.get(s)}
        before = after
