"""The weighbridge API under abuse: request size and rows per request are limited (413 naming the
limit), big batches are checked off the event loop (``/health`` answers meanwhile) and in linear
time, and the ticket rules are the domain's (the same the worker applies)."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from wastestream.domain.checks import InputRules
from wastestream.producers.sinks import MemorySink
from wastestream.producers.weighbridge import create_app
from wastestream.schemas import load_city

CITY = load_city(Path(__file__).resolve().parents[2] / "fixtures" / "city-small.yaml")
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer tok-s01"}
HEADER = "station_id,serial,plate,direction,waste_stream,gross_kg,tare_kg,net_kg,weigh_in_at,weigh_out_at\n"


def rows(n: int, start: int = 0) -> str:
    return "".join(
        f"S01,X-{i},沪A10001,in,other,15500,9500,6000,2026-11-23T09:00:00+08:00,2026-11-23T09:12:00+08:00\n"
        for i in range(start, start + n)
    )


def app(**kw):
    sink = MemorySink()
    return create_app(CITY, sink, {"tok-s01": "S01"}, clock=lambda: NOW, **kw), sink


def test_a_body_over_the_limit_gets_413_and_nothing_is_published():
    a, sink = app(max_body_bytes=10_000)
    client = TestClient(a)
    big = (HEADER + rows(200)).encode()
    assert len(big) > 10_000
    for path, ctype in (("/v1/tickets/csv", "text/csv"), ("/v1/tickets", "application/json")):
        r = client.post(path, content=big, headers={**AUTH, "content-type": ctype})
        assert r.status_code == 413, r.text
        assert r.json()["detail"][0]["field"] == "(body)" and "10,000 bytes" in r.json()["detail"][0]["msg"]
    assert sink.values("weigh.tickets") == []


def test_more_rows_than_the_limit_get_413():
    a, sink = app(max_rows=50)
    client = TestClient(a)
    r = client.post(
        "/v1/tickets/csv", content=(HEADER + rows(51)).encode(), headers={**AUTH, "content-type": "text/csv"}
    )
    assert r.status_code == 413 and "50 rows" in r.json()["detail"][0]["msg"]
    batch = [{"station_id": "S01"}] * 51
    r = client.post("/v1/tickets", json=batch, headers=AUTH)
    assert r.status_code == 413 and "at most 50" in r.json()["detail"][0]["msg"]
    r = client.post(
        "/v1/tickets/csv", content=(HEADER + rows(50)).encode(), headers={**AUTH, "content-type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["counts"]["accepted"] == 50
    assert len(sink.values("weigh.tickets")) == 50


def test_a_big_batch_with_duplicates_is_checked_once_per_row():
    """10,000 rows, each twice in the batch: every row is accepted once and answered as a duplicate
    once (the check inside the batch is a set, not a scan of what was accepted so far)."""
    a, sink = app(max_rows=20_000, max_body_bytes=20 * 1024 * 1024)
    client = TestClient(a)
    body = HEADER + rows(10_000) + rows(10_000)
    r = client.post("/v1/tickets/csv", content=body.encode(), headers={**AUTH, "content-type": "text/csv"})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["counts"] == {"accepted": 10_000, "duplicate": 10_000, "rejected": 0}
    assert len(sink.values("weigh.tickets")) == 10_000


def test_health_answers_while_a_big_batch_is_being_checked():
    """The batch is parsed and checked in a worker thread: /health is answered before it is done."""
    a, _ = app(max_rows=20_000, max_body_bytes=20 * 1024 * 1024)
    body = (HEADER + rows(20_000)).encode()
    order: list[str] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=a)
        async with httpx.AsyncClient(transport=transport, base_url="http://wb") as c:

            async def post() -> None:
                r = await c.post("/v1/tickets/csv", content=body, headers={**AUTH, "content-type": "text/csv"})
                assert r.status_code == 200
                order.append("batch")

            posting = asyncio.create_task(post())
            await asyncio.sleep(0.05)  # the batch is being read and checked
            r = await c.get("/health")
            assert r.status_code == 200
            order.append("health")
            await posting

    asyncio.run(main())
    assert order == ["health", "batch"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"net_kg": 6100}, "net_kg"),  # arithmetic
        ({"weigh_in_at": "2026-11-13T09:00:00+08:00", "weigh_out_at": "2026-11-13T09:10:00+08:00"}, "weigh_in_at"),
    ],
)
def test_the_api_refuses_what_the_domain_refuses(change, field):
    """Arithmetic and a weigh time older than the back-fill horizon (10 days before its receive time)."""
    from wastestream.domain.checks import ticket_problems
    from wastestream.producers.weighbridge import TicketIn

    a, sink = app(rules=InputRules())
    t = {
        "station_id": "S01",
        "serial": "A-1",
        "plate": "沪A10001",
        "direction": "in",
        "waste_stream": "other",
        "gross_kg": 15500,
        "tare_kg": 9500,
        "net_kg": 6000,
        "weigh_in_at": "2026-11-23T09:00:00+08:00",
        "weigh_out_at": "2026-11-23T09:12:00+08:00",
        **change,
    }
    r = TestClient(a).post("/v1/tickets", json=t, headers=AUTH)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["results"][0]["errors"]]
    assert [p.field for p in ticket_problems(TicketIn.model_validate(t), {"S01"}, InputRules(), NOW)] == [field]
