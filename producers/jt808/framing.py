"""JT/T 808 framing: 0x7E delimiters, 0x7D escapes, XOR check code. Pure, no I/O.

A frame on the wire is ``7E <escaped: header body check> 7E``. ``FrameSplitter`` turns a TCP byte
stream into frames, resynchronising after junk and refusing to buffer more than a cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from operator import xor

FLAG = 0x7E
ESC = 0x7D
_FLAG_B = b"\x7e"
_ESC_B = b"\x7d"


class Jt808Error(ValueError):
    """A frame or message that cannot be decoded; ``reason`` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = "", raw: bytes = b""):
        self.reason = reason
        self.detail = detail
        self.raw = raw
        super().__init__(f"{reason}: {detail}" if detail else reason)


def escape(data: bytes) -> bytes:
    """0x7D → 0x7D 0x01, then 0x7E → 0x7D 0x02 (order matters)."""
    return data.replace(_ESC_B, b"\x7d\x01").replace(_FLAG_B, b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    """Inverse of :func:`escape`; a 0x7D not followed by 0x01/0x02 is an error."""
    if ESC not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        j = data.find(ESC, i)
        if j < 0:
            out += data[i:]
            break
        out += data[i:j]
        if j + 1 >= n:
            raise Jt808Error("bad escape", "0x7D at end of frame")
        nxt = data[j + 1]
        if nxt == 0x01:
            out.append(ESC)
        elif nxt == 0x02:
            out.append(FLAG)
        else:
            raise Jt808Error("bad escape", f"0x7D followed by 0x{nxt:02X}")
        i = j + 2
    return bytes(out)


def checksum(data: bytes) -> int:
    """XOR of every byte (header and body, unescaped)."""
    return reduce(xor, data, 0)


def frame(content: bytes) -> bytes:
    """``content`` = header + body (unescaped): append the check code, escape, add delimiters."""
    return _FLAG_B + escape(content + bytes((checksum(content),))) + _FLAG_B


def unframe(raw: bytes, strict: bool = True) -> bytes:
    """One frame (with or without 0x7E delimiters) → header + body, check code verified (not
    ``strict``: a wrong check code is accepted, for fleets with known-broken firmware)."""
    if raw[:1] == _FLAG_B:
        raw = raw[1:]
    if raw[-1:] == _FLAG_B:
        raw = raw[:-1]
    data = unescape(raw)
    if len(data) < 2:
        raise Jt808Error("truncated", f"frame of {len(data)} bytes")
    content, check = data[:-1], data[-1]
    if strict and checksum(content) != check:
        raise Jt808Error("bad checksum", f"got 0x{check:02X}, computed 0x{checksum(content):02X}")
    return content


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes between frames that are not a frame (reported, not silently dropped)."""

    data: bytes


class FrameSplitter:
    """Incremental splitter for a TCP stream.

    ``feed(chunk)`` yields complete raw frames (``7E ... 7E``) and :class:`Junk` for bytes that
    are outside any frame. A frame that grows past ``max_frame`` raises ``Jt808Error('oversized')``
    and the buffer is discarded up to the next delimiter.
    """

    def __init__(self, max_frame: int = 8192):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._junk = bytearray()  # junk is reported in one piece (up to max_frame), not per TCP read

    @property
    def buffered(self) -> int:
        return len(self._buf) + len(self._junk)

    def flush(self) -> Iterator[Junk]:
        """At the end of the connection: what is left that never became a frame."""
        left = bytes(self._junk + self._buf)
        self._junk.clear()
        self._buf.clear()
        if left:
            yield Junk(left)

    def _take_junk(self, data: bytes | bytearray) -> Iterator[Junk]:
        self._junk += data
        if len(self._junk) >= self.max_frame:
            yield Junk(bytes(self._junk))
            self._junk.clear()

    def feed(self, chunk: bytes) -> Iterator[bytes | Junk]:
        buf = self._buf
        buf += chunk
        while True:
            start = buf.find(FLAG)
            if start < 0:
                if buf:
                    yield from self._take_junk(buf)
                    buf.clear()
                return
            if start > 0:
                yield from self._take_junk(buf[:start])
                del buf[:start]
            if self._junk:  # a frame starts: the junk before it is complete
                yield Junk(bytes(self._junk))
                self._junk.clear()
            end = buf.find(FLAG, 1)
            if end < 0:
                if len(buf) > self.max_frame:
                    dropped = bytes(buf)
                    buf.clear()
                    raise Jt808Error("oversized", f"no frame end within {self.max_frame} bytes", dropped)
                return
            if end == 1:
                # "7E 7E": the first was the end of a frame we never saw the start of; resync on the second
                del buf[:1]
                continue
            yield bytes(buf[: end + 1])
            del buf[: end + 1]
