"""Mutation fuzzing of splitter → decoder → session (a short run here; `wastestream fuzz` and the
faults suite run 10⁶ cases), and the bugs it found, each pinned as a case of its own."""

from datetime import UTC, datetime

from wastestream.producers.gateway import TerminalDirectory, TerminalSession
from wastestream.producers.jt808 import Authenticate, Location, encode_one
from wastestream.producers.jt808.framing import FrameSplitter, Junk
from wastestream.producers.jt808.fuzz import run_fuzz
from wastestream.schemas import Vehicle

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
V = Vehicle(
    id="V1", plate="沪A1", contractor_id="C1", terminal_id="13800138000", rated_load_kg=8000, stored_tare_kg=9000
)


def test_short_fuzz_run_keeps_every_invariant():
    s = run_fuzz(20_000, seed=7)
    assert s.failures == []
    assert s.cases == 20_000 and s.fixes > 0 and s.replies > 0
    # every kind of rejection the decoders have shows up, each with its reason
    assert {"bad checksum", "bad length", "bad escape", "truncated", "junk bytes"} <= set(s.dead)


def test_position_out_of_range_is_a_dead_letter_not_a_crash():
    d = TerminalDirectory([V])
    sess = TerminalSession(d, "t")
    sess.feed(encode_one(Authenticate(d.issue("013800138000")), "013800138000", 1), NOW, 0)
    bad = Location(0, 3, 31.2, 1899.79, 5, 10, 0, NOW)  # the fuzzer's 1899.79° longitude
    acts = sess.feed(encode_one(bad, "013800138000", 2), NOW, 0)
    assert acts.fixes == [] and [x.reason for x in acts.dead] == ["bad position"]


def test_non_ascii_auth_code_is_refused_not_a_crash():
    d = TerminalDirectory([V])
    d.issue("013800138000")
    acts = TerminalSession(d, "t").feed(encode_one(Authenticate("码码码"), "013800138000", 1), NOW, 0)
    assert [x.reason for x in acts.dead] == ["bad auth code"]


def test_junk_sent_byte_at_a_time_is_one_dead_letter_not_one_per_byte():
    sp = FrameSplitter(max_frame=64)
    items = [i for b in b"hello, this is not JT/T 808" for i in sp.feed(bytes([b]))]
    assert items == []  # held until a frame starts, the junk reaches max_frame, or the connection ends
    items = list(sp.feed(b"\x7e"))
    assert items == [Junk(b"hello, this is not JT/T 808")]
    assert list(sp.feed(b"\x01\x02")) == [] and list(sp.flush()) == [Junk(b"\x7e\x01\x02")]  # unfinished: at close
    assert list(FrameSplitter(max_frame=64).feed(b"\x00" * 100)) == [Junk(b"\x00" * 100)]  # past max_frame: at once
