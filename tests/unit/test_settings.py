from pathlib import Path

import pytest

from wastestream.errors import WastestreamError
from wastestream.settings import Settings, StackSettings


def test_defaults_listen_on_loopback():
    s = Settings(state_dir=Path("/nonexistent-ws"))
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.influx_url == "http://127.0.0.1:18086"
    assert s.timezone == "Asia/Shanghai"


def test_env_prefix(monkeypatch):
    monkeypatch.setenv("WASTESTREAM_KAFKA_PORT", "39092")
    monkeypatch.setenv("WASTESTREAM_INFLUX_ORG", "city")
    s = Settings(state_dir=Path("/nonexistent-ws"))
    assert s.kafka_bootstrap == "127.0.0.1:39092"
    assert s.influx_org == "city"


def test_token_read_from_local_env_written_by_stack_up(tmp_path, monkeypatch):
    monkeypatch.delenv("WASTESTREAM_INFLUX_TOKEN", raising=False)
    (tmp_path / "local.env").write_text("# comment\nWASTESTREAM_INFLUX_TOKEN=abc123\n")
    s = Settings(state_dir=tmp_path)
    assert s.influx_token_value() == "abc123"
    assert "abc123" not in repr(s)  # the secret is masked


def test_env_token_wins_over_local_env(tmp_path, monkeypatch):
    (tmp_path / "local.env").write_text("WASTESTREAM_INFLUX_TOKEN=from-file\n")
    monkeypatch.setenv("WASTESTREAM_INFLUX_TOKEN", "from-env")
    assert Settings(state_dir=tmp_path).influx_token_value() == "from-env"


def test_missing_token_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("WASTESTREAM_INFLUX_TOKEN", raising=False)
    with pytest.raises(WastestreamError, match="wastestream stack up"):
        Settings(state_dir=tmp_path).influx_token_value()


def test_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WASTESTREAM_TOPIC_PARTITIONS=12\n")
    assert Settings(state_dir=tmp_path).topic_partitions == 12


def test_a_local_cluster_of_three_nodes_has_one_quorum_and_a_bootstrap_list(tmp_path):
    from wastestream.stack import Stack

    s = StackSettings(
        state_dir=tmp_path, kafka_port=29192, kafka_controller_port=29193, kafka_brokers=3, topic_min_insync_replicas=2
    )
    assert s.kafka_bootstrap == "127.0.0.1:29192,127.0.0.1:29194,127.0.0.1:29196"
    nodes = Stack(s).select(["kafka"])
    assert [n.name for n in nodes] == ["kafka", "kafka-1", "kafka-2"]
    assert [n.ports for n in nodes] == [[29192, 29193], [29194, 29195], [29196, 29197]]
    props = [
        dict(
            line.split("=", 1)
            for line in n.properties(tmp_path).splitlines()
            if "=" in line and not line.startswith("#")
        )
        for n in nodes
    ]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in props} == {"1@127.0.0.1:29193,2@127.0.0.1:29195,3@127.0.0.1:29197"}
    assert {
        (p["default.replication.factor"], p["min.insync.replicas"], p["offsets.topic.replication.factor"])
        for p in props
    } == {("3", "2", "3")}
    assert Settings(state_dir=tmp_path).kafka_bootstrap == "127.0.0.1:19092"  # the single node as before


def test_runtime_settings_know_nothing_of_the_local_stack(tmp_path):
    s = Settings(state_dir=tmp_path, kafka_port=29192)
    assert not hasattr(s, "kafka_version") and not hasattr(s, "cache_dir") and not hasattr(s, "kafka_brokers")
    assert s.kafka_bootstrap == "127.0.0.1:29192"
    cluster = Settings(state_dir=tmp_path, kafka_bootstrap_servers="k1:9092,k2:9092,k3:9092")
    assert cluster.kafka_bootstrap == "k1:9092,k2:9092,k3:9092"
    assert StackSettings(state_dir=tmp_path, kafka_port=29192, kafka_brokers=2).kafka_bootstrap == (
        "127.0.0.1:29192,127.0.0.1:29194"
    )


def test_the_worker_defaults_are_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("WASTESTREAM_WORKER_CLOCK", "event")
    monkeypatch.setenv("WASTESTREAM_WORKER_COMMIT_INTERVAL_S", "2")
    s = Settings(state_dir=tmp_path)
    assert s.worker_clock == "event" and s.worker_commit_interval_s == 2.0
    assert Settings(state_dir=tmp_path, worker_clock="wall").worker_clock == "wall"
