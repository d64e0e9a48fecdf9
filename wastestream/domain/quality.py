"""Data quality of the GPS stream: late data, implied speed jumps, silent terminals."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from wastestream.domain.geo import haversine_m
from wastestream.domain.localtime import zone

MAX_SILENCE_S = 1800.0  # a terminal quiet this long in its shift is silent


EXACT_MARGIN_S = 1e-3  # epoch-second floats decide a limit only this far from it; nearer, the datetimes do


def is_late(
    device_time: datetime,
    received_at: datetime,
    max_delay_s: float = 300,
    device_ts: float | None = None,
    received_ts: float | None = None,
) -> bool:
    """Received more than ``max_delay_s`` after its device time. ``device_ts``/``received_ts``: the
    same instants as epoch seconds, when the caller has them (the answer is the same: the floats are
    used only where they cannot be wrong by their rounding)."""
    if device_ts is not None and received_ts is not None:
        delay = received_ts - device_ts
        if abs(delay - max_delay_s) > EXACT_MARGIN_S:
            return delay > max_delay_s
    return (received_at - device_time).total_seconds() > max_delay_s


def implied_speed_kmh(lat1: float, lon1: float, t1: float, lat2: float, lon2: float, t2: float) -> float | None:
    dt = abs(t2 - t1)
    if dt == 0:
        return None
    return haversine_m(lat1, lon1, lat2, lon2) / dt * 3.6


def speed_jump(
    lat1: float, lon1: float, t1: float, lat2: float, lon2: float, t2: float, limit_kmh: float = 150
) -> bool:
    v = implied_speed_kmh(lat1, lon1, t1, lat2, lon2, t2)
    return v is not None and v > limit_kmh


def silent(
    last_fix: datetime | None,
    now: datetime,
    shift: tuple[time, time] = (time(5, 0), time(20, 0)),
    max_silence_s: float = MAX_SILENCE_S,
    tz: str = "Asia/Shanghai",
) -> bool:
    """A terminal is silent when, during its shift (local time), nothing came for ``max_silence_s``."""
    local = now.astimezone(zone(tz)).time()
    if not (shift[0] <= local <= shift[1]):
        return False
    if last_fix is None:
        return True
    return (now - last_fix).total_seconds() > max_silence_s


def silence_in_shift(
    since: datetime,
    until: datetime,
    shift: tuple[time, time] = (time(5, 0), time(20, 0)),
    max_silence_s: float = MAX_SILENCE_S,
    tz: str = "Asia/Shanghai",
) -> datetime | None:
    """A terminal last heard at ``since`` and heard again at (or not yet by) ``until``: the first
    moment at which it had been silent for ``max_silence_s`` *in its shift* (local time), or None if
    there is none in ``[since + max_silence_s, until]``. The same answer whenever it is asked, so a
    silence is counted alike by a worker judging it as it happens and by ``recompute`` afterwards,
    whether the terminal comes back or not."""
    lo = since + timedelta(seconds=max_silence_s)
    if until < lo:
        return None
    z = zone(tz)
    day = lo.astimezone(z).date()
    while True:
        start = datetime.combine(day, shift[0], tzinfo=z)
        end = datetime.combine(day, shift[1], tzinfo=z)
        if start > until:
            return None
        at = max(start, lo)
        if at <= end and at <= until:
            return at.astimezone(until.tzinfo)
        day += timedelta(days=1)


def dark_at(first_heard: datetime | None, due: datetime, now: datetime) -> bool:
    """A vehicle due on a route is *dark* once ``now`` has passed ``due`` (its route's start plus
    a grace period) and nothing was heard from it that local day by ``due``."""
    return now >= due and (first_heard is None or first_heard > due)
