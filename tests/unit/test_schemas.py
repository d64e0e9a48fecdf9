from datetime import datetime

import pytest
from pydantic import ValidationError

from wastestream.schemas import JSON_DIR, GpsFix, json_schemas


def test_json_schema_files_are_current():
    for name, text in json_schemas().items():
        path = JSON_DIR / name
        assert path.exists(), f"{path} missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make schemas`"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValidationError, match="timezone"):
        GpsFix(
            vehicle_id="V1",
            terminal_id="1",
            device_time=datetime(2026, 11, 23, 8),
            received_at=datetime(2026, 11, 23, 8),
            lat=31.2,
            lon=121.4,
            speed_kmh=0,
            heading=0,
        )


def test_messages_carry_schema_version_and_reject_unknown_fields():
    fix = GpsFix.model_validate_json(
        '{"vehicle_id":"V1","terminal_id":"1","device_time":"2026-11-23T00:00:00Z","received_at":"2026-11-23T00:00:01Z",'
        '"lat":31.2,"lon":121.4,"speed_kmh":0,"heading":0}'
    )
    assert fix.schema_version == 2  # typed additional items, alarm and load-state bits
    old = GpsFix.model_validate_json(
        '{"schema_version":1,"vehicle_id":"V1","terminal_id":"1","device_time":"2026-11-23T00:00:00Z",'
        '"received_at":"2026-11-23T00:00:01Z","lat":31.2,"lon":121.4,"speed_kmh":0,"heading":0,"extras":{"0x02":"0064"}}'
    )
    assert old.schema_version == 1 and old.fuel_l is None and old.extras == {"0x02": "0064"}  # version 1 still read
    with pytest.raises(ValidationError, match="extra"):
        GpsFix.model_validate({**fix.model_dump(), "bogus": 1})
