"""Sub-package reassembly (JT/T 808 §4.4.3): pure, the caller passes the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from wastestream.producers.jt808.framing import Jt808Error
from wastestream.producers.jt808.messages import Header


@dataclass
class _Pending:
    first_seen: float
    header: Header
    parts: dict[int, bytes] = field(default_factory=dict)
    raw: list[bytes] = field(default_factory=list)


class Reassembler:
    """Collects sub-packages of one terminal. Packets of one message have consecutive serials,
    so ``serial - index + 1`` identifies the message."""

    def __init__(self, timeout_s: float = 60.0, max_pending: int = 64):
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[tuple[str, int, int, int], _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def held_bytes(self) -> int:
        """Bytes of the incomplete messages held (their packets' bodies and raw frames)."""
        return sum(sum(map(len, p.parts.values())) + sum(map(len, p.raw)) for p in self._pending.values())

    def has(self, key: tuple) -> bool:
        return key in self._pending

    def incomplete(self) -> list[tuple[tuple, int, Header, list[int], float]]:
        """(key, serial of the first packet, a header, the missing packet indices, first seen) of each
        incomplete message: what a 0x8003 retransmission request asks for."""
        out = []
        for key, p in self._pending.items():
            total = p.header.packet_total or 0
            missing = [i for i in range(1, total + 1) if i not in p.parts]
            out.append((key, key[3], p.header, missing, p.first_seen))
        return out

    def clear(self) -> None:
        self._pending.clear()

    def add(self, h: Header, body: bytes, raw: bytes, now: float) -> tuple[Header, bytes] | None:
        """Add one packet; returns (header of the whole message, body) when complete."""
        assert h.packet_total is not None and h.packet_index is not None
        key = (h.terminal, h.msg_id, h.packet_total, (h.serial - h.packet_index + 1) & 0xFFFF)
        p = self._pending.get(key)
        if p is None:
            if len(self._pending) >= self.max_pending:
                raise Jt808Error("too many split messages", f"{self.max_pending} incomplete", raw)
            p = self._pending[key] = _Pending(now, h)
        p.parts[h.packet_index] = body
        p.raw.append(raw)
        if len(p.parts) < h.packet_total:
            return None
        del self._pending[key]
        data = b"".join(p.parts[i] for i in range(1, h.packet_total + 1))
        return Header(h.msg_id, h.terminal, key[3], len(data), h.version, h.encrypted, phone=h.phone), data

    def expire(self, now: float) -> list[tuple[Header, list[bytes]]]:
        """Drop incomplete messages older than the timeout; returns them (for the dead-letter topic)."""
        gone = [k for k, p in self._pending.items() if now - p.first_seen > self.timeout_s]
        return [(self._pending[k].header, self._pending.pop(k).raw) for k in gone]
