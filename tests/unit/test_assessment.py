"""The deduction table (schemas.assessment) and the assessment rules (wastestream.domain.assessment)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.assessment import Assessment, Excuse, Fact, assess, changes, month_days
from wastestream.schemas.assessment import DeductionTable, TableFileError, load_table

D1 = date(2026, 11, 3)


def table(**item) -> DeductionTable:  # noqa: ANN003
    return DeductionTable.model_validate(
        {
            "version": "t1",
            "name": "test",
            "items": [{"id": "missed", "name": "missed", "measure": "missed", "points": 2, "money": 100} | item],
        }
    )


def miss(point: str, day: date = D1, contractor: str = "C1", timed: bool = False, vehicle: str = "V1") -> Fact:
    return Fact("missed_timed" if timed else "missed_untimed", contractor, day, point, None, "missed", "", vehicle)


def excuse(reason: str, point: str | None = "P1", vehicle: str | None = None, hours: float = 10) -> Excuse:
    at = datetime(D1.year, D1.month, D1.day, tzinfo=UTC) - timedelta(hours=8) + timedelta(hours=hours)
    return Excuse("R-1", "C1", D1, reason, at, point, vehicle)


def test_the_shipped_table_loads():
    t = load_table()
    assert t.base_score == 100 and {i.measure for i in t.items} >= {"missed_timed", "violation:dumping"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: x\nname: n\nitems: []\n", "items"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: speeding, points: 1}\n", "items[0] (id 'a'): measure: unknown measure 'speeding'"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: late, points: -1}\n", "items[0] (id 'a'): points"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: late, points: 1, excused_by: [flood]}\n", "excused_by"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: late, points: 1, reduced_by: {no_access: 1.5}}\n", "factor"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: late, points: 1}\n - {id: a, name: b, measure: missed, points: 1}\n", "duplicate id"),
        ("version: x\nname: n\nitems:\n - {id: a, name: a, measure: late, points: 1, colour: red}\n", "colour"),
        ("[1, 2]", "mapping"),
        (": :", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_table_is_refused_naming_the_entry(tmp_path: Path, text, message):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(TableFileError, match=None) as e:
        load_table(p)
    assert message in str(e.value) and str(p) in str(e.value)


def test_deductions_add_up_and_the_running_score_falls_day_by_day():
    a = assess(table(), "2026-11", ["C1", "C2"], [miss("P1"), miss("P2"), miss("P3", D1 + timedelta(days=2))])
    c1 = a.contractors["C1"]
    assert (c1.points, c1.money, c1.score) == (6, 300, 94)
    days = c1.by_day(a.days)
    assert len(days) == 30 and days[2] == (D1, 4, 200, 96) and days[4][3] == 94 and days[-1][3] == 94
    assert a.contractors["C2"].score == 100 and a.contractors["C2"].deductions == []


def test_a_reason_excuses_or_reduces_and_the_best_one_wins():
    t = table(excused_by=["no_access"], reduced_by={"vehicle_breakdown": 0.5})
    (d,) = assess(t, "2026-11", ["C1"], [miss("P1")], [excuse("no_access")]).contractors["C1"].deductions
    assert (d.points, d.money, d.status) == (0, 0, "excused") and "no_access (R-1)" in d.note
    (d,) = (
        assess(t, "2026-11", ["C1"], [miss("P1")], [excuse("vehicle_breakdown", None, "V1")])
        .contractors["C1"]
        .deductions
    )
    assert (d.points, d.money, d.status) == (1, 50, "reduced")
    both = [excuse("vehicle_breakdown", None, "V1"), excuse("no_access")]
    (d,) = assess(t, "2026-11", ["C1"], [miss("P1")], both).contractors["C1"].deductions
    assert d.status == "excused"
    (d,) = assess(t, "2026-11", ["C1"], [miss("P1")], [excuse("contamination")]).contractors["C1"].deductions
    assert d.status == "counted" and d.points == 2  # a reason the item does not take
    other = Excuse("R-2", "C2", D1, "no_access", excuse("no_access").reported_at, "P1")  # another contractor's
    assert assess(t, "2026-11", ["C1"], [miss("P1")], [other]).contractors["C1"].deductions[0].status == "counted"


def test_a_reason_reported_too_late_is_not_taken_and_says_so():
    t = table(excused_by=["no_access"])
    (d,) = assess(t, "2026-11", ["C1"], [miss("P1")], [excuse("no_access", hours=40)]).contractors["C1"].deductions
    assert d.status == "counted" and "too late" in d.note


def test_daily_cap_and_monthly_caps():
    t = table(daily_cap=2, cap_points=5, cap_money=250)
    facts = [miss(f"P{k}") for k in range(3)] + [miss(f"Q{k}", D1 + timedelta(days=1)) for k in range(3)]
    ds = assess(t, "2026-11", ["C1"], facts).contractors["C1"].deductions
    assert [d.status for d in ds] == ["counted", "counted", "over_daily_cap", "capped", "over_cap", "over_daily_cap"]
    assert [d.points for d in ds] == [2, 2, 0, 1, 0, 0] and sum(d.money for d in ds) == 250
    # an excused occurrence does not take a place under the daily cap
    t = table(daily_cap=1, excused_by=["no_access"])
    ds = assess(t, "2026-11", ["C1"], [miss("P1"), miss("P2")], [excuse("no_access")]).contractors["C1"].deductions
    assert [d.status for d in ds] == ["excused", "counted"]


def test_missed_names_timed_and_untimed_and_other_months_are_left_out():
    t = DeductionTable.model_validate(
        {
            "version": "t",
            "name": "n",
            "items": [
                {"id": "timed", "name": "t", "measure": "missed_timed", "points": 3},
                {"id": "all", "name": "a", "measure": "missed", "points": 1},
            ],
        }
    )
    facts = [miss("P1", timed=True), miss("P2"), miss("P3", date(2026, 12, 1))]
    ds = assess(t, "2026-11", ["C1"], facts).contractors["C1"].deductions
    assert sorted((d.item, d.subject) for d in ds) == [("all", "P1"), ("all", "P2"), ("timed", "P1")]


def test_changes_between_two_runs_of_a_month():
    t = table()
    before = assess(t, "2026-11", ["C1"], [miss("P1"), miss("P2")])
    after = assess(t, "2026-11", ["C1"], [miss("P2"), miss("P3")], [])  # a late upload proved P1 served
    moved, scores = changes(before, after)
    assert {(c.what, c.after.subject if c.after else c.before.subject) for c in moved} == {
        ("removed", "P1"),
        ("added", "P3"),
    }
    assert scores == {}  # the same score, other deductions
    again = Assessment.from_json(after.to_json())
    assert changes(after, again) == ([], {})
    excused = assess(
        table(excused_by=["no_access"]), "2026-11", ["C1"], [miss("P2"), miss("P3")], [excuse("no_access", "P2")]
    )
    moved, scores = changes(after, excused)
    assert [(c.what, c.after.status) for c in moved] == [("changed", "excused")] and scores == {"C1": (96, 98)}


def test_month_days():
    assert len(month_days("2026-02")) == 28 and month_days("2026-12")[-1] == date(2026, 12, 31)


fact_st = st.builds(
    Fact,
    measure=st.sampled_from(["missed_timed", "missed_untimed", "late", "violation:overspeed", "complaint_valid"]),
    contractor=st.sampled_from(["C1", "C2"]),
    day=st.integers(1, 30).map(lambda d: date(2026, 11, d)),
    subject=st.sampled_from(["P1", "P2", "V1", "X"]),
    at=st.one_of(
        st.none(), st.integers(0, 86399).map(lambda s: datetime(2026, 11, 5, tzinfo=UTC) + timedelta(seconds=s))
    ),
    evidence=st.just("e"),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(fact_st, max_size=40), st.randoms())
def test_caps_hold_the_score_stays_in_range_and_order_does_not_matter(facts, rnd):
    t = load_table()
    a = assess(t, "2026-11", ["C1", "C2"], facts)
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert assess(t, "2026-11", ["C1", "C2"], shuffled).to_json() == a.to_json()
    for sc in a.contractors.values():
        assert 0 <= sc.score <= t.base_score
        assert sc.score == pytest.approx(max(0, t.base_score - sum(d.points for d in sc.deductions)))
        for item in t.items:
            mine = [d for d in sc.deductions if d.item == item.id]
            if item.cap_points is not None:
                assert sum(d.points for d in mine) <= item.cap_points + 1e-9
            if item.daily_cap is not None:
                for day in {d.day for d in mine}:
                    assert sum(1 for d in mine if d.day == day and d.points > 0) <= item.daily_cap
