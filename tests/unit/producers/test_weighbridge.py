"""Weighbridge API: validation (422 naming the field + a dead letter), duplicates, CSV, plates, tokens."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wastestream.producers.sinks import MemorySink
from wastestream.producers.weighbridge import create_app, normalise_plate
from wastestream.schemas import load_city

CITY = load_city(Path(__file__).resolve().parents[2] / "fixtures" / "city-small.yaml")
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer tok-s01"}


@pytest.fixture
def api():
    sink = MemorySink()
    app = create_app(CITY, sink, {"tok-s01": "S01"}, clock=lambda: NOW)
    return TestClient(app), sink


def good(**kw):
    t = {
        "station_id": "S01",
        "serial": "S01-0001",
        "plate": "沪A10001",
        "direction": "in",
        "waste_stream": "other",
        "gross_kg": 15500,
        "tare_kg": 9500,
        "net_kg": 6000,
        "weigh_in_at": "2026-11-23T09:00:00+08:00",
        "weigh_out_at": "2026-11-23T09:12:00+08:00",
    }
    t.update(kw)
    return t


def test_accepts_a_ticket_and_publishes_it(api):
    client, sink = api
    r = client.post("/v1/tickets", json=good(), headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"accepted": 1, "duplicate": 0, "rejected": 0}
    (t,) = sink.values("weigh.tickets")
    assert t.vehicle_id == "V001" and t.net_kg == 6000 and t.received_at == NOW
    assert sink.records["weigh.tickets"][0][0] == "S01"  # keyed by station


def test_duplicate_accepted_once(api):
    client, sink = api
    assert client.post("/v1/tickets", json=good(), headers=AUTH).status_code == 200
    r = client.post("/v1/tickets", json=[good(), good()], headers=AUTH)
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["duplicate", "duplicate"]
    assert len(sink.values("weigh.tickets")) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"net_kg": 5000}, "net_kg"),
        ({"gross_kg": 95000, "net_kg": 85500}, "gross_kg"),
        ({"tare_kg": -5, "net_kg": 15505}, "tare_kg"),
        ({"weigh_out_at": "2026-11-23T08:00:00+08:00"}, "weigh_out_at"),
        ({"weigh_in_at": "2026-11-23T09:00:00"}, "weigh_in_at"),  # no offset
        ({"weigh_in_at": "2026-11-24T09:00:00+08:00", "weigh_out_at": "2026-11-24T09:10:00+08:00"}, "weigh_in_at"),
        ({"station_id": "S99"}, "station_id"),
        ({"plate": "京B99999"}, "plate"),
        ({"direction": "sideways"}, "direction"),
        ({"waste_stream": "gold"}, "waste_stream"),
        ({"direction": "out"}, "destination"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_ticket_gets_422_naming_the_field_and_a_dead_letter(api, change, field):
    client, sink = api
    r = client.post("/v1/tickets", json=good(**change), headers=AUTH)
    assert r.status_code == 422, r.text
    (res,) = r.json()["results"]
    assert res["status"] == "rejected"
    assert field in [e["field"] for e in res["errors"]], res
    assert sink.values("weigh.tickets") == []
    (dl,) = sink.values("deadletter")
    assert dl.source == "weighbridge" and field in dl.reason
    assert bytes.fromhex(dl.raw_hex)  # the raw ticket is kept


def test_batch_accepts_good_and_rejects_bad(api):
    client, sink = api
    r = client.post("/v1/tickets", json=[good(), good(serial="S01-0002", net_kg=1)], headers=AUTH)
    assert r.status_code == 422
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    assert len(sink.values("weigh.tickets")) == 1 and len(sink.values("deadletter")) == 1


def test_not_json(api):
    client, sink = api
    r = client.post("/v1/tickets", content=b"{nope", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "(body)"
    assert len(sink.values("deadletter")) == 1


def test_tokens(api):
    client, _ = api
    assert client.post("/v1/tickets", json=good()).status_code == 401
    assert client.post("/v1/tickets", json=good(), headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_station_may_only_post_its_own_tickets():
    sink = MemorySink()
    city = CITY.model_copy(update={"stations": CITY.stations + [CITY.stations[0].model_copy(update={"id": "S02"})]})
    client = TestClient(create_app(city, sink, {"tok-s01": "S01"}, clock=lambda: NOW))
    r = client.post("/v1/tickets", json=good(station_id="S02"), headers=AUTH)
    assert r.status_code == 403 and "S02" in r.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("沪A10001", "沪A10001"), ("沪Ａ１０００１", "沪A10001"), ("沪a 100-01", "沪A10001"), (" 沪A·10001 ", "沪A10001")],
)
def test_plate_normalisation(raw, norm):
    assert normalise_plate(raw) == norm


def test_full_width_plate_is_matched(api):
    client, sink = api
    assert client.post("/v1/tickets", json=good(plate="沪Ａ １０００１"), headers=AUTH).status_code == 200
    assert sink.values("weigh.tickets")[0].plate == "沪A10001"


def test_csv_import_chinese_header_local_times(api):
    client, sink = api
    csv_text = (
        "站点,磅单号,车牌,方向,垃圾类别,毛重,皮重,净重,进站时间,出站时间,手工,存皮\n"
        "S01,C-1,沪A10001,进,其他垃圾,15500,9500,6000,2026-11-23 09:00:00,2026-11-23 09:12:00,否,否\n"
        "S01,C-2,沪A10002,进,厨余垃圾,11200,7200,4000,2026-11-23 10:00:00,2026-11-23 10:09:00,是,1\n"
    )
    r = client.post("/v1/tickets/csv", content=csv_text.encode(), headers={**AUTH, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    a, b = sink.values("weigh.tickets")
    assert a.weigh_in_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert b.waste_stream == "kitchen" and b.manual_weight and b.stored_tare


def test_csv_multipart_and_bad_rows(api):
    client, sink = api
    csv_text = (
        "station_id,serial,plate,direction,waste_stream,gross_kg,tare_kg,net_kg,weigh_in_at,weigh_out_at\n"
        "S01,M-1,沪A10001,in,other,15500,9500,6000,2026-11-23T09:00:00+08:00,2026-11-23T09:12:00+08:00\n"
        "S01,M-2,沪A10001,in,other,15500,9500,abc,2026-11-23T09:00:00+08:00,2026-11-23T09:12:00+08:00\n"
    )
    r = client.post("/v1/tickets/csv", files={"file": ("export.csv", csv_text, "text/csv")}, headers=AUTH)
    assert r.status_code == 422
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    assert r.json()["results"][1]["errors"][0]["field"] == "net_kg"


def test_csv_unknown_column(api):
    client, _ = api
    r = client.post("/v1/tickets/csv", content=b"station,what\nS01,x\n", headers={**AUTH, "content-type": "text/csv"})
    assert r.status_code == 422 and "unknown CSV column" in r.json()["detail"][0]["msg"]


def test_openapi_document(api):
    client, _ = api
    doc = client.get("/openapi.json").json()
    assert "/v1/tickets" in doc["paths"] and "/v1/tickets/csv" in doc["paths"]


HEADER = "station_id,serial,plate,direction,waste_stream,gross_kg,tare_kg,net_kg,weigh_in_at,weigh_out_at\n"
ROW = "S01,X-1,沪A10001,in,other,15500,9500,6000,2026-11-23T09:00:00+08:00,2026-11-23T09:12:00+08:00\n"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", "(csv)"),  # empty upload
        (HEADER.encode(), "(csv)"),  # a header and no rows
        (HEADER.replace(",net_kg", "").encode() + ROW.replace(",6000", "").encode(), "net_kg"),  # column missing
        (HEADER.encode() + ROW.replace("2026-11-23T09:00:00+08:00", "23/11/2026 9am").encode(), "weigh_in_at"),
        (HEADER.encode() + b"S01,X-2,only,three\n", "(csv)"),  # too few fields: "line 2: 4 fields, ..."
        (HEADER.encode() + ROW.replace("S01,", "S01,,", 1).encode(), "(csv)"),  # too many fields
        (b"\xff\xfe\x00garbage\x00", "(csv)"),  # not text at all (was a 500 before this test)
    ],
)
def test_malformed_csv_matrix_each_gets_a_4xx_naming_where(api, body, where):
    client, sink = api
    r = client.post("/v1/tickets/csv", content=body, headers={**AUTH, "content-type": "text/csv"})
    assert 400 <= r.status_code < 500, r.text
    j = r.json()
    named = [d.get("field") for d in j.get("detail", [])] + [
        e["field"] for x in j.get("results", []) for e in x.get("errors", [])
    ]
    assert where in named, j
    assert sink.values("weigh.tickets") == []


def test_gbk_encoded_export_is_read(api):
    """Weighbridge software in China often exports GBK: it is decoded, not rejected."""
    client, sink = api
    text = (
        "站点,磅单号,车牌,方向,垃圾类别,毛重,皮重,净重,进站时间,出站时间\n"
        "S01,G-1,沪A10001,进,其他垃圾,15500,9500,6000,2026-11-23 09:00:00,2026-11-23 09:12:00\n"
    )
    r = client.post("/v1/tickets/csv", content=text.encode("gbk"), headers={**AUTH, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert sink.values("weigh.tickets")[0].plate == "沪A10001"
