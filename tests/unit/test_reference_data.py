from pathlib import Path

import pytest
from wastestream.schemas import CityFileError, dump_city, load_city

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "city-small.yaml"


def test_loads_fixture_city():
    city = load_city(FIXTURE)
    assert [c.id for c in city.contractors] == ["C01", "C02"]
    assert city.vehicle_by_terminal()["013800000001"].plate == "沪A10001"
    assert city.collection_points[0].timed_stop


def test_round_trip_json_and_yaml(tmp_path):
    city = load_city(FIXTURE)
    for name in ("c.json", "c.yaml"):
        dump_city(city, tmp_path / name)
        assert load_city(tmp_path / name) == city


def _broken(tmp_path, old: str, new: str) -> Path:
    p = tmp_path / "city.yaml"
    p.write_text(FIXTURE.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return p


def test_bad_field_names_the_entry(tmp_path):
    p = _broken(
        tmp_path,
        'service_end: "09:00", deadline: "12:00", timed_stop: true',
        'service_end: "13:00", deadline: "12:00", timed_stop: true',
    )
    with pytest.raises(CityFileError, match=r"collection_points\[0\] \(id 'P001'\)"):
        load_city(p)


def test_unknown_reference_names_the_entry(tmp_path):
    p = _broken(tmp_path, "vehicle_id: V002", "vehicle_id: V999")
    with pytest.raises(CityFileError, match=r"routes\[1\] \(id 'R02'\): unknown vehicle_id 'V999'"):
        load_city(p)


def test_duplicate_terminal(tmp_path):
    p = _broken(tmp_path, '"013800000002"', '"013800000001"')
    with pytest.raises(CityFileError, match="terminal_id also used by 'V001'"):
        load_city(p)


def test_not_a_file(tmp_path):
    with pytest.raises(CityFileError, match="cannot read"):
        load_city(tmp_path / "nope.yaml")
