"""The ≥ 10⁶-frame fuzz run of the gateway's protocol path (about two minutes on the CI box)."""

from wastestream.producers.jt808.fuzz import run_fuzz


def test_a_million_mutated_frames_no_crash_every_rejection_with_a_reason():
    s = run_fuzz(1_000_000, seed=808)
    assert s.failures == []
    assert s.cases == 1_000_000 and s.frames >= 1_000_000
    assert s.dead_total > 0 and all(reason for reason in s.dead)
    assert s.fixes > 0  # the unmutated 5 % still get through
