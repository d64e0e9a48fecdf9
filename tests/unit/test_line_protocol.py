"""The sink's own line-protocol encoder against influxdb-client's Point, over generated records."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from wastestream.stream_processors.records import Record
from wastestream.stream_processors.sink import InfluxSink, line_protocol

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    names,
)
times = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)


@st.composite
def records(draw) -> Record:  # noqa: ANN001
    tags = draw(st.dictionaries(names, st.one_of(st.none(), names), max_size=4))
    fields = draw(st.dictionaries(names, values, max_size=5))
    return Record(draw(names.filter(bool)), tuple(tags.items()), tuple(fields.items()), draw(times))


def point_line(r: Record) -> str:
    p = Point(r.measurement)
    for k, v in r.tags:
        p = p.tag(k, v)
    for k, v in r.fields:
        p = p.field(k, v)
    return p.time(r.time, WritePrecision.S).to_line_protocol()


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # Point warns of a measurement ending in a backslash
@settings(max_examples=1500)
@given(records())
def test_same_text_as_influxdb_client_point(r: Record) -> None:
    assert line_protocol(r) == point_line(r)


@pytest.mark.parametrize(
    ("record", "line"),
    [
        (
            Record(
                "positions",
                (("contractor", "C01"), ("vehicle", "沪A 1,2")),
                (("backfill", False), ("lat", 31.2), ("site", 'P "x"'), ("speed_kmh", 36.0)),
                datetime(2026, 11, 23, 8, 0, 5, 900_000, tzinfo=UTC),
            ),
            'positions,contractor=C01,vehicle=沪A\\ 1\\,2 backfill=false,lat=31.2,site="P \\"x\\"",speed_kmh=36 '
            "1795420805",
        ),
        (
            Record(
                "tonnage",
                (("contractor", ""), ("station", "S=1\\")),
                (("net_kg", 5), ("tickets", None)),
                datetime(2026, 11, 23, tzinfo=timezone(timedelta(hours=8))),
            ),
            "tonnage,station=S\\=1\\  net_kg=5i 1795363200",
        ),
        (Record("x", (), (("v", float("nan")),), datetime(2026, 1, 1, tzinfo=UTC)), ""),
    ],
)
def test_known_lines(record: Record, line: str) -> None:
    """Escaping, an empty tag left out, a whole float without '.0', ints with 'i', second precision."""
    assert line_protocol(record) == line == point_line(record)


def test_contractor_records_also_go_to_the_contractor_bucket() -> None:
    sink = InfluxSink.__new__(InfluxSink)  # no client: only the body building is under test
    sink.s = type("S", (), {"influx_bucket": "main"})()
    sink.contractor_buckets = {"C01": "contractor-c01"}
    t = datetime(2026, 11, 23, tzinfo=UTC)
    recs = [
        Record("m", (), (("v", 1),), t, "C01"),
        Record("m", (), (("v", 2),), t, "C99"),
        Record("m", (), (("v", None),), t, "C01"),
    ]
    sink.batch_size = 5000
    assert sink._bodies(recs) == [
        ("main", b"m v=1i 1795392000\nm v=2i 1795392000"),
        ("contractor-c01", b"m v=1i 1795392000"),
    ]


class _FakeWriteApi:
    """influxdb-client's write API as far as InfluxSink uses it: the bodies it was given, per bucket."""

    def __init__(self, fail_bucket: str | None = None) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.fail_bucket = fail_bucket

    def write(self, bucket: str, org: str, record: bytes, write_precision: str) -> None:
        assert write_precision == "s"
        if bucket == self.fail_bucket:
            raise ConnectionError(f"{bucket}: down")
        with self.lock:
            self.got.append((bucket, record))


def _sink(concurrency: int, batch_size: int, api: _FakeWriteApi) -> InfluxSink:
    sink = InfluxSink.__new__(InfluxSink)  # no client: the bodies and how they are sent are under test
    sink.s = type("S", (), {"influx_bucket": "main", "influx_org": "o"})()
    sink.contractor_buckets = {f"C{i:02d}": f"contractor-c{i:02d}" for i in range(1, 4)}
    sink._ensured = {"main", *sink.contractor_buckets.values()}
    sink.batch_size, sink.concurrency, sink.retries, sink.refused_writes = batch_size, concurrency, 0, 0
    sink._refused_lock, sink._pool, sink.api = threading.Lock(), None, api
    return sink


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_every_line_is_sent_once_per_bucket_in_bodies_of_at_most_batch_size(concurrency) -> None:
    t = datetime(2026, 11, 23, tzinfo=UTC)
    recs = [Record("m", (("i", str(i)),), (("v", i),), t, f"C{i % 4:02d}") for i in range(1, 1001)]  # C00: none
    api = _FakeWriteApi()
    sink = _sink(concurrency, 64, api)
    sink.write(recs)
    assert all(len(body.split(b"\n")) <= 64 for _, body in api.got)
    lines: dict[str, list[bytes]] = {}
    for bucket, body in api.got:
        lines.setdefault(bucket, []).extend(body.split(b"\n"))
    want = {line_protocol(r).encode() for r in recs}
    assert sorted(lines["main"]) == sorted(want)  # every record once in the main bucket
    for c in ("C01", "C02", "C03"):
        mine = {line_protocol(r).encode() for r in recs if r.bucket_contractor == c}
        assert sorted(lines[f"contractor-{c.lower()}"]) == sorted(mine)  # and once in its contractor's
    assert set(lines) == {"main", "contractor-c01", "contractor-c02", "contractor-c03"}
    if sink._pool is not None:
        sink._pool.shutdown()


def test_a_failed_body_fails_the_write_after_every_other_request_ended() -> None:
    t = datetime(2026, 11, 23, tzinfo=UTC)
    recs = [Record("m", (("i", str(i)),), (("v", i),), t, f"C{1 + i % 3:02d}") for i in range(300)]
    api = _FakeWriteApi(fail_bucket="contractor-c02")
    sink = _sink(4, 100, api)
    with pytest.raises(ConnectionError, match="contractor-c02"):
        sink.write(recs)  # the caller keeps the records and writes them all again (an overwrite)
    assert {b for b, _ in api.got} == {"main", "contractor-c01", "contractor-c03"}
    sink._pool.shutdown()


class _Refused(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(body)
        self.status, self.body = status, body


def _sink_failing_with(errors: list[Exception]) -> tuple[InfluxSink, list[int]]:
    sink = InfluxSink.__new__(InfluxSink)  # no client: only the retry policy is under test
    sink.retries, sink.refused_writes, sink._refused_lock = 3, 0, threading.Lock()
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        if errors:
            raise errors.pop(0)

    return sink, calls, attempt  # type: ignore[return-value]


def test_a_partial_write_is_not_retried_and_a_transient_failure_is(monkeypatch) -> None:
    import wastestream.stream_processors.sink as sink_mod

    monkeypatch.setattr(sink_mod.time, "sleep", lambda s: None)
    conflict = _Refused(422, '{"code":"unprocessable entity","message":"partial write: field type conflict"}')
    sink, calls, attempt = _sink_failing_with([conflict])
    sink._retry(attempt)
    assert len(calls) == 1 and sink.refused_writes == 1  # written in part; the rest would be refused forever
    sink, calls, attempt = _sink_failing_with([_Refused(503, "unavailable"), _Refused(400, "unable to parse")])
    sink._retry(attempt)
    assert len(calls) == 3 and sink.refused_writes == 0  # retried until it went through
