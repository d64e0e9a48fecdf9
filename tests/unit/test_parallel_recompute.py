"""`recompute --processes N` (stream_processors.parallel) gives the figures of one process: a faulted
day with planted violations, dead letters, duplicate and ghost tickets, a midnight upload, on a city
with calendars — split 2 and 3 ways as the worker's partitions split it."""

from __future__ import annotations

from datetime import date

import pytest

from wastestream.errors import WastestreamError
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stream_processors.parallel import key_of, recompute_parallel
from wastestream.stream_processors.recompute import recompute

FAULTS = Faults(**{**vars(Faults.demo()), "breakdowns": 1, "overspeeding": 1, "dumping": 1, "undelivered": 1,
                   "night_trips": 1})  # fmt: skip


def figures(res) -> dict:  # noqa: ANN001
    return {series: r.fields for series, r in res.records.items()}


def test_the_same_figures_in_several_processes(tmp_path):
    city = build_city(808, calendars=40)
    d = tmp_path / "day"
    write_offline(city, date(2026, 11, 26), 808, FAULTS, d)
    with (d / "gps.fixes.jsonl").open("a") as f:  # a fix the checks refuse: a clock years ahead
        f.write((d / "gps.fixes.jsonl").read_text().splitlines()[5].replace('"2026-11-', '"2030-11-', 1) + "\n")
    one = recompute(city, d)
    assert one.rejected_by_kind == {"fix_clock_ahead": 1}
    for n in (2, 3):
        many = recompute_parallel(city, d, n)
        assert figures(many) == figures(one), n
        assert (many.watermark, many.days, many.counts) == (one.watermark, one.days, one.counts)
        assert sorted(x.reason for x in many.dead_letters) == sorted(x.reason for x in one.dead_letters)
    measurements = {s[0] for s in one.records}
    assert {"violations", "vehicle_day", "clearance", "tonnage", "data_quality", "positions"} <= measurements


def test_a_bad_line_names_its_file_and_line(tmp_path):
    city = build_city(808)
    d = tmp_path / "day"
    write_offline(city, date(2026, 11, 26), 808, Faults(), d)
    lines = (d / "weigh.tickets.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"net_kg":', '"net_kg":"heavy","was":', 1)
    (d / "weigh.tickets.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(WastestreamError, match=r"weigh\.tickets\.jsonl:4: net_kg"):
        recompute_parallel(city, d, 2)


def test_keys_are_found_in_raw_lines():
    assert key_of("gps.fixes", b'{"schema_version":2,"vehicle_id":"V001","terminal_id":"1"}') == "V001"
    assert key_of("weigh.tickets", b'{"station_id" : "S\\u0030"}') == "S0"  # an escape: the full parse
    assert key_of("deadletter", b"not json") is None


def test_visit_sets_are_routed_only_once_every_process_has_sent_its_own(tmp_path, monkeypatch):
    """A big day's visit sets do not fit a pipe's buffers: the coordinator routing the first process's
    sets to the second while the second was still sending its own deadlocked both (a 20-district day
    of 551,856 fixes hung). Here the pipes' socket buffers are made small and batches short, so the
    seed day's sets overflow them the same way."""
    import multiprocessing as mp
    import socket
    import threading

    import wastestream.stream_processors.parallel as parallel

    real = mp.get_context("fork")

    class SmallPipes:
        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(real, name)

        def Pipe(self):  # noqa: N802, ANN201
            ends = real.Pipe()
            for end in ends:
                sock = socket.socket(fileno=end.fileno())
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.detach()
            return ends

    city = build_city(808)
    d = tmp_path / "day"
    write_offline(city, date(2026, 11, 26), 808, Faults.demo(), d)
    monkeypatch.setattr(parallel, "BATCH", 3)
    monkeypatch.setattr(parallel.mp, "get_context", lambda method: SmallPipes())
    got: list = []
    run = threading.Thread(target=lambda: got.append(recompute_parallel(city, d, 2)), daemon=True)
    run.start()
    run.join(timeout=120)
    assert not run.is_alive(), "recompute_parallel hung"
    assert figures(got[0]) == figures(recompute(city, d))
