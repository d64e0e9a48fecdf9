"""A bigger city from the simulator (``build_city(districts=K)``, issue 21's day of ≥ 2·10⁶ fixes):
the first district is the seed district unchanged, the others are whole districts of their own,
and the offline core reproduces the simulated day's ground truth over all of them."""

from collections import defaultdict
from datetime import date

import pytest

from wastestream.producers.simulator.city import DISTRICT_SPACING_M, build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.recompute import recompute

DAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def city3():
    return build_city(808, districts=3)


def test_the_first_district_is_the_seed_district(city3):
    seed = build_city(808)
    ids = {v.id for v in seed.vehicles}
    assert [v for v in city3.vehicles if v.id in ids] == seed.vehicles
    assert [p for p in city3.collection_points if p.id in {q.id for q in seed.collection_points}] == (
        seed.collection_points
    )
    assert [s for s in city3.stations if s.id in {q.id for q in seed.stations}] == seed.stations
    assert [r for r in city3.routes if r.id in {q.id for q in seed.routes}] == seed.routes


def test_every_district_is_whole_and_its_ids_unique(city3):
    seed = build_city(808)
    for attr in ("vehicles", "collection_points", "stations", "routes"):
        items = getattr(city3, attr)
        assert len(items) == 3 * len(getattr(seed, attr))
        assert len({x.id for x in items}) == len(items), attr
    assert len({v.terminal_id for v in city3.vehicles}) == len(city3.vehicles)
    assert len({v.plate for v in city3.vehicles}) == len(city3.vehicles)
    routes = {r.id: r for r in city3.routes}
    for p in city3.collection_points:  # a district's points belong to its own routes and stations
        prefix = p.id[: p.id.index("P")]
        assert p.route_id.startswith(prefix) and routes[p.route_id].station_id.startswith(prefix)
    prefixed = {r.vehicle_id[:4] for r in city3.routes if r.vehicle_id.startswith("D")}
    assert prefixed == {"D002", "D003"}


def test_districts_lie_apart(city3):
    """Every site of every district (all points and stations, not a sample) lies in a box that is
    at least a tenth of the spacing (3 km) from every other district's box, north-south or
    east-west: fences of at most a few hundred metres never reach across, a fix is never in two."""
    import math
    from itertools import combinations

    def district(site_id: str) -> str:
        return site_id[:4] if site_id.startswith("D") else "D001"

    boxes: dict[str, list[float]] = {}
    for site_id, fence in [(p.id, p.geofence) for p in city3.collection_points] + [
        (st.id, st.geofence) for st in city3.stations
    ]:
        assert fence.radius_m < 500
        box = boxes.setdefault(district(site_id), [fence.lat, fence.lat, fence.lon, fence.lon])
        box[:] = [min(box[0], fence.lat), max(box[1], fence.lat), min(box[2], fence.lon), max(box[3], fence.lon)]
    assert sorted(boxes) == ["D001", "D002", "D003"]
    m_per_deg = 111_195.0
    for a, b in combinations(boxes.values(), 2):
        gap_ns = max(a[0] - b[1], b[0] - a[1]) * m_per_deg
        gap_ew = max(a[2] - b[3], b[2] - a[3]) * m_per_deg * math.cos(math.radians(max(a[1], b[1])))
        assert max(gap_ns, gap_ew) > DISTRICT_SPACING_M / 10


def test_recompute_of_a_three_district_day_equals_its_ground_truth(city3, tmp_path):
    truth, counts = write_offline(city3, DAY, 808, Faults.demo(), tmp_path)
    t = truth.to_json()
    assert counts["gps.fixes"] > 2.5 * 27_000  # three districts' trucks
    res = recompute(city3, tmp_path)
    statuses = {dict(r.tags)["point"]: dict(r.fields)["status"] for r in res.select("clearance")}
    assert statuses == {p: s["status"] for p, s in t["stops"].items()}
    assert len(statuses) == len(city3.collection_points)
    tonnage: dict[str, float] = defaultdict(float)
    for r in res.select("tonnage"):
        tags = dict(r.tags)
        if tags["direction"] == "in":
            key = f"{tags['station']}|{tags['vehicle']}|{tags['contractor']}|{tags['waste_stream']}"
            tonnage[key] += dict(r.fields)["net_kg"]
    assert dict(tonnage) == t["tonnage_in"]
    assert {s[:4] for s in t["transferred_out"]} >= {"D002", "D003"}  # every district's stations ship out
    out = {dict(r.tags)["station"]: dict(r.fields)["transferred_kg"] for r in res.select("station_balance")}
    assert out == t["transferred_out"]


def test_districts_must_be_at_least_one():
    with pytest.raises(ValueError, match="districts"):
        build_city(808, districts=0)
