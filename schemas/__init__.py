"""wastestream.schemas: pydantic v2 models of every Kafka value and of the city's reference data."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from wastestream.schemas.events import (
    SCHEMA_VERSION,
    DeadLetter,
    Destination,
    Direction,
    DriverShift,
    FixSource,
    GpsFix,
    GpsFixBatch,
    Message,
    TerminalData,
    WasteStream,
    WeighTicket,
)
from wastestream.schemas.reference import (
    CalendarDay,
    City,
    CityFileError,
    CollectionPoint,
    Contractor,
    Geofence,
    OperationRules,
    Route,
    ServiceCalendar,
    ServiceWindow,
    TransferStation,
    Vehicle,
    dump_city,
    load_city,
)
from wastestream.schemas.results import (
    Alert,
    AlertState,
    Clearance,
    ClearanceStatus,
    DailyTonnage,
    Delivery,
    ReadMark,
    SiteKind,
    StationBalance,
    Visit,
    VisitSet,
)

JSON_DIR = Path(__file__).parent / "json"

#: every model that has a JSON Schema file under schemas/json/
from wastestream.schemas.complaints import Complaint  # noqa: E402 - after events, which it builds on
from wastestream.schemas.exceptions import ServiceException  # noqa: E402

DOCUMENTED: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        GpsFix,
        GpsFixBatch,
        WeighTicket,
        DeadLetter,
        DriverShift,
        TerminalData,
        Visit,
        VisitSet,
        ReadMark,
        Delivery,
        ClearanceStatus,
        DailyTonnage,
        StationBalance,
        Alert,
        Complaint,
        ServiceException,
        City,
    )
}


def json_schemas() -> dict[str, str]:
    """File name → JSON Schema text, as `make schemas` writes them."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False, sort_keys=True)
        + "\n"
        for name, model in DOCUMENTED.items()
    }


def write_json_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        p = directory / name
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


__all__ = [
    "JSON_DIR",
    "SCHEMA_VERSION",
    "Alert",
    "AlertState",
    "CalendarDay",
    "City",
    "CityFileError",
    "Clearance",
    "ClearanceStatus",
    "CollectionPoint",
    "Contractor",
    "DailyTonnage",
    "Delivery",
    "DeadLetter",
    "Destination",
    "Direction",
    "DriverShift",
    "FixSource",
    "Geofence",
    "GpsFix",
    "GpsFixBatch",
    "Message",
    "OperationRules",
    "ReadMark",
    "Route",
    "ServiceCalendar",
    "ServiceWindow",
    "TerminalData",
    "SiteKind",
    "StationBalance",
    "TransferStation",
    "Vehicle",
    "Visit",
    "VisitSet",
    "VisitSet",
    "WasteStream",
    "WeighTicket",
    "dump_city",
    "json_schemas",
    "load_city",
    "write_json_schemas",
]
