"""A contractor's daily scorecard, from the clearance decisions of its points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wastestream.schemas import Clearance


@dataclass(frozen=True, slots=True)
class Scorecard:
    contractor_id: str
    due: int
    cleared: int
    late: int
    missed: int
    pending: int
    tonnage_kg: float

    @property
    def clearance_rate(self) -> float:
        """清运率: points cleared (on time or late) of the points due."""
        return (self.cleared + self.late) / self.due if self.due else 1.0

    @property
    def on_time_rate(self) -> float:
        return self.cleared / self.due if self.due else 1.0


def scorecard(contractor_id: str, statuses: Iterable[Clearance], tonnage_kg: float = 0.0) -> Scorecard:
    counts = dict.fromkeys(Clearance, 0)
    for s in statuses:
        counts[s] += 1
    return Scorecard(
        contractor_id,
        sum(counts.values()),
        counts[Clearance.cleared],
        counts[Clearance.late],
        counts[Clearance.missed],
        counts[Clearance.pending],
        tonnage_kg,
    )
