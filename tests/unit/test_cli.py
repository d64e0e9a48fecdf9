"""CLI parsing and error reporting (no servers)."""

import subprocess
import sys

import pytest

from wastestream.cli import main


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wastestream.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_help_lists_subcommands():
    r = run("--help")
    assert r.returncode == 0
    for sub in ("stack", "topics", "settings"):
        assert sub in r.stdout


def test_stack_help_lists_actions():
    r = run("stack", "--help")
    for action in ("up", "down", "status", "logs", "reset", "install"):
        assert action in r.stdout


def test_unknown_service_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WASTESTREAM_STATE_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as e:
        main(["stack", "down", "zookeeper"])
    assert e.value.code == 1


def test_error_output_has_no_traceback(tmp_path):
    import os

    env = {**os.environ, "WASTESTREAM_STATE_DIR": str(tmp_path)}
    r = run("stack", "logs", "nosuch", env=env)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: unknown service 'nosuch'")
    assert len(r.stderr.strip().splitlines()) == 1


def test_port_taken_is_reported_with_port(tmp_path):
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {**os.environ, "WASTESTREAM_STATE_DIR": str(tmp_path), "WASTESTREAM_INFLUX_PORT": str(port)}
        r = run("stack", "up", "influxdb", env=env)
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "taken" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_error_exit_code():
    r = run("stack", "up", "--bogus")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_a_rejected_frame_exits_non_zero():
    r = run("jt808", "decode", "7e0200dead7e")
    assert r.returncode == 1
    assert '"error": "bad checksum"' in r.stdout and "rejected" in r.stderr and "Traceback" not in r.stderr


def test_recompute_counts_refused_inputs_and_stops_on_an_unreadable_line(tmp_path):
    """Over files: a refused input (here a station that does not exist) is counted and listed, exit 0;
    a line that is no valid message is one error line naming file:line, exit 1."""
    import json
    from datetime import date

    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline

    d = tmp_path / "day"
    write_offline(build_city(808), date(2026, 11, 23), 808, Faults(), d)
    tickets = d / "weigh.tickets.jsonl"
    first = json.loads(tickets.read_text().splitlines()[0])
    with open(tickets, "a", encoding="utf-8") as f:
        f.write(json.dumps({**first, "station_id": "S9", "serial": "X-9"}) + "\n")
    r = run(
        "recompute",
        "--events",
        str(d),
        "--json",
        str(tmp_path / "fig.json"),
        "--dead-letters",
        str(tmp_path / "dead.jsonl"),
    )
    assert r.returncode == 0, r.stderr
    assert "ticket_unknown_station': 1" in r.stderr
    (dead,) = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert json.loads(dead)["detail"]["kind"] == "ticket_unknown_station"
    n = len(tickets.read_text().splitlines())
    with open(tickets, "a", encoding="utf-8") as f:
        f.write('{"station_id": "S01"}\n')
    r = run("recompute", "--events", str(d), "--json", str(tmp_path / "fig.json"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]  # progress lines before it
    assert len(errors) == 1 and f"weigh.tickets.jsonl:{n + 1}: serial: Field required" in errors[0]


def test_stack_up_starts_what_each_service_needs_first():
    from wastestream.stack import with_dependencies

    assert with_dependencies(["weighbridge"]) == ["kafka", "weighbridge"]
    assert with_dependencies(["worker", "gateway"]) == ["kafka", "influxdb", "worker", "gateway"]
    assert with_dependencies(["influxdb", "notify"]) == ["influxdb", "kafka", "notify"]
    assert with_dependencies(["kafka"]) == ["kafka"]
