"""The worker's and recompute's garbage-collector settings (stream_processors.heap)."""

import gc

from wastestream.stream_processors.heap import THRESHOLDS, tune_gc


def test_tune_gc_freezes_what_is_loaded_and_collects_less_often():
    before = gc.get_threshold()
    kept = [[i] for i in range(1000)]  # loaded at start: frozen, out of the collector's sight
    try:
        tune_gc()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() >= len(kept)
        # a cycle made afterwards is still found and freed
        a: list = []
        a.append(a)
        del a
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
