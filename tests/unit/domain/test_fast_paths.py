"""The per-fix fast paths give the answers of the plain rules they stand in for, at the edges too:
the local day and quarter-hour from epoch seconds (``LocalClock``), clock checks and lateness on
epoch-second floats, and the site index's latitude pre-filter at a fence's rim."""

import math
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wastestream.domain.checks import DEFAULT_INPUT_RULES, InputRules, clock_problem
from wastestream.domain.geo import Site, SiteIndex, haversine_m
from wastestream.domain.localtime import LocalClock, zone
from wastestream.domain.quality import is_late
from wastestream.schemas import Geofence

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
_clocks = {tz: LocalClock(tz) for tz in ZONES}

# instants from 1990 to 2040, with microseconds; and instants right at and around DST changes
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


def _expected(ts: float, tz: str):
    local = datetime.fromtimestamp(ts, UTC).astimezone(zone(tz))
    return local.date(), local.hour * 4 + local.minute // 15


@settings(max_examples=3000)
@given(t=instants, tz=st.sampled_from(ZONES))
def test_local_clock_is_astimezone(t, tz):
    ts = t.timestamp()
    assert _clocks[tz].day_quarter(ts) == _expected(ts, tz)
    assert _clocks[tz].day(ts) == t.astimezone(zone(tz)).date()


def test_local_clock_across_every_offset_change_of_a_year():
    for tz in ZONES:
        clock, z = LocalClock(tz), zone(tz)
        t = datetime(2026, 1, 1, tzinfo=UTC)
        prev = t.astimezone(z).utcoffset()
        while t < datetime(2027, 1, 1, tzinfo=UTC):
            t += timedelta(minutes=15)
            if t.astimezone(z).utcoffset() != prev:  # an offset change just before t: look around it
                prev = t.astimezone(z).utcoffset()
                for s in range(-1800, 1801, 1):
                    ts = t.timestamp() + s - 0.000001 * (s % 3)
                    assert clock.day_quarter(ts) == _expected(ts, tz), (tz, ts)


def test_local_clock_at_midnight_and_quarter_edges():
    clock = LocalClock("Asia/Shanghai")
    midnight = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 00:00 on 2026-11-23 in Shanghai
    for dt in (-1, -0.000001, 0, 0.000001, 899.999999, 900, 86399.999999, 86400):
        ts = (midnight + timedelta(seconds=dt)).timestamp()
        assert clock.day_quarter(ts) == _expected(ts, "Asia/Shanghai"), dt


limits = st.sampled_from([DEFAULT_INPUT_RULES, InputRules(max_ahead_s=0.5, backfill_horizon_s=60)])


@settings(max_examples=3000)
@given(
    recv=instants,
    rules=limits,
    near=st.sampled_from(["ahead", "stale", "any"]),
    jitter_us=st.integers(-3000, 3000),
    any_s=st.floats(-10 * 86400, 10 * 86400),
)
def test_clock_check_on_floats_is_the_datetime_check(recv, rules, near, jitter_us, any_s):
    if near == "ahead":
        event = recv + timedelta(seconds=rules.max_ahead_s, microseconds=jitter_us)
    elif near == "stale":
        event = recv - timedelta(seconds=rules.backfill_horizon_s, microseconds=jitter_us)
    else:
        event = recv + timedelta(seconds=any_s)
    assume(datetime(1970, 1, 2, tzinfo=UTC) < event < datetime(2100, 1, 1, tzinfo=UTC))
    plain = clock_problem("fix", event, recv, rules, "device_time")
    fast = clock_problem(
        "fix", event, recv, rules, "device_time", event_ts=event.timestamp(), received_ts=recv.timestamp()
    )
    assert fast == plain


@settings(max_examples=2000)
@given(recv=instants, jitter_us=st.integers(-3000, 3000), delay=st.sampled_from([300.0, 0.0, 59.5]))
def test_lateness_on_floats_is_the_datetime_rule(recv, jitter_us, delay):
    device = recv - timedelta(seconds=delay, microseconds=jitter_us)
    assert is_late(device, recv, delay, device.timestamp(), recv.timestamp()) == is_late(device, recv, delay)


@settings(max_examples=2000)
@given(
    bearing=st.floats(0, 2 * math.pi),
    radius=st.sampled_from([20.0, 40.0, 120.0, 300.0]),
    off_m=st.floats(-0.001, 0.001),
    lat0=st.floats(-60, 60),
)
def test_locate_at_a_fences_rim_is_the_brute_force_answer(bearing, radius, off_m, lat0):
    """A fix placed on the rim (± a millimetre), mostly due north or south of the centre where the
    latitude pre-filter is tightest: inside exactly when the haversine says so."""
    if bearing > math.pi:  # half the cases exactly on the meridian
        bearing = 0.0 if bearing > 1.5 * math.pi else math.pi
    centre = (lat0, 121.0)
    site = Site("P1", "point", Geofence(lat=centre[0], lon=centre[1], radius_m=radius))
    idx = SiteIndex([site], cluster_m=0)
    d = radius + off_m
    lat = centre[0] + math.degrees(d / 6_371_008.8 * math.cos(bearing))
    lon = centre[1] + math.degrees(d / 6_371_008.8 * math.sin(bearing) / math.cos(math.radians(centre[0])))
    inside = haversine_m(lat, lon, *centre) <= radius
    assert (idx.locate(lat, lon) == site) is inside


def test_local_clock_where_an_offset_changes_inside_a_quarter_hour():
    """Liberia left its -0:44:30 offset on 1972-01-07 (an offset change not on a quarter-hour of UTC):
    the quarter-hour holding it is converted the long way, each side of the change right."""
    tz = "Africa/Monrovia"
    clock, z = LocalClock(tz), zone(tz)
    t = datetime(1972, 1, 6, 12, tzinfo=UTC)
    changes = 0
    prev = t.astimezone(z).utcoffset()
    while t < datetime(1972, 1, 8, tzinfo=UTC):
        ts = t.timestamp()
        assert clock.day_quarter(ts) == _expected(ts, tz), t
        if t.astimezone(z).utcoffset() != prev:
            changes += 1
            prev = t.astimezone(z).utcoffset()
        t += timedelta(seconds=30)
    assert changes == 1
