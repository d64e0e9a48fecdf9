"""Complaints: the API (a dispatcher token; 4xx naming the field; a case id names one case) and the
verdict rule (served before / not served → catch-up order / no point here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from wastestream.domain.complaints import judge, match, minutes_to_resolve
from wastestream.domain.proof import SeenVisit
from wastestream.producers.simulator.city import build_city
from wastestream.producers.sinks import MemorySink
from wastestream.producers.weighbridge import create_app
from wastestream.schemas.complaints import Complaint
from wastestream.topics import COMPLAINTS, DEADLETTER

CITY = build_city(808)
P = CITY.collection_points[0]
NOW = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
TOKEN = "dispatch-test-token"


@pytest.fixture
def api():
    sink = MemorySink()
    app = create_app(CITY, sink, {}, clock=lambda: NOW, dispatch_tokens={TOKEN: "dispatch"})
    return TestClient(app), sink


def case(**kw) -> dict:
    return {
        "case_id": "12345-20261116-0001",
        "reported_at": (NOW - timedelta(hours=1)).isoformat(),
        "point_id": P.id,
        "category": "not_collected",
        "source": "12345",
        **kw,
    }


def post(client, body, token=TOKEN):
    return client.post("/v1/complaints", json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_case_is_accepted_once_and_a_resend_is_a_duplicate(api):
    client, sink = api
    r = post(client, case())
    assert r.status_code == 201 and r.json() == {"case_id": "12345-20261116-0001", "status": "accepted"}
    (stored,) = sink.values(COMPLAINTS.name)
    assert stored.point_id == P.id and stored.received_at == NOW
    assert post(client, case()).json()["status"] == "duplicate"
    assert len(sink.values(COMPLAINTS.name)) == 1


def test_refusals_name_the_field_and_are_dead_lettered(api):
    client, sink = api
    assert post(client, case(), token="nope").status_code == 401
    cases = [
        (case(point_id="P9999"), 422, "point_id"),
        (case(point_id=None, location={"lat": 39.9, "lon": 116.4}), 422, "location"),  # Beijing: not this city
        (case(reported_at=(NOW + timedelta(hours=2)).isoformat()), 422, "reported_at"),
        (case(reported_at="2026-11-16T11:00:00"), 422, "reported_at"),  # no time zone
        (case(category="noise"), 422, "category"),
        (case(case_id="bad id with spaces"), 422, "case_id"),
        ({k: v for k, v in case().items() if k != "point_id"}, 422, "(body)"),  # neither point nor location
    ]
    for body, status, field in cases:
        r = post(client, body)
        assert r.status_code == status, (body, r.text)
        assert field in [e["field"] for e in r.json()["detail"]], r.json()
    assert post(client, case()).status_code == 201
    r = post(client, case(category="overflow"))  # the same case id, another case
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "case_id"
    dead = sink.values(DEADLETTER.name)
    assert len(dead) == len(cases) + 1 and all(d.source == "complaints" for d in dead)
    assert bytes.fromhex(dead[0].raw_hex).startswith(b"{")  # the raw body, kept


def test_matching_by_point_or_nearest_within_reach():
    near = Complaint.model_validate(
        case(point_id=None, location={"lat": P.geofence.lat + 0.0003, "lon": P.geofence.lon})
    )
    assert match(near, CITY.collection_points).id == P.id
    far = Complaint.model_validate(case(point_id=None, location={"lat": P.geofence.lat + 0.05, "lon": 121.0}))
    assert match(far, CITY.collection_points) is None


def test_verdicts():
    tz = CITY.timezone
    c = Complaint.model_validate(case())
    at = c.reported_at
    served = [SeenVisit("V001", at - timedelta(hours=3), at - timedelta(hours=3) + timedelta(minutes=2))]
    o = judge(c, P, served, tz)
    assert (o.verdict, o.valid, o.served_at) == ("served_before", False, served[0].exit)
    o = judge(c, P, [], tz)
    assert (o.verdict, o.valid, o.resolved_at) == ("not_served", True, None)
    later = [SeenVisit("V002", at + timedelta(minutes=45), at + timedelta(minutes=48))]
    o = judge(c, P, later, tz)
    assert (o.verdict, o.valid, o.resolved_at) == ("not_served", True, later[0].enter)
    assert minutes_to_resolve(c, o) == 45.0
    yesterday = [SeenVisit("V001", at - timedelta(days=1), at - timedelta(days=1) + timedelta(minutes=2))]
    assert judge(c, P, yesterday, tz).verdict == "not_served"  # yesterday's service is not today's
    assert judge(c, None, served, tz).verdict == "no_point"
