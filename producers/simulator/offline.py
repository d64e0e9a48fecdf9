"""Offline mode: write a simulated day as the topics would hold it (JSON Lines) plus ground truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from wastestream.producers.jt808 import Jt808Error, decode
from wastestream.producers.simulator.day import Faults, SimEvent, Truth, simulate_day
from wastestream.schemas import City, DeadLetter, dump_city
from wastestream.stream_processors.eventfiles import EventWriter, write_json
from wastestream.topics import DEADLETTER, GPS_FIXES, WEIGH_TICKETS


def arrival_order(events: list[SimEvent]) -> list[tuple[str, object]]:
    """(topic, value) in the order they would land on Kafka: stored fixes arrive with their upload."""
    stored: dict[str, list] = {}
    out: list[tuple[str, object]] = []
    for e in events:
        if e.kind == "fix":
            out.append((GPS_FIXES.name, e.fix))
        elif e.kind == "store":
            stored.setdefault(e.vehicle_id or "", []).append(e.fix)
        elif e.kind == "upload":
            out.extend((GPS_FIXES.name, f) for f in stored.pop(e.vehicle_id or "", []))
        elif e.kind == "ticket":  # as the weighbridge API publishes it: stamped with its receive time
            assert e.ticket is not None
            out.append((WEIGH_TICKETS.name, e.ticket.model_copy(update={"received_at": e.deliver_at})))
        elif e.kind == "junk":
            try:
                decode(e.data)
                reason = "junk bytes"
            except Jt808Error as err:
                reason = err.reason
            out.append(
                (
                    DEADLETTER.name,
                    DeadLetter(source="gateway", reason=reason, raw_hex=e.data.hex(), received_at=e.deliver_at),
                )
            )
        elif e.kind == "stranger":  # the gateway refuses the registration of an unregistered terminal
            h = decode(e.data).header
            out.append(
                (
                    DEADLETTER.name,
                    DeadLetter(
                        source="gateway",
                        reason="unknown terminal",
                        raw_hex=e.data.hex(),
                        received_at=e.deliver_at,
                        terminal_id=h.terminal,
                    ),
                )
            )
    return out


def write_offline(city: City, day: date, seed: int, faults: Faults, directory: Path) -> tuple[Truth, dict[str, int]]:
    events, truth = simulate_day(city, day, seed, faults)
    w = EventWriter(directory)
    try:
        for topic, value in arrival_order(events):
            w.write(topic, value)
    finally:
        w.close()
    dump_city(city, directory / "city.yaml")
    write_json(directory / "truth.json", truth.to_json())
    return truth, w.counts


def write_json_truth(path: Path, truth: Truth, expected=None) -> None:  # noqa: ANN001
    data = truth.to_json()
    if expected is not None:
        data["expected_in_window"] = vars(expected)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
