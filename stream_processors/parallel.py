"""`wastestream recompute --processes N`: the core over event files in N processes, partitioned as the
worker's topics are — a vehicle's fixes and deliveries, a site's visit sets and a station's tickets, a
source's dead letters each to the process that owns the key (Kafka's partitioner) — with the
coordinator handing visit sets and deliveries from process to process as Kafka hands them from
partition to partition. Each process decides only the points, stations and vehicles it owns. The
figures are those of one process (tested): the same one-writer-per-key split the worker runs on.

Each process reads its own lines: the coordinator only finds a line's key (a regular expression on
the raw JSON; the full parse if that fails), so parsing is parallel too. A bad line stops the run with
one error naming ``file:line``, as in one process.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wastestream.domain.localtime import local_date
from wastestream.errors import WastestreamError
from wastestream.schemas import City, DeadLetter
from wastestream.stream_processors.core import Core, Output
from wastestream.stream_processors.eventfiles import FILES, path_for
from wastestream.stream_processors.partitioning import partition_of
from wastestream.stream_processors.recompute import Result
from wastestream.topics import DEADLETTER, DELIVERIES, GPS_FIXES, VISITS, WEIGH_TICKETS

KEY_FIELD = {GPS_FIXES.name: "vehicle_id", WEIGH_TICKETS.name: "station_id", DEADLETTER.name: "source"}
_KEY_RX = {t: re.compile(rb'"' + f.encode() + rb'"\s*:\s*"([^"\\]*)"') for t, f in KEY_FIELD.items()}
BATCH = 2000


def key_of(topic: str, raw: bytes) -> str | None:
    """The line's partition key (vehicle, station, source); None when the line cannot say."""
    m = _KEY_RX[topic].search(raw)
    if m is not None:
        return m.group(1).decode()
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    key = value.get(KEY_FIELD[topic]) if isinstance(value, dict) else None
    return key if isinstance(key, str) else None


@dataclass
class _Results:
    records: dict[tuple, Any] = field(default_factory=dict)
    days: set[date] = field(default_factory=set)
    watermark: datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("fixes", "tickets", "dead_letters"), 0))
    dead_letters: list[DeadLetter] = field(default_factory=list)  # of the inputs this process refused
    deliveries: list = field(default_factory=list)
    error: str | None = None


def _event_time(value: Any, tz: str) -> date:
    t = getattr(value, "device_time", None) or getattr(value, "weigh_in_at", None) or value.received_at
    return local_date(t, tz)


def _child(conn, city: City, core_options: dict | None, only_date: date | None) -> None:  # noqa: ANN001
    core = Core(city, **(core_options or {}))
    res = _Results()
    counted = {GPS_FIXES.name: "fixes", WEIGH_TICKETS.name: "tickets", DEADLETTER.name: "dead_letters"}

    def take(out: Output, position: str) -> None:
        for r in out.records:
            res.records[r.series] = r
        if out.day is not None:
            res.days.add(out.day)
        if out.event_time is not None and (res.watermark is None or out.event_time > res.watermark):
            res.watermark = out.event_time
        res.deliveries += out.deliveries
        for rej in out.rejected:
            res.dead_letters.append(core.dead_letter(rej, None, position, source="recompute"))

    while True:
        cmd, payload = conn.recv()
        if cmd == "stop":
            return
        if cmd == "results":
            conn.send(res)
            res = _Results()
            continue
        if cmd == "take_visit_sets":
            conn.send(core.take_visit_sets())
            continue
        if cmd == "evaluate":
            now, days, n, me = payload
            out = core.evaluate(now, days, owns=lambda key, n=n, me=me: partition_of(key, n) == me)
            conn.send([*out.records])
            continue
        if cmd == "lines":  # lines of one file: (topic, path, their line numbers, the lines joined by newlines)
            topic, path, numbers, blob = payload
            items = zip(numbers, blob.split(b"\n"), strict=True)
            events = ((topic, raw, f"{topic}:{k}", f"{path}:{k}") for k, raw in items)
        else:  # "events": values handed over (visit sets, deliveries, dead letters)
            events = iter(payload)
        for topic, value, position, where in events:
            if res.error is not None:
                break
            from_file = isinstance(value, bytes)
            try:
                if from_file:
                    value = FILES[topic].model_validate_json(value)
                    if only_date is not None and _event_time(value, city.timezone) != only_date:
                        continue
            except ValidationError as e:
                err = e.errors()[0]
                res.error = f"{where}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
                break
            if from_file:
                res.counts[counted[topic]] += 1
            if topic == GPS_FIXES.name:
                take(core.on_fix(value, position), position)
            elif topic == WEIGH_TICKETS.name:
                take(core.on_ticket(value, position), position)
            elif topic == VISITS.name:
                take(core.on_visit_set(value), position)
            elif topic == DELIVERIES.name:
                take(core.on_delivery(value), position)
            else:
                take(core.on_dead_letter(value, position), position)


def recompute_parallel(
    city: City,
    directory: Path,
    processes: int,
    only_date: date | None = None,
    progress: Callable[[str, int], None] = lambda what, n: None,
    core_options: dict | None = None,
) -> Result:
    """:func:`~wastestream.stream_processors.recompute.recompute` in ``processes`` processes."""
    n = processes
    ctx = mp.get_context("fork")  # the children share the loaded city
    pipes, procs = [], []
    for _ in range(n):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_child, args=(child, city, core_options, only_date), daemon=True)
        p.start()
        pipes.append(parent)
        procs.append(p)
    try:
        return _coordinate(city, directory, n, pipes, progress)
    finally:
        for c in pipes:
            try:
                c.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


def _coordinate(city: City, directory: Path, n: int, pipes: list, progress: Callable[[str, int], None]) -> Result:
    res = Result()
    batches: list[list] = [[] for _ in range(n)]

    def send(part: int, item: tuple) -> None:
        batches[part].append(item)
        if len(batches[part]) >= BATCH:
            pipes[part].send(("events", batches[part]))
            batches[part] = []

    def flush() -> None:
        for k in range(n):
            if batches[k]:
                pipes[k].send(("events", batches[k]))
                batches[k] = []

    def gather() -> list[_Results]:
        flush()
        for c in pipes:
            c.send(("results", None))
        out = [c.recv() for c in pipes]
        for r in out:
            if r.error is not None:
                raise WastestreamError(r.error)
        return out

    totals = dict.fromkeys(("fixes", "tickets", "dead_letters"), 0)
    days: set[date] = set()
    wm: datetime | None = None
    dead_letters: list[DeadLetter] = []

    def merge(parts: list[_Results]) -> list:
        nonlocal wm
        handed = []
        for r in parts:
            res.records.update(r.records)
            days.update(r.days)
            if r.watermark is not None and (wm is None or r.watermark > wm):
                wm = r.watermark
            for k, v in r.counts.items():
                totals[k] += v
            dead_letters.extend(r.dead_letters)
            handed += r.deliveries
        return handed

    lines = 0
    part_of: dict[str | None, int] = {None: 0}  # a line that cannot say its key: the first process parses it
    for topic in (GPS_FIXES.name, WEIGH_TICKETS.name, DEADLETTER.name):
        p = path_for(directory, topic)
        if not p.exists():
            continue
        numbers: list[list[int]] = [[] for _ in range(n)]
        chunks: list[list[bytes]] = [[] for _ in range(n)]

        def ship(k: int, topic: str = topic, p: Path = p, numbers: list = numbers, chunks: list = chunks) -> None:
            if numbers[k]:
                pipes[k].send(("lines", (topic, str(p), numbers[k], b"\n".join(chunks[k]))))
                numbers[k], chunks[k] = [], []

        with open(p, "rb") as f:
            for line_no, raw in enumerate(f, 1):
                raw = raw.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                key = key_of(topic, raw)
                k = part_of.get(key)
                if k is None:
                    k = part_of[key] = partition_of(key, n)  # type: ignore[arg-type]
                numbers[k].append(line_no)
                chunks[k].append(raw)
                if len(numbers[k]) >= BATCH:
                    ship(k)
                lines += 1
                if topic == GPS_FIXES.name and lines % 20000 == 0:
                    progress("fixes", lines)
        for k in range(n):
            ship(k)
    handed = merge(gather())
    # the refused inputs' dead letters, counted by the owner of their source (as the worker's
    # dead-letter agent does), then the visit sets and deliveries handed to their owners
    routed = 0
    for c in pipes:
        c.send(("take_visit_sets", None))
    # every process's visit sets received before any is routed: a process still sending its own (a
    # large day's do not fit the pipe's buffer) reads nothing, so routing to it first would deadlock
    taken = [c.recv() for c in pipes]
    for vs in (vs for sets in taken for vs in sets):
        send(partition_of(vs.site_id, n), (VISITS.name, vs, "", ""))
    while True:
        for dl in dead_letters[routed:]:
            send(partition_of(dl.source, n), (DEADLETTER.name, dl, dl.detail.get("at", ""), ""))
        routed = len(dead_letters)
        for d in handed:
            send(partition_of(d.vehicle_id, n), (DELIVERIES.name, d, "", ""))
        handed = merge(gather())
        if not handed and routed == len(dead_letters):
            break
    res.counts = {**totals, "rejected": len(dead_letters)}
    res.dead_letters = dead_letters
    if wm is not None:
        wm_day = local_date(wm, city.timezone)
        eval_days = sorted(d for d in days if wm_day - timedelta(days=1) <= d <= wm_day)
        for k, c in enumerate(pipes):
            c.send(("evaluate", (wm, eval_days, n, k)))
        for c in pipes:
            for r in c.recv():
                res.records[r.series] = r
        res.days = eval_days
    res.watermark = wm
    return res
