"""JSON Lines event files: the simulator's offline output and topic dumps, one file per topic.

``<dir>/gps.fixes.jsonl``, ``<dir>/weigh.tickets.jsonl``, ``<dir>/deadletter.jsonl``: one message
value (the topic's JSON) per line, in the order they reached (or would reach) the topic. A line of
``gps.fixes`` may be a batch (a JSON array of fixes, as the topic carries them): its fixes in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from wastestream.errors import WastestreamError
from wastestream.schemas import DeadLetter, GpsFix, WeighTicket
from wastestream.schemas.events import read_fix_value
from wastestream.topics import DEADLETTER, GPS_FIXES, WEIGH_TICKETS

FILES = {GPS_FIXES.name: GpsFix, WEIGH_TICKETS.name: WeighTicket, DEADLETTER.name: DeadLetter}


def path_for(directory: Path, topic: str) -> Path:
    return directory / f"{topic}.jsonl"


def read_events(directory: Path, topic: str) -> Iterator[GpsFix | WeighTicket | DeadLetter]:
    """Parse one topic's file; a bad line is an error naming the file and line (never skipped)."""
    model = FILES[topic]
    p = path_for(directory, topic)
    if not p.exists():
        return
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if model is GpsFix and line.lstrip().startswith("["):  # a batch value (topic contract 2)
                fixes, bad = read_fix_value(line.encode())
                if bad:
                    b = bad[0]
                    where = "" if b.index is None else f"[{b.index}]"
                    raise WastestreamError(f"{p}:{n}{where}: {_why(b.error)}")
                yield from fixes
                continue
            try:
                yield model.model_validate_json(line)
            except ValidationError as e:
                raise WastestreamError(f"{p}:{n}: {_why(e)}") from None


def _why(e: ValueError) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
    return str(e).splitlines()[0]


class EventWriter:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {t: open(path_for(directory, t), "w", encoding="utf-8") for t in FILES}
        self.counts = dict.fromkeys(FILES, 0)

    def write(self, topic: str, value) -> None:  # noqa: ANN001
        self.files[topic].write(value.model_dump_json() + "\n")
        self.counts[topic] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def write_json(path: Path, data) -> None:  # noqa: ANN001
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
