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


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_Q = 900  # seconds in a quarter-hour


class LocalClock:
    """Epoch seconds → the local day and quarter-hour (0–95) of a time zone, exactly as
    ``datetime.fromtimestamp(ts, UTC).astimezone(zone)`` gives them, without building a datetime per
    call: the zone's UTC offset is looked up once per quarter-hour of UTC (a quarter-hour with an
    offset change in it is converted the long way). For the per-fix path (one lookup instead of an
    ``astimezone`` each fix)."""

    __slots__ = ("zone", "_offsets", "_days")

    def __init__(self, tz: str = "Asia/Shanghai") -> None:
        self.zone = zone(tz)
        self._offsets: dict[int, float | None] = {}  # UTC quarter-hour → offset (s), None: changes in it
        self._days: dict[int, date] = {}  # days since the epoch (local) → the date (one object each)

    def _offset(self, q: int) -> float | None:
        try:
            return self._offsets[q]
        except KeyError:
            first = datetime.fromtimestamp(q * _Q, UTC).astimezone(self.zone).utcoffset()
            last = datetime.fromtimestamp(q * _Q + _Q - 1e-3, UTC).astimezone(self.zone).utcoffset()
            off = first.total_seconds() if first == last and first is not None else None
            if len(self._offsets) > 100_000:  # (a day is 96; a replay of years stays bounded)
                self._offsets.clear()
            self._offsets[q] = off
            return off

    def day_quarter(self, ts: float) -> tuple[date, int]:
        """The local (day, quarter-hour 0–95) of epoch seconds ``ts``."""
        off = self._offset(int(ts // _Q))
        if off is None:
            local = datetime.fromtimestamp(ts, UTC).astimezone(self.zone)
            return local.date(), local.hour * 4 + local.minute // 15
        ls = ts + off
        n = int(ls // 86400)
        day = self._days.get(n)
        if day is None:
            day = self._days[n] = date.fromordinal(_EPOCH_ORDINAL + n)
        return day, int(ls % 86400 // _Q)

    def day(self, ts: float) -> date:
        """The local day of epoch seconds ``ts`` (:func:`local_date` of that instant)."""
        return self.day_quarter(ts)[0]


def at_local(d: date, hhmm: time, tz: str = "Asia/Shanghai") -> datetime:
    """Local wall time on day ``d`` → aware UTC datetime."""
    return datetime.combine(d, hhmm, tzinfo=zone(tz)).astimezone(UTC)


def day_start(d: date, tz: str = "Asia/Shanghai") -> datetime:
    """00:00 local of ``d`` as aware UTC (2026-11-23 Shanghai → 2026-11-22T16:00Z)."""
    return at_local(d, time(0), tz)


def day_end(d: date, tz: str = "Asia/Shanghai") -> datetime:
    return day_start(d + timedelta(days=1), tz)
