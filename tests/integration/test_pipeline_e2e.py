"""A simulated seed-city day through real Kafka, the Faust worker and real InfluxDB equals the
simulator's ground truth exactly; `recompute` over the same events gives the same figures; and
replaying the topics from the start (a fresh worker group) changes no figure."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient

from wastestream.admin import committed_offsets, group_lag
from wastestream.admin import end_offsets as stack_end_offsets
from wastestream.stream_processors.recompute import recompute

from .helpers import cli_process, end_offsets, read_topic, seed_day, stack_env

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 16)


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    import uuid

    u = uuid.uuid4().hex[:8]
    s, d, city, truth = seed_day(stack, DAY, f"e2e{u}", tmp_path_factory.mktemp("e2e"))
    return s, d, city, truth, u


def env_for(s, u: str) -> dict[str, str]:
    return stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
    )


def day_range(day: date) -> str:
    """Flux range from two days before ``day`` to two days after (the figures sit at day starts)."""
    lo, hi = day - timedelta(days=2), day + timedelta(days=2)
    return f"range(start: {lo.isoformat()}T00:00:00Z, stop: {hi.isoformat()}T00:00:00Z)"


def figures(s, day: date = DAY) -> dict[str, dict]:
    client = InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org)
    q = client.query_api()
    out: dict[str, dict] = {}
    base = f'from(bucket: "{s.influx_bucket}") |> {day_range(day)}'
    out["status"] = {
        r["point"]: r["_value"]
        for r in q.query_stream(f'{base} |> filter(fn: (r) => r._measurement == "clearance" and r._field == "status")')
    }
    ton: dict[str, float] = defaultdict(float)
    for r in q.query_stream(f'{base} |> filter(fn: (r) => r._measurement == "tonnage" and r._field == "net_kg")'):
        ton[f"{r['direction']}|{r['station']}|{r['vehicle']}|{r['contractor']}|{r['waste_stream']}"] += r["_value"]
    out["tonnage"] = dict(ton)
    out["alerts"] = {  # missed-clearance alerts: point -> active (1 raised, 0 resolved)
        r["subject"]: r["_value"]
        for r in q.query_stream(
            f'{base} |> filter(fn: (r) => r._measurement == "alerts" and r._field == "active" and r.kind == "missed_clearance")'
        )
    }
    out["balance"] = {
        (r["station"], r["_field"]): r["_value"]
        for r in q.query_stream(f'{base} |> filter(fn: (r) => r._measurement == "station_balance")')
    }
    client.close()
    return out


def truth_tonnage_in(truth) -> dict[str, float]:
    return {f"in|{k}": v for k, v in truth["tonnage_in"].items()}


def wait_until_consumed(s, group: str, timeout: float = 240) -> None:
    ends = stack_end_offsets(s, [s.topic(t) for t in ("gps.fixes", "weigh.tickets", "deadletter")])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group_lag(s, group, ends) == 0:
            return
        time.sleep(2)
    got = committed_offsets(s, group)
    behind = {f"{tp.topic}/{tp.partition}": (got.get(tp, 0), end) for tp, end in ends.items() if got.get(tp, 0) < end}
    raise AssertionError(f"group {group} did not commit everything in {timeout}s (committed, end): {behind}")


def wait_for_truth(s, truth, log: Path, timeout: float = 240) -> dict:
    want_status = {p: v["status"] for p, v in truth["stops"].items()}
    deadline = time.monotonic() + timeout
    f: dict = {}
    while time.monotonic() < deadline:
        f = figures(s, date.fromisoformat(truth["day"]))
        in_ton = {k: v for k, v in f["tonnage"].items() if k.startswith("in|")}
        if f["status"] == want_status and in_ton == truth_tonnage_in(truth):
            return f
        time.sleep(3)
    diff = {p: (f.get("status", {}).get(p), v) for p, v in want_status.items() if f.get("status", {}).get(p) != v}
    in_ton = {k: v for k, v in f.get("tonnage", {}).items() if k.startswith("in|")}
    ton_diff = {k: (in_ton.get(k), v) for k, v in truth_tonnage_in(truth).items() if in_ton.get(k) != v}
    raise AssertionError(
        f"figures did not reach the truth: statuses (got, want) {list(diff.items())[:5]} ({len(diff)} differ); "
        f"tonnage {list(ton_diff.items())[:3]}; log: {log.read_text()[-1500:]}"
    )


def test_worker_figures_equal_ground_truth_then_recompute_and_replay(run, tmp_path):
    s, d, city, truth, u = run
    env = env_for(s, u)
    log1 = tmp_path / "worker1.log"
    with cli_process(["worker", "--clock", "event", "--app-id", f"e2e-{u}"], env, log1):
        got = wait_for_truth(s, truth, log1)
        wait_until_consumed(s, f"e2e-{u}")
        time.sleep(3)  # one more flush after the last tick
        got = figures(s)

    # exactly the simulator's ground truth
    assert got["status"] == {p: v["status"] for p, v in truth["stops"].items()}
    assert {k: v for k, v in got["tonnage"].items() if k.startswith("in|")} == truth_tonnage_in(truth)
    assert {st: v for (st, f), v in got["balance"].items() if f == "transferred_kg"} == truth["transferred_out"]
    # pages: a missed-clearance alert for each point the truth says was missed, and for no other. The
    # worker read the day as a backlog (tickets at once, fixes over a minute): deadlines are judged only
    # as far as the fixes have been read (before, ~1,000 points were raised, then resolved)
    alerts_topic = s.topic("alerts")
    n_alerts = sum(end_offsets(s, alerts_topic).values())
    alerts = read_topic(s, alerts_topic, until=lambda msgs: len(msgs) >= n_alerts)
    raised = sorted(a["subject"] for a in alerts if a["kind"] == "missed_clearance" and a["state"] == "raised")
    assert raised == sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")
    assert got["alerts"] == {p: 1 for p in raised}  # and in InfluxDB, for Grafana's alert rule

    # recompute over the same events: the same figures
    res = recompute(city, d)
    rec_status = {dict(r.tags)["point"]: dict(r.fields)["status"] for r in res.select("clearance")}
    assert rec_status == got["status"]
    rec_ton: dict[str, float] = defaultdict(float)
    for r in res.select("tonnage"):
        t = dict(r.tags)
        rec_ton[f"{t['direction']}|{t['station']}|{t['vehicle']}|{t['contractor']}|{t['waste_stream']}"] += dict(
            r.fields
        )["net_kg"]
    assert dict(rec_ton) == got["tonnage"]
    rec_bal = {(dict(r.tags)["station"], k): v for r in res.select("station_balance") for k, v in r.fields}
    assert rec_bal == got["balance"]

    # replay the topics from the start with a fresh worker group: no figure changes
    log2 = tmp_path / "worker2.log"
    with cli_process(["worker", "--clock", "event", "--app-id", f"e2e-{u}-replay"], env, log2):
        wait_until_consumed(s, f"e2e-{u}-replay")
        # the fresh group decides the deadlines again once its read marks say its fixes are read
        # (the first group's marks do not count for it): until then its first decisions (pending)
        # may still come, over the first group's figures; marks go every tick, decisions follow
        time.sleep(3 * s.worker_tick_interval_s + s.worker_commit_interval_s + 2)
        wait_for_truth(s, truth, log2)
        time.sleep(5)
        again = figures(s)
    assert again == got
