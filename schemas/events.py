"""Values on the input topics: ``gps.fixes``, ``weigh.tickets``, ``driver.shifts``, ``terminal.data``
and ``deadletter``.

Every message carries ``schema_version``; datetimes must be timezone-aware (naive ones are refused).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    field_validator,
)

SCHEMA_VERSION = 1


class Message(BaseModel):
    """Base of every Kafka value: strict about unknown fields, carries its schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = SCHEMA_VERSION

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class FixSource(StrEnum):
    realtime = "realtime"
    backfill = "backfill"  # JT/T 808 0x0704 type 1: blind-area supplementary upload


class WasteStream(StrEnum):
    kitchen = "kitchen"  # 厨余垃圾
    recyclable = "recyclable"  # 可回收物
    hazardous = "hazardous"  # 有害垃圾
    other = "other"  # 其他垃圾 (residual)
    bulky = "bulky"  # 大件垃圾
    construction = "construction"  # 建筑垃圾 / 渣土


GPS_FIX_VERSION = 2  # 2: typed additional items, alarm and load-state bits, the raw malformed tail


class GpsFix(Message):
    """One position of one vehicle, as its JT/T 808 terminal reported it. Version 1 messages (without
    the typed fields) are still read: every field added in version 2 has a default."""

    schema_version: int = GPS_FIX_VERSION
    vehicle_id: str
    terminal_id: str = Field(
        description="JT/T 808 terminal id: the BCD phone number, or the decimal value of a phone field that is not BCD"
    )
    device_time: AwareDatetime = Field(description="event time: the terminal's fix time")
    received_at: AwareDatetime = Field(description="when the gateway received the frame")
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")
    speed_kmh: float = Field(ge=0)
    heading: int = Field(ge=0, le=359)
    altitude_m: int = 0
    alarm: int = Field(0, description="JT/T 808 alarm flag bits")
    status: int = Field(0, description="JT/T 808 status bits")
    acc_on: bool = False
    fix_valid: bool = True
    odometer_km: float | None = None
    satellites: int | None = None
    signal: int | None = None
    source: FixSource = FixSource.realtime
    msg_serial: int | None = None
    extras: dict[str, str] = Field(default_factory=dict, description="unknown additional items: id -> hex")
    # version 2
    fuel_l: float | None = Field(None, description="additional item 0x02, litres")
    recorder_speed_kmh: float | None = Field(None, description="additional item 0x03, the driving recorder's speed")
    alarm_emergency: bool = Field(False, description="alarm bit 0")
    alarm_overspeed: bool = Field(False, description="alarm bit 1")
    alarm_fatigue: bool = Field(False, description="alarm bit 2")
    load_state: Literal["empty", "half", "full"] | None = Field(None, description="status bits 8-9 (2013)")
    extras_tail: str = Field("", description="additional information that did not parse, hex (kept, counted)")


FIX_BATCH_MAX = 1000  # fixes in one batch value: ~0.5 MB of JSON, under Kafka's 1 MB message default


class GpsFixBatch(RootModel[list[GpsFix]]):
    """A ``gps.fixes`` value may also be a JSON array of fixes (topic contract 2): a producer that has
    many fixes at once — the gateway across its connections, a 0x0704 upload, a replay — sends fewer,
    larger messages (a consumer's cost is per message as much as per fix). Every fix in one array
    belongs to a vehicle of the message's partition (the partition its key would give: the worker
    refuses a fix that does not); each fix is checked on its own, so one bad fix does not cost the
    others. A single object stays valid: producers and consumers of contract 1 keep working."""

    root: list[GpsFix] = Field(min_length=1, max_length=FIX_BATCH_MAX)


_FIX_LIST = TypeAdapter(list[GpsFix])


@dataclass(frozen=True, slots=True)
class BadFix:
    """A refused part of a ``gps.fixes`` value: where it sat in the batch (None: the whole value),
    its own bytes, and why."""

    index: int | None
    raw: bytes
    error: ValueError  # pydantic's ValidationError is a ValueError


def is_fix_batch(raw: bytes) -> bool:
    return raw.lstrip()[:1] == b"["


def read_fix_value(raw: bytes) -> tuple[list[GpsFix], list[BadFix]]:
    """The fixes of one ``gps.fixes`` value — an object (one fix) or an array (a batch) — and the
    parts refused. A batch that is empty, longer than ``FIX_BATCH_MAX`` or not JSON is refused whole."""
    if not is_fix_batch(raw):
        try:
            return [GpsFix.model_validate_json(raw)], []
        except ValueError as e:
            return [], [BadFix(None, raw, e)]
    try:
        fixes = _FIX_LIST.validate_json(raw)  # the common case: every fix is good, one pass in Rust
    except ValidationError:
        fixes = None
    items: list = []
    if fixes is None:
        try:
            items = json.loads(raw)  # it starts with "[": valid JSON is an array
        except ValueError as e:
            return [], [BadFix(None, raw, e)]
    n = len(fixes if fixes is not None else items)
    if not 1 <= n <= FIX_BATCH_MAX:
        return [], [BadFix(None, raw, ValueError(f"a batch of {n} fixes (1 to {FIX_BATCH_MAX})"))]
    if fixes is not None:
        return fixes, []
    good: list[GpsFix] = []
    bad: list[BadFix] = []
    for i, item in enumerate(items):
        try:
            good.append(GpsFix.model_validate(item))
        except ValidationError as e:
            bad.append(BadFix(i, json.dumps(item, ensure_ascii=False).encode(), e))
    return good, bad


def fix_batch_bytes(fixes: list[GpsFix]) -> bytes:
    """The batch value of ``fixes`` (1 to ``FIX_BATCH_MAX``, all of one partition: the caller's part)."""
    if not 1 <= len(fixes) <= FIX_BATCH_MAX:
        raise ValueError(f"a batch of {len(fixes)} fixes (1 to {FIX_BATCH_MAX})")
    return b"[" + b",".join(f.to_json_bytes() for f in fixes) + b"]"


class DriverShift(Message):
    """A driver's IC card inserted (sign-in) or pulled out (sign-out) at a truck's terminal (0x0702)."""

    vehicle_id: str
    terminal_id: str
    event: Literal["sign_in", "sign_out"]
    at: AwareDatetime = Field(description="the terminal's time of the card event (the receive time for 2011 terminals)")
    received_at: AwareDatetime
    card_read_ok: bool | None = None
    driver_name: str = ""
    qualification: str = Field("", description="从业资格证编码, the driver's qualification certificate")
    issuer: str = ""
    certificate_expires: str = Field("", description="YYYYMMDD")
    id_card: str = Field("", description="driver's identity card number (2011, 2019)")


class TerminalData(Message):
    """Data a terminal passes through for another device (0x0900), kept with its type."""

    vehicle_id: str
    terminal_id: str
    kind: int = Field(
        ge=0, le=255, description="transparent message type (0x00 GNSS, 0x0B IC card, 0x41/0x42 serial, ...)"
    )
    data_hex: str
    received_at: AwareDatetime


class Direction(StrEnum):
    inbound = "in"  # delivered by a collection truck
    outbound = "out"  # transferred out to incineration / landfill


class Destination(StrEnum):
    incineration = "incineration"
    landfill = "landfill"
    recycling = "recycling"
    treatment = "treatment"


class WeighTicket(Message):
    """A weighbridge ticket of a transfer station (the ground truth of tonnage)."""

    station_id: str
    serial: str = Field(min_length=1, max_length=64, description="ticket serial, unique per station")
    plate: str = Field(description="normalised plate, e.g. 沪A12345")
    vehicle_id: str | None = None
    direction: Direction
    waste_stream: WasteStream
    gross_kg: float = Field(ge=0)
    tare_kg: float = Field(ge=0)
    net_kg: float = Field(ge=0)
    weigh_in_at: AwareDatetime
    weigh_out_at: AwareDatetime
    manual_weight: bool = False
    stored_tare: bool = False
    destination: Destination | None = None
    received_at: AwareDatetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.station_id, self.serial)


class DeadLetter(Message):
    """Input that was rejected: the raw bytes and why, never silently dropped."""

    source: Literal["gateway", "weighbridge", "worker", "recompute", "notify", "complaints", "exceptions"]
    reason: str
    raw_hex: str = Field(description="the rejected bytes, hex")
    received_at: AwareDatetime
    peer: str | None = None
    terminal_id: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)

    @field_validator("raw_hex")
    @classmethod
    def _is_hex(cls, v: str) -> str:
        bytes.fromhex(v)
        return v.lower()
