"""The latency benchmark's fix template: the same fix as the model gives, for any values put in."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from wastestream.bench import fix_template
from wastestream.schemas import GpsFix

BASE = GpsFix(
    vehicle_id="V1",
    terminal_id="013800138000",
    device_time=datetime(2026, 11, 23, 1, tzinfo=UTC),
    received_at=datetime(2026, 11, 23, 1, tzinfo=UTC),
    lat=31.2,
    lon=121.4,
    speed_kmh=3,
    heading=0,
    altitude_m=4,
    status=3,
    acc_on=True,
    fix_valid=True,
)


@given(
    vehicle=st.text("ABCXYZ0123456789-%", min_size=1, max_size=12),
    terminal=st.text("0123456789", min_size=12, max_size=12),
    offset=st.integers(0, 10**8),
    lag=st.floats(0, 3600),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
)
def test_the_template_gives_the_fix_the_model_gives(vehicle, terminal, offset, lag, lat, lon):
    received = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    device = received - timedelta(seconds=lag)
    text = fix_template(BASE) % {
        "vehicle_id": vehicle,
        "terminal_id": terminal,
        "device_time": device.isoformat(),
        "received_at": received.isoformat(),
        "lat": f"{lat:.7f}",
        "lon": f"{lon:.7f}",
    }
    want = BASE.model_copy(
        update={
            "vehicle_id": vehicle,
            "terminal_id": terminal,
            "device_time": device,
            "received_at": received,
            "lat": float(f"{lat:.7f}"),
            "lon": float(f"{lon:.7f}"),
        }
    )
    assert GpsFix.model_validate_json(text) == want
