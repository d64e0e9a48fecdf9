from pathlib import Path

import pytest

from wastestream.errors import WastestreamError
from wastestream.settings import Settings


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
