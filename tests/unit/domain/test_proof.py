"""Proof of service of one point-day: the deciding visit with its fixes, catch-up visits after the
deadline, and each vehicle's closest approach."""

from datetime import UTC, date, datetime, time, timedelta

from wastestream.domain.proof import SeenFix, SeenVisit, proof_of_service, to_geojson
from wastestream.schemas import CollectionPoint, Geofence

POINT = CollectionPoint(
    id="P1",
    name="甲",
    contractor_id="C1",
    geofence=Geofence(lat=31.2, lon=121.4, radius_m=40),
    service_start=time(6),
    service_end=time(9),
    deadline=time(12),
)
DAY = date(2026, 11, 23)
SH0 = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai on DAY
NOW = SH0 + timedelta(days=1)


def at(h, m=0):
    return SH0 + timedelta(hours=h, minutes=m)


def track(vehicle, h0, m0, minutes, lat, lon, speed=0.0):
    return [SeenFix(vehicle, at(h0, m0) + timedelta(seconds=30 * i), lat, lon, speed) for i in range(minutes * 2)]


def test_the_deciding_visit_its_fixes_and_the_closest_approach():
    visits = [SeenVisit("V2", at(7, 10), at(7, 14)), SeenVisit("V1", at(8, 0), at(8, 3))]
    fixes = (
        track("V2", 7, 0, 30, 31.2, 121.4)  # 07:00-07:30, standing at the point
        + track("V1", 7, 50, 20, 31.2001, 121.4001)
        + track("V3", 7, 0, 60, 31.21, 121.41, speed=30)  # another truck, ~1.4 km away
    )
    p = proof_of_service(POINT, DAY, "Asia/Shanghai", visits, fixes, NOW)
    assert p["status"] == "cleared"
    s = p["service"]
    assert (s["vehicle"], s["arrival"], s["dwell_s"]) == ("V2", at(7, 10).isoformat(), 240.0)
    times = [datetime.fromisoformat(f["t"]) for f in s["fixes"]]
    assert min(times) == at(7, 5) and max(times) == at(7, 19)  # 5 min either side of the visit
    assert p["catch_up"] == []
    assert list(p["closest_approach"]) == ["V2", "V1", "V3"]  # nearest first
    assert p["closest_approach"]["V2"]["distance_m"] == 0
    assert 1300 < p["closest_approach"]["V3"]["distance_m"] < 1500


def test_a_missed_point_keeps_its_catch_up_visit_and_the_trucks_that_came_near():
    visits = [SeenVisit("V1", at(14, 0), at(14, 5))]  # after the 12:00 deadline: 补收
    fixes = track("V1", 8, 0, 10, 31.2009, 121.4, speed=35) + track("V1", 14, 0, 5, 31.2, 121.4)
    p = proof_of_service(POINT, DAY, "Asia/Shanghai", visits, fixes, NOW)
    assert p["status"] == "missed" and p["service"] is None
    assert p["catch_up"] == [{"vehicle": "V1", "arrival": at(14, 0).isoformat(), "departure": at(14, 5).isoformat()}]
    assert p["closest_approach"]["V1"]["distance_m"] == 0  # it did come, at 14:00
    g = to_geojson(p, fixes)
    kinds = [f["properties"]["kind"] for f in g["features"]]
    assert kinds == ["point", "track"]
    assert g["features"][0]["geometry"]["coordinates"] == [121.4, 31.2]
