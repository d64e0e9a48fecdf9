"""The gateway's per-connection protocol logic, without sockets or Kafka."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from wastestream.producers.gateway import TerminalDirectory, TerminalSession
from wastestream.producers.jt808 import (
    Authenticate,
    BatchLocation,
    Heartbeat,
    Location,
    MsgId,
    PlatformReply,
    Register,
    RegisterReply,
    RegisterResult,
    ReplyResult,
    decode,
    encode,
    encode_one,
)
from wastestream.schemas import FixSource, load_city

CITY = load_city(Path(__file__).resolve().parents[2] / "fixtures" / "city-small.yaml")
T1 = "013800000001"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
REG = Register(31, 0, "WSTST", "SIM", "0000001", 1, "沪A10001")


@pytest.fixture
def directory():
    return TerminalDirectory(CITY.vehicles)


def loc(minute: int) -> Location:
    return Location(0, 3, 31.21, 121.46, 5, 12.5, 90, datetime(2026, 11, 23, 0, minute, tzinfo=UTC))


def replies(acts):
    return [decode(r).body for r in acts.replies]


def login(session, directory, terminal=T1, version=None):
    reg = Register(31, 0, "WSTST", "SIM", "0000001", 1, directory.vehicle(terminal).plate)
    acts = session.feed(encode_one(reg, terminal, 1, version), NOW, 0)
    reply = replies(acts)[0]
    assert reply.result == RegisterResult.OK and len(reply.auth_code) == 16
    acts = session.feed(encode_one(Authenticate(reply.auth_code), terminal, 2, version), NOW, 0)
    assert replies(acts) == [PlatformReply(2, MsgId.AUTHENTICATE, ReplyResult.OK)]
    assert session.authenticated


def test_register_authenticate_locate(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory)
    acts = s.feed(encode_one(loc(5), T1, 3), NOW, 0)
    assert acts.replies == []  # the reply waits for Kafka's acknowledgement
    ok, bad = acts.on_publish[0]
    assert decode(ok).body == PlatformReply(3, MsgId.LOCATION, ReplyResult.OK)
    assert decode(bad).body == PlatformReply(3, MsgId.LOCATION, ReplyResult.FAILURE)
    (fix,) = acts.fixes
    assert fix.vehicle_id == "V001" and fix.terminal_id == T1
    assert fix.device_time == datetime(2026, 11, 23, 0, 5, tzinfo=UTC) and fix.received_at == NOW
    assert (fix.lat, fix.lon, fix.speed_kmh, fix.heading) == (31.21, 121.46, 12.5, 90)
    assert fix.acc_on and fix.fix_valid and fix.source == FixSource.realtime and fix.msg_serial == 3


def test_2019_terminal_with_20_digit_id(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory, "00000000013800000003", version=1)
    acts = s.feed(encode_one(loc(1), "00000000013800000003", 3, 1), NOW, 0)
    assert acts.fixes[0].vehicle_id == "V003"


def test_backfill_batch_marks_source(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory)
    acts = s.feed(encode_one(BatchLocation(1, (loc(1), loc(2), loc(3))), T1, 9), NOW, 0)
    assert [f.source for f in acts.fixes] == [FixSource.backfill] * 3
    assert [f.device_time.minute for f in acts.fixes] == [1, 2, 3]
    assert decode(acts.on_publish[0][0]).body == PlatformReply(9, MsgId.BATCH_LOCATION, ReplyResult.OK)


def test_positions_before_auth_are_refused_and_dead_lettered(directory):
    s = TerminalSession(directory, "1.2.3.4:5")
    raw = encode_one(loc(1), T1, 7)
    acts = s.feed(raw, NOW, 0)
    assert acts.fixes == []
    assert replies(acts) == [PlatformReply(7, MsgId.LOCATION, ReplyResult.FAILURE)]
    (dl,) = acts.dead
    assert dl.reason == "unauthenticated terminal" and dl.peer == "1.2.3.4:5"
    assert bytes.fromhex(dl.raw_hex) == raw


def test_wrong_auth_code(directory):
    s = TerminalSession(directory, "peer")
    acts = s.feed(encode_one(Authenticate("guess"), T1, 1), NOW, 0)
    assert replies(acts) == [PlatformReply(1, MsgId.AUTHENTICATE, ReplyResult.FAILURE)]
    assert acts.dead[0].reason == "bad auth code" and not s.authenticated


def register(session, terminal=T1, reg=REG, serial=1):
    return replies(session.feed(encode_one(reg, terminal, serial), NOW, 0))[0]


def authenticate(session, code, terminal=T1, serial=2):
    return replies(session.feed(encode_one(Authenticate(code), terminal, serial), NOW, 0))[0].result


def test_auth_codes_are_random_kept_server_side_survive_a_restart_and_change_on_re_registration(tmp_path):
    from wastestream.producers.gateway import AuthStore

    path = tmp_path / "gateway-auth.json"
    first = TerminalDirectory(CITY.vehicles, AuthStore(path))
    code = register(TerminalSession(first, "p")).auth_code
    assert code not in path.read_text()  # only its digest is stored
    assert path.stat().st_mode & 0o777 == 0o600
    restarted = TerminalDirectory(CITY.vehicles, AuthStore(path))
    assert authenticate(TerminalSession(restarted, "p"), code) == ReplyResult.OK
    again = register(TerminalSession(restarted, "p")).auth_code
    assert again != code
    assert authenticate(TerminalSession(restarted, "p"), code) == ReplyResult.FAILURE  # replaced
    assert authenticate(TerminalSession(restarted, "p"), again) == ReplyResult.OK


def test_logout_revokes_the_auth_code(directory):
    s = TerminalSession(directory, "peer")
    code = register(s).auth_code
    assert authenticate(s, code) == ReplyResult.OK
    from wastestream.producers.jt808 import Logout

    acts = s.feed(encode_one(Logout(), T1, 3), NOW, 0)
    assert acts.close and not s.authenticated
    assert authenticate(TerminalSession(directory, "peer"), code) == ReplyResult.FAILURE


@pytest.mark.parametrize(
    "reg",
    [
        Register(31, 0, "WSTST", "SIM", "0000001", 1, "沪B99999"),  # another truck's plate
        Register(0, 0, "FAKE", "FAKE", "FAKE", 0, "LSVAM4187C2184847"),  # no plate, a VIN
    ],
)
def test_a_registration_with_a_known_terminal_id_but_the_wrong_plate_is_refused(directory, reg):
    s = TerminalSession(directory, "prober")
    reply = register(s, reg=reg)
    assert reply == RegisterReply(1, RegisterResult.NO_SUCH_VEHICLE, "")
    assert s.vehicle is None and "registration refused" in s.feed(encode_one(reg, T1, 2), NOW, 0).dead[0].reason
    acts = s.feed(encode_one(loc(1), T1, 3), NOW, 0)  # its positions are not taken
    assert acts.fixes == [] and acts.dead[0].reason == "unauthenticated terminal"


def test_a_registration_body_of_garbage_is_refused(directory):
    from wastestream.producers.jt808.codec import encode_header
    from wastestream.producers.jt808.framing import frame

    body = b"\xff" * 40
    raw = frame(encode_header(MsgId.REGISTER, T1, 1, len(body)) + body)
    s = TerminalSession(directory, "prober")
    reply = replies(s.feed(raw, NOW, 0))[0]
    assert isinstance(reply, RegisterReply) and reply.result != RegisterResult.OK and not reply.auth_code


def test_before_authentication_nothing_is_held_and_a_flooding_peer_is_cut_off(directory):
    """Sub-packages of a peer that never authenticated are refused without being buffered; after
    ``frames_before_auth`` refused frames the connection is closed."""
    s = TerminalSession(directory, "flooder")
    big = BatchLocation(1, tuple(loc(m % 60) for m in range(600)))
    frames = encode(big, T1, 100)
    closed_at = None
    for k, f in enumerate(frames):
        acts = s.feed(f, NOW, k * 0.01)
        assert acts.fixes == [] and len(s.reassembler) == 0
        if acts.close:
            closed_at = k + 1
            break
    assert closed_at == s.limits.frames_before_auth
    assert acts.counts == {"abusers": 1}


def test_unknown_terminal_register(directory):
    s = TerminalSession(directory, "peer")
    acts = s.feed(encode_one(REG, "013899999999", 1), NOW, 0)
    assert replies(acts) == [RegisterReply(1, RegisterResult.NO_SUCH_TERMINAL, "")]
    assert acts.dead[0].reason == "unknown terminal"


def test_bad_checksum_and_junk_go_to_dead_letters(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory)
    good = encode_one(Heartbeat(), T1, 5)
    bad = good[:-2] + bytes([good[-2] ^ 0xFF]) + good[-1:]
    acts = s.feed(b"\x01\x02" + bad + good, NOW, 0)
    assert sorted(d.reason for d in acts.dead) == ["bad checksum", "junk bytes"]
    assert replies(acts) == [PlatformReply(5, MsgId.HEARTBEAT, ReplyResult.OK)]


def test_bad_bcd_time_is_message_error(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory)
    raw = bytearray(encode_one(loc(1), T1, 4))
    # corrupt the month of the BCD time (body offset 22+1 → frame offset 1+12+23) and fix the check code
    from wastestream.producers.jt808.framing import frame, unframe

    content = bytearray(unframe(bytes(raw)))
    content[12 + 23] = 0x13
    acts = s.feed(frame(bytes(content)), NOW, 0)
    assert acts.fixes == []
    assert acts.dead[0].reason == "bad BCD time"
    assert replies(acts) == [PlatformReply(4, MsgId.LOCATION, ReplyResult.MESSAGE_ERROR)]


def test_split_batch_across_packages_and_reads(directory):
    s = TerminalSession(directory, "peer")
    login(s, directory)
    big = BatchLocation(1, tuple(loc(m) for m in range(40)))
    stream = b"".join(encode(big, T1, 100))
    fixes, dead = [], []
    for i in range(0, len(stream), 100):
        acts = s.feed(stream[i : i + 100], NOW, i / 1000)
        fixes += acts.fixes
        dead += acts.dead
    assert dead == [] and len(fixes) == 40


def test_oversized_frame_closes_connection(directory):
    s = TerminalSession(directory, "peer", max_frame=256)
    acts = s.feed(b"\x7e" + b"\x00" * 1000, NOW, 0)
    assert acts.close and acts.dead[0].reason == "oversized"


def test_missing_sub_packages_are_asked_for_with_0x8003_then_the_message_is_dropped(directory):
    from wastestream.producers.jt808 import RetransmitRequest

    s = TerminalSession(directory, "peer")
    login(s, directory)
    frames = encode(BatchLocation(1, tuple(loc(m % 60) for m in range(80))), T1, 100)
    assert len(frames) >= 3
    for k, f in enumerate(frames):
        if k != 1:  # packet 2 is lost on the way
            s.feed(f, NOW, 0.0)
    assert s.tick(NOW, s.limits.retransmit_after_s - 1).replies == []
    (ask,) = replies(s.tick(NOW, s.limits.retransmit_after_s))
    assert ask == RetransmitRequest(100, (2,))
    assert s.tick(NOW, s.limits.retransmit_after_s + 1).replies == []  # asked once
    acts = s.feed(frames[1], NOW, s.limits.retransmit_after_s + 2)  # re-sent: the message completes, once
    assert len(acts.fixes) == 80
    # another message, never completed: dead-lettered at the timeout and freed
    for f in frames[:2]:
        s.feed(f, NOW, 100.0)
    dropped = s.tick(NOW, 100.0 + s.limits.split_timeout_s + 1)
    assert [d.reason for d in dropped.dead] == ["incomplete split message"] and len(s.reassembler) == 0


def test_driver_sign_in_becomes_a_driver_shift_published_before_the_reply(directory):
    from wastestream.producers.jt808 import DriverIdentity

    s = TerminalSession(directory, "peer")
    card = DriverIdentity(
        1, datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 0, "张三", "QC123456", "上海市交通委", "20301231"
    )
    refused = s.feed(encode_one(card, T1, 5), NOW, 0)  # before authentication: refused
    assert refused.events == [] and refused.dead[0].reason == "unauthenticated terminal"
    login(s, directory)
    acts = s.feed(encode_one(card, T1, 6), NOW, 0)
    (shift,) = acts.events
    assert (shift.vehicle_id, shift.event, shift.driver_name, shift.qualification) == (
        "V001",
        "sign_in",
        "张三",
        "QC123456",
    )
    assert shift.at == card.time and shift.card_read_ok and acts.replies == []  # the reply waits for Kafka
    assert decode(acts.on_publish[0][0]).body == PlatformReply(6, MsgId.DRIVER_IDENTITY, ReplyResult.OK)


def test_a_self_registering_fleet_lets_an_unknown_terminal_in_only_by_the_setting():
    for self_register, ok in ((False, False), (True, True)):
        d = TerminalDirectory(CITY.vehicles, self_register=self_register)
        s = TerminalSession(d, "peer")
        reply = replies(s.feed(encode_one(REG, "013877777777", 1), NOW, 0))[0]
        assert (reply.result == RegisterResult.OK) is ok
        if ok:
            assert s.vehicle.id == "T13877777777" and s.vehicle.contractor_id == "unregistered"


def test_the_auth_file_is_appended_to_and_compacted(tmp_path):
    """A registration storm costs a line per terminal; revocations are lines too; the file is compacted
    once it holds more than twice the live codes, and reads back the same codes."""
    from wastestream.producers.gateway import AuthStore

    path = tmp_path / "auth"
    store = AuthStore(path)
    for k in range(300):
        store.put(f"0138{k:08d}", f"code-{k}")
    store.revoke("013800000007")
    for k in range(300):  # everyone registers again: new codes
        store.put(f"0138{k:08d}", f"new-{k}")
    assert len(path.read_text().splitlines()) <= 2 * 300 + 101
    again = AuthStore(path)
    assert again.check("013800000005", "new-5") and not again.check("013800000005", "code-5")
    assert again.check("013800000007", "new-7")
    again.revoke("013800000009")
    assert not AuthStore(path).check("013800000009", "new-9")
