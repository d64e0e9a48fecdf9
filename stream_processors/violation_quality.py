"""How good are the violation rules? The core run (as ``recompute``) over simulated days, each
violation found compared per vehicle and kind with what the simulator made the trucks do:

* **honest days**: the everyday faults (stops driven past, a truck 90 min late, a breakdown, terminal
  dropouts with 0x0704 back-fill, duplicate and ghost tickets, loaded trucks standing 12 min in a
  traffic jam off every fence — what a dumping stop looks like, then a full delivery) and no planted
  violation — what is
  found beyond the truth (a breakdown's 2 h standing is idle_away, a ghost ticket wrong_station)
  is a false positive;
* **planted days**: overspeeding, detours, dumping, undelivered loads and night trips on top —
  recall per kind.

Printed by ``make bench``; a unit test holds the counts to the truth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from wastestream.producers.simulator.day import Faults, simulate_day
from wastestream.producers.simulator.offline import arrival_order
from wastestream.schemas import City
from wastestream.stream_processors.recompute import recompute_events

HONEST = Faults(missed_stops=4, late_trucks=1, breakdowns=1, dropouts=3, midnight_upload=1, duplicate_tickets=3,
                ghost_tickets=1, traffic_jams=3)  # fmt: skip
PLANTED = Faults(**{**vars(HONEST), "overspeeding": 2, "detours": 2, "dumping": 3, "undelivered": 2, "night_trips": 2})


@dataclass
class Tally:
    want: Counter = field(default_factory=Counter)  # kind → occurrences the truth has
    hit: Counter = field(default_factory=Counter)  # kind → found and true
    extra: Counter = field(default_factory=Counter)  # kind → found beyond the truth (false positives)

    def add(self, want: dict[str, dict[str, int]], got: dict[str, Counter]) -> None:
        for v in set(want) | set(got):
            w, g = Counter(want.get(v, {})), got.get(v, Counter())
            for k in set(w) | set(g):
                self.want[k] += w[k]
                self.hit[k] += min(w[k], g[k])
                self.extra[k] += max(0, g[k] - w[k])

    def rows(self) -> list[dict]:
        kinds = sorted(set(self.want) | set(self.extra))
        return [
            {
                "kind": k,
                "true": self.want[k],
                "found": self.hit[k],
                "recall": round(self.hit[k] / self.want[k], 4) if self.want[k] else None,
                "false_positives": self.extra[k],
            }
            for k in kinds
        ]


def found(city: City, day: date, seed: int, faults: Faults) -> tuple[dict, dict[str, Counter]]:
    events, truth = simulate_day(city, day, seed, faults)
    res = recompute_events(city, ((t, v, f"{t}:{k}") for k, (t, v) in enumerate(arrival_order(events))))
    got: dict[str, Counter] = {}
    for r in res.select("violations"):
        if dict(r.fields)["active"]:
            tags = dict(r.tags)
            got.setdefault(tags["vehicle"], Counter())[tags["kind"]] += 1
    return truth.violations, got


def measure(city: City, first: date, days: int = 3, seed: int = 808) -> dict[str, Tally]:
    """``days`` honest and ``days`` planted days from ``first``."""
    out = {"honest": Tally(), "planted": Tally()}
    for k in range(days):
        d = first + timedelta(days=k)
        out["honest"].add(*found(city, d, seed + k, HONEST))
        out["planted"].add(*found(city, d, seed + 100 + k, PLANTED))
    return out
