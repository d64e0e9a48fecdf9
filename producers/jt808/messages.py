"""JT/T 808 message types (2013 and 2019 editions): plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class MsgId(IntEnum):
    TERMINAL_REPLY = 0x0001
    HEARTBEAT = 0x0002
    LOGOUT = 0x0003
    REGISTER = 0x0100
    AUTHENTICATE = 0x0102
    LOCATION = 0x0200
    BATCH_LOCATION = 0x0704
    PLATFORM_REPLY = 0x8001
    REGISTER_REPLY = 0x8100


class ReplyResult(IntEnum):
    """0x8001 platform general reply result."""

    OK = 0
    FAILURE = 1
    MESSAGE_ERROR = 2
    NOT_SUPPORTED = 3
    ALARM_ACK = 4


class RegisterResult(IntEnum):
    """0x8100 registration reply result."""

    OK = 0
    VEHICLE_REGISTERED = 1
    NO_SUCH_VEHICLE = 2
    TERMINAL_REGISTERED = 3
    NO_SUCH_TERMINAL = 4


# status bits (表 24)
STATUS_ACC = 1 << 0
STATUS_FIX = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3

# additional information item ids (表 27)
EXTRA_ODOMETER = 0x01  # DWORD, 1/10 km
EXTRA_FUEL = 0x02  # WORD, 1/10 L
EXTRA_SIGNAL = 0x30  # BYTE, wireless signal strength
EXTRA_SATELLITES = 0x31  # BYTE, GNSS satellites used


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    terminal: str  # BCD phone number, leading zeros kept (12 digits 2013, 20 digits 2019)
    serial: int
    body_length: int
    version: int | None = None  # 2019 protocol version byte; None for 2013
    encrypted: int = 0
    packet_total: int | None = None  # set when the message is split into sub-packages
    packet_index: int | None = None  # 1-based

    @property
    def is_2019(self) -> bool:
        return self.version is not None

    @property
    def is_split(self) -> bool:
        return self.packet_total is not None


@dataclass(frozen=True, slots=True)
class Location:
    """Location basic information (0x0200 body, also each item of 0x0704)."""

    alarm: int
    status: int
    lat: float  # degrees, signed (south negative)
    lon: float  # degrees, signed (west negative)
    altitude_m: int
    speed_kmh: float
    heading: int
    time: datetime  # aware, UTC (converted from the terminal's GMT+8 BCD time)
    extras: dict[int, bytes] = field(default_factory=dict)

    @property
    def acc_on(self) -> bool:
        return bool(self.status & STATUS_ACC)

    @property
    def fix_valid(self) -> bool:
        return bool(self.status & STATUS_FIX)

    @property
    def odometer_km(self) -> float | None:
        v = self.extras.get(EXTRA_ODOMETER)
        return int.from_bytes(v, "big") / 10 if v is not None and len(v) == 4 else None

    @property
    def satellites(self) -> int | None:
        v = self.extras.get(EXTRA_SATELLITES)
        return v[0] if v is not None and len(v) == 1 else None

    @property
    def signal(self) -> int | None:
        v = self.extras.get(EXTRA_SIGNAL)
        return v[0] if v is not None and len(v) == 1 else None


@dataclass(frozen=True, slots=True)
class BatchLocation:
    """0x0704: several positions; type 1 is the blind-area supplementary upload (back-fill)."""

    kind: int  # 0 = normal batch, 1 = blind-area back-fill
    items: tuple[Location, ...]

    @property
    def backfill(self) -> bool:
        return self.kind == 1


@dataclass(frozen=True, slots=True)
class Register:
    province: int
    city: int
    manufacturer: str
    model: str
    terminal_model_id: str
    plate_color: int
    plate: str  # GBK-decoded, or the VIN when plate_color == 0


@dataclass(frozen=True, slots=True)
class Authenticate:
    auth_code: str
    imei: str | None = None  # 2019
    software_version: str | None = None  # 2019


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Logout:
    pass


@dataclass(frozen=True, slots=True)
class TerminalReply:
    reply_serial: int
    reply_id: int
    result: int


@dataclass(frozen=True, slots=True)
class PlatformReply:
    reply_serial: int
    reply_id: int
    result: ReplyResult


@dataclass(frozen=True, slots=True)
class RegisterReply:
    reply_serial: int
    result: RegisterResult
    auth_code: str = ""


@dataclass(frozen=True, slots=True)
class Unknown:
    body: bytes


Body = (
    Location | BatchLocation | Register | Authenticate | Heartbeat | Logout | TerminalReply
    | PlatformReply | RegisterReply | Unknown
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    body: Body
