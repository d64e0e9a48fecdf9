"""gps.fixes topic contract 2: a value is one fix (an object) or a batch (an array of fixes).

Every fix of a batch is checked on its own: a bad one is refused with its place and bytes, the
others are kept; a batch that is no JSON array, empty, or longer than FIX_BATCH_MAX is refused whole.
Files carry batches the same way (a topic dump), and recompute gives the same figures either way.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.errors import WastestreamError
from wastestream.schemas import GpsFix, GpsFixBatch
from wastestream.schemas.events import FIX_BATCH_MAX, fix_batch_bytes, is_fix_batch, read_fix_value
from wastestream.stream_processors.eventfiles import read_events

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def fix(i: int, **kw) -> GpsFix:  # noqa: ANN003
    return GpsFix(
        vehicle_id=f"V{i % 7:03d}",
        terminal_id=f"0139000{i % 7:05d}",
        device_time=T0 + timedelta(seconds=10 * i),
        received_at=T0 + timedelta(seconds=10 * i + 1),
        lat=31.2 + i * 1e-5,
        lon=121.4,
        speed_kmh=float(i % 40),
        heading=i % 360,
        **kw,
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.data())
def test_a_batch_reads_back_as_its_fixes_in_order_and_a_bad_part_costs_only_itself(n, data):
    fixes = [fix(i) for i in range(n)]
    assert read_fix_value(fix_batch_bytes(fixes)) == (fixes, [])
    # spoil some parts: each refused alone, with its place and its own bytes; the rest kept in order
    spoiled = set(data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=n)))
    parts = [json.dumps({"vehicle_id": k}).encode() if k in spoiled else f.to_json_bytes() for k, f in enumerate(fixes)]
    good, bad = read_fix_value(b"[" + b",".join(parts) + b"]")
    assert good == [f for k, f in enumerate(fixes) if k not in spoiled]
    assert [b.index for b in bad] == sorted(spoiled)
    assert all(json.loads(b.raw) == {"vehicle_id": b.index} for b in bad)


def test_one_object_is_still_one_fix_and_whitespace_does_not_change_the_kind():
    f = fix(1)
    assert read_fix_value(f.to_json_bytes()) == ([f], [])
    assert not is_fix_batch(f.to_json_bytes())
    assert is_fix_batch(b"  \n[" + f.to_json_bytes() + b"]")
    assert read_fix_value(b"  \n[" + f.to_json_bytes() + b"]") == ([f], [])


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[]", "a batch of 0 fixes"),
        (b"[" + b",".join([fix(0).to_json_bytes()] * (FIX_BATCH_MAX + 1)) + b"]", f"a batch of {FIX_BATCH_MAX + 1}"),
        (b"[1, 2", "Expecting"),
        (b"\xff\x00", ""),
    ],
)
def test_a_batch_that_cannot_be_read_is_refused_whole_with_its_bytes(raw, says):
    good, bad = read_fix_value(raw)
    assert good == []
    assert len(bad) == 1 and bad[0].index is None and bad[0].raw == raw
    assert says in str(bad[0].error)


def test_the_batch_writer_keeps_to_the_limits_and_the_json_schema_says_them():
    with pytest.raises(ValueError, match="a batch of 0 fixes"):
        fix_batch_bytes([])
    with pytest.raises(ValueError, match=f"a batch of {FIX_BATCH_MAX + 1}"):
        fix_batch_bytes([fix(0)] * (FIX_BATCH_MAX + 1))
    schema = GpsFixBatch.model_json_schema()
    assert schema["type"] == "array" and schema["minItems"] == 1 and schema["maxItems"] == FIX_BATCH_MAX


def test_event_files_may_hold_batches_and_name_the_bad_part(tmp_path):
    fixes = [fix(i) for i in range(5)]
    (tmp_path / "gps.fixes.jsonl").write_text(
        fixes[0].model_dump_json()
        + "\n"
        + fix_batch_bytes(fixes[1:4]).decode()
        + "\n"
        + fixes[4].model_dump_json()
        + "\n"
    )
    assert list(read_events(tmp_path, "gps.fixes")) == fixes
    (tmp_path / "gps.fixes.jsonl").write_text("[" + fixes[0].model_dump_json() + ', {"vehicle_id": 1}]\n')
    with pytest.raises(WastestreamError, match=r"gps\.fixes\.jsonl:1\[1\]: vehicle_id"):
        list(read_events(tmp_path, "gps.fixes"))


def test_recompute_gives_the_same_figures_over_batched_files(tmp_path):
    """A topic dump of batches and the simulator's one-fix-per-line files: the same figures."""
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.stream_processors.partitioning import partition_of
    from wastestream.stream_processors.recompute import recompute

    city = build_city(808)
    plain = tmp_path / "plain"
    write_offline(city, date(2026, 11, 23), 808, Faults.demo(), plain)
    batched = tmp_path / "batched"
    batched.mkdir()
    for name in ("city.yaml", "weigh.tickets.jsonl", "deadletter.jsonl"):
        (batched / name).write_bytes((plain / name).read_bytes())
    by_part: dict[int, list] = {}
    with open(batched / "gps.fixes.jsonl", "w") as out:
        for f in read_events(plain, "gps.fixes"):
            waiting = by_part.setdefault(partition_of(f.vehicle_id, 6), [])
            waiting.append(f)
            if len(waiting) == 97:
                out.write(fix_batch_bytes(waiting).decode() + "\n")
                waiting.clear()
        for waiting in by_part.values():
            if waiting:
                out.write(fix_batch_bytes(waiting).decode() + "\n")
    a, b = recompute(city, plain), recompute(city, batched)
    assert a.counts == b.counts and a.counts["fixes"] > 20_000
    assert a.records == b.records


def test_parts_that_are_no_object_are_each_refused_and_counted_with_their_place():
    good = fix(3)
    parts = [b"1", b"null", b'"V001"', b"[]", good.to_json_bytes(), b"{}", b"true"]
    fixes, bad = read_fix_value(b"[" + b",".join(parts) + b"]")
    assert fixes == [good]
    assert [b.index for b in bad] == [0, 1, 2, 3, 5, 6]  # every other part, each once, by its place
    assert [json.loads(b.raw) for b in bad] == [1, None, "V001", [], {}, True]
