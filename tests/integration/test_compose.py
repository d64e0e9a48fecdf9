"""deploy/compose.yaml's own services, started natively: Docker cannot run here, so each service's
environment and command are taken from the file (variables resolved as compose resolves them from
deploy/.env, the service hostnames pointed at the local stack, the state volume a folder) and the
command is run against the real local Kafka and InfluxDB — proving the configuration is complete:
init writes the secrets and the city, topics are created, the gateway and the weighbridge API
serve (a station's token from the generated secret is accepted), the worker runs."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from .helpers import cli_process, free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
STATE = "/var/lib/wastestream"


def resolve(value: str, env: dict[str, str]) -> str:
    """${VAR}, ${VAR:-default}, ${VAR:?error} as compose reads them from deploy/.env."""

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        have = env.get(name, "")
        if op == ":?" and not have:
            raise AssertionError(f"compose needs {name}: {arg}")
        return have or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


def service_env(name: str, dotenv: dict[str, str], stack, state: Path, prefix: str) -> dict[str, str]:
    import os

    raw = COMPOSE["services"][name]["environment"]
    env = {k: resolve(str(v), dotenv) for k, v in raw.items()}
    vol = [v for v in COMPOSE["services"][name].get("volumes", []) if v.endswith(f":{STATE}")]
    assert vol, f"{name} does not mount the state volume"
    env = {k: v.replace(STATE, str(state)) for k, v in env.items()}
    # the compose network's hostnames → this machine's test stack
    assert env["WASTESTREAM_KAFKA_HOST"] == "kafka" and env["WASTESTREAM_INFLUX_HOST"] == "influxdb"
    env |= {
        "WASTESTREAM_KAFKA_HOST": "127.0.0.1",
        "WASTESTREAM_KAFKA_PORT": str(stack.kafka_port),
        "WASTESTREAM_INFLUX_HOST": "127.0.0.1",
        "WASTESTREAM_INFLUX_PORT": str(stack.influx_port),
        "WASTESTREAM_TOPIC_PREFIX": prefix,
        "WASTESTREAM_TOPIC_PARTITIONS": str(stack.topic_partitions),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("WASTESTREAM_")}
    return {**base, **env}


def command(name: str, port: int | None = None) -> list[str]:
    cmd = list(COMPOSE["services"][name]["command"])
    assert cmd[0] == "wastestream"
    args = [("127.0.0.1" if a == "0.0.0.0" else a) for a in cmd[1:]]  # listen on loopback only here
    if port is not None:
        args += ["--port", str(port)]
    return args


def test_every_compose_service_starts_with_what_the_file_gives_it(stack, tmp_path):
    built = [n for n, svc in COMPOSE["services"].items() if "build" in svc]
    assert set(built) == {
        "init", "topics", "gateway", "weighbridge", "worker", "notify", "grafana-orgs", "complaints", "assess",
    }  # fmt: skip
    dotenv = {
        "WASTESTREAM_INFLUX_TOKEN": stack.influx_token_value(),
        "WASTESTREAM_WEIGHBRIDGE_TOKENS": "",
        "WASTESTREAM_NOTIFY_URL": f"http://127.0.0.1:{free_port()}/robot/send?access_token=t",
        "GRAFANA_ADMIN_PASSWORD": "compose-test-admin",
    }
    state = tmp_path / "state"
    prefix = f"compose{uuid.uuid4().hex[:6]}."
    run = {n: service_env(n, dotenv, stack, state, prefix) for n in built}

    for one_shot in ("init", "topics"):
        r = subprocess.run(
            [sys.executable, "-m", "wastestream.cli", *command(one_shot)],
            env=run[one_shot],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, f"{one_shot}: {r.stderr[-1500:]}"
    assert (state / "city.yaml").exists() and "WASTESTREAM_GATEWAY_SECRET=" in (state / "local.env").read_text()

    gw, wb = free_port(), free_port()
    with (
        cli_process(command("gateway", gw), run["gateway"], tmp_path / "gateway.log", ready_port=gw),
        cli_process(command("weighbridge", wb), run["weighbridge"], tmp_path / "weighbridge.log", ready_port=wb),
        cli_process(command("worker"), run["worker"], tmp_path / "worker.log") as worker,
        cli_process(command("notify"), run["notify"], tmp_path / "notify.log") as notify,
        cli_process(command("complaints"), run["complaints"], tmp_path / "complaints.log") as judge,
        cli_process(command("assess"), run["assess"], tmp_path / "assess.log") as assessor,
    ):
        token = subprocess.run(
            [sys.executable, "-m", "wastestream.cli", "weighbridge-token", "S01"],
            env=run["weighbridge"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        assert len(token) == 40
        r = httpx.get(f"http://127.0.0.1:{wb}/health", timeout=10)
        assert r.status_code == 200 and r.json()["stations"] == 17
        r = httpx.post(f"http://127.0.0.1:{wb}/v1/tickets", json=[], headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 422  # authenticated (an empty batch), not 401
        deadline = time.monotonic() + 60
        while not (state / "worker.alive").exists() and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(1)
        assert (state / "worker.alive").exists() and worker.poll() is None
        while not (state / "notify.alive").exists() and time.monotonic() < deadline:
            assert notify.poll() is None, (tmp_path / "notify.log").read_text()[-2000:]
            time.sleep(1)
        assert (state / "notify.alive").exists() and notify.poll() is None
        while not (state / "complaints.alive").exists() and time.monotonic() < deadline:
            assert judge.poll() is None, (tmp_path / "complaints.log").read_text()[-2000:]
            time.sleep(1)
        assert (state / "complaints.alive").exists() and judge.poll() is None
        while not (state / "assess.alive").exists() and time.monotonic() < deadline + 60:
            assert assessor.poll() is None, (tmp_path / "assess.log").read_text()[-2000:]
            time.sleep(1)
        assert (state / "assess.alive").exists() and assessor.poll() is None

    # grafana-orgs, against the stand-in of Grafana's API (Grafana cannot run here): each contractor
    # gets its organisation and a viewer user that is a member of that organisation only
    from ..unit.grafana.grafana_double import GrafanaDouble

    with GrafanaDouble() as g:
        args = [g.url if a == "http://grafana:3000" else a for a in command("grafana-orgs")]
        r = subprocess.run(
            [sys.executable, "-m", "wastestream.cli", *args],
            env=run["grafana-orgs"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr[-1500:]
        assert g.auth_seen == {"Basic " + base64.b64encode(b"admin:compose-test-admin").decode()}
        orgs = {name: oid for oid, name in g.orgs.items()}
        contractors = [n for n in orgs if n.startswith("contractor-")]
        assert len(contractors) == 10
        assert not [k for k in g.dashboards if k[0] == 1]  # the dispatch org is left to file provisioning
        passwords = json.loads((state / "grafana-viewers.json").read_text())
        for uid, user in g.users.items():
            member_of = {o: role for (o, u), role in g.members.items() if u == uid}
            assert member_of == {orgs[user["login"]]: "Viewer"}, (user["login"], member_of)
            assert user["password"] == passwords[user["login"].removeprefix("contractor-").upper()]
            (ds,) = [d for (o, _), d in g.datasources.items() if o == orgs[user["login"]]]
            assert ds["jsonData"]["defaultBucket"] == user["login"]  # its own bucket, contractor-<id>
        assert len(g.users) == 10
