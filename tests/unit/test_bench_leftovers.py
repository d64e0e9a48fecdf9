"""What `make bench` removes after its run: only what the run created, never the stack's own."""

from wastestream.bench import bench_leftovers

BEFORE_TOPICS = {"__consumer_offsets", "gps.fixes", "clearance", "wastestream-worker-fixlog-changelog"}
BEFORE_BUCKETS = {"_monitoring", "_tasks", "wastestream", "contractor-c01", "bench-0a2f39"}


def test_removes_the_topics_the_run_created_and_its_own_buckets():
    topics_after = BEFORE_TOPICS | {
        "bench1c0f79.gps.fixes",
        "bench1c0f79-fixlog-changelog",
        "changelog__quixpeerddfa32--bench99f063.gps.fixes--default",
        "__transaction_state",  # an internal topic the broker made meanwhile: never ours to delete
    }
    buckets_after = BEFORE_BUCKETS | {"bench-1c0f79", "lat-3bc90d", "mem-048829", "contractor-c02"}
    topics, buckets = bench_leftovers(BEFORE_TOPICS, topics_after, BEFORE_BUCKETS, buckets_after)
    assert topics == [
        "bench1c0f79-fixlog-changelog",
        "bench1c0f79.gps.fixes",
        "changelog__quixpeerddfa32--bench99f063.gps.fixes--default",
    ]
    # a contractor's bucket made by the run stays (the demo's dashboards read it); so does an
    # older run's bucket, which this run did not make
    assert buckets == ["bench-1c0f79", "lat-3bc90d", "mem-048829"]


def test_a_run_that_created_nothing_removes_nothing():
    assert bench_leftovers(BEFORE_TOPICS, BEFORE_TOPICS, BEFORE_BUCKETS, BEFORE_BUCKETS) == ([], [])
