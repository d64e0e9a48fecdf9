"""`wastestream recompute`: the same core as the worker, run offline over event files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from wastestream.domain.localtime import local_date
from wastestream.schemas import City, DeadLetter
from wastestream.stream_processors.core import Core, Output
from wastestream.stream_processors.eventfiles import read_events
from wastestream.stream_processors.records import Record
from wastestream.topics import DEADLETTER, GPS_FIXES, VISITS, WEIGH_TICKETS


@dataclass
class Result:
    records: dict[tuple, Record] = field(default_factory=dict)  # latest value per series
    watermark: datetime | None = None
    days: list[date] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # the inputs the checks refused
    core: Core | None = field(default=None, repr=False, compare=False)  # the state it ended with

    def add(self, out: Output) -> None:
        records = self.records
        for r in out.records:
            records[r[0], r[1], r[3]] = r  # r.series, without the property call (once per fix)

    def select(self, measurement: str) -> list[Record]:
        return [r for r in self.records.values() if r.measurement == measurement]

    @property
    def rejected_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for dl in self.dead_letters:
            out[dl.detail["kind"]] = out.get(dl.detail["kind"], 0) + 1
        return dict(sorted(out.items()))


def recompute(
    city: City,
    directory: Path,
    only_date: date | None = None,
    progress: Callable[[str, int], None] = lambda what, n: None,
    core_options: dict | None = None,
) -> Result:
    """The worker's figures from event files (``<dir>/<topic>.jsonl``). With ``only_date``, events of
    other local days (by their own event time) are left out. ``core_options``: :class:`Core`'s
    keyword arguments (``Settings.core_options()``)."""
    tz = city.timezone

    def events() -> Iterator[tuple[str, Any, str]]:
        n = 0
        for fix in read_events(directory, GPS_FIXES.name):
            if only_date is None or local_date(fix.device_time, tz) == only_date:
                yield GPS_FIXES.name, fix, f"{GPS_FIXES.name}:{n}"
                n += 1
                if n % 5000 == 0:
                    progress("fixes", n)
        for k, t in enumerate(
            t
            for t in read_events(directory, WEIGH_TICKETS.name)
            if only_date is None or local_date(t.weigh_in_at, tz) == only_date
        ):
            yield WEIGH_TICKETS.name, t, f"{WEIGH_TICKETS.name}:{k}"
        for k, dl in enumerate(
            dl
            for dl in read_events(directory, DEADLETTER.name)
            if only_date is None or local_date(dl.received_at, tz) == only_date
        ):
            yield DEADLETTER.name, dl, f"{DEADLETTER.name}:{k}"

    return recompute_events(city, events(), core_options)


def recompute_events(city: City, events: Iterable[tuple[str, Any, str]], core_options: dict | None = None) -> Result:
    """The core over (topic, value, position) in that order: ``gps.fixes``, ``weigh.tickets``,
    ``visits`` and ``deadletter`` values, interleaved as they come. Every input goes through the
    core's checks: a refused one is counted under its kind and kept in ``Result.dead_letters`` (as
    the worker dead-letters it); only accepted events move the clock ("now" is the newest accepted
    event time) and select the days decided."""
    core = Core(city, **(core_options or {}))
    res = Result(core=core)
    days: set[date] = set()
    wm: datetime | None = None
    counts = dict.fromkeys(("fixes", "tickets", "dead_letters"), 0)

    handed: list = []  # deliveries, for the vehicles' side (the worker's deliveries topic)

    def take(out: Output, position: str) -> None:
        nonlocal wm
        res.add(out)
        handed.extend(out.deliveries)
        if out.day is not None:
            days.add(out.day)
        if out.event_time is not None and (wm is None or out.event_time > wm):
            wm = out.event_time
        for rej in out.rejected:  # as the worker's dead letters come back through its dead-letter agent
            dl = core.dead_letter(rej, None, position, source="recompute")
            res.dead_letters.append(dl)
            res.add(core.on_dead_letter(dl))

    for topic, value, position in events:
        if topic == GPS_FIXES.name:
            take(core.on_fix(value, position), position)
            counts["fixes"] += 1
        elif topic == WEIGH_TICKETS.name:
            take(core.on_ticket(value, position), position)
            counts["tickets"] += 1
        elif topic == VISITS.name:
            take(core.on_visit_set(value), position)
        else:
            res.add(core.on_dead_letter(value, position))
            counts["dead_letters"] += 1
    for vs in core.take_visit_sets():
        take(core.on_visit_set(vs), "")
    for d in handed:
        take(core.on_delivery(d), "")
    res.counts = {**counts, "rejected": len(res.dead_letters)}
    if wm is not None:
        wm_day = local_date(wm, city.timezone)
        eval_days = sorted(d for d in days if wm_day - timedelta(days=1) <= d <= wm_day)
        res.add(core.evaluate(wm, eval_days))
        res.days = eval_days
    res.watermark = wm
    return res
