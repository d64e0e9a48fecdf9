"""Faults during a simulated seed-city day: after each, the figures in InfluxDB equal the
simulator's ground truth — nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from tests.integration.helpers import cli_process, stack_env
from tests.integration.test_pipeline_e2e import figures, truth_tonnage_in, wait_for_truth, wait_until_consumed
from wastestream.admin import committed_offsets, end_offsets, ensure_topics
from wastestream.producers.replay import record_key, replay_files
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.stack import InfluxDB, Kafka
from wastestream.stream_processors.eventfiles import FILES, read_events
from wastestream.stream_processors.partitioning import partition_of
from wastestream.stream_processors.sink import InfluxSink
from wastestream.topics import ALL_TOPICS

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 16)  # replayed days: any day (their receive times travel with them)
FIX_BATCH = 25  # fixes per gps.fixes message (contract 2): small enough that a fault lands mid-run


def recent_day() -> date:
    """Yesterday in the city: a day simulated through the live gateway is received now, so it must be
    within the back-fill horizon of its receive time."""
    from datetime import UTC, datetime, timedelta

    from wastestream.domain.localtime import local_date

    return local_date(datetime.now(UTC)) - timedelta(days=1)


def prepare(stack, tmp_path, replay: bool = True):
    """The seed day's files, its topics and buckets; ``replay``: all its events on the topics at once
    (else a test feeds them with :class:`Feed`)."""
    u = uuid.uuid4().hex[:8]
    city = build_city(808)
    d = tmp_path / "events"
    truth, _ = write_offline(city, DAY, 808, Faults.demo(), d)
    s = stack.model_copy(update={"topic_prefix": f"f{u}.", "influx_bucket": f"f-{u}", "city_file": d / "city.yaml"})
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.close()
    if replay:
        replay_files(s, d, fix_batch=FIX_BATCH)
    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
    )
    return s, env, truth.to_json(), f"f-{u}"


class Feed:
    """The day's events fed to the topics over ``seconds`` from a thread, as a live feed arrives: a
    fault timed by the group's progress then lands mid-run however fast the worker is (a worker that
    takes the whole day within one commit interval left nothing to land in when it was all there)."""

    def __init__(self, s, directory, seconds: float) -> None:
        per_partition = Counter(
            partition_of(record_key("gps.fixes", f), s.topic_partitions) for f in read_events(directory, "gps.fixes")
        )
        self.fix_messages = sum(math.ceil(n / FIX_BATCH) for n in per_partition.values())
        others = sum(sum(1 for _ in read_events(directory, t)) for t in FILES if t != "gps.fixes")
        rate = (self.fix_messages + others) / seconds
        self.error: BaseException | None = None

        def run() -> None:
            try:
                replay_files(s, directory, fix_batch=FIX_BATCH, rate=rate)
            except BaseException as e:  # noqa: BLE001 - raised by finish()
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def running(self) -> bool:
        return self.thread.is_alive()

    def finish(self, timeout: float = 300) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the feed did not finish"
        if self.error is not None:
            raise self.error


def fixes_published(s, state: dict) -> int:
    """How many fixes gps.fixes holds so far (a batch counts its fixes), read on from the last call."""
    from kafka import KafkaConsumer, TopicPartition

    if "consumer" not in state:
        c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
        topic = s.topic("gps.fixes")
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        state.update(consumer=c, n=0)
    for recs in state["consumer"].poll(timeout_ms=200).values():
        for r in recs:
            v = json.loads(r.value)
            state["n"] += len(v) if isinstance(v, list) else 1
    return state["n"]


def consumed_fraction(s, group: str, feed: Feed | None = None) -> float:
    """The part of gps.fixes the group has committed: of what the topic holds, or of all ``feed`` sends."""
    ends = end_offsets(s, [s.topic("gps.fixes")])
    got = committed_offsets(s, group)  # {} while the group's coordinator is not there yet
    total = feed.fix_messages if feed is not None else sum(ends.values())
    return sum(got.get(tp, 0) for tp in ends) / max(1, total)


def wait_fraction(s, group: str, fraction: float, timeout: float = 120, feed: Feed | None = None) -> None:
    """Until the group has committed ``fraction`` of the fixes (so a fault lands mid-run)."""
    deadline = time.monotonic() + timeout
    while consumed_fraction(s, group, feed) < fraction and time.monotonic() < deadline:
        time.sleep(0.5)


def assert_mid_run(s, group: str, feed: Feed) -> None:
    """Some of the day committed, and more of it still to come."""
    assert consumed_fraction(s, group, feed) > 0 and feed.running(), "the fault must land mid-run"


def settle_and_check(s, group: str, truth, log, timeout: float = 240) -> None:
    """The figures reach the truth and the group commits every event (none left behind a gap)."""
    wait_for_truth(s, truth, log, timeout=timeout)
    wait_until_consumed(s, group, timeout=timeout)
    time.sleep(3)  # the last ticks and flushes
    assert_truth(s, truth)


def assert_truth(s, truth) -> None:
    f = figures(s, date.fromisoformat(truth["day"]))
    assert f["status"] == {p: v["status"] for p, v in truth["stops"].items()}
    assert {k: v for k, v in f["tonnage"].items() if k.startswith("in|")} == truth_tonnage_in(truth)
    assert {st: v for (st, fld), v in f["balance"].items() if fld == "transferred_kg"} == truth["transferred_out"]
    # the pages Grafana's rule sees: active for each missed point, for no other (none lost, none left over)
    assert {p for p, active in f["alerts"].items() if active == 1} == {
        p for p, v in truth["stops"].items() if v["status"] == "missed"
    }


def test_worker_killed_with_sigkill_and_restarted(stack, tmp_path):
    s, env, truth, group = prepare(stack, tmp_path, replay=False)
    feed = Feed(s, tmp_path / "events", seconds=45)
    args = ["worker", "--clock", "event", "--app-id", group]
    with cli_process(args, env, tmp_path / "w1.log") as w:
        wait_fraction(s, group, 0.3, feed=feed)
        assert_mid_run(s, group, feed)
        os.kill(w.pid, signal.SIGKILL)
        w.wait()
    with cli_process(args, env, tmp_path / "w2.log"):
        feed.finish()
        settle_and_check(s, group, truth, tmp_path / "w2.log")


def test_influxdb_down_for_a_while(stack, tmp_path):
    s, env, truth, group = prepare(stack, tmp_path, replay=False)
    feed = Feed(s, tmp_path / "events", seconds=60)
    influx = InfluxDB(stack)
    with cli_process(["worker", "--clock", "event", "--app-id", group], env, tmp_path / "w.log"):
        wait_fraction(s, group, 0.2, feed=feed)
        assert_mid_run(s, group, feed)
        influx.down()
        time.sleep(20)  # the feed goes on, the worker keeps consuming; its flushes fail and are kept
        assert feed.running(), "the outage must end mid-run"
        influx.up()
        feed.finish()
        settle_and_check(s, group, truth, tmp_path / "w.log")
        assert "flush" in (tmp_path / "w.log").read_text()  # the outage was seen (and survived)


def test_kafka_broker_restarted(stack, tmp_path):
    s, env, truth, group = prepare(stack, tmp_path)
    kafka = Kafka(stack)
    with cli_process(["worker", "--clock", "event", "--app-id", group], env, tmp_path / "w.log"):
        wait_fraction(s, group, 0.2)
        kafka.down()
        time.sleep(5)
        kafka.up()
        settle_and_check(s, group, truth, tmp_path / "w.log", timeout=300)


def test_two_workers_one_killed_and_a_third_joins(stack, tmp_path):
    """Scale-out: two workers in one group share the partitions; one is SIGKILLed mid-run, a third
    joins; the survivors take over its partitions from the changelogs, and the figures are exact."""
    s, env, truth, group = prepare(stack, tmp_path, replay=False)
    feed = Feed(s, tmp_path / "events", seconds=60)
    args = [
        "worker",
        "--clock",
        "event",
        "--app-id",
        group,
        "--loglevel",
        os.environ.get("WASTESTREAM_TEST_WORKER_LOGLEVEL", "warn"),
    ]
    with cli_process(args, env, tmp_path / "a.log"), cli_process(args, env, tmp_path / "b.log") as b:
        wait_fraction(s, group, 0.3, feed=feed)
        assert_mid_run(s, group, feed)
        os.kill(b.pid, signal.SIGKILL)
        b.wait()
        with cli_process(args, env, tmp_path / "c.log"):
            feed.finish()
            settle_and_check(s, group, truth, tmp_path / "a.log", timeout=300)


def test_visit_sets_applied_slowly_page_no_point_falsely(stack, tmp_path):
    """The day read as a backlog by a worker whose visit sets are applied ~25 s behind their fixes
    (5 ms per visits message, injected): a deadline is decided only once the read marks behind the
    visit sets say they are applied, so exactly the truly missed points are ever raised. (With the
    timed 10 s bound of session 15 this raised 639 more points, then resolved them: CI's failure.)"""
    from tests.integration.helpers import end_offsets as topic_ends
    from tests.integration.helpers import read_topic

    s, env, truth, group = prepare(stack, tmp_path)
    env = {
        **env,
        "WASTESTREAM_FAULT_SLOW_VISITS": "0.005",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "inject"), env.get("PYTHONPATH", "")]),
    }
    log = tmp_path / "w.log"
    with cli_process(["worker", "--clock", "event", "--app-id", group], env, log):
        settle_and_check(s, group, truth, log)
    alerts = s.topic("alerts")
    n = sum(topic_ends(s, alerts).values())
    sent = read_topic(s, alerts, until=lambda msgs: len(msgs) >= n)
    raised = sorted(a["subject"] for a in sent if a["kind"] == "missed_clearance" and a["state"] == "raised")
    assert raised == sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")


def test_gateway_killed_with_terminals_connected(stack, tmp_path):
    """The whole day through the real gateway; it is SIGKILLed mid-run with 54 terminals connected and
    started again 3 s later. Terminals keep what was not acknowledged and upload it as blind-area data
    when they are back; a fix whose acknowledgement was lost arrives twice and counts once."""
    import threading

    from tests.integration.helpers import free_port
    from wastestream.producers.simulator.online import run_online
    from wastestream.schemas import dump_city

    u = uuid.uuid4().hex[:8]
    city = build_city(808)
    city_file = tmp_path / "city.yaml"
    dump_city(city, city_file)
    gw, wb = free_port(), free_port()
    s = stack.model_copy(
        update={
            "topic_prefix": f"g{u}.",
            "influx_bucket": f"g-{u}",
            "city_file": city_file,
            "gateway_port": gw,
            "weighbridge_port": wb,
        }
    )
    ensure_topics(s, ALL_TOPICS)
    sink = InfluxSink(s, city)
    sink.ensure_buckets()
    sink.close()
    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(city_file),
    )
    truth_file = tmp_path / "truth.json"
    group = f"g-{u}"
    result: dict = {}

    def simulate() -> None:
        try:
            result["stats"] = run_online(
                s, city, recent_day(), 808, Faults.demo(), "max", "00:00", "24:00", truth_file, lambda m: None
            )
        except Exception as e:  # noqa: BLE001 - reported by the test below
            result["error"] = e

    worker_log = tmp_path / "worker.log"
    counted: dict = {}
    with (
        cli_process(["worker", "--clock", "event", "--app-id", group], env, worker_log),
        cli_process(["weighbridge", "--port", str(wb)], env, tmp_path / "weighbridge.log", ready_port=wb),
    ):
        with cli_process(["gateway", "--port", str(gw)], env, tmp_path / "gateway1.log", ready_port=gw) as g:
            sim = threading.Thread(target=simulate)
            sim.start()
            deadline = time.monotonic() + 120
            while fixes_published(s, counted) < 8000 and time.monotonic() < deadline:
                time.sleep(0.2)
            counted["consumer"].close()
            assert sim.is_alive(), "the kill must land mid-run"
            os.kill(g.pid, signal.SIGKILL)
            g.wait()
        time.sleep(3)
        with cli_process(["gateway", "--port", str(gw)], env, tmp_path / "gateway2.log", ready_port=gw):
            sim.join(600)
        assert "error" not in result, result.get("error")
        stats = result["stats"]
        assert stats.fixes_refused > 0, "terminals saw the gateway go"
        truth = json.loads(truth_file.read_text())
        settle_and_check(s, group, truth, worker_log)
