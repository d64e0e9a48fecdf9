"""A simulated hour of the seed city through the real gateway (JT/T 808 over TCP), the real
weighbridge API (HTTP) and Kafka lands exactly the fixes and tickets the ground truth says."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from wastestream.admin import ensure_topics
from wastestream.domain.localtime import local_date
from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.online import run_online
from wastestream.schemas import dump_city
from wastestream.topics import ALL_TOPICS

from .helpers import cli_process, end_offsets, free_port, read_topic, stack_env

pytestmark = pytest.mark.integration
DAY = local_date(datetime.now(UTC)) - timedelta(days=1)  # received now: a recent day (the back-fill horizon)


def test_simulated_hour_lands_exactly_the_ground_truth(stack, tmp_path):
    u = uuid.uuid4().hex[:8]
    city = build_city(808)
    city_file = tmp_path / "city.yaml"
    dump_city(city, city_file)
    gw, wb = free_port(), free_port()
    s = stack.model_copy(
        update={"topic_prefix": f"sim{u}.", "city_file": city_file, "gateway_port": gw, "weighbridge_port": wb}
    )
    ensure_topics(s, ALL_TOPICS)
    env = stack_env(s, WASTESTREAM_TOPIC_PREFIX=s.topic_prefix, WASTESTREAM_CITY_FILE=str(city_file))
    before = {t: end_offsets(s, s.topic(t)) for t in ("gps.fixes", "weigh.tickets", "deadletter")}
    truth_file = tmp_path / "truth.json"
    with (
        cli_process(["gateway", "--port", str(gw)], env, tmp_path / "gateway.log", ready_port=gw),
        cli_process(["weighbridge", "--port", str(wb)], env, tmp_path / "weighbridge.log", ready_port=wb),
    ):
        stats = run_online(s, city, DAY, 808, Faults.demo(), "max", "08:30", "09:30", truth_file, lambda m: None)
    expected = json.loads(truth_file.read_text())["expected_in_window"]
    assert expected["fixes"] > 5000 and expected["tickets"] > 0 and expected["dead_letters"] > 0

    fixes = read_topic(s, s.topic("gps.fixes"), until=lambda m: len(m) >= expected["fixes"], timeout=30)
    tickets = read_topic(s, s.topic("weigh.tickets"), until=lambda m: len(m) >= expected["tickets"], timeout=30)
    dead = read_topic(s, s.topic("deadletter"), until=lambda m: len(m) >= expected["dead_letters"], timeout=30)
    assert all(v == 0 for offs in before.values() for v in offs.values())  # fresh topics
    assert len(fixes) == expected["fixes"]
    assert len({(f["vehicle_id"], f["device_time"]) for f in fixes}) == expected["fixes"]  # none twice
    assert len(tickets) == expected["tickets"]
    assert len({(t["station_id"], t["serial"]) for t in tickets}) == expected["tickets"]
    assert stats.tickets.get("duplicate", 0) == expected["duplicates"]
    assert len(dead) == expected["dead_letters"]
    assert {d["reason"] for d in dead} == {"bad checksum", "unknown terminal"}  # junk, a stranger registering
    assert stats.fixes_refused == 0
