"""Compact reference data for long-running processes (the worker).

A pydantic model instance costs ~1.8 KB (its ``__dict__``, a ``__pydantic_fields_set__`` set, a
nested Geofence model); 200,000 collection points and 50,000 vehicles took ~460 MB of objects,
and loading them as one document peaked near 700 MB. The worker only reads them, so it holds
*views*: frozen slotted dataclasses with exactly the model's fields (derived from the model, so they
cannot drift), with shared values (contractor and route ids, service times) interned.

``load_city_compact`` streams a JSON city (ijson): each point and vehicle is validated by its
pydantic model one at a time and turned into a view at once, so the full models never exist
together. The result is a :class:`~wastestream.schemas.reference.City` whose ``collection_points``
and ``vehicles`` are views — read-only, attribute-compatible, not for re-serialising. The same
reference checks (duplicate ids, unknown contractors, stops, terminals) run on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import make_dataclass
from pathlib import Path
from typing import Any

import ijson
from pydantic import BaseModel, ValidationError

from wastestream.schemas.reference import (
    City,
    CityFileError,
    CollectionPoint,
    Geofence,
    Vehicle,
    describe_errors,
    load_city,
)


def _view_of(model: type[BaseModel]) -> type:
    return make_dataclass(f"{model.__name__}View", list(model.model_fields), slots=True, frozen=True)


GeofenceView = _view_of(Geofence)
CollectionPointView = _view_of(CollectionPoint)
VehicleView = _view_of(Vehicle)


_REPEATED = {
    "contractor_id",
    "route_id",
    "kind",
    "service_start",
    "service_end",
    "deadline",
    "rated_load_kg",
    "stored_tare_kg",
}  # fields whose values repeat across entries (ids, names, plates do not)


class _Shared:
    """One object per equal value, for the fields in ``_REPEATED`` (and fence radii)."""

    def __init__(self) -> None:
        self._shared: dict[Any, Any] = {}

    def value(self, v: Any) -> Any:
        return self._shared.setdefault(v, v)

    def fields(self, model: BaseModel, skip: str = "") -> dict[str, Any]:
        return {
            f: self.value(getattr(model, f)) if f in _REPEATED else getattr(model, f)
            for f in type(model).model_fields
            if f != skip
        }


def _point_view(p: CollectionPoint, share: _Shared) -> Any:
    g = p.geofence
    fence = GeofenceView(g.lat, g.lon, share.value(g.radius_m), g.polygon)  # radii: a few sizes
    fields = share.fields(p, skip="geofence")
    fields["extra_windows"] = tuple(p.extra_windows)  # read-only; most are empty: the one () (a list was 56 B each)
    return CollectionPointView(geofence=fence, **fields)


def _vehicle_view(v: Vehicle, share: _Shared) -> Any:
    return VehicleView(**share.fields(v))


_BIG: dict[str, tuple[type[BaseModel], Callable[[Any, _Shared], Any]]] = {
    "collection_points": (CollectionPoint, _point_view),
    "vehicles": (Vehicle, _vehicle_view),
}


def compact_city(city: City) -> City:
    """The same city with its points and vehicles as views (for a city already loaded)."""
    share = _Shared()
    return city.model_copy(
        update={
            "collection_points": [_point_view(p, share) for p in city.collection_points],
            "vehicles": [_vehicle_view(v, share) for v in city.vehicles],
        }
    )


def _top_level_values(f: Any) -> Iterator[tuple[str, int | None, Any]]:
    """(key, None, value) for each top-level value of a JSON object, except that the arrays named in
    ``_BIG`` come element by element as (key, index, element)."""
    events = ijson.parse(f, use_float=True)
    first = next(events, None)
    if first is None or first[1] != "start_map":
        raise CityFileError("expected a mapping at the top level")
    index = dict.fromkeys(_BIG, 0)
    builder: ijson.ObjectBuilder | None = None
    depth, key, item = 0, "", None
    for prefix, event, value in events:
        if builder is None:
            if prefix == "" or (prefix in _BIG and event in ("start_array", "end_array")):
                if prefix in _BIG and event == "start_array":
                    yield prefix, None, []  # the key is present (an empty list until its elements come)
                continue
            key, _, rest = prefix.partition(".")
            item = index[key] if key in _BIG and rest == "item" else None
            builder, depth = ijson.ObjectBuilder(), 0
        builder.event(event, value)
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth == 0:
            yield key, item, builder.value
            if item is not None:
                index[key] += 1
            builder = None


def load_city_compact(path: Path | str) -> City:
    """Load a city with compact points and vehicles (see the module docstring). A JSON city is
    streamed; a YAML city (small, hand-edited) is loaded whole and then compacted."""
    path = Path(path)
    if path.suffix != ".json":
        return compact_city(load_city(path))
    share = _Shared()
    rest: dict[str, Any] = {}
    views: dict[str, list] = {}
    try:
        with path.open("rb") as f:
            for key, i, value in _top_level_values(f):
                if i is None and key in _BIG:
                    views[key] = []
                    continue
                if i is None:
                    rest[key] = value
                    continue
                model, view = _BIG[key]
                try:
                    views[key].append(view(model.model_validate(value), share))
                except ValidationError as e:
                    entry_id = value.get("id") if isinstance(value, dict) else None
                    where = f"{key}[{i}]" + (f" (id {entry_id!r})" if entry_id else "")
                    raise CityFileError(f"{where}: {describe_errors(e, {})}") from None
    except OSError as e:
        raise CityFileError(f"{path}: cannot read ({e.strerror})") from None
    except ijson.JSONError as e:
        raise CityFileError(f"{path}: not valid JSON: {e}") from None
    except CityFileError as e:  # raised while streaming: name the file
        raise CityFileError(f"{path}: {e}") from None
    try:
        shell = City.model_validate({**rest, **dict.fromkeys(views, [])}, context={"defer_reference_checks": True})
    except ValidationError as e:
        raise CityFileError(f"{path}: {describe_errors(e, rest)}") from None
    city = shell.model_copy(update=views)
    try:
        city.check_references()  # the cross-entry checks, now over the views
    except ValueError as e:
        raise CityFileError(f"{path}: {e}") from None
    return city
