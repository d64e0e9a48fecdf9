"""JT/T 808 message types (2011, 2013 and 2019 editions): plain data, no behaviour."""

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
    DRIVER_IDENTITY = 0x0702
    BATCH_LOCATION = 0x0704
    TRANSPARENT = 0x0900
    PLATFORM_REPLY = 0x8001
    RETRANSMIT_REQUEST = 0x8003
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
STATUS_LOAD_SHIFT = 8  # bits 8-9 (2013+): 00 empty, 01 half load, 10 reserved, 11 full load
LOAD_STATES = {0: "empty", 1: "half", 3: "full"}

# alarm bits (表 25)
ALARM_EMERGENCY = 1 << 0
ALARM_OVERSPEED = 1 << 1
ALARM_FATIGUE = 1 << 2

# additional information item ids (表 27)
EXTRA_ODOMETER = 0x01  # DWORD, 1/10 km
EXTRA_FUEL = 0x02  # WORD, 1/10 L
EXTRA_RECORDER_SPEED = 0x03  # WORD, 1/10 km/h, from the driving recorder
EXTRA_SIGNAL = 0x30  # BYTE, wireless signal strength
EXTRA_SATELLITES = 0x31  # BYTE, GNSS satellites used
# the standard items whose length the standard fixes: an item of another length is malformed
EXTRA_LENGTHS = {0x01: 4, 0x02: 2, 0x03: 2, 0x04: 2, 0x25: 4, 0x2A: 2, 0x2B: 4, 0x30: 1, 0x31: 1}


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    # the terminal id: the BCD phone number, leading zeros kept (12 digits 2013, 20 digits 2019);
    # for a phone field that is not BCD (devices packing their IMEI as a binary number), its
    # decimal value, as other platforms derive it
    terminal: str
    serial: int
    body_length: int
    version: int | None = None  # 2019 protocol version byte; None for 2013
    encrypted: int = 0
    packet_total: int | None = None  # set when the message is split into sub-packages
    packet_index: int | None = None  # 1-based
    phone: bytes = b""  # the phone field as received (replies echo it byte for byte)

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
    # what follows the items when they are malformed (a bad length, a vendor's fixed-layout tail):
    # kept raw, never costs the fix
    tail: bytes = b""

    @property
    def acc_on(self) -> bool:
        return bool(self.status & STATUS_ACC)

    @property
    def fix_valid(self) -> bool:
        return bool(self.status & STATUS_FIX)

    def _uint(self, item: int) -> int | None:
        v = self.extras.get(item)
        return int.from_bytes(v, "big") if v is not None and len(v) == EXTRA_LENGTHS[item] else None

    @property
    def odometer_km(self) -> float | None:
        v = self._uint(EXTRA_ODOMETER)
        return None if v is None else v / 10

    @property
    def fuel_l(self) -> float | None:
        v = self._uint(EXTRA_FUEL)
        return None if v is None else v / 10

    @property
    def recorder_speed_kmh(self) -> float | None:
        v = self._uint(EXTRA_RECORDER_SPEED)
        return None if v is None else v / 10

    @property
    def satellites(self) -> int | None:
        return self._uint(EXTRA_SATELLITES)

    @property
    def signal(self) -> int | None:
        return self._uint(EXTRA_SIGNAL)

    @property
    def load_state(self) -> str | None:
        """The 2013 status bits 8-9 sanitation trucks use: empty / half / full (None: reserved)."""
        return LOAD_STATES.get((self.status >> STATUS_LOAD_SHIFT) & 0x3)


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
    edition: int = 2013  # which body layout it came in: 2011, 2013 or 2019


@dataclass(frozen=True, slots=True)
class DriverIdentity:
    """0x0702: a driver's IC card inserted (sign-in, status 1) or pulled out (sign-out, status 2)."""

    status: int
    time: datetime  # aware UTC
    read_result: int | None = None  # 0 = read OK (sign-in only)
    name: str = ""
    qualification: str = ""  # 从业资格证编码
    issuer: str = ""
    expires: str = ""  # YYYYMMDD
    id_card: str = ""  # 2019: driver's identity card number

    @property
    def signed_in(self) -> bool:
        return self.status == 1


@dataclass(frozen=True, slots=True)
class Transparent:
    """0x0900: data passed through for another device (its type byte, the bytes)."""

    kind: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RetransmitRequest:
    """0x8003: the platform asks for the sub-packages it is missing."""

    original_serial: int
    packets: tuple[int, ...]


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
    Location
    | BatchLocation
    | Register
    | Authenticate
    | Heartbeat
    | Logout
    | TerminalReply
    | PlatformReply
    | RegisterReply
    | DriverIdentity
    | Transparent
    | RetransmitRequest
    | Unknown
)


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    body: Body
