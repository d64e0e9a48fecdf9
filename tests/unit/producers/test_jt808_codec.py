"""JT/T 808 decoder tests on real frames (hex captures from terminals in the field, as published with
Traccar's decoder tests) and on frames assembled here by hand, independently of the encoder."""

from datetime import UTC, datetime
from functools import reduce

import pytest

from wastestream.producers.jt808 import (
    Authenticate,
    BatchLocation,
    FrameSplitter,
    Heartbeat,
    Jt808Error,
    Junk,
    Location,
    MsgId,
    PlatformReply,
    Reassembler,
    Register,
    RegisterReply,
    RegisterResult,
    ReplyResult,
    decode,
    decode_body,
    decode_frame,
    encode,
    encode_one,
)


def hexframe(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


def by_hand(content_hex: str) -> bytes:
    """Assemble a frame without the codec: XOR check code, escapes, delimiters."""
    content = bytes.fromhex("".join(content_hex.split()))
    content += bytes((reduce(lambda a, b: a ^ b, content, 0),))
    escaped = content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    return b"\x7e" + escaped + b"\x7e"


# --- real frames ----------------------------------------------------------------------------------
LOCATION_2013 = hexframe(
    "7e0200002c00160128561400020000000000040001005de1f7065c6cef00000000000017011710044201040000a9002a02"
    "000030011b3101030c7e"
)
LOCATION_FIX = hexframe(
    "7E0200002A013833501744001900000000000000C201597FA806CC01580080000000081508180721210104000002F502020000030200009F7E"
)
REGISTER_GBK_PLATE = hexframe(
    "7e0100002d0141305678720024002c012f373031313142534a2d41362d424400000000000000000000003035363738373201"
    "d4c14238383838386d7e"
)
AUTH = hexframe("7E0102000E013511221122000661757468656E7469636174696F6E3F7E")
HEARTBEAT = hexframe("7e0002000004304832546500b7ca7e")
BLIND_AREA_BATCH = hexframe(
    "7E0704014301356777777707F5000801002600000000000000030159741206CBFD5001720000000116052709062401040000"
    "001D03020000002600000000000000030159746606CBFD50016B0000000116052709065301040000001D0302000000260000"
    "000000000003015975E406CBFE58013F0000000116052709072701040000001D0302000000260000000000000003015976DE"
    "06CBFF10012E0000000116052709075601040000001D0302000000260000000000000003015976BC06CBFED0012D00000001"
    "16052709083001040000001D0302000000260000000000000003015976FE06CBFEC001080000000116052709090001040000"
    "001D0302000000260000000000000003015976FE06CBFE7800FC0000000116052709093301040000001D0302000000260000"
    "000000000003015977A606CBFF3001080000000116052709100201040000001D030200001F7E"
)
# a capture whose check code does not match its content (0xD0 sent, 0xF0 computed)
BAD_CHECKSUM = hexframe(
    "7E02000032013511221122000700000000000C000301578CC006CA3A5C00470000000014072317201501040000000030011631010BD07E"
)


def test_location_2013():
    m = decode(LOCATION_2013)
    assert m.header.msg_id == MsgId.LOCATION
    assert m.header.terminal == "001601285614"
    assert m.header.serial == 2
    assert not m.header.is_2019
    loc = m.body
    assert isinstance(loc, Location)
    assert (loc.lat, loc.lon) == (6.152695, 106.720495)
    assert loc.acc_on and not loc.fix_valid
    # BCD 17-01-17 10:04:42 is GMT+8
    assert loc.time == datetime(2017, 1, 17, 2, 4, 42, tzinfo=UTC)
    assert loc.odometer_km == 4326.4
    assert loc.signal == 27 and loc.satellites == 3
    assert loc.extras[0x2A] == b"\x00\x00"  # unknown item kept raw


def test_location_with_fix_altitude_heading():
    loc = decode(LOCATION_FIX).body
    assert isinstance(loc, Location)
    assert loc.fix_valid and not loc.acc_on
    assert (loc.lat, loc.lon) == (22.6426, 114.032984)  # 0x01597FA8, 0x06CC0158 ×10⁻⁶
    assert loc.altitude_m == 128 and loc.heading == 8 and loc.speed_kmh == 0
    assert loc.time == datetime(2015, 8, 17, 23, 21, 21, tzinfo=UTC)
    assert loc.odometer_km == 75.7


def test_register_with_gbk_plate():
    m = decode(REGISTER_GBK_PLATE)
    r = m.body
    assert isinstance(r, Register)
    assert (r.province, r.city) == (44, 303)
    assert r.manufacturer == "70111" and r.model == "BSJ-A6-BD" and r.terminal_model_id == "0567872"
    assert r.plate_color == 1 and r.plate == "粤B88888"


def test_authenticate_and_heartbeat():
    assert decode(AUTH).body == Authenticate("authentication")
    hb = decode(HEARTBEAT)
    assert isinstance(hb.body, Heartbeat) and hb.header.serial == 0xB7


def test_blind_area_batch():
    m = decode(BLIND_AREA_BATCH)
    b = m.body
    assert isinstance(b, BatchLocation)
    assert b.backfill and len(b.items) == 8
    first, last = b.items[0], b.items[-1]
    assert (first.lat, first.lon, first.altitude_m) == (22.639634, 114.031952, 370)
    assert first.time == datetime(2016, 5, 27, 1, 6, 24, tzinfo=UTC)
    assert last.time == datetime(2016, 5, 27, 1, 10, 2, tzinfo=UTC)
    assert [i.time for i in b.items] == sorted(i.time for i in b.items)


def test_bad_checksum_is_reported():
    with pytest.raises(Jt808Error) as e:
        decode(BAD_CHECKSUM)
    assert e.value.reason == "bad checksum"
    assert e.value.raw == BAD_CHECKSUM


# --- frames assembled by hand ---------------------------------------------------------------------
def test_escapes_inside_body():
    # terminal 013800138000, serial 0x7E7D, a location whose lat/lon bytes contain 0x7E and 0x7D
    content = "0200 001C 013800138000 7E7D00000000 00000003 017E7D00 06CB7E7D 0010 01F4 005A 231123083000"
    raw = by_hand(content)
    assert raw.count(b"\x7e") == 2  # only the delimiters
    m = decode(raw)
    assert m.header.serial == 0x7E7D
    loc = m.body
    assert loc.lat == 0x017E7D00 / 1e6 and loc.lon == 0x06CB7E7D / 1e6
    assert loc.speed_kmh == 50.0 and loc.heading == 90 and loc.altitude_m == 16
    assert loc.time == datetime(2023, 11, 23, 0, 30, tzinfo=UTC)


def test_2019_header():
    # version bit (0x4000) + protocol version 1 + BCD[10] phone
    content = "0200 401C 01 00000000013800138000 0009 00000000 00000002 01597FA8 06CC0158 0000 0000 0000 261123000100"
    m = decode(by_hand(content))
    assert m.header.is_2019 and m.header.version == 1
    assert m.header.terminal == "00000000013800138000"
    assert m.body.time == datetime(2026, 11, 22, 16, 1, tzinfo=UTC)


def test_south_west_sign():
    content = "0200 001C 013800138000 0001 00000000 0000000E 01597FA8 06CC0158 0000 0000 0000 261123000100"
    loc = decode(by_hand(content)).body
    assert loc.lat == -22.6426 and loc.lon == -114.032984


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("0200 001C 013800138000 0001 00000000 00000002 01597FA8 06CC0158 0000 0000 0000 26133200AA00", "bad BCD time"),
        ("0200 001C 013800138000 0001 00000000 00000002 01597FA8 06CC0158 0000 0000 0000 261399000000", "bad BCD time"),
        ("0200 0030 013800138000 0001 00000000 00000002", "bad length"),
        ("0200 0004 013800138000 0001 00000000", "truncated"),
    ],
)
def test_malformed_bodies(content, reason):
    with pytest.raises(Jt808Error) as e:
        decode(by_hand(content))
    assert e.value.reason == reason


def test_a_truncated_additional_item_keeps_the_fix_and_the_tail_raw():
    content = "0200 0020 013800138000 0001 00000000 00000002 01597FA8 06CC0158 0000 0000 0000 261123000100 0104 0000"
    loc = decode(by_hand(content)).body
    assert (loc.lat, loc.lon) == (22.642600, 114.032984) and loc.extras == {} and loc.tail == bytes.fromhex("01040000")


def test_a_phone_field_that_is_not_bcd_gives_its_decimal_value_and_is_echoed():
    content = "0200 001C 0138001380AB 0001 00000000 00000002 01597FA8 06CC0158 0000 0000 0000 261123000100"
    h = decode(by_hand(content)).header
    assert h.terminal == str(0x0138001380AB) and h.phone == bytes.fromhex("0138001380AB")
    reply = encode_one(PlatformReply(1, 0x0200, ReplyResult.OK), h.terminal, 5, None, h.phone)
    assert decode(reply).header.phone == h.phone


def test_bad_escape():
    with pytest.raises(Jt808Error, match="bad escape"):
        decode(b"\x7e\x00\x02\x7d\x05\x7e")


# --- streaming ------------------------------------------------------------------------------------
def test_frame_split_across_reads_and_junk_between_frames():
    stream = b"\x00\xffjunk" + HEARTBEAT + b"\x13\x37" + LOCATION_2013 + AUTH
    sp = FrameSplitter()
    out: list = []
    for i in range(0, len(stream), 7):  # 7-byte TCP reads
        out.extend(sp.feed(stream[i : i + 7]))
    frames = [x for x in out if isinstance(x, bytes)]
    junk = b"".join(x.data for x in out if isinstance(x, Junk))
    assert frames == [HEARTBEAT, LOCATION_2013, AUTH]
    assert junk == b"\x00\xffjunk\x13\x37"
    assert sp.buffered == 0


def test_back_to_back_frames_sharing_no_delimiter_and_stray_flag():
    sp = FrameSplitter()
    out = list(sp.feed(b"\x7e" + HEARTBEAT + HEARTBEAT))
    assert out == [HEARTBEAT, HEARTBEAT]


def test_oversized_frame_is_refused():
    sp = FrameSplitter(max_frame=64)
    with pytest.raises(Jt808Error, match="oversized"):
        list(sp.feed(b"\x7e" + b"\x01" * 100))
    assert sp.buffered == 0
    assert list(sp.feed(HEARTBEAT)) == [HEARTBEAT]  # the connection recovers


# --- replies and sub-packages ---------------------------------------------------------------------
def test_platform_reply_bytes():
    raw = encode_one(PlatformReply(0x0102, MsgId.LOCATION, ReplyResult.OK), "013511221122", 1)
    assert raw == by_hand("8001 0005 013511221122 0001 0102 0200 00")


def test_register_reply_bytes():
    raw = encode_one(RegisterReply(5, RegisterResult.OK, "AC0DE"), "013511221122", 9)
    assert raw == by_hand("8100 0008 013511221122 0009 0005 00 4143304445")
    failed = encode_one(RegisterReply(5, RegisterResult.NO_SUCH_TERMINAL, "ignored"), "013511221122", 10)
    assert failed == by_hand("8100 0003 013511221122 000A 0005 04")


def test_split_batch_is_reassembled():
    batch = decode(BLIND_AREA_BATCH).body
    big = BatchLocation(1, batch.items * 5)  # 40 items, > 1023 bytes
    frames = encode(big, "013567777777", 100)
    assert len(frames) == 2
    r = Reassembler(timeout_s=30)
    done = None
    for i, f in enumerate(reversed(frames)):  # out of order
        h, body = decode_frame(f)
        assert h.is_split
        done = r.add(h, body, f, now=float(i))
    assert done is not None
    h, body = done
    assert h.serial == 100 and not h.is_split
    assert decode_body(h, body) == big
    assert len(r) == 0


def test_incomplete_split_expires():
    frames = encode(BatchLocation(1, decode(BLIND_AREA_BATCH).body.items * 5), "013567777777", 7)
    r = Reassembler(timeout_s=30)
    h, body = decode_frame(frames[0])
    assert r.add(h, body, frames[0], now=0.0) is None
    assert r.expire(now=10.0) == []
    expired = r.expire(now=31.0)
    assert len(expired) == 1 and expired[0][1] == [frames[0]]
    assert len(r) == 0
