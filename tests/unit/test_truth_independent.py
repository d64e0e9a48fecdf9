"""The simulator states each stop's ground truth from what it made the truck do
(``stated_outcome``), independently of the pipeline's rule (``domain.clearance.decide``). The two
answers must agree on any stop — windows, arrivals before, inside and after them, across the local
midnight — or one of them is wrong."""

from __future__ import annotations

from datetime import date, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.domain.clearance import decide
from wastestream.domain.localtime import day_start
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import stated_outcome

CITY = build_city(808)
POINT = CITY.collection_points[0]
TZ = CITY.timezone


@settings(max_examples=400, deadline=None)
@given(
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    opens=st.integers(0, 20 * 60),
    window=st.integers(1, 4 * 60),
    grace=st.integers(0, 3 * 60),
    came=st.integers(-6 * 60, 30 * 60),
    stood=st.integers(0, 90),
    visited=st.booleans(),
)
def test_the_stated_truth_and_the_rule_agree(day, opens, window, grace, came, stood, visited):
    closes = min(opens + window, 23 * 60 + 58)
    deadline = min(closes + grace, 23 * 60 + 59)
    p = POINT.model_copy(
        update={
            "service_start": time(opens // 60, opens % 60),
            "service_end": time(closes // 60, closes % 60),
            "deadline": time(deadline // 60, deadline % 60),
        }
    )
    midnight = day_start(day, TZ)
    span = (midnight + timedelta(minutes=came), midnight + timedelta(minutes=came + stood)) if visited else None
    stated = stated_outcome(p, day, span, TZ, "test")
    visits = [(span[0], span[1], "V1")] if span else []
    d = decide(p, day, visits, day_start(day + timedelta(days=1), TZ), TZ)
    assert stated["status"] == d.status.value
    assert stated["at"] == (d.visit_at.isoformat() if d.visit_at else None)


def test_a_stop_driven_past_is_missed_whatever_the_window():
    out = stated_outcome(POINT, date(2026, 11, 16), None, TZ, "driven past")
    assert out["status"] == "missed" and out["at"] is None and out["choice"] == "driven past"
