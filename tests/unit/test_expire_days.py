"""Dropping the core's working copies of a day (as the worker does when a new day starts) changes
no figure: a late fix of that day rebuilds its track from the stores."""

from datetime import date, timedelta

from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.core import Core
from wastestream.stream_processors.eventfiles import read_events
from wastestream.stream_processors.recompute import recompute_events

DAY = date(2026, 11, 16)


def test_expiring_working_copies_changes_no_figure(tmp_path):
    city = build_city(808)
    write_offline(city, DAY, 808, Faults(missed_stops=2, dropouts=1), tmp_path)
    fixes = list(read_events(tmp_path, "gps.fixes"))
    events = [("gps.fixes", f, f"gps.fixes:{i}") for i, f in enumerate(fixes)]
    whole = recompute_events(city, events)

    core = Core(city)
    half = len(fixes) // 2
    for f in fixes[:half]:
        core.on_fix(f)
    assert core._tracks  # the day's tracks are held
    core.expire_days(DAY + timedelta(days=1))
    assert not core._tracks and not core._planned_stops and not core._risk_checked
    for f in fixes[half:]:
        core.on_fix(f)
    for vs in core.take_visit_sets():
        core.on_visit_set(vs)
    assert whole.watermark is not None
    core.evaluate(whole.watermark, [DAY])
    again = {tuple(r.tags): dict(r.fields) for rec in core.figures() for r in rec if r.measurement == "clearance"}
    assert again == {tuple(r.tags): dict(r.fields) for r in whole.select("clearance")}
    assert len(again) == len(city.collection_points)
