"""The local calendar day (Asia/Shanghai by default): a 'day' is never an epoch-aligned window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: wastestream only accepts timezone-aware datetimes")
    return t


def local_date(t: datetime, tz: str = "Asia/Shanghai") -> date:
    return _aware(t).astimezone(zone(tz)).date()


def at_local(d: date, hhmm: time, tz: str = "Asia/Shanghai") -> datetime:
    """Local wall time on day ``d`` → aware UTC datetime."""
    return datetime.combine(d, hhmm, tzinfo=zone(tz)).astimezone(UTC)


def day_start(d: date, tz: str = "Asia/Shanghai") -> datetime:
    """00:00 local of ``d`` as aware UTC (2026-11-23 Shanghai → 2026-11-22T16:00Z)."""
    return at_local(d, time(0), tz)


def day_end(d: date, tz: str = "Asia/Shanghai") -> datetime:
    return day_start(d + timedelta(days=1), tz)
