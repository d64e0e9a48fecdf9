"""The early warning measured on a simulated day (a truck 90 min late, a truck broken down for 2 h,
stops driven past): the core followed live, a minute at a time, against what the trucks were made
to do. The measured figures are printed (and by `make bench`); what is held here is the rule's
promise: every point that ends missed was warned before its deadline, every warning names a point
still open when it was raised, and none is left open at the day's end."""

from datetime import date

from wastestream.producers.simulator.city import build_city
from wastestream.stream_processors.early_warning import FAULTS, measure


def test_warnings_on_a_simulated_day_with_late_and_broken_down_trucks():
    city = build_city(808)
    r = measure(city, date(2026, 11, 16), faults=FAULTS)
    print(r.summary())
    missed = {p for p, s in r.ended.items() if s == "missed"}
    late = {p for p, s in r.ended.items() if s == "late"}
    assert missed and late  # the planted faults did their work
    assert missed <= set(r.lead_min), sorted(missed - set(r.lead_min))  # each warned before its deadline
    assert all(m > 0 for m in r.lead_min.values())
    assert len(r.lead_min) / len(r.ended) >= 0.9, r.summary()  # the late ones, warned in time, nearly all
    assert set(r.resolved) == set(r.warned_at)  # every warning ended: served, caught up or deadline passed
    assert set(r.false_warnings) <= set(r.warned_at) and not set(r.false_warnings) & set(r.ended)
