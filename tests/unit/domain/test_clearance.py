from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from wastestream.domain.clearance import alert_transition, decide
from wastestream.schemas import Clearance, CollectionPoint, Geofence

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


def sh(h: int, m: int = 0) -> datetime:
    """Shanghai local time on DAY, as UTC."""
    return datetime(2026, 11, 22, 16, 0, tzinfo=UTC).replace(hour=(16 + h) % 24, minute=m, day=22 + (16 + h) // 24)


def visit(h, m=0, minutes=3, vehicle="V1"):
    start = sh(h, m)
    return (start, start.replace(minute=m + minutes), vehicle)


def test_shanghai_helper():
    assert sh(8) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def test_pending_before_deadline():
    assert decide(POINT, DAY, [], sh(10)).status == Clearance.pending


def test_cleared_in_window():
    d = decide(POINT, DAY, [visit(7, 30)], sh(7, 40))
    assert d.status == Clearance.cleared and d.visit_at == sh(7, 30) and d.vehicle_id == "V1"


def test_late_after_window_before_deadline():
    assert decide(POINT, DAY, [visit(10)], sh(10, 5)).status == Clearance.late


def test_missed_when_deadline_passes():
    assert decide(POINT, DAY, [], sh(12)).status == Clearance.missed
    assert decide(POINT, DAY, [visit(13)], sh(13, 5)).status == Clearance.missed  # too late to count


def test_visit_overlapping_window_start_counts():
    v = (sh(5, 58), sh(6, 5), "V1")
    d = decide(POINT, DAY, [v], sh(6, 10))
    assert d.status == Clearance.cleared and d.visit_at == sh(6)


def test_visit_the_day_before_does_not_count():
    earlier = (sh(7) - timedelta(days=1), sh(7, 5) - timedelta(days=1), "V1")
    assert decide(POINT, DAY, [earlier], sh(12)).status == Clearance.missed


def test_missed_then_backfill_proves_cleared_and_alert_resolves():
    first = decide(POINT, DAY, [], sh(12, 30))
    assert first.status == Clearance.missed
    assert alert_transition(None, first.status) == "raise"
    # the truck was there at 07:10 but its terminal was in a dead zone; the 0x0704 upload arrives
    second = decide(POINT, DAY, [visit(7, 10)], sh(12, 45))
    assert second.status == Clearance.cleared
    assert alert_transition(first.status, second.status) == "resolve"
    assert alert_transition(second.status, second.status) is None


@given(st.lists(st.tuples(st.integers(0, 23), st.integers(0, 50)), max_size=6), st.integers(0, 23))
def test_status_only_improves_with_more_evidence(visits, now_h):
    now = sh(now_h, 59)
    vs = [visit(h, m) for h, m in visits]
    rank = {Clearance.missed: 0, Clearance.pending: 0, Clearance.late: 1, Clearance.cleared: 2}
    for k in range(len(vs)):
        assert rank[decide(POINT, DAY, vs[: k + 1], now).status] >= rank[decide(POINT, DAY, vs[:k], now).status]
