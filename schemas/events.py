"""Values on the input topics: ``gps.fixes``, ``weigh.tickets``, ``driver.shifts``, ``terminal.data``
and ``deadletter``.

Every message carries ``schema_version``; datetimes must be timezone-aware (naive ones are refused).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

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
