"""How good is the early warning? The worker's core run over a simulated day as it happens: events
in the order they reach Kafka, the clock stepped a minute at a time and the core evaluated *live*
at each step (as a worker following the day does), then each ``at_risk`` warning compared with what
the simulator made the trucks do.

* **warned**: points that end late or missed and were warned before their deadline; how long before
  it (lead time, minutes);
* **false warnings**: points warned that were then cleared on time (the truck caught up);
* the planted faults: a truck 90 min late, a truck broken down for 2 h, stops driven past.

Printed by ``make bench`` and ``wastestream warnings``; a unit test holds the counts to the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from wastestream.domain.clearance import window
from wastestream.producers.simulator.day import Faults, simulate_day
from wastestream.producers.simulator.offline import arrival_order
from wastestream.schemas import AlertState, City
from wastestream.stream_processors.core import Core
from wastestream.topics import DEADLETTER, GPS_FIXES, WEIGH_TICKETS

FAULTS = Faults(missed_stops=4, late_trucks=1, breakdowns=1)


@dataclass
class WarningReport:
    day: date
    ended: dict[str, str]  # point → late / missed (the truth)
    warned_at: dict[str, datetime] = field(default_factory=dict)  # point → first warning
    resolved: dict[str, str] = field(default_factory=dict)  # point → the last resolve message
    lead_min: dict[str, float] = field(default_factory=dict)  # warned late/missed point → minutes before deadline
    false_warnings: list[str] = field(default_factory=list)  # warned, then cleared on time

    @property
    def recall(self) -> float:
        return len(self.lead_min) / len(self.ended) if self.ended else 1.0

    def summary(self) -> dict:
        leads = sorted(self.lead_min.values())
        return {
            "day": self.day.isoformat(),
            "ended_late_or_missed": len(self.ended),
            "warned_before_deadline": len(self.lead_min),
            "recall": round(self.recall, 4),
            "lead_min_median": round(median(leads), 1) if leads else None,
            "lead_min_min": round(leads[0], 1) if leads else None,
            "false_warnings": len(self.false_warnings),
            "warnings": len(self.warned_at),
        }


def measure(
    city: City, day: date, seed: int = 808, faults: Faults = FAULTS, step_s: int = 60, history_days: int = 1
) -> WarningReport:
    """``history_days``: honest days the core follows first, so each route's pace has a history."""
    core = Core(city)
    for k in range(history_days, 0, -1):
        _follow(core, city, day - timedelta(days=k), seed, Faults(), step_s, None)
    events, truth = simulate_day(city, day, seed, faults)
    t = truth.to_json()
    points = {p.id: p for p in city.collection_points}
    ended = {p: v["status"] for p, v in t["stops"].items() if v["status"] in ("late", "missed")}
    report = WarningReport(day, ended)
    _follow(core, city, day, seed, faults, step_s, report, events)
    for p, at in report.warned_at.items():
        deadline = window(points[p], day, city.timezone)[2]
        if p in ended and at < deadline:
            report.lead_min[p] = (deadline - at).total_seconds() / 60
        elif t["stops"][p]["status"] == "cleared":
            report.false_warnings.append(p)
    report.false_warnings.sort()
    return report


def _follow(core, city, day, seed, faults, step_s, report, events=None) -> None:  # noqa: ANN001
    """Feed a simulated day to the core in arrival order, evaluating it live every ``step_s``."""
    if events is None:
        events, _ = simulate_day(city, day, seed, faults)
    clock: datetime | None = None

    def step(now: datetime) -> None:
        for vs in core.take_visit_sets():
            core.on_visit_set(vs)
        out = core.evaluate(now, [day], live=True)
        for a in out.alerts if report is not None else ():
            if a.kind != "at_risk":
                continue
            if a.state == AlertState.raised:
                report.warned_at.setdefault(a.subject, a.at)
            else:
                report.resolved[a.subject] = a.message

    for topic, value in arrival_order(events):
        arrived = getattr(value, "received_at", None) or clock
        if arrived is not None:
            if clock is None:
                clock = arrived
            while clock + timedelta(seconds=step_s) <= arrived:
                clock += timedelta(seconds=step_s)
                step(clock)
        if topic == GPS_FIXES.name:
            core.on_fix(value)  # type: ignore[arg-type]
        elif topic == WEIGH_TICKETS.name:
            core.on_ticket(value)  # type: ignore[arg-type]
        elif topic == DEADLETTER.name:
            core.on_dead_letter(value)  # type: ignore[arg-type]
    assert clock is not None
    step(clock + timedelta(seconds=step_s))
