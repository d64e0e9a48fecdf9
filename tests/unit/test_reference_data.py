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


# -- the worker's compact reference data -----------------------------------------------------
def _as_json(tmp_path, city) -> Path:
    p = tmp_path / "city.json"
    dump_city(city, p)
    return p


def test_compact_load_has_the_same_fields_as_the_models(tmp_path):
    from wastestream.schemas.compact import load_city_compact

    city = load_city(FIXTURE)
    for source in (FIXTURE, _as_json(tmp_path, city)):  # YAML: compacted after loading; JSON: streamed
        small = load_city_compact(source)
        assert small.model_dump(exclude={"collection_points", "vehicles"}) == city.model_dump(
            exclude={"collection_points", "vehicles"}
        )
        for views, models in ((small.collection_points, city.collection_points), (small.vehicles, city.vehicles)):
            assert len(views) == len(models)
            for v, m in zip(views, models, strict=True):
                for name in type(m).model_fields:
                    got, want = getattr(v, name), getattr(m, name)
                    if name == "geofence":
                        got, want = (
                            (got.lat, got.lon, got.radius_m, got.polygon),
                            (want.lat, want.lon, want.radius_m, want.polygon),
                        )
                    elif name == "extra_windows":  # a view holds a tuple (read-only; the empty one shared)
                        assert isinstance(got, tuple), m.id
                        got = list(got)
                    assert got == want, (m.id, name)
            assert not hasattr(views[0], "__dict__")  # slotted: no per-object dict


def test_compact_json_load_names_bad_entries(tmp_path):
    from wastestream.schemas.compact import load_city_compact

    good = _as_json(tmp_path, load_city(FIXTURE)).read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(good.replace('"radius_m": 40.0', '"radius_m": -1', 1), encoding="utf-8")
    with pytest.raises(CityFileError, match=r"collection_points\[0\] \(id 'P001'\): geofence.radius_m"):
        load_city_compact(bad)
    bad.write_text(good.replace('"vehicle_id": "V002"', '"vehicle_id": "V999"', 1), encoding="utf-8")
    with pytest.raises(CityFileError, match=r"routes\[1\] \(id 'R02'\): unknown vehicle_id 'V999'"):
        load_city_compact(bad)
    bad.write_text(good[: len(good) // 2], encoding="utf-8")
    with pytest.raises(CityFileError, match="not valid JSON"):
        load_city_compact(bad)
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CityFileError, match="mapping at the top level"):
        load_city_compact(bad)
