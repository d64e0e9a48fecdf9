"""A real three-node Kafka cluster on this machine (`wastestream stack up --brokers 3`: KRaft, every node
a broker and a controller voter; replication 3, min ISR 2): two workers process a seed-city day while
the leader of a busy partition is SIGKILLed and later the active controller. The figures end exact,
every fix has its position in InfluxDB, and the killed nodes rejoin and catch up."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient

from tests.faults.test_faults import DAY, prepare, settle_and_check, wait_fraction
from tests.integration.helpers import cli_process
from tests.integration.test_pipeline_e2e import day_range
from wastestream.admin import admin_client
from wastestream.stack import Kafka, Stack
from wastestream.topics import ALL_TOPICS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(stack):
    """Three Kafka nodes of their own (state under .wastestream-cluster-test); InfluxDB is the test stack's."""
    port = int(os.environ.get("WASTESTREAM_TEST_CLUSTER_KAFKA_PORT", 29192))
    s = stack.model_copy(
        update={
            "state_dir": ROOT / ".wastestream-cluster-test",
            "kafka_port": port,
            "kafka_controller_port": port + 1,
            "kafka_brokers": 3,
            "topic_replication_factor": 3,
            "topic_min_insync_replicas": 2,
            "kafka_heap": "512m",
        }
    )
    st = Stack(s)
    st.reset(print)
    st.up(print, ["kafka"])
    try:
        yield s, st
    finally:
        st.down(print, ["kafka"])


def node_of_leader(s, topic: str, partition: int) -> int:
    with admin_client(s) as admin:
        (t,) = admin.describe_topics([topic])
    return next(p["leader_id"] for p in t["partitions"] if p["partition_index"] == partition) - 1


def active_controller(s) -> int:
    """The quorum leader, as the nodes' KRaft state says (the newest epoch wins)."""
    best = (-1, -1)
    for i in range(3):
        name = "kafka" if i == 0 else f"kafka-{i}"
        q = json.loads((s.state_dir / name / "data" / "__cluster_metadata-0" / "quorum-state").read_text())
        best = max(best, (q["leaderEpoch"], q["leaderId"]))
    return best[1] - 1


def all_in_sync(s, topic: str) -> bool:
    with admin_client(s) as admin:
        (t,) = admin.describe_topics([topic])
    return all(len(p["isr_nodes"]) == 3 for p in t["partitions"])


def kill_and_restart(st: Stack, index: int, down_s: float = 5.0) -> None:
    node: Kafka = st.kafka_nodes[index]
    pid = node.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    while node.pid() is not None:
        time.sleep(0.1)
    time.sleep(down_s)
    node.up(print)


def test_leader_and_controller_killed_on_a_three_node_cluster(cluster, tmp_path):
    s0, st = cluster
    s, env, truth, group = prepare(s0, tmp_path)  # the seed day replayed onto the cluster's topics
    env |= {
        "WASTESTREAM_INFLUX_TOKEN": s.influx_token_value(),
        "WASTESTREAM_TOPIC_REPLICATION_FACTOR": "3",
        "WASTESTREAM_TOPIC_MIN_INSYNC_REPLICAS": "2",
        "WASTESTREAM_TABLE_STANDBY_REPLICAS": "1",
    }
    args = ["worker", "--clock", "event", "--app-id", group]
    with cli_process(args, env, tmp_path / "a.log"), cli_process(args, env, tmp_path / "b.log"):
        wait_fraction(s, group, 0.3)
        leader = node_of_leader(s, s.topic("gps.fixes"), 0)
        kill_and_restart(st, leader)
        wait_fraction(s, group, 0.6)
        kill_and_restart(st, active_controller(s))
        settle_and_check(s, group, truth, tmp_path / "a.log", timeout=300)
        with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
            q = (
                f'from(bucket: "{s.influx_bucket}") |> {day_range(DAY)} |> filter(fn: (r) => r._measurement == '
                '"positions" and r._field == "lat") |> group() |> count()'
            )
            (positions,) = [r["_value"] for r in c.query_api().query_stream(q)]
        assert positions == truth["counts"]["fixes"]  # every fix's position, none lost
    deadline = time.monotonic() + 120  # the killed nodes rejoined and caught up
    while not all(all_in_sync(s, s.topic(t.name)) for t in ALL_TOPICS) and time.monotonic() < deadline:
        time.sleep(2)
    assert all(all_in_sync(s, s.topic(t.name)) for t in ALL_TOPICS)
