"""The garbage collector of a long-running process that holds a big state.

CPython's cyclic collector scans every tracked object in a full (generation 2) collection, and runs
one each time the long-lived objects have grown by a quarter. A worker holding a city of 25,000
trucks and their vehicle-days tracks ~650,000 objects: in the latency benchmark a full collection
ran every ~4 s and took 0.5–0.8 s each (9 s of a 70 s run), a stall of the event loop each time. The
state itself (fix-log entries, last fixes, summaries) is freed by reference counting: it makes no
cycles for the collector to find.

So: the objects loaded at start (the city, the site index, the core's maps) are moved out of the
collector's sight (``gc.freeze``), and collections run less often — young ones after 50,000 new
container objects instead of 700, full ones at most after 100 middle ones instead of 10 (the
quarter-growth rule still applies). Cyclic garbage (asyncio's, Faust's) is still collected.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what was loaded so far and collect less often (call once the process is set up)."""
    gc.collect()  # what start-up left behind, before freezing the rest
    gc.freeze()
    gc.set_threshold(*thresholds)
