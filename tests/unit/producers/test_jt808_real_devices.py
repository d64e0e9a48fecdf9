"""JT/T 808 frames from the test suites of two independent open-source implementations, decoded
(Traccar's style: one file of hex frames per protocol, each frame's source cited).

Sources (copied as data; the frames are the projects' test vectors, not their code):

* **T** — traccar/traccar, ``src/test/java/org/traccar/protocol/HuabaoProtocolDecoderTest.java``
  (Apache License 2.0). Captures from devices in the field (BSJ, Huabao and other trackers).
* **S** — SmallChi/JT808, ``src/JT808.Protocol.Test/MessageBody/JT808_0x0100Test.cs``,
  ``JT808_0x0200Test.cs``, ``JT808_0x0702Test.cs`` (MIT License). Mostly the library's own
  serializer output (marked "vector"); ``JT808_0x0200Test.Test6`` is a device frame.
"""

from datetime import UTC, datetime

import pytest

from wastestream.producers.gateway import TerminalDirectory, TerminalSession
from wastestream.producers.jt808 import Jt808Error, decode
from wastestream.producers.jt808.codec import decode_frame, encode_header
from wastestream.producers.jt808.framing import frame
from wastestream.producers.jt808.messages import (
    Authenticate,
    BatchLocation,
    DriverIdentity,
    Location,
    MsgId,
    Register,
    Transparent,
)
from wastestream.schemas import Vehicle


def hx(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def cst(*a: int) -> datetime:
    """A GMT+8 wall time as aware UTC (JT/T 808 times are Beijing time)."""
    from datetime import timedelta, timezone

    return datetime(*a, tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)


# -- 0x0100 registration: 2011, 2013 and 2019 layouts ------------------------------------------------
@pytest.mark.parametrize(
    ("source", "hexframe", "terminal", "expect"),
    [
        (
            "T",
            "7E01000021013345678906000F002C012F373031313142534A2D4D3742203030303030303001D4C1423838383838B47E",
            "013345678906",
            Register(44, 303, "70111", "BSJ-M7B", "0000000", 1, "粤B88888", 2011),
        ),
        (
            "T",
            "7e010000190940278494700012000000000000000000000000000000000000094027849470000a7e",
            "094027849470",
            None,
        ),  # 2011 layout with no plate: checked below
        (
            "T",
            "7e0100002d0141305678720024002c012f373031313142534a2d41362d424400000000000000000000003035363738373201d4c14238383838386d7e",
            "014130567872",
            Register(44, 303, "70111", "BSJ-A6-BD", "0567872", 1, "粤B88888", 2013),
        ),
        (
            "T",
            "7E0100002D013511221122000500000000373031303748422D52303347424400000000000000000000003233363631303402CBD5424136383630387E",
            "013511221122",
            Register(0, 0, "70107", "HB-R03GBD", "2366104", 2, "苏BA6860", 2013),
        ),
        (
            "S vector",
            "7E0100002D000123456789000A002800323132333430736D616C6C6368693132333030303030303030304348493132333001D4C1413132333435BA7E",
            "000123456789",
            Register(40, 50, "12340", "smallchi123000000000", "CHI1230", 1, "粤A12345", 2013),
        ),
        (
            "S vector",
            "7E010040540100000000000123456789000A00280032303030303030303132333430303030303030303030303030303030303030736D616C6C63686931323330303030303030303030303030303030303030303030303043484931323301D4C1413132333435B27E",
            "00000000000123456789",
            Register(
                40,
                50,
                "00000001234",
                "0000000000000000000smallchi123",
                "000000000000000000000000CHI123",
                1,
                "粤A12345",
                2019,
            ),
        ),
    ],
)
def test_registration_layouts(source, hexframe, terminal, expect):
    m = decode(hx(hexframe))
    assert m.header.msg_id == MsgId.REGISTER and m.header.terminal == terminal
    if expect is None:
        assert isinstance(m.body, Register) and m.body.edition == 2011
        assert (m.body.plate_color, m.body.plate, m.body.province) == (0, "", 0)
    else:
        assert m.body == expect


def test_authentication_t():
    m = decode(hx("7E0102000E013511221122000661757468656E7469636174696F6E3F7E"))
    assert m.body.auth_code == "authentication"


# -- 0x0200 positions ----------------------------------------------------------------------------
def test_position_with_a_vendor_item_t():
    loc = decode(
        hx(
            "7E0200002F01357888888800B60000000000000003015972B406CBF6B802230000000116061317571301040000000003020000EB0700050001016708B37E"
        )
    ).body
    assert (loc.lat, loc.lon, loc.altitude_m, loc.heading) == (22.639284, 114.030264, 547, 1)
    assert loc.time == cst(2016, 6, 13, 17, 57, 13) and loc.acc_on and loc.fix_valid
    assert loc.odometer_km == 0.0 and loc.recorder_speed_kmh == 0.0
    assert loc.extras[0xEB] == hx("00050001016708") and loc.tail == b""  # kept raw


def test_position_whose_additional_part_is_a_fixed_layout_tail_keeps_the_fix_t():
    """After the basic block this device sends 18 bytes that are not TLV items (an item 0x00 of
    length 0x78 runs past the end): the fix is kept, the tail raw."""
    loc = decode(
        hx(
            "7e0200002e202000129707001c0000000000001c0601a2f0a8091f0bf00000000000ed201103031733000000000000000000780000000018000000267e"
        )
    ).body
    assert (loc.lat, loc.lon) == (-27.455656, 153.029616) and loc.time == cst(2020, 11, 3, 3, 17, 33)
    assert loc.tail == hx("00780000000018000000")


def test_position_from_a_device_with_signal_and_satellites_s():
    """JT808_0x0200Test.Test6 (a device frame): mileage, fuel, recorder speed, 0x25/0x2B, signal, GNSS."""
    m = decode(
        hx(
            "7E 02 00 00 3C 04 00 21 68 20 87 1D 0C 00 00 00 00 00 0C 00 C2 01 5B 6C 6E 06 C8 56 98 00 1E 00 00 00 E0 18 09 16 10 35 37 01 04 00 05 4C 7D 01 02 02 00 00 03 02 00 00 25 04 00 00 00 00 2B 04 00 00 00 00 30 01 1D 31 01 0D 97 7E"
        )
    )
    loc = m.body
    assert m.header.terminal == "040021682087" and m.header.serial == 0x1D0C
    assert (loc.lat, loc.lon, loc.altitude_m, loc.heading) == (22.76875, 113.792664, 30, 224)
    assert loc.time == cst(2018, 9, 16, 10, 35, 37)
    assert loc.odometer_km == 34726.1 and loc.fuel_l == 0.0 and loc.recorder_speed_kmh == 0.0
    assert (loc.signal, loc.satellites) == (29, 13)
    assert loc.load_state == "empty"  # status 0x000C00C2: bits 8-9 = 00 (bits 18-19: GPS and BeiDou used)


def test_position_with_escapes_s():
    """JT808_0x0200Test.Demo2 (vector): 0x7D 0x02 in the serial, 0x7D 0x01 in the fuel item."""
    m = decode(
        hx(
            "7E 02 00 00 26 12 34 56 78 90 12 00 7D 02 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 10 15 10 10 10 01 04 00 00 00 64 02 02 00 7D 01 13 7E"
        )
    )
    loc = m.body
    assert m.header.serial == 126 and (loc.alarm, loc.status) == (1, 2)
    assert (loc.lat, loc.lon, loc.altitude_m, loc.speed_kmh) == (12.222222, 132.444444, 40, 6.0)
    assert loc.time == cst(2018, 10, 15, 10, 10, 10)
    assert loc.odometer_km == 10.0 and loc.fuel_l == 12.5  # the source asserts Mileage 100, Oil 125 (1/10 units)


def test_a_frame_shorter_than_its_header_says_is_refused_even_when_lenient_t():
    """Traccar decodes this frame of its suite without checking; it is 10 bytes shorter than its
    header's body length, so what stands where the check code belongs is data: refused, both ways."""
    raw = hx(
        "7E02000032013511221122000700000000000C000301578CC006CA3A5C00470000000014072317201501040000000030011631010BD07E"
    )
    with pytest.raises(Jt808Error, match="bad checksum"):
        decode(raw)
    with pytest.raises(Jt808Error, match="bad length"):
        decode_frame(raw, strict=False)


def test_lenient_checksum_mode_accepts_and_counts_a_wrong_check_code():
    """A device frame (S, Test6) with its check code broken, as known-bad firmware sends it."""
    from wastestream.producers.gateway import Limits

    good = hx(
        "7E 02 00 00 3C 04 00 21 68 20 87 1D 0C 00 00 00 00 00 0C 00 C2 01 5B 6C 6E 06 C8 56 98 00 1E 00 00 00 E0 18 09 16 10 35 37 01 04 00 05 4C 7D 01 02 02 00 00 03 02 00 00 25 04 00 00 00 00 2B 04 00 00 00 00 30 01 1D 31 01 0D 97 7E"
    )
    bad = good[:-2] + b"\x00" + good[-1:]
    v = Vehicle(
        id="VD", plate="粤B1", contractor_id="C01", terminal_id="040021682087", rated_load_kg=1, stored_tare_kg=1
    )
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for strict, fixes in ((True, 0), (False, 1)):
        d = TerminalDirectory([v])
        s = TerminalSession(d, "p", limits=Limits(strict_checksum=strict))
        s.authenticated, s.vehicle, s.terminal = True, v, "040021682087"
        acts = s.feed(bad, now, 0)
        assert len(acts.fixes) == fixes
        assert acts.counts == ({} if strict else {"bad_checksum_accepted": 1})
        assert [x.reason for x in acts.dead] == (["bad checksum"] if strict else [])


# -- 0x0704 batch (blind-area back-fill) ------------------------------------------------------------
def test_blind_area_batch_t():
    m = decode(
        hx(
            "7E0704014301356777777707F5000801002600000000000000030159741206CBFD5001720000000116052709062401040000001D03020000002600000000000000030159746606CBFD50016B0000000116052709065301040000001D0302000000260000000000000003015975E406CBFE58013F0000000116052709072701040000001D0302000000260000000000000003015976DE06CBFF10012E0000000116052709075601040000001D0302000000260000000000000003015976BC06CBFED0012D0000000116052709083001040000001D0302000000260000000000000003015976FE06CBFEC001080000000116052709090001040000001D0302000000260000000000000003015976FE06CBFE7800FC0000000116052709093301040000001D0302000000260000000000000003015977A606CBFF3001080000000116052709100201040000001D030200001F7E"
        )
    )
    b = m.body
    assert isinstance(b, BatchLocation) and b.backfill and len(b.items) == 8
    assert b.items[0].time == cst(2016, 5, 27, 9, 6, 24) and b.items[-1].time == cst(2016, 5, 27, 9, 10, 2)
    assert (b.items[0].lat, b.items[0].lon) == (22.639634, 114.031952)
    assert all(i.odometer_km == 2.9 for i in b.items)


# -- 0x0900 transparent data from a terminal whose phone field is not BCD ----------------------------
def test_transparent_data_from_a_terminal_with_a_binary_id_t():
    m = decode(
        hx(
            "7E0900005A4E5DE66FBA2200C4F02204280610090002010D052B0150052C0400129009052D016B052E014F05300231BA053502000005360203B8053802000005390200AD053D0201EA05440150054604009899D90545040000001E000C00030160A85C06D1C1389C7E"
        )
    )
    assert m.header.phone == hx("4E5DE66FBA22") and m.header.terminal == str(0x4E5DE66FBA22) == "86165205006882"
    assert isinstance(m.body, Transparent) and m.body.kind == 0xF0 and len(m.body.data) == 0x5A - 1


# -- 0x0702 driver identity (SmallChi body vectors, framed here) ------------------------------------
def framed(msg_id: int, body: bytes, version: int | None = None) -> bytes:
    return frame(encode_header(msg_id, "013800000001", 1, len(body), version) + body)


@pytest.mark.parametrize(
    ("body", "version", "expect"),
    [
        ("02 18 08 16 09 16 16", None, DriverIdentity(2, cst(2018, 8, 16, 9, 16, 16))),  # Test1_2: sign-out
        (
            "01 18 08 16 09 16 16 01",
            None,
            DriverIdentity(1, cst(2018, 8, 16, 9, 16, 16), 1),
        ),  # Test2_2: card unreadable
        (
            "0118081609161600056B6F696B6571776531323334353661616100000000000000000671776572747820180816",
            None,
            DriverIdentity(1, cst(2018, 8, 16, 9, 16, 16), 0, "koike", "qwe123456aaa", "qwertx", "20180816"),
        ),  # Test3_1
        (
            "0119120111111100056B6F696B65717765313233343536616161000000000000000006717765727478201912013132333435363738393031323334353637000000",
            1,
            DriverIdentity(
                1, cst(2019, 12, 1, 11, 11, 11), 0, "koike", "qwe123456aaa", "qwertx", "20191201", "12345678901234567"
            ),
        ),  # Test_2019_2
    ],
)
def test_driver_sign_in_and_out_s(body, version, expect):
    assert decode(framed(MsgId.DRIVER_IDENTITY, hx(body), version)).body == expect


# -- through the gateway's session: a terminal with a binary id registers, authenticates, reports ---
def test_a_terminal_whose_id_is_not_bcd_registers_and_its_fixes_carry_the_derived_id():
    phone = hx("4E5DE66FBA22")
    terminal = str(int.from_bytes(phone, "big"))
    v = Vehicle(
        id="VX", plate="粤B88888", contractor_id="C01", terminal_id=terminal, rated_load_kg=8000, stored_tare_kg=9000
    )
    s = TerminalSession(TerminalDirectory([v]), "peer")
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

    def send(msg_id: int, body: bytes, serial: int):
        return s.feed(frame(encode_header(msg_id, terminal, serial, len(body), phone=phone) + body), now, 0)

    from wastestream.producers.jt808.codec import encode_auth, encode_location, encode_register

    acts = send(
        MsgId.REGISTER, encode_register(Register(44, 303, "70111", "BSJ-M7B", "0000000", 1, "粤B88888", 2011)), 1
    )
    reply = decode(acts.replies[0])
    assert reply.header.phone == phone  # echoed byte for byte
    send(MsgId.AUTHENTICATE, encode_auth(Authenticate(reply.body.auth_code)), 2)
    assert s.authenticated
    loc = Location(0, 3, 22.639284, 114.030264, 5, 20.0, 90, now)
    (fix,) = send(MsgId.LOCATION, encode_location(loc), 3).fixes
    assert fix.terminal_id == terminal and fix.vehicle_id == "VX"
