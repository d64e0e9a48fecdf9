"""`wastestream recompute`: the same core as the worker, run offline over event files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from wastestream.schemas import City
from wastestream.stream_processors.core import Core, Output, Record
from wastestream.stream_processors.eventfiles import read_events

from wastestream.domain.localtime import local_date
from wastestream.topics import DEADLETTER, GPS_FIXES, WEIGH_TICKETS


@dataclass
class Result:
    records: dict[tuple, Record] = field(default_factory=dict)  # latest value per series
    watermark: datetime | None = None
    days: list[date] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, out: Output) -> None:
        for r in out.records:
            self.records[r.series] = r

    def select(self, measurement: str) -> list[Record]:
        return [r for r in self.records.values() if r.measurement == measurement]


def recompute(
    city: City,
    directory: Path,
    only_date: date | None = None,
    progress: Callable[[str, int], None] = lambda what, n: None,
) -> Result:
    core = Core(city)
    res = Result()
    days: set[date] = set()
    wm: datetime | None = None
    n = 0
    for fix in read_events(directory, GPS_FIXES.name):
        d = local_date(fix.device_time, city.timezone)
        if only_date is not None and d != only_date:
            continue
        days.add(d)
        wm = fix.device_time if wm is None or fix.device_time > wm else wm
        res.add(core.on_fix(fix))
        n += 1
        if n % 5000 == 0:
            progress("fixes", n)
    for vs in core.take_visit_sets():
        res.add(core.on_visit_set(vs))
    res.counts["fixes"] = n
    k = 0
    for t in read_events(directory, WEIGH_TICKETS.name):
        d = local_date(t.weigh_in_at, city.timezone)
        if only_date is not None and d != only_date:
            continue
        days.add(d)
        wm = t.weigh_out_at if wm is None or t.weigh_out_at > wm else wm
        res.add(core.on_ticket(t, f"{WEIGH_TICKETS.name}:{k}"))
        k += 1
    res.counts["tickets"] = k
    dl = 0
    for d_letter in read_events(directory, DEADLETTER.name):
        if only_date is not None and local_date(d_letter.received_at, city.timezone) != only_date:
            continue
        res.add(core.on_dead_letter(d_letter, f"{DEADLETTER.name}:{dl}"))
        dl += 1
    res.counts["dead_letters"] = dl
    if wm is not None:
        wm_day = local_date(wm, city.timezone)
        eval_days = sorted(d for d in days if wm_day - timedelta(days=1) <= d <= wm_day)
        res.add(core.evaluate(wm, eval_days))
        res.days = eval_days
    res.watermark = wm
    return res
