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
        env = {
            **os.environ,
            "WASTESTREAM_STATE_DIR": str(tmp_path),
            "WASTESTREAM_INFLUX_PORT": str(port),
        }
        r = run("stack", "up", "influxdb", env=env)
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "taken" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_error_exit_code():
    r = run("stack", "up", "--bogus")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
