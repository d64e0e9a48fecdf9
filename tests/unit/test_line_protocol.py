"""The sink's own line-protocol encoder against influxdb-client's Point, over generated records."""

from __future__ import annotations

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
    assert sink._lines(recs) == {
        "main": b"m v=1i 1795392000\nm v=2i 1795392000",
        "contractor-c01": b"m v=1i 1795392000",
    }


class _Refused(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(body)
        self.status, self.body = status, body


def _sink_failing_with(errors: list[Exception]) -> tuple[InfluxSink, list[int]]:
    sink = InfluxSink.__new__(InfluxSink)  # no client: only the retry policy is under test
    sink.retries, sink.refused_writes = 3, 0
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
