"""The running gateway over real TCP, probed as an attacker would and used by a terminal whose id
is not BCD: identities cannot be borrowed, an unauthenticated flood holds no memory, auth codes
survive a restart and change on re-registration, and a binary-id terminal's fixes reach Kafka with
its derived id and clear a collection point."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from wastestream.producers.jt808 import (
    Authenticate,
    FrameSplitter,
    Location,
    MsgId,
    Register,
    RegisterResult,
    ReplyResult,
    decode,
    encode_one,
)
from wastestream.producers.jt808.codec import encode_auth, encode_header, encode_location, encode_register
from wastestream.producers.jt808.framing import frame
from wastestream.schemas import GpsFix, load_city
from wastestream.settings import Settings
from wastestream.stream_processors.recompute import recompute_events

from .helpers import cli_process, end_offsets, free_port, read_topic, stack_env

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "city-small.yaml"
PHONE = bytes.fromhex("4E5DE66FBA22")  # a tracker packing its id as a binary number (Traccar's test frame)
DERIVED = str(int.from_bytes(PHONE, "big"))
T1 = "013800000001"


class Peer:
    """A raw JT/T 808 peer: send frames, read the replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.r, self.w = reader, writer
        self.splitter = FrameSplitter()
        self.buffered: list = []

    @classmethod
    async def open(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, raw: bytes) -> None:
        self.w.write(raw)
        await self.w.drain()

    async def reply(self, timeout: float = 10):  # noqa: ANN201
        while not self.buffered:
            chunk = await asyncio.wait_for(self.r.read(4096), timeout)
            if not chunk:
                raise ConnectionError("closed by the gateway")
            self.buffered += [decode(f) for f in self.splitter.feed(chunk) if isinstance(f, bytes)]
        return self.buffered.pop(0)

    async def closed(self, timeout: float = 10) -> bool:
        try:
            while True:
                if not await asyncio.wait_for(self.r.read(4096), timeout):
                    return True
        except (ConnectionError, TimeoutError):
            return True

    def close(self) -> None:
        self.w.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def city_file(tmp_path) -> Path:
    """The small test city plus a truck of contractor C01 whose terminal id is not BCD."""
    doc = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    doc["vehicles"].append(
        {
            "id": "VB1",
            "plate": "粤B88888",
            "contractor_id": "C01",
            "terminal_id": DERIVED,
            "rated_load_kg": 8000,
            "stored_tare_kg": 9500,
        }
    )
    p = tmp_path / "city.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


@pytest.fixture
def gateway(stack: Settings, tmp_path, city_file):
    port = free_port()
    env = stack_env(
        stack, WASTESTREAM_CITY_FILE=str(city_file), WASTESTREAM_GATEWAY_AUTH_FILE=str(tmp_path / "auth.json")
    )
    log = tmp_path / "gateway.log"
    with cli_process(["gateway", "--port", str(port)], env, log, ready_port=port) as proc:
        yield port, proc, env, log


def reg(plate: str, terminal: str = T1) -> bytes:
    return encode_one(Register(31, 0, "EVIL", "EVIL", "0000001", 1, plate), terminal, 1)


def test_a_known_terminal_id_with_a_wrong_plate_or_a_garbage_body_gets_no_code_and_no_fix_published(stack, gateway):
    port, _, _, _ = gateway
    fixes_from = end_offsets(stack, "gps.fixes")

    async def probe() -> list:
        out = []
        for raw in (reg("沪B99999"), frame(encode_header(MsgId.REGISTER, T1, 1, 40) + b"\xff" * 40)):
            p = await Peer.open(port)
            await p.send(raw)
            r = await p.reply()
            out.append((type(r.body).__name__, getattr(r.body, "result", None), getattr(r.body, "auth_code", "")))
            await p.send(encode_one(Authenticate("0000000000000000"), T1, 2))
            out.append((await p.reply()).body.result)
            loc = Location(0, 3, 31.21, 121.46, 4, 0.0, 0, datetime.now(UTC).replace(microsecond=0))
            await p.send(encode_one(loc, T1, 3))
            out.append((await p.reply()).body.result)
            p.close()
        return out

    out = asyncio.run(probe())
    assert out[0] == ("RegisterReply", RegisterResult.NO_SUCH_VEHICLE, "")
    assert out[1] == ReplyResult.FAILURE and out[2] == ReplyResult.FAILURE
    assert out[3][2] == "" and out[3][1] != RegisterResult.OK  # the 40 × 0xFF body
    assert out[4] == ReplyResult.FAILURE and out[5] == ReplyResult.FAILURE
    assert read_topic(stack, "gps.fixes", fixes_from, timeout=3) == []


def test_a_sub_package_flood_before_authentication_is_cut_off_and_holds_no_memory(stack, gateway):
    port, proc, _, _ = gateway
    from wastestream.producers.jt808.codec import encode_header as hdr

    async def flood() -> tuple[int, bool]:
        p = await Peer.open(port)
        answered = 0
        body = b"\x00" * 1000
        try:
            for k in range(30_000):  # parts of a message claiming 65,535 packets
                await p.send(frame(hdr(MsgId.BATCH_LOCATION, T1, k, len(body), None, (65535, k + 1)) + body))
                r = await p.reply(timeout=5)
                assert r.body.result == ReplyResult.FAILURE
                answered += 1
        except ConnectionError:
            pass
        return answered, await p.closed()

    before = rss_kb(proc.pid)
    answered, closed = asyncio.run(flood())
    after = rss_kb(proc.pid)
    assert closed and answered <= 8  # refused part by part, then cut off
    assert after - before < 5_000, (before, after)  # kB: nothing held


def test_auth_codes_survive_a_gateway_restart_and_change_on_re_registration(stack, gateway, tmp_path):
    port, proc, env, _ = gateway

    async def register(p: int) -> str:
        peer = await Peer.open(p)
        await peer.send(reg("沪A10001"))
        code = (await peer.reply()).body.auth_code
        peer.close()
        return code

    async def auth(p: int, code: str) -> ReplyResult:
        peer = await Peer.open(p)
        await peer.send(encode_one(Authenticate(code), T1, 2))
        result = (await peer.reply()).body.result
        peer.close()
        return result

    code = asyncio.run(register(port))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    port2 = free_port()
    with cli_process(["gateway", "--port", str(port2)], env, tmp_path / "gateway2.log", ready_port=port2):
        assert asyncio.run(auth(port2, code)) == ReplyResult.OK
        again = asyncio.run(register(port2))
        assert again != code and len(again) == 16
        assert asyncio.run(auth(port2, code)) == ReplyResult.FAILURE
        assert asyncio.run(auth(port2, again)) == ReplyResult.OK


def test_a_terminal_whose_id_is_not_bcd_reaches_kafka_with_its_derived_id_and_clears_a_point(stack, gateway, city_file):
    port, _, _, _ = gateway
    fixes_from = end_offsets(stack, "gps.fixes")
    city = load_city(city_file)
    p1 = next(p for p in city.collection_points if p.id == "P001")
    day = datetime.now(UTC).date() - timedelta(days=1)
    start = datetime.combine(day, p1.service_start).replace(tzinfo=UTC) - timedelta(hours=8) + timedelta(minutes=10)

    def send(msg_id: int, body: bytes, serial: int) -> bytes:
        return frame(encode_header(msg_id, DERIVED, serial, len(body), phone=PHONE) + body)

    async def drive() -> list:
        p = await Peer.open(port)
        await p.send(
            send(
                MsgId.REGISTER,
                encode_register(Register(44, 303, "70111", "BSJ-M7B", "0000000", 1, "粤B88888", 2011)),
                1,
            )
        )
        r = await p.reply()
        assert r.header.phone == PHONE and r.body.result == RegisterResult.OK
        await p.send(send(MsgId.AUTHENTICATE, encode_auth(Authenticate(r.body.auth_code)), 2))
        assert (await p.reply()).body.result == ReplyResult.OK
        results = []
        for k in range(12):  # a 6-minute halt at P001, a fix every 30 s
            loc = Location(0, 3, p1.geofence.lat, p1.geofence.lon, 4, 0.0, 0, start + timedelta(seconds=30 * k))
            await p.send(send(MsgId.LOCATION, encode_location(loc), 3 + k))
            results.append((await p.reply()).body.result)
        p.close()
        return results

    assert asyncio.run(drive()) == [ReplyResult.OK] * 12
    fixes = read_topic(stack, "gps.fixes", fixes_from, until=lambda m: len(m) >= 12, timeout=20)
    assert len(fixes) == 12 and {(f["_key"], f["terminal_id"]) for f in fixes} == {("VB1", DERIVED)}
    events = [
        ("gps.fixes", GpsFix.model_validate({k: v for k, v in f.items() if k != "_key"}), f"f:{i}")
        for i, f in enumerate(fixes)
    ]
    res = recompute_events(city, events)
    status = {dict(r.tags)["point"]: dict(r.fields) for r in res.select("clearance")}
    assert status["P001"]["status"] == "cleared" and status["P001"]["vehicle"] == "VB1"
