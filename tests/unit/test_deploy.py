"""deploy/compose.yaml cannot run here (no Docker engine); keep it valid and consistent."""

from pathlib import Path

import yaml

from wastestream.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def test_images_are_official_and_pinned():
    images = {name: svc["image"] for name, svc in COMPOSE["services"].items() if "image" in svc}
    assert set(images) == {"kafka", "influxdb", "grafana"}
    for image in images.values():
        repo, _, tag = image.partition(":")
        assert tag and tag != "latest", image
    assert images["kafka"].startswith("apache/kafka:4.")
    assert images["influxdb"].startswith("influxdb:2.")


def test_project_services_run_existing_cli_commands():
    import typer.main

    group = typer.main.get_command(app)
    for name, svc in COMPOSE["services"].items():
        if "build" in svc:
            cmd = svc["command"]
            assert cmd[0] == "wastestream", name
            assert cmd[1] in group.commands, f"{name}: `wastestream {cmd[1]}` does not exist"


def test_depends_on_refers_to_defined_services():
    names = set(COMPOSE["services"])
    for svc in COMPOSE["services"].values():
        assert set(svc.get("depends_on", {})) <= names


def test_no_secret_values_in_compose():
    text = (ROOT / "deploy" / "compose.yaml").read_text()
    assert "${WASTESTREAM_INFLUX_TOKEN" in text
    assert "PASSWORD: ${" in text
