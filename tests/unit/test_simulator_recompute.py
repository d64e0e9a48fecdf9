"""The seed city and its simulated day: published figures, determinism, and the offline core
reproducing the simulator's ground truth exactly."""

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults, simulate_day
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.recompute import recompute

DAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def city():
    return build_city(808)


@pytest.fixture(scope="module")
def offline_day(city, tmp_path_factory):
    d = tmp_path_factory.mktemp("simday")
    truth, counts = write_offline(city, DAY, 808, Faults.demo(), d)
    return d, truth.to_json(), counts


def test_seed_city_matches_published_figures(city):
    assert len(city.contractors) == 10
    assert len(city.stations) == 17
    assert len(city.routes) == 54
    assert sum(p.timed_stop for p in city.collection_points) == 94
    planned = sum(p.expected_kg for p in city.collection_points)
    assert abs(planned - 1_289_000) / 1_289_000 < 0.01


def test_simulated_daily_tonnage_within_5_percent(offline_day):
    _, truth, _ = offline_day
    assert abs(truth["tonnage_in_total_kg"] - 1_289_000) / 1_289_000 < 0.05


def test_same_seed_same_output(city):
    a = simulate_day(city, DAY, 1, Faults.demo())
    b = simulate_day(city, DAY, 1, Faults.demo())
    assert a[1].to_json() == b[1].to_json()
    assert [(e.deliver_at, e.kind, e.fix, e.ticket) for e in a[0]] == [
        (e.deliver_at, e.kind, e.fix, e.ticket) for e in b[0]
    ]
    c = simulate_day(city, DAY, 2, Faults.demo())
    assert c[1].to_json() != a[1].to_json()


def test_faults_show_in_truth(offline_day):
    _, truth, counts = offline_day
    assert truth["status_counts"]["missed"] >= 4  # driven past without stopping
    assert truth["status_counts"]["late"] > 0  # the late truck
    assert truth["counts"]["tickets_sent"] == truth["counts"]["tickets_unique"] + 5
    assert truth["counts"]["backfilled_fixes"] > 0
    assert counts["gps.fixes"] == truth["counts"]["fixes"]
    assert counts["deadletter"] == 3 + 1  # junk frames, an unregistered terminal's registration


def test_recompute_equals_ground_truth(city, offline_day):
    d, truth, _ = offline_day
    res = recompute(city, d)
    statuses = {dict(r.tags)["point"]: dict(r.fields)["status"] for r in res.select("clearance")}
    assert statuses == {p: s["status"] for p, s in truth["stops"].items()}
    tonnage: dict[str, float] = defaultdict(float)
    for r in res.select("tonnage"):
        t = dict(r.tags)
        if t["direction"] == "in":
            tonnage[f"{t['station']}|{t['vehicle']}|{t['contractor']}|{t['waste_stream']}"] += dict(r.fields)["net_kg"]
    assert dict(tonnage) == truth["tonnage_in"]
    out = {dict(r.tags)["station"]: dict(r.fields)["transferred_kg"] for r in res.select("station_balance")}
    assert out == truth["transferred_out"]


def test_the_workers_compact_city_gives_the_same_figures(city, offline_day):
    """The worker holds the city as compact views (schemas/compact.py): the core over them writes
    exactly the records it writes over the pydantic models."""
    from wastestream.schemas.compact import compact_city

    d, _, _ = offline_day
    full, small = recompute(city, d), recompute(compact_city(city), d)
    assert len(full.records) > 1000
    assert small.records == full.records


def test_station_left_with_backlog_is_flagged(city, offline_day):
    d, truth, _ = offline_day
    res = recompute(city, d)
    flagged = [dict(r.tags)["station"] for r in res.select("station_balance") if not dict(r.fields)["cleared_same_day"]]
    assert len(flagged) == 1  # Faults.demo() leaves one station with 30% of its waste


def test_truth_file_written(offline_day):
    d, truth, _ = offline_day
    assert json.loads((Path(d) / "truth.json").read_text()) == truth


def test_recompute_flags_ghost_tickets_and_silent_terminals_as_the_truth_says(city, offline_day):
    d, truth, _ = offline_day
    res = recompute(city, d)
    got: dict[str, dict[str, int]] = defaultdict(dict)
    for r in res.select("data_quality"):
        t = dict(r.tags)
        if dict(r.fields)["count"]:
            got[t["kind"]][t["detail"]] = dict(r.fields)["count"]
    assert truth["tickets_without_dwell"] and got["ticket_no_station_dwell"] == truth["tickets_without_dwell"]
    assert truth["silent_terminals"] and got["silent_terminal"] == truth["silent_terminals"]
    assert truth["dark_terminals"] and got["dark_terminal"] == truth["dark_terminals"]
    unknown = {dict(r.tags)["terminal"]: dict(r.fields)["count"] for r in res.select("unknown_terminals")}
    assert truth["unknown_terminals"] and unknown == truth["unknown_terminals"]


def test_incremental_clearance_evaluation_equals_deciding_every_point_each_time(city, offline_day):
    """The worker decides a point again only when its evidence changed or its deadline passed;
    after every step of a simulated day that gives the same statuses as deciding all points."""
    from wastestream.stream_processors.core import Core
    from wastestream.stream_processors.eventfiles import read_events

    d, _, _ = offline_day
    inc, full = Core(city), Core(city)
    wm = None
    for i, fix in enumerate(read_events(d, "gps.fixes"), 1):
        wm = fix.device_time if wm is None or fix.device_time > wm else wm
        for core in (inc, full):
            core.on_fix(fix)
        if i % 1500 == 0:
            for core, scope in ((inc, "partition-0"), (full, object())):
                for vs in core.take_visit_sets():
                    core.on_visit_set(vs)
                core.evaluate(wm, [DAY], scope=scope)
            assert dict(inc.s.statuses) == dict(full.s.statuses)
    assert any(v[0] == "missed" for v in inc.s.statuses.values())
