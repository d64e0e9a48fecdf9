"""Mutation fuzzing of the gateway's protocol path (splitter → decoder → session), without sockets.

Seeds are valid frames of every message the gateway takes (register, authenticate, heartbeat,
location, blind-area batch, split packages, 2013 and 2019 headers). Each case mutates one: flips
bits, inserts/deletes/duplicates bytes, truncates, splices two frames, or — so the fuzzer gets past
the checksum into the body decoders — mutates the *content* and frames it again with a valid
checksum. The case is fed to a :class:`TerminalSession` in random chunk sizes (byte-at-a-time
included). Invariants checked for every case:

* nothing raises out of ``TerminalSession.feed`` (a crash would drop the connection's other data);
* every dead letter carries a non-empty reason and the raw bytes;
* every frame fed is accounted for: it gave a reply, a fix or a dead letter (or is still buffered).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wastestream.producers.jt808 import (
    Authenticate,
    BatchLocation,
    DriverIdentity,
    Heartbeat,
    Location,
    Register,
    Transparent,
    encode,
    encode_one,
)
from wastestream.producers.jt808.framing import frame, unframe


@dataclass
class FuzzStats:
    cases: int = 0
    frames: int = 0  # frames (delimited byte strings) fed, counting splices and junk as they split
    fixes: int = 0
    replies: int = 0
    dead: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # invariant violations (should stay empty)

    @property
    def dead_total(self) -> int:
        return sum(self.dead.values())


def seeds(terminal: str, auth_code: str) -> list[bytes]:
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

    def loc(i: int) -> Location:
        return Location(
            0,
            3,
            31.2 + i * 1e-4,
            121.4 + i * 1e-4,
            5,
            25.5,
            i % 360,
            t0 + timedelta(seconds=30 * i),
            {0x01: (1234 + i).to_bytes(4, "big"), 0x30: b"\x1b"},
        )

    out = [
        encode_one(Register(31, 0, "WSFZZ", "FUZZ", "0000001", 1, "沪A12345"), terminal, 1),
        encode_one(Authenticate(auth_code), terminal, 2),
        encode_one(Heartbeat(), terminal, 3),
        encode_one(loc(0), terminal, 4),
        encode_one(loc(1), terminal, 5, 1),  # 2019 header
        encode_one(BatchLocation(1, tuple(loc(i) for i in range(2, 6))), terminal, 6),
    ]
    out += [
        encode_one(DriverIdentity(1, t0, 0, "张三", "QC123456", "上海市交通委", "20301231"), terminal, 8),
        encode_one(DriverIdentity(2, t0 + timedelta(hours=8)), terminal, 9),
        encode_one(Transparent(0x41, b"\x01\x02serial-data"), terminal, 10),
        encode_one(Register(31, 0, "WS", "M7", "0000001", 1, "沪A12345", 2011), terminal, 11),
    ]
    out += encode(BatchLocation(1, tuple(loc(i) for i in range(6, 60))), terminal, 7)  # > 1023 bytes: split packages
    assert len(out) > 7, "the long batch is split into packages"
    return out


def _mutate(rnd: random.Random, f: bytes, corpus: list[bytes]) -> bytes:
    op = rnd.randrange(9)
    b = bytearray(f)
    if op == 0:  # bit flips anywhere
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif op == 1:  # insert random bytes (escapes and delimiters included)
        for _ in range(rnd.randint(1, 8)):
            b.insert(rnd.randrange(len(b) + 1), rnd.choice([0x7E, 0x7D, 0x01, 0x02, rnd.randrange(256)]))
    elif op == 2:  # delete a slice
        i = rnd.randrange(len(b))
        del b[i : i + rnd.randint(1, 16)]
    elif op == 3:  # truncate
        b = b[: rnd.randrange(1, len(b))]
    elif op == 4:  # splice two frames
        other = rnd.choice(corpus)
        b = b[: rnd.randrange(len(b))] + other[rnd.randrange(len(other)) :]
    elif op == 5:  # random junk
        b = bytearray(rnd.randbytes(rnd.randint(1, 300)))
    else:  # mutate the content and frame it again with a valid checksum: reaches the body decoders
        try:
            content = bytearray(unframe(bytes(b))[:-1])
        except Exception:  # noqa: BLE001 - an already broken seed: mutate the raw bytes instead
            content = bytearray(b[1:-1])
        for _ in range(rnd.randint(1, 6)):
            what = rnd.randrange(4)
            if what == 0 and content:
                content[rnd.randrange(len(content))] = rnd.randrange(256)
            elif what == 1 and content:
                del content[rnd.randrange(len(content)) :]
            elif what == 2:
                content += rnd.randbytes(rnd.randint(1, 40))
            elif len(content) >= 4:  # the body properties field (length, split flag, version)
                content[rnd.choice([2, 3])] = rnd.randrange(256)
        b = bytearray(frame(bytes(content)))
    return bytes(b)


def run_fuzz(
    n: int, seed: int = 808, progress: Callable[[int], None] = lambda done: None, every: int = 50_000
) -> FuzzStats:
    from wastestream.producers.gateway import TerminalDirectory, TerminalSession
    from wastestream.schemas import Vehicle

    vehicle = Vehicle(
        id="VF1",
        plate="沪A12345",
        contractor_id="C01",
        terminal_id="13800138000",
        rated_load_kg=8000,
        stored_tare_kg=9000,
    )
    directory = TerminalDirectory([vehicle], new_code=lambda: "FUZZCODE")  # the seeds authenticate with it
    corpus = seeds("013800138000", "FUZZCODE")
    rnd = random.Random(seed)
    stats = FuzzStats()
    received = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    session = TerminalSession(directory, "fuzz")
    for case in range(n):
        if case % 200 == 0:  # a fresh connection now and then: authenticated or not
            session = TerminalSession(directory, "fuzz")
            if rnd.random() < 0.7:
                session.feed(corpus[0] + corpus[1], received, 0.0)
        f = rnd.choice(corpus)
        data = (f if rnd.random() < 0.05 else _mutate(rnd, f, corpus)) or b"\x00"
        stats.cases += 1
        stats.frames += max(1, data.count(b"\x7e") // 2)
        step = 1 if rnd.random() < 0.02 else rnd.choice([3, 17, 64, len(data)])  # byte-at-a-time, slow senders
        try:
            for i in range(0, len(data), step):
                acts = session.feed(data[i : i + step], received, case * 0.01)
                stats.fixes += len(acts.fixes)
                stats.replies += len(acts.replies) + len(acts.on_publish)
                for d in acts.dead:
                    if not d.reason or (not d.raw_hex and d.reason != "incomplete split message"):
                        stats.failures.append(f"case {case}: dead letter without reason/raw: {d!r}"[:300])
                    stats.dead[d.reason] += 1
                if acts.close:  # the gateway closes this connection; the next case opens another
                    session = TerminalSession(directory, "fuzz")
                    break
        except Exception as e:  # noqa: BLE001 - this is what the fuzzer is looking for
            stats.failures.append(f"case {case}: {type(e).__name__}: {e} on {data.hex()}"[:500])
            session = TerminalSession(directory, "fuzz")
        if (case + 1) % every == 0:
            progress(case + 1)
    return stats
