from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.geo import SiteIndex, haversine_m
from wastestream.domain.quality import is_late, silent, speed_jump
from wastestream.domain.scorecard import scorecard
from wastestream.schemas import Clearance as C


def test_scorecard_rates():
    sc = scorecard("C1", [C.cleared, C.cleared, C.late, C.missed], 12_000)
    assert (sc.due, sc.cleared, sc.late, sc.missed) == (4, 2, 1, 1)
    assert sc.clearance_rate == 0.75 and sc.on_time_rate == 0.5


def test_quality_rules():
    t = datetime(2026, 11, 23, 2, tzinfo=UTC)  # 10:00 Shanghai
    assert is_late(t, t + timedelta(minutes=6)) and not is_late(t, t + timedelta(seconds=20))
    assert speed_jump(31.0, 121.0, 0, 31.1, 121.0, 60)  # 11 km in a minute
    assert not speed_jump(31.0, 121.0, 0, 31.001, 121.0, 10)
    assert silent(t - timedelta(hours=1), t) and not silent(t - timedelta(minutes=5), t)
    assert not silent(None, datetime(2026, 11, 23, 15, tzinfo=UTC))  # 23:00 local: off shift


def test_site_index_matches_brute_force():
    import random

    from wastestream.domain.geo import Site
    from wastestream.schemas import Geofence

    rnd = random.Random(7)
    sites = [
        Site(
            f"P{i}",
            "point",
            Geofence(lat=31 + rnd.random() * 0.1, lon=121 + rnd.random() * 0.1, radius_m=rnd.choice([30, 60, 150])),
        )
        for i in range(400)
    ]
    idx = SiteIndex(sites, cluster_m=0)  # no clustering: compare with plain nearest-containing
    for _ in range(2000):
        lat, lon = 31 + rnd.random() * 0.1, 121 + rnd.random() * 0.1
        inside = [s for s in sites if haversine_m(lat, lon, s.fence.lat, s.fence.lon) <= s.fence.radius_m]
        got = idx.locate(lat, lon)
        if not inside:
            assert got is None
        else:
            assert got is not None and got == min(inside, key=lambda s: haversine_m(lat, lon, s.fence.lat, s.fence.lon))


def test_overlapping_fences_prefer_the_vehicles_contractor():
    from wastestream.domain.geo import Site
    from wastestream.schemas import Geofence

    own = Site("P-own", "point", Geofence(lat=31.0, lon=121.0, radius_m=40), "C1")
    other = Site("P-other", "point", Geofence(lat=31.00002, lon=121.0, radius_m=40), "C2")  # ~2 m away
    idx = SiteIndex([own, other])
    at_other = (31.00002, 121.0)
    assert idx.locate(*at_other) == other  # no contractor given: nearest
    assert idx.locate(*at_other, contractor="C1") == own
    assert idx.locate(*at_other, contractor="C2") == other
    assert idx.locate(*at_other, contractor="C9") == other  # neither is its own: nearest


def test_side_by_side_points_of_one_contractor_are_one_stop():
    from wastestream.domain.geo import Site
    from wastestream.schemas import Geofence

    a = Site("P-a", "point", Geofence(lat=31.0, lon=121.0, radius_m=40), "C1")
    b = Site("P-b", "point", Geofence(lat=31.00003, lon=121.0, radius_m=40), "C1")  # ~3 m
    c = Site("P-c", "point", Geofence(lat=31.00003, lon=121.00001, radius_m=40), "C2")  # other contractor
    far = Site("P-far", "point", Geofence(lat=31.001, lon=121.0, radius_m=40), "C1")  # ~110 m
    idx = SiteIndex([a, b, c, far])
    assert idx.members[idx.representative("P-b")] == ["P-a", "P-b"]
    assert idx.representative("P-c") == "P-c" and idx.representative("P-far") == "P-far"
    assert set(idx.members) == {"P-a"}  # only clusters of two or more are listed
    assert idx.locate(31.00003, 121.0, contractor="C1").id == "P-a"


def test_site_index_polygon_fences_and_cells_on_both_sides_of_zero():
    from wastestream.domain.geo import Site
    from wastestream.schemas import Geofence

    # a 0.01° square station straddling cell boundaries, and a circle west of Greenwich / south of the equator
    square = [(120.995, 30.995), (121.005, 30.995), (121.005, 31.005), (120.995, 31.005)]
    st = Site("S1", "station", Geofence(lat=31.0, lon=121.0, radius_m=1, polygon=square))
    west = Site("P-w", "point", Geofence(lat=-0.0001, lon=-0.0001, radius_m=40))
    idx = SiteIndex([st, west])
    assert idx.locate(31.0049, 120.9951) == st  # inside the square, far outside the 1 m circle
    assert idx.locate(31.0051, 121.0) is None
    assert idx.locate(0.0001, 0.0001) == west  # ~31 m away, across both zero lines
    assert idx.locate(0.0003, 0.0003) is None


def test_gcj02_offset_in_china_and_none_outside():
    from wastestream.domain.datum import gcj02

    lat, lon = gcj02(31.23, 121.47)  # Shanghai: the published offset is a few hundred metres
    assert 100 < haversine_m(31.23, 121.47, lat, lon) < 800
    assert gcj02(51.5, -0.12) == (51.5, -0.12)  # London: unchanged


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.tuples(st.floats(3.8, 53.6), st.floats(73.6, 135.1)),  # China's box (and its edges)
        st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    )
)
def test_gcj02_through_the_c_extension_equals_the_scalar_conversion(pos):
    """gcj02 sends a sequence of one pair (the package's C extension); its scalar call (pure Python)
    gives the same floats, inside China and out."""
    import coordTransform

    from wastestream.domain.datum import gcj02

    lat, lon = pos
    lon2, lat2 = coordTransform.wgs84_to_gcj02(lon, lat)
    assert gcj02(lat, lon) == (lat2, lon2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 120), st.sampled_from(["C1", "C2"])), min_size=1, max_size=40
    )
)
def test_grid_clusters_equal_all_pairs_clustering(spots):
    """Clustering through the grid's neighbour cells gives the clusters that comparing every pair
    gives (points ~0.5 m apart on a grid straddling cell edges)."""
    from wastestream.domain.geo import Site, haversine_m
    from wastestream.schemas import Geofence

    sites = [
        Site(f"P{i:03d}", "point", Geofence(lat=30.9998 + y * 5e-6, lon=121.0018 + x * 5e-6, radius_m=30), c)
        for i, (x, y, c) in enumerate(spots)
    ]
    idx = SiteIndex(sites)
    parent = {s.id: s.id for s in sites}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a in sites:
        for b in sites:
            if (
                a.contractor_id == b.contractor_id
                and haversine_m(a.fence.lat, a.fence.lon, b.fence.lat, b.fence.lon) <= 15
            ):
                ra, rb = sorted((find(a.id), find(b.id)))
                parent[rb] = ra
    assert {s.id: idx.representative(s.id) for s in sites} == {s.id: find(s.id) for s in sites}
