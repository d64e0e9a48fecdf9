"""JT/T 808 message decoder and encoder (2013 and 2019 headers). Pure: bytes in, objects out.

Layout (JT/T 808-2019 §4): header = msg id WORD, body attributes WORD (bits 0-9 body length,
10-12 encryption, 13 split, 14 version flag), [protocol version BYTE (2019)], terminal phone BCD[6]
(2013) or BCD[10] (2019), serial WORD, [packet total WORD, packet index WORD]; then the body;
the XOR check code and escaping are in :mod:`framing`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from wastestream.producers.jt808.framing import Jt808Error, frame, unframe
from wastestream.producers.jt808.messages import (
    STATUS_SOUTH,
    STATUS_WEST,
    Authenticate,
    BatchLocation,
    Body,
    DriverIdentity,
    Header,
    Heartbeat,
    Location,
    Logout,
    Message,
    MsgId,
    PlatformReply,
    Register,
    RegisterReply,
    RegisterResult,
    ReplyResult,
    RetransmitRequest,
    TerminalReply,
    Transparent,
    Unknown,
)

CST = timezone(timedelta(hours=8), "GMT+8")
MAX_BODY = 0x3FF  # 1023 bytes per (sub-)package
_HDR = struct.Struct(">HH")
_WORD = struct.Struct(">H")
_LOC = struct.Struct(">IIIIHHH")
_REPLY = struct.Struct(">HHB")
_DIGITS = frozenset("0123456789")


# -- primitives ---------------------------------------------------------------------------------
def bcd_decode(b: bytes) -> str:
    s = b.hex()
    if not _DIGITS.issuperset(s):
        raise Jt808Error("bad BCD", s)
    return s


def phone_id(b: bytes) -> str:
    """The terminal id of a header's phone field: its BCD digits; or, when the field is not BCD
    (trackers packing their IMEI as a binary number), the field's value in decimal. A binary id
    whose nibbles happen to be all decimal digits reads as BCD: such a terminal is registered by
    those digits."""
    s = b.hex()
    return s if _DIGITS.issuperset(s) else str(int.from_bytes(b, "big"))


def bcd_encode(digits: str, size: int) -> bytes:
    digits = digits.rjust(size * 2, "0")
    if len(digits) != size * 2 or not _DIGITS.issuperset(digits):
        raise ValueError(f"cannot encode {digits!r} as BCD[{size}]")
    return bytes.fromhex(digits)


def bcd_time_decode(b: bytes) -> datetime:
    """BCD[6] YYMMDDhhmmss in GMT+8 → aware UTC datetime."""
    s = b.hex()
    if not _DIGITS.issuperset(s):
        raise Jt808Error("bad BCD time", s)
    try:
        local = datetime(
            2000 + int(s[0:2]), int(s[2:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), tzinfo=CST
        )
    except ValueError:
        raise Jt808Error("bad BCD time", s) from None
    return local.astimezone(UTC)


def bcd_time_encode(t: datetime) -> bytes:
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return bytes.fromhex(t.astimezone(CST).strftime("%y%m%d%H%M%S"))


def _text(b: bytes) -> str:
    return b.rstrip(b"\x00").decode("gbk", errors="replace").strip()


# -- header -------------------------------------------------------------------------------------
def decode_header(content: bytes) -> tuple[Header, bytes]:
    if len(content) < 12:
        raise Jt808Error("truncated", f"header needs at least 12 bytes, got {len(content)}")
    msg_id, attr = _HDR.unpack_from(content, 0)
    body_len = attr & 0x3FF
    split = attr & 0x2000
    if attr & 0x4000:
        if len(content) < 17:
            raise Jt808Error("truncated", f"2019 header needs 17 bytes, got {len(content)}")
        version: int | None = content[4]
        phone = content[5:15]
        serial = _WORD.unpack_from(content, 15)[0]
        off = 17
    else:
        version = None
        phone = content[4:10]
        serial = _WORD.unpack_from(content, 10)[0]
        off = 12
    terminal = phone_id(phone)
    total = index = None
    if split:
        if len(content) < off + 4:
            raise Jt808Error("truncated", "split header without packet fields")
        total, index = _HDR.unpack_from(content, off)
        off += 4
        if total == 0 or not 1 <= index <= total:
            raise Jt808Error("bad packet index", f"{index}/{total}")
    body = content[off:]
    if len(body) != body_len:
        raise Jt808Error("bad length", f"header says {body_len} body bytes, frame has {len(body)}")
    h = Header(msg_id, terminal, serial, body_len, version, (attr >> 10) & 0x7, total, index, bytes(phone))
    return h, body


def encode_header(
    msg_id: int,
    terminal: str,
    serial: int,
    body_len: int,
    version: int | None = None,
    packet: tuple[int, int] | None = None,
    phone: bytes = b"",
) -> bytes:
    """``phone``: the phone field as the terminal sent it (replies echo it; needed for ids that are
    not BCD); else ``terminal`` as BCD."""
    if body_len > MAX_BODY:
        raise ValueError(f"body of {body_len} bytes needs sub-packages")
    attr = body_len | (0x2000 if packet else 0) | (0x4000 if version is not None else 0)
    out = _HDR.pack(msg_id, attr)
    size = 10 if version is not None else 6
    field = phone if len(phone) == size else bcd_encode(terminal, size)
    if version is not None:
        out += bytes((version,)) + field
    else:
        out += field
    out += _WORD.pack(serial & 0xFFFF)
    if packet:
        out += _HDR.pack(*packet)
    return out


# -- bodies -------------------------------------------------------------------------------------
def decode_location(b: bytes) -> Location:
    """The 28-byte basic block, then the additional items (TLV). Items that do not parse (a length
    past the end, a vendor's fixed-layout tail) are kept raw in ``tail``: they never cost the fix."""
    if len(b) < 28:
        raise Jt808Error("truncated", f"location needs 28 bytes, got {len(b)}")
    alarm, status, lat, lon, alt, speed, heading = _LOC.unpack_from(b, 0)
    if lat > 90_000_000 or lon > 180_000_000:
        raise Jt808Error("bad position", f"latitude {lat / 1e6} / longitude {lon / 1e6} out of range")
    t = bcd_time_decode(b[22:28])
    extras: dict[int, bytes] = {}
    i, n = 28, len(b)
    tail = b""
    while i < n:
        if i + 2 > n or i + 2 + b[i + 1] > n:
            tail = b[i:]
            break
        item, ln = b[i], b[i + 1]
        extras[item] = b[i + 2 : i + 2 + ln]
        i += 2 + ln
    return Location(
        alarm,
        status,
        -lat / 1e6 if status & STATUS_SOUTH else lat / 1e6,
        -lon / 1e6 if status & STATUS_WEST else lon / 1e6,
        alt,
        speed / 10,
        heading % 360,
        t,
        extras,
        tail,
    )


def encode_location(loc: Location) -> bytes:
    status = loc.status & ~(STATUS_SOUTH | STATUS_WEST)
    status |= STATUS_SOUTH if loc.lat < 0 else 0
    status |= STATUS_WEST if loc.lon < 0 else 0
    out = _LOC.pack(
        loc.alarm,
        status,
        round(abs(loc.lat) * 1e6),
        round(abs(loc.lon) * 1e6),
        loc.altitude_m,
        round(loc.speed_kmh * 10),
        loc.heading,
    ) + bcd_time_encode(loc.time)
    for item, value in loc.extras.items():
        out += bytes((item, len(value))) + value
    return out + loc.tail


def decode_batch(b: bytes) -> BatchLocation:
    if len(b) < 3:
        raise Jt808Error("truncated", "0x0704 needs count and type")
    count = _WORD.unpack_from(b, 0)[0]
    kind = b[2]
    items = []
    i = 3
    for k in range(count):
        if i + 2 > len(b):
            raise Jt808Error("truncated", f"0x0704 item {k + 1} of {count}: no length")
        ln = _WORD.unpack_from(b, i)[0]
        if i + 2 + ln > len(b):
            raise Jt808Error("truncated", f"0x0704 item {k + 1} of {count}: wants {ln} bytes")
        items.append(decode_location(b[i + 2 : i + 2 + ln]))
        i += 2 + ln
    if i != len(b):
        raise Jt808Error("bad length", f"0x0704 has {len(b) - i} bytes after {count} items")
    return BatchLocation(kind, tuple(items))


def encode_batch(batch: BatchLocation) -> bytes:
    out = _WORD.pack(len(batch.items)) + bytes((batch.kind,))
    for loc in batch.items:
        item = encode_location(loc)
        out += _WORD.pack(len(item)) + item
    return out


# manufacturer, model, terminal id field sizes per edition of the 0x0100 body
_REGISTER_SIZES = {2011: (5, 8, 7), 2013: (5, 20, 7), 2019: (11, 30, 30)}
_PLATE_COLOURS = frozenset((0, 1, 2, 3, 4, 5, 9))  # 0 = no plate (VIN follows), 1 blue ... 9 other


def register_edition(b: bytes, h: Header) -> int:
    """Which layout a 0x0100 body has: 2019 by the header's version flag; otherwise 2013 unless the
    body is too short for it (2011's model field is 8 bytes where 2013's is 20) or only the 2011
    reading puts a plate colour where one belongs."""
    if h.version is not None:
        return 2019
    if len(b) < 37:
        return 2011
    if b[36] not in _PLATE_COLOURS and b[24] in _PLATE_COLOURS:
        return 2011
    return 2013


def decode_register(b: bytes, h: Header) -> Register:
    edition = register_edition(b, h)
    m, mo, tid = _REGISTER_SIZES[edition]
    need = 4 + m + mo + tid + 1
    if len(b) < need:
        raise Jt808Error("truncated", f"0x0100 ({edition} layout) needs {need} bytes, got {len(b)}")
    province, city = _HDR.unpack_from(b, 0)
    i = 4
    manufacturer = _text(b[i : i + m])
    i += m
    model = _text(b[i : i + mo])
    i += mo
    tmid = _text(b[i : i + tid])
    i += tid
    return Register(province, city, manufacturer, model, tmid, b[i], _text(b[i + 1 :]), edition)


def encode_register(r: Register, version: int | None = None) -> bytes:
    edition = 2019 if version is not None else (r.edition if r.edition == 2011 else 2013)
    m, mo, tid = _REGISTER_SIZES[edition]
    return (
        _HDR.pack(r.province, r.city)
        + r.manufacturer.encode("gbk")[:m].ljust(m, b"\x00")
        + r.model.encode("gbk")[:mo].ljust(mo, b"\x00")
        + r.terminal_model_id.encode("gbk")[:tid].ljust(tid, b"\x00")
        + bytes((r.plate_color,))
        + r.plate.encode("gbk")
    )


def _ntext(b: bytes) -> str:
    """A fixed-size text field padded with NULs on either side (devices do both)."""
    return b.strip(b"\x00").decode("gbk", errors="replace").strip()


def decode_driver(b: bytes, h: Header) -> DriverIdentity:
    """0x0702 in the 2013/2019 layout (status, BCD time, [read result, name, qualification,
    issuer, validity[, id card]]) or the 2011 one (name, id card, qualification, issuer; no status:
    taken as a sign-in at the receive time, which the caller supplies)."""
    n = len(b)
    if n >= 7 and b[0] in (1, 2) and _DIGITS.issuperset(b[1:7].hex()):
        status, t = b[0], bcd_time_decode(b[1:7])
        if status == 2 or n == 7:
            return DriverIdentity(status, t)
        result = b[7]
        if result != 0 or n == 8:
            return DriverIdentity(status, t, result)
        try:
            i = 8
            name = _text(b[i + 1 : i + 1 + b[i]])
            i += 1 + b[i]
            qual = _ntext(b[i : i + 20])
            i += 20
            issuer = _text(b[i + 1 : i + 1 + b[i]])
            i += 1 + b[i]
            expires = b[i : i + 4].hex()
            i += 4
            id_card = _ntext(b[i : i + 20]) if h.version is not None else ""
        except IndexError:
            raise Jt808Error("truncated", "0x0702 driver fields") from None
        if len(expires) != 8:
            raise Jt808Error("truncated", "0x0702 certificate validity")
        return DriverIdentity(status, t, result, name, qual, issuer, expires, id_card)
    # 2011: name length, name, identity card [20], qualification [40], issuer length, issuer
    try:
        i = 0
        name = _text(b[i + 1 : i + 1 + b[i]])
        i += 1 + b[i]
        id_card = _ntext(b[i : i + 20])
        qual = _ntext(b[i + 20 : i + 60])
        i += 60
        issuer = _text(b[i + 1 : i + 1 + b[i]])
    except IndexError:
        raise Jt808Error("truncated", "0x0702 (2011 layout)") from None
    return DriverIdentity(1, datetime.fromtimestamp(0, UTC), None, name, qual, issuer, "", id_card)


def encode_driver(d: DriverIdentity, version: int | None = None) -> bytes:
    """0x0702 in the 2013/2019 layout (what a terminal sends; for tests and the fuzzer's seeds)."""
    out = bytes((d.status,)) + bcd_time_encode(d.time)
    if d.status == 2 or d.read_result is None:
        return out
    out += bytes((d.read_result,))
    if d.read_result != 0:
        return out
    name, issuer = d.name.encode("gbk"), d.issuer.encode("gbk")
    out += bytes((len(name),)) + name + d.qualification.encode("gbk")[:20].ljust(20, b"\x00")
    out += bytes((len(issuer),)) + issuer + bytes.fromhex(d.expires or "00000000")
    if version is not None:
        out += d.id_card.encode("gbk")[:20].ljust(20, b"\x00")
    return out


def decode_transparent(b: bytes) -> Transparent:
    if not b:
        raise Jt808Error("truncated", "0x0900 needs its type byte")
    return Transparent(b[0], b[1:])


def encode_retransmit(r: RetransmitRequest, version: int | None = None) -> bytes:
    count = _WORD.pack(len(r.packets)) if version is not None else bytes((len(r.packets),))
    return _WORD.pack(r.original_serial) + count + b"".join(_WORD.pack(p) for p in r.packets)


def decode_retransmit(b: bytes, h: Header) -> RetransmitRequest:
    wide = h.version is not None
    if len(b) < (4 if wide else 3):
        raise Jt808Error("truncated", "0x8003")
    serial = _WORD.unpack_from(b, 0)[0]
    count, off = (_WORD.unpack_from(b, 2)[0], 4) if wide else (b[2], 3)
    if len(b) < off + 2 * count:
        raise Jt808Error("truncated", f"0x8003 lists {count} packets")
    return RetransmitRequest(serial, tuple(_WORD.unpack_from(b, off + 2 * k)[0] for k in range(count)))


def decode_auth(b: bytes, h: Header) -> Authenticate:
    if h.version is None:
        return Authenticate(_text(b))
    if not b or len(b) < 1 + b[0]:
        raise Jt808Error("truncated", "0x0102 auth code length")
    n = b[0]
    code = _text(b[1 : 1 + n])
    rest = b[1 + n :]
    return Authenticate(code, _text(rest[:15]) or None, _text(rest[15:35]) or None)


def encode_auth(a: Authenticate, version: int | None = None) -> bytes:
    code = a.auth_code.encode("gbk")
    if version is None:
        return code
    return (
        bytes((len(code),))
        + code
        + (a.imei or "").encode()[:15].ljust(15, b"\x00")
        + (a.software_version or "").encode()[:20].ljust(20, b"\x00")
    )


def _decode_reply(b: bytes, cls: type) -> TerminalReply | PlatformReply:
    if len(b) < 5:
        raise Jt808Error("truncated", f"reply needs 5 bytes, got {len(b)}")
    serial, msg, result = _REPLY.unpack_from(b, 0)
    if cls is PlatformReply:
        try:
            return PlatformReply(serial, msg, ReplyResult(result))
        except ValueError:
            raise Jt808Error("bad value", f"0x8001 result {result}") from None
    return TerminalReply(serial, msg, result)


def decode_register_reply(b: bytes) -> RegisterReply:
    if len(b) < 3:
        raise Jt808Error("truncated", "0x8100 needs 3 bytes")
    serial = _WORD.unpack_from(b, 0)[0]
    try:
        result = RegisterResult(b[2])
    except ValueError:
        raise Jt808Error("bad value", f"0x8100 result {b[2]}") from None
    return RegisterReply(serial, result, _text(b[3:]))


_DECODERS: dict[int, Callable[[bytes, Header], Body]] = {
    MsgId.LOCATION: lambda b, h: decode_location(b),
    MsgId.BATCH_LOCATION: lambda b, h: decode_batch(b),
    MsgId.REGISTER: decode_register,
    MsgId.AUTHENTICATE: decode_auth,
    MsgId.HEARTBEAT: lambda b, h: Heartbeat(),
    MsgId.LOGOUT: lambda b, h: Logout(),
    MsgId.TERMINAL_REPLY: lambda b, h: _decode_reply(b, TerminalReply),
    MsgId.PLATFORM_REPLY: lambda b, h: _decode_reply(b, PlatformReply),
    MsgId.REGISTER_REPLY: lambda b, h: decode_register_reply(b),
    MsgId.DRIVER_IDENTITY: decode_driver,
    MsgId.TRANSPARENT: lambda b, h: decode_transparent(b),
    MsgId.RETRANSMIT_REQUEST: decode_retransmit,
}


def decode_body(h: Header, body: bytes) -> Body:
    dec = _DECODERS.get(h.msg_id)
    if dec is None:
        return Unknown(body)
    return dec(body, h)


def decode_frame(raw: bytes, strict: bool = True) -> tuple[Header, bytes]:
    """One raw frame → (header, body bytes). Split packages are left to the Reassembler.
    ``strict=False`` accepts a wrong check code (see :func:`~.framing.unframe`)."""
    return decode_header(unframe(raw, strict))


def decode(raw: bytes) -> Message:
    """Decode one complete (not split) frame. Raises :class:`Jt808Error` and nothing else."""
    try:
        h, body = decode_frame(raw)
        if h.is_split:
            raise Jt808Error("split package", f"packet {h.packet_index}/{h.packet_total} needs reassembly")
        return Message(h, decode_body(h, body))
    except Jt808Error as e:
        e.raw = raw
        raise
    except (struct.error, IndexError, ValueError, UnicodeError) as e:  # defensive: report, never crash
        raise Jt808Error("malformed", f"{type(e).__name__}: {e}", raw) from None


# -- encoding -----------------------------------------------------------------------------------
def encode_body(body: Body, version: int | None = None) -> tuple[int, bytes]:
    match body:
        case Location():
            return MsgId.LOCATION, encode_location(body)
        case BatchLocation():
            return MsgId.BATCH_LOCATION, encode_batch(body)
        case Register():
            return MsgId.REGISTER, encode_register(body, version)
        case Authenticate():
            return MsgId.AUTHENTICATE, encode_auth(body, version)
        case Heartbeat():
            return MsgId.HEARTBEAT, b""
        case Logout():
            return MsgId.LOGOUT, b""
        case TerminalReply():
            return MsgId.TERMINAL_REPLY, _REPLY.pack(body.reply_serial, body.reply_id, body.result)
        case PlatformReply():
            return MsgId.PLATFORM_REPLY, _REPLY.pack(body.reply_serial, body.reply_id, int(body.result))
        case RegisterReply():
            code = body.auth_code.encode("gbk") if body.result == RegisterResult.OK else b""
            return MsgId.REGISTER_REPLY, _WORD.pack(body.reply_serial) + bytes((int(body.result),)) + code
        case RetransmitRequest():
            return MsgId.RETRANSMIT_REQUEST, encode_retransmit(body, version)
        case Transparent():
            return MsgId.TRANSPARENT, bytes((body.kind,)) + body.data
        case DriverIdentity():
            return MsgId.DRIVER_IDENTITY, encode_driver(body, version)
    raise TypeError(f"cannot encode {type(body).__name__}")


def encode(body: Body, terminal: str, serial: int, version: int | None = None, phone: bytes = b"") -> list[bytes]:
    """Body → escaped frames (several when the body exceeds 1023 bytes: sub-packages with
    consecutive serials starting at ``serial``). ``phone``: the raw phone field to echo."""
    msg_id, data = encode_body(body, version)
    if len(data) <= MAX_BODY:
        return [frame(encode_header(msg_id, terminal, serial, len(data), version, phone=phone) + data)]
    parts = [data[i : i + MAX_BODY] for i in range(0, len(data), MAX_BODY)]
    return [
        frame(encode_header(msg_id, terminal, serial + k, len(p), version, (len(parts), k + 1), phone) + p)
        for k, p in enumerate(parts)
    ]


def encode_one(body: Body, terminal: str, serial: int, version: int | None = None, phone: bytes = b"") -> bytes:
    frames = encode(body, terminal, serial, version, phone)
    if len(frames) != 1:
        raise ValueError("message needs sub-packages; use encode()")
    return frames[0]
