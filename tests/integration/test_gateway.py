"""A terminal over real TCP → the running gateway → real Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wastestream.producers.jt808 import Location, ReplyResult, encode_one
from wastestream.producers.terminal import Terminal, TerminalError
from wastestream.settings import Settings

from .helpers import cli_process, end_offsets, free_port, read_topic, stack_env

pytestmark = pytest.mark.integration
CITY = Path(__file__).resolve().parents[1] / "fixtures" / "city-small.yaml"
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def loc(i: int, lat=31.21, lon=121.46) -> Location:
    return Location(0, 3, lat, lon, 4, 20.0 + i, 45, T0 + timedelta(seconds=10 * i))


@pytest.fixture
def gateway(stack: Settings, tmp_path):
    port = free_port()
    env = stack_env(stack, WASTESTREAM_CITY_FILE=str(CITY))
    with cli_process(["gateway", "--port", str(port)], env, tmp_path / "gateway.log", ready_port=port) as proc:
        yield port, proc, tmp_path / "gateway.log"


def test_terminal_session_through_gateway_to_kafka(stack: Settings, gateway):
    port, proc, log = gateway
    fixes_from = end_offsets(stack, "gps.fixes")
    dead_from = end_offsets(stack, "deadletter")

    async def drive() -> dict:
        out: dict = {}
        # an unauthenticated terminal is refused
        rogue = Terminal("013800000002", "沪A10002")
        await rogue.connect("127.0.0.1", port)
        out["rogue_auth"] = await rogue.authenticate("not-the-code")
        out["rogue_fix"] = await rogue.report(loc(0))
        await rogue.close()

        t = Terminal("013800000001", "沪A10001")
        await t.login("127.0.0.1", port)
        out["realtime"] = [await t.report(loc(i)) for i in range(5)]
        for i in range(5, 12):
            t.store(loc(i))  # a dropout: kept in the terminal's blind-area memory
        out["backfilled"] = await t.upload_blind_area()
        out["heartbeat"] = await t.heartbeat()
        # a frame with a bad check code
        bad = bytearray(encode_one(loc(99), "013800000001", 999))
        bad[-2] ^= 0x55
        await t.send_raw(bytes(bad))
        await t.logout()
        return out

    out = asyncio.run(drive())
    assert out["rogue_auth"] == ReplyResult.FAILURE
    assert out["rogue_fix"] is False
    assert out["realtime"] == [True] * 5
    assert out["backfilled"] == 7
    assert out["heartbeat"] == ReplyResult.OK

    fixes = read_topic(stack, "gps.fixes", fixes_from, until=lambda m: len(m) >= 12, timeout=20)
    assert len(fixes) == 12
    assert {f["_key"] for f in fixes} == {"V001"}
    by_time = sorted(fixes, key=lambda f: f["device_time"])
    assert [f["source"] for f in by_time] == ["realtime"] * 5 + ["backfill"] * 7
    first = by_time[0]
    assert (first["lat"], first["lon"], first["speed_kmh"], first["heading"]) == (31.21, 121.46, 20.0, 45)
    assert datetime.fromisoformat(first["device_time"]) == T0

    dead = read_topic(stack, "deadletter", dead_from, until=lambda m: len(m) >= 3, timeout=20)
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == ["bad auth code", "bad checksum", "unauthenticated terminal"]
    bad_cs = next(d for d in dead if d["reason"] == "bad checksum")
    assert bad_cs["raw_hex"].startswith("7e0200") and bad_cs["peer"].startswith("127.0.0.1:")


def test_slow_and_oversized_connections_do_not_starve_a_good_terminal(stack: Settings, gateway):
    """One connection dribbles a frame a byte at a time, another floods bytes with no frame end;
    meanwhile a good terminal's 30 reports are all acknowledged. The flood is cut off as oversized
    (a dead letter with its bytes), the dribbled frame arrives whole."""
    port, _, _ = gateway
    dead_from = end_offsets(stack, "deadletter")

    async def drive() -> dict:
        out: dict = {}

        async def dribble() -> None:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            frame = encode_one(loc(0), "013800000002", 1)  # unauthenticated: refused with a reason when whole
            for b in frame:
                w.write(bytes([b]))
                await w.drain()
                await asyncio.sleep(0.01)
            out["dribbled"] = len(frame)
            await asyncio.sleep(0.5)
            w.close()

        async def flood() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"\x7e" + b"\x11" * 64_000)  # a frame start, then no end, far past max_frame
            await w.drain()
            out["flood_closed"] = (await asyncio.wait_for(r.read(), 30)) == b""  # the gateway hangs up

        async def good() -> None:
            t = Terminal("013800000001", "沪A10001")
            await t.login("127.0.0.1", port)
            out["good"] = [await t.report(loc(100 + i)) for i in range(30)]
            await t.logout()

        await asyncio.gather(dribble(), flood(), good())
        return out

    out = asyncio.run(drive())
    assert out["good"] == [True] * 30
    assert out["flood_closed"] is True
    dead = read_topic(stack, "deadletter", dead_from, until=lambda m: len(m) >= 2, timeout=20)
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == ["oversized", "unauthenticated terminal"]
    assert len(bytes.fromhex(next(d for d in dead if d["reason"] == "oversized")["raw_hex"])) > 8192


def test_unknown_terminal_registration_is_refused(stack: Settings, gateway):
    port, _, _ = gateway

    async def drive():
        t = Terminal("013899999999", "沪X99999")
        await t.connect("127.0.0.1", port)
        try:
            await t.register()
        finally:
            await t.close()

    with pytest.raises(TerminalError, match="NO_SUCH_TERMINAL"):
        asyncio.run(drive())


def test_gateway_stops_cleanly_on_sigterm(stack: Settings, gateway):
    port, proc, log = gateway
    import signal

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    text = log.read_text()
    assert "producer flushed" in text and "Traceback" not in text
