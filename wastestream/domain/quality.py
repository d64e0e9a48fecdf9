"""Data quality of the GPS stream: late data, implied speed jumps, silent terminals."""

from __future__ import annotations

from datetime import datetime, time

from wastestream.domain.geo import haversine_m
from wastestream.domain.localtime import zone


def is_late(device_time: datetime, received_at: datetime, max_delay_s: float = 300) -> bool:
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
    max_silence_s: float = 1800,
    tz: str = "Asia/Shanghai",
) -> bool:
    """A terminal is silent when, during its shift (local time), nothing came for ``max_silence_s``."""
    local = now.astimezone(zone(tz)).time()
    if not (shift[0] <= local <= shift[1]):
        return False
    if last_fix is None:
        return True
    return (now - last_fix).total_seconds() > max_silence_s
