"""Property tests: encode/decode round trip; random bytes never raise anything but Jt808Error."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from wastestream.producers.jt808 import (
    BatchLocation,
    FrameSplitter,
    Jt808Error,
    Junk,
    Location,
    decode,
    encode_one,
    escape,
    unescape,
)

terminals = st.text("0123456789", min_size=12, max_size=12)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: (d.replace(microsecond=0, tzinfo=UTC) - timedelta(hours=8)).replace(tzinfo=UTC)
)
locations = st.builds(
    Location,
    alarm=st.integers(0, 2**32 - 1),
    status=st.integers(0, 2**32 - 1).map(lambda s: s & ~0b1100),
    lat=st.integers(-90_000_000, 90_000_000).map(lambda v: v / 1e6),
    lon=st.integers(-180_000_000, 180_000_000).map(lambda v: v / 1e6),
    altitude_m=st.integers(0, 65535),
    speed_kmh=st.integers(0, 6553).map(lambda v: v / 10),
    heading=st.integers(0, 359),
    time=times,
    extras=st.dictionaries(st.integers(0, 255), st.binary(max_size=20), max_size=4),
)


def _norm(loc: Location) -> Location:
    """The sign bits are derived from lat/lon when encoding."""
    status = loc.status | (0b100 if loc.lat < 0 else 0) | (0b1000 if loc.lon < 0 else 0)
    return Location(
        loc.alarm, status, loc.lat, loc.lon, loc.altitude_m, loc.speed_kmh, loc.heading, loc.time, loc.extras
    )


@given(locations, terminals, st.integers(0, 65535), st.sampled_from([None, 1]))
def test_location_round_trip(loc, terminal, serial, version):
    m = decode(encode_one(loc, terminal, serial, version))
    assert m.header.serial == serial
    assert m.header.terminal.endswith(terminal)
    assert m.body == _norm(loc)


@given(st.lists(locations, min_size=1, max_size=8), st.sampled_from([0, 1]))
def test_batch_round_trip(items, kind):
    m = decode(encode_one(BatchLocation(kind, tuple(items)), "013800138000", 1))
    assert m.body == BatchLocation(kind, tuple(_norm(i) for i in items))


@given(st.binary(max_size=300))
def test_escape_round_trip(data):
    esc = escape(data)
    assert b"\x7e" not in esc
    assert unescape(esc) == data


@given(st.binary(max_size=400))
def test_random_bytes_only_raise_codec_errors(data):
    try:
        decode(data)
    except Jt808Error:
        pass
    try:
        decode(b"\x7e" + data + b"\x7e")
    except Jt808Error:
        pass


@given(st.lists(st.binary(max_size=60), max_size=20))
def test_splitter_never_loses_bytes(chunks):
    sp = FrameSplitter(max_frame=10_000)
    got = bytearray()
    for c in chunks:
        for item in sp.feed(c):
            got += item.data if isinstance(item, Junk) else item
    # every byte fed is either emitted or still buffered (minus stray duplicate delimiters)
    total = b"".join(chunks)
    assert len(got) + sp.buffered <= len(total)
    assert got.replace(b"\x7e", b"") + b"" == bytes(got).replace(b"\x7e", b"")
    assert len(got.replace(b"\x7e", b"")) + sp.buffered >= len(total.replace(b"\x7e", b""))


# -- the layouts real terminals use -----------------------------------------------------------------
texts = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", max_size=30)


@given(
    st.sampled_from([(2011, None), (2013, None), (2019, 1)]),
    st.integers(0, 65535),
    st.integers(0, 65535),
    texts,
    texts,
    texts,
    st.sampled_from([1, 2, 3, 4, 5, 9]),
    st.text(alphabet="沪粤苏京ABCDE0123456789", min_size=2, max_size=9),
)
def test_registration_round_trips_in_every_edition(edition, province, city, maker, model, tid, colour, plate):
    from wastestream.producers.jt808 import Register
    from wastestream.producers.jt808.codec import _REGISTER_SIZES

    ed, version = edition
    m, mo, t = _REGISTER_SIZES[ed]
    reg = Register(province, city, maker[:m], model[:mo], tid[:t], colour, plate, ed)
    got = decode(encode_one(reg, "013800000001", 1, version)).body
    assert got == reg


@given(st.binary(min_size=6, max_size=6))
def test_any_phone_field_decodes_to_a_stable_id_and_is_echoed(phone):
    from wastestream.producers.jt808 import Heartbeat
    from wastestream.producers.jt808.codec import encode_header
    from wastestream.producers.jt808.framing import frame

    h = decode(frame(encode_header(0x0002, "0", 1, 0, phone=phone))).header
    assert h.terminal.isdigit() and h.phone == phone
    assert h.terminal == decode(frame(encode_header(0x0002, "0", 2, 0, phone=phone))).header.terminal
    echoed = decode(encode_one(Heartbeat(), h.terminal, 3, None, h.phone)).header
    assert echoed.phone == phone and echoed.terminal == h.terminal


@given(locations, st.binary(max_size=40))
def test_whatever_follows_the_basic_block_the_fix_is_kept(loc, tail):
    """The basic block decodes whatever bytes follow it: parsed as items or kept raw as the tail."""
    from wastestream.producers.jt808.codec import decode_location, encode_location

    raw = (
        encode_location(
            Location(loc.alarm, loc.status, loc.lat, loc.lon, loc.altitude_m, loc.speed_kmh, loc.heading, loc.time)
        )
        + tail
    )
    got = decode_location(raw)
    assert (got.lat, got.lon, got.time) == (_norm(loc).lat, _norm(loc).lon, loc.time)
    rebuilt = b"".join(bytes((k, len(v))) + v for k, v in got.extras.items()) + got.tail
    assert len(rebuilt) <= len(tail) and tail.endswith(got.tail)
