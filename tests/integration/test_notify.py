"""`wastestream notify` pages a DingTalk robot (a local HTTP receiver that checks the 加签 signature)
during a simulated day: exactly the truly missed points are paged, once each, through a robot that
refuses the first tries; a restart pages nothing again; and when a late 0x0704 back-fill proves a
missed point served, its resolve arrives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kafka import KafkaProducer

from wastestream.domain.clearance import window
from wastestream.schemas import FixSource, GpsFix
from wastestream.stream_processors.eventfiles import read_events

from .helpers import cli_process, free_port, read_topic, seed_day, stack_env
from .test_pipeline_e2e import DAY, wait_for_truth

pytestmark = pytest.mark.integration
SECRET = "SEC" + "0" * 8 + "test-only-not-a-secret"
LINE = re.compile(r"^- \*\*(\S+)\*\* 未清运", re.M)


class Robot:
    """A DingTalk custom robot stand-in: checks timestamp + sign, answers errcode 0 after ``fail_first``
    refusals (HTTP 500, then errcode 130101 'send too fast')."""

    def __init__(self, fail_first: int = 2):
        self.fail_first = fail_first
        self.messages: list[dict] = []
        self.refused = 0
        self.bad_sign = 0
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002
                pass

            def do_POST(self):  # noqa: N802
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = q.get("timestamp", [""])[0]
                mac = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
                if q.get("sign", [""])[0] != base64.b64encode(mac).decode() or q.get("access_token") != ["robot1"]:
                    robot.bad_sign += 1
                    return self._answer(200, {"errcode": 310000, "errmsg": "sign not match"})
                if robot.refused < robot.fail_first:
                    robot.refused += 1
                    if robot.refused == 1:
                        return self._answer(500, {"error": "busy"})
                    return self._answer(200, {"errcode": 130101, "errmsg": "send too fast"})
                robot.messages.append(json.loads(body))
                self._answer(200, {"errcode": 0, "errmsg": "ok"})

            def _answer(self, code: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token=robot1"

    def paged(self, state: str) -> list[str]:
        """Point ids of every missed-clearance line of every message in that state (repeats kept)."""
        tag = {"raised": "【告警 RAISED】", "resolved": "【恢复 RESOLVED】"}[state]
        return [
            p
            for m in self.messages
            if m["markdown"]["title"].startswith(tag)
            for p in LINE.findall(m["markdown"]["text"])
        ]

    def close(self) -> None:
        self.server.shutdown()


def wait(cond, timeout: float, what: str, log=None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s" + (f"; log: {log.read_text()[-1500:]}" if log else ""))


def backfill_for(city, d, point_id: str) -> list[GpsFix]:
    """A 0x0704 upload proving ``point_id`` served inside its window: 5 min standing at the point by a
    vehicle of its contractor that has no fix within 30 min of then, received after the day's last event."""
    p = next(x for x in city.collection_points if x.id == point_id)
    start, _end, _deadline = window(p, DAY, city.timezone)
    t0 = start + timedelta(minutes=5)
    fixes = list(read_events(d, "gps.fixes"))
    last_received = max(f.received_at for f in fixes)
    for v in (v for v in city.vehicles if v.contractor_id == p.contractor_id):
        if all(abs(f.device_time - t0) > timedelta(minutes=30) for f in fixes if f.vehicle_id == v.id):
            return [
                GpsFix(
                    vehicle_id=v.id,
                    terminal_id=v.terminal_id,
                    device_time=t0 + timedelta(seconds=30 * i),
                    received_at=last_received + timedelta(seconds=60),
                    lat=p.geofence.lat,
                    lon=p.geofence.lon,
                    speed_kmh=0.0,
                    heading=0,
                    acc_on=True,
                    source=FixSource.backfill,
                )
                for i in range(11)
            ]
    raise AssertionError(f"no vehicle of {p.contractor_id} is free at {t0} to serve {point_id}")


def test_missed_points_are_paged_once_and_a_backfill_resolves(stack, tmp_path):
    u = uuid.uuid4().hex[:8]
    s, d, city, truth = seed_day(stack, DAY, f"nt{u}", tmp_path / "day")
    missed = sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")
    assert missed, "the demo faults plant missed stops"

    robot = Robot(fail_first=2)
    env = stack_env(
        s,
        WASTESTREAM_TOPIC_PREFIX=s.topic_prefix,
        WASTESTREAM_INFLUX_BUCKET=s.influx_bucket,
        WASTESTREAM_CITY_FILE=str(s.city_file),
        WASTESTREAM_NOTIFY_URL=robot.url,
        WASTESTREAM_NOTIFY_FORMAT="dingtalk",
        WASTESTREAM_NOTIFY_SECRET=SECRET,
        WASTESTREAM_NOTIFY_MAX_BACKOFF_S="2",
    )
    # poison on the alerts topic: dead-lettered, the real alerts still paged
    poison = b"\x00not an alert"
    prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    prod.send(s.topic("alerts"), key=b"junk", value=poison).get(timeout=30)
    prod.close()
    worker = ["worker", "--clock", "event", "--app-id", f"nt-{u}"]
    n1_log = tmp_path / "notify1.log"
    try:
        with cli_process(worker, env, tmp_path / "worker.log"), cli_process(["notify"], env, n1_log):
            wait_for_truth(s, truth, tmp_path / "worker.log")
            wait(lambda: sorted(set(robot.paged("raised"))) == missed, 90, "every missed point paged", n1_log)
            time.sleep(6)  # anything more would arrive now
        # exactly the truly missed points, once each, through a robot that refused twice, all signed
        assert sorted(robot.paged("raised")) == missed
        assert robot.refused == 2 and robot.bad_sign == 0
        assert "did not take the page" in n1_log.read_text()
        assert "'dead_letters': 1" in n1_log.read_text()
        dead = read_topic(s, s.topic("deadletter"), until=lambda m: any(x.get("source") == "notify" for x in m))
        assert [bytes.fromhex(d["raw_hex"]) for d in dead if d.get("source") == "notify"] == [poison]

        # a restart that lost its offsets (a new consumer group reads every alert again): the ledger
        # topic says what was paged, so nothing is paged again
        before = len(robot.messages)
        env2 = {**env, "WASTESTREAM_NOTIFY_GROUP": f"nt{u}-offsets-lost"}
        prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")  # and junk on the ledger
        prod.send(s.topic("notify.sent"), key=b"dispatch|junk", value=b"{not json").get(timeout=30)
        prod.close()
        with cli_process(["notify"], env2, tmp_path / "notify2.log"):
            wait(lambda: f"ledger read, {len(missed)} subject" in (tmp_path / "notify2.log").read_text(), 60, "ledger")
            time.sleep(6)
        assert len(robot.messages) == before
        log2 = (tmp_path / "notify2.log").read_text()
        assert (
            f"alerts': {len(missed)}" in log2 and "1 unreadable" in log2
        )  # all read again; the junk entry not trusted

        # a late blind-area upload proves one missed point served: the worker resolves, notify pages it
        served = missed[0]
        fixes = backfill_for(city, d, served)
        p = next(x for x in city.collection_points if x.id == served)
        assert fixes[0].received_at > window(p, DAY, city.timezone)[2]  # uploaded after the deadline
        prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
        for f in fixes:
            prod.send(s.topic("gps.fixes"), key=f.vehicle_id.encode(), value=f.to_json_bytes())
        prod.flush()
        prod.close()
        with cli_process(worker, env, tmp_path / "worker2.log"), cli_process(["notify"], env, tmp_path / "notify3.log"):
            wait(lambda: robot.paged("resolved") == [served], 120, f"the resolve of {served}", tmp_path / "notify3.log")
            time.sleep(4)
        assert robot.paged("resolved") == [served]
        assert sorted(robot.paged("raised")) == missed  # and no raise again
    finally:
        robot.close()
