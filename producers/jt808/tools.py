"""Operator tools behind `wastestream jt808 decode|encode`."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from wastestream.errors import WastestreamError
from wastestream.producers.jt808.codec import decode_body, decode_frame, encode
from wastestream.producers.jt808.framing import FrameSplitter, Jt808Error, Junk
from wastestream.producers.jt808.messages import (
    STATUS_ACC,
    STATUS_FIX,
    Authenticate,
    Body,
    Heartbeat,
    Location,
    Logout,
    MsgId,
    Register,
)


def _jsonable(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        d = {k: _jsonable(x) for k, x in asdict(v).items()}
        d["type"] = type(v).__name__
        return d
    if isinstance(v, dict):
        return {(f"0x{k:02X}" if isinstance(k, int) else k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Enum):
        return v.name
    return v


def decode_hex_to_json(text: str) -> list[str]:
    try:
        data = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise WastestreamError("not hex: give the frame bytes as hex, e.g. 7e0002...7e") from None
    if not data.startswith(b"\x7e"):
        data = b"\x7e" + data + b"\x7e"
    lines = []
    for item in FrameSplitter(max_frame=1 << 20).feed(data + b""):
        if isinstance(item, Junk):
            lines.append(json.dumps({"error": "junk bytes", "raw": item.data.hex()}))
            continue
        try:
            h, body = decode_frame(item)
            msg: dict[str, Any] = {"header": _jsonable(h)}
            try:
                msg["msg"] = MsgId(h.msg_id).name
            except ValueError:
                msg["msg"] = f"0x{h.msg_id:04X}"
            msg["body"] = _jsonable(decode_body(h, body)) if not h.is_split else {"split_part": body.hex()}
            lines.append(json.dumps(msg, ensure_ascii=False))
        except Jt808Error as e:
            lines.append(json.dumps({"error": e.reason, "detail": e.detail, "raw": item.hex()}))
    return lines


def build_frame(kind: str, terminal: str, serial: int, version: int | None, **kw: Any) -> str:
    body: Body
    if kind == "location":
        t = datetime.fromisoformat(kw["time"]) if kw.get("time") else datetime.now(UTC).replace(microsecond=0)
        if t.tzinfo is None:
            raise WastestreamError("--time needs an offset, e.g. 2026-11-23T08:00:00+08:00")
        body = Location(0, STATUS_ACC | STATUS_FIX, kw["lat"], kw["lon"], 0, kw["speed"], kw["heading"], t)
    elif kind == "heartbeat":
        body = Heartbeat()
    elif kind == "logout":
        body = Logout()
    elif kind == "auth":
        body = Authenticate(kw["auth_code"])
    elif kind == "register":
        body = Register(31, 0, "WSTST", "SIM-808", "0000001", 1, kw["plate"])
    else:
        raise WastestreamError(f"unknown message {kind!r}: choose location, heartbeat, register, auth, logout")
    return " ".join(f.hex() for f in encode(body, terminal, serial, version))
