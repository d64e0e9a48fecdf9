"""A rebalance storm: three workers process a seed-city day while one of them, chosen at random, is
SIGKILLed and replaced every 5–15 s — and now and then after 20–40 s, so that rebalances complete with
work in flight (a killed worker leaves the group only after its session times out). Afterwards every
event counts exactly once: every fix on the topic has its position in InfluxDB (per vehicle), every
ticket in and out is counted once, every station balance and status equals the truth.

``make test`` runs it for 3 minutes; ``make chaos`` for 5 (``WASTESTREAM_CHAOS_SECONDS``), printing the
counts. The worker's commit points (docs/durability.md) are what it tests."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest
from influxdb_client import InfluxDBClient

from tests.faults.test_faults import DAY, assert_truth, prepare
from tests.integration.helpers import cli_process
from tests.integration.test_pipeline_e2e import day_range, wait_for_truth, wait_until_consumed
from wastestream.stream_processors.eventfiles import read_events

pytestmark = pytest.mark.integration


def positions_per_vehicle(s) -> Counter:
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        q = (
            f'from(bucket: "{s.influx_bucket}") |> {day_range(DAY)} |> filter(fn: (r) => r._measurement == '
            '"positions" and r._field == "lat") |> group(columns: ["vehicle"]) |> count()'
        )
        return Counter({r["vehicle"]: r["_value"] for r in c.query_api().query_stream(q)})


def tickets_counted(s) -> int:
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        q = (
            f'from(bucket: "{s.influx_bucket}") |> {day_range(DAY)} |> filter(fn: (r) => r._measurement == '
            '"tonnage" and r._field == "tickets") |> group() |> sum()'
        )
        return sum(r["_value"] for r in c.query_api().query_stream(q))


def test_rebalance_storm_loses_and_doubles_nothing(stack, tmp_path):
    seconds = float(os.environ.get("WASTESTREAM_CHAOS_SECONDS", "180"))
    s, env, truth, group = prepare(stack, tmp_path)
    fixes = Counter(f.vehicle_id for f in read_events(tmp_path / "events", "gps.fixes"))
    rnd = random.Random(808)
    args = ["worker", "--clock", "event", "--app-id", group]
    kills = 0
    live: list = []  # (context manager, process) of the running workers

    def start(k: int) -> None:
        cm = cli_process(args, env, tmp_path / f"w{k}.log")
        live.append((cm, cm.__enter__()))

    try:
        for k in range(3):
            start(k)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(rnd.uniform(20, 40) if rnd.random() < 0.25 else rnd.uniform(5, 15))
            cm, proc = live.pop(rnd.randrange(len(live)))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            cm.__exit__(None, None, None)
            kills += 1
            start(2 + kills)
        try:
            wait_until_consumed(s, group, timeout=420)
            wait_for_truth(s, truth, tmp_path / f"w{2 + kills}.log", timeout=420)
        finally:  # what the workers counted: refused acks, gaps, hand-overs, commit points
            for f in sorted(s.state_dir.glob(f"worker-stats-{group}-*.json")):
                print(f.name, f.read_text())
        time.sleep(5)
        assert_truth(s, truth)
        got = positions_per_vehicle(s)
        counted = tickets_counted(s)
    finally:
        for cm, _ in live:
            cm.__exit__(None, None, None)
    print(
        f"\nchaos: {seconds:.0f} s, {kills} workers SIGKILLed and replaced; positions {sum(got.values())} of "
        f"{sum(fixes.values())} fixes; tickets counted {counted} of {truth['counts']['tickets_unique']}"
    )
    assert kills >= 3
    assert got == fixes  # every fix's position, per vehicle: none lost, none twice
    assert counted == truth["counts"]["tickets_unique"]  # in and out, each once
