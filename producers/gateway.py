"""JT/T 808 TCP gateway: terminals in, ``GpsFix`` to ``gps.fixes``, every bad frame to ``deadletter``.

``TerminalSession`` is the protocol state of one connection and does no I/O: bytes in → replies to
send, fixes to publish, dead letters. ``Gateway`` is the asyncio shell around it. A terminal's
reply is sent only after its fixes are acknowledged by Kafka; if publishing fails the terminal
gets a failure reply and keeps the data for its blind-area upload (0x0704) — nothing is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from wastestream.domain.plates import normalise_plate
from wastestream.producers.jt808 import (
    Authenticate,
    BatchLocation,
    FrameSplitter,
    Heartbeat,
    Jt808Error,
    Junk,
    Location,
    Logout,
    PlatformReply,
    Reassembler,
    Register,
    RegisterReply,
    RegisterResult,
    ReplyResult,
    TerminalReply,
    Unknown,
    decode_body,
    decode_frame,
    encode_one,
)
from wastestream.producers.jt808.messages import (
    ALARM_EMERGENCY,
    ALARM_FATIGUE,
    ALARM_OVERSPEED,
    EXTRA_LENGTHS,
    DriverIdentity,
    Header,
    RetransmitRequest,
    Transparent,
)
from wastestream.producers.sinks import EventSink
from wastestream.schemas import DeadLetter, DriverShift, FixSource, GpsFix, TerminalData, Vehicle

log = logging.getLogger(__name__)


def norm_terminal(terminal: str) -> str:
    """2013 terminals send 12 BCD digits, 2019 ones 20: compare without leading zeros."""
    return terminal.lstrip("0") or "0"


class AuthStore:
    """The auth codes the platform issued, kept server-side: terminal → SHA-256 of its code. With a
    ``path`` they are an append-only file of ``terminal digest`` lines (mode 600; a revocation is a
    line with ``-``; the last line of a terminal wins), written before the reply goes out, so codes
    survive a gateway restart; a re-registration replaces a code, a logout (0x0003) revokes it. The
    file is compacted when it holds more than twice the live codes (a registration storm of 10,000
    terminals costs one line each, not a rewrite of all codes each)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._codes: dict[str, str] = {}
        self._lines = 0
        if path is not None and path.exists():
            try:
                for line in path.read_text().splitlines():
                    terminal, _, digest = line.partition(" ")
                    if digest == "-":
                        self._codes.pop(terminal, None)
                    elif terminal and digest:
                        self._codes[terminal] = digest
                    self._lines += 1
            except OSError as e:
                log.error("auth codes in %s unreadable (%s): terminals must register again", path, e)

    @staticmethod
    def _digest(code: str) -> str:
        return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()

    def put(self, terminal: str, code: str) -> None:
        key = norm_terminal(terminal)
        self._codes[key] = self._digest(code)
        self._append(f"{key} {self._codes[key]}")

    def revoke(self, terminal: str) -> None:
        key = norm_terminal(terminal)
        if self._codes.pop(key, None) is not None:
            self._append(f"{key} -")

    def check(self, terminal: str, code: str) -> bool:
        want = self._codes.get(norm_terminal(terminal))
        return want is not None and hmac.compare_digest(want, self._digest(code.strip()))

    def _append(self, line: str) -> None:
        if self.path is None:
            return
        if self._lines > 2 * len(self._codes) + 100:
            self._compact()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        self._lines += 1

    def _compact(self) -> None:
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{k} {v}\n" for k, v in sorted(self._codes.items())))
        tmp.chmod(0o600)
        tmp.replace(self.path)
        self._lines = len(self._codes)


class TerminalDirectory:
    """Terminal → vehicle (the registry), and the auth codes issued to registered terminals: random,
    kept server-side (:class:`AuthStore`), never derivable from the terminal id."""

    def __init__(
        self,
        vehicles: list[Vehicle],
        store: AuthStore | None = None,
        new_code: Callable[[], str] = lambda: secrets.token_hex(8).upper(),
        self_register: bool = False,
    ):
        self._by_terminal = {norm_terminal(v.terminal_id): v for v in vehicles}
        self.store = store or AuthStore()
        self._new_code = new_code
        # a self-registering fleet (setting): an unknown terminal is let in as an unregistered vehicle
        # "T<terminal>" — its fixes reach Kafka and are refused by the worker as an unknown vehicle,
        # which lists the terminal in unknown_terminals for an operator to register
        self.self_register = self_register
        self._guests: dict[str, Vehicle] = {}

    def vehicle(self, terminal: str) -> Vehicle | None:
        key = norm_terminal(terminal)
        return self._by_terminal.get(key) or self._guests.get(key)

    def refusal(self, terminal: str, reg: Register) -> tuple[RegisterResult, str] | None:
        """Why a registration is refused ((0x8100 result, reason)), or None: the terminal must be in the
        registry and its registration carry that vehicle's plate."""
        v = self.vehicle(terminal)
        if v is None and self.self_register and terminal.isdigit():
            self._guests[norm_terminal(terminal)] = Vehicle(
                id=f"T{norm_terminal(terminal)}",
                plate=reg.plate or "-",
                contractor_id="unregistered",
                terminal_id=terminal[-20:],
                rated_load_kg=1,
                stored_tare_kg=1,
            )
            return None
        if v is None:
            return RegisterResult.NO_SUCH_TERMINAL, "unknown terminal"
        if norm_terminal(terminal) in self._guests:
            return None
        if reg.plate_color == 0 or normalise_plate(reg.plate) != normalise_plate(v.plate):
            return RegisterResult.NO_SUCH_VEHICLE, f"registration refused: plate {reg.plate!r} is not {v.id}'s"
        return None

    def issue(self, terminal: str) -> str:
        """A new auth code for a registered terminal (replacing any earlier one)."""
        code = self._new_code()
        self.store.put(terminal, code)
        return code

    def check(self, terminal: str, code: str) -> bool:
        return self.store.check(terminal, code)

    def revoke(self, terminal: str) -> None:
        self.store.revoke(terminal)


@dataclass(frozen=True)
class Limits:
    """What one connection may cost before it is refused (settings ``WASTESTREAM_GATEWAY_*``)."""

    frames_before_auth: int = 8  # frames a peer may send before it authenticates; then it is cut off
    split_parts: int = 128  # packets one sub-packaged message may claim
    split_bytes: int = 256 * 1024  # bytes of incomplete sub-packaged messages held per terminal
    split_pending: int = 8  # incomplete sub-packaged messages held per terminal
    split_timeout_s: float = 60.0  # an incomplete message is dropped (dead-lettered) after this
    retransmit_after_s: float = 10.0  # missing packets are asked for again (0x8003) after this
    strict_checksum: bool = True  # False: accept (and count) frames with a wrong check code


@dataclass
class Actions:
    replies: list[bytes] = field(default_factory=list)
    fixes: list[GpsFix] = field(default_factory=list)
    events: list[DriverShift | TerminalData] = field(default_factory=list)  # driver shifts, transparent data
    dead: list[DeadLetter] = field(default_factory=list)
    close: bool = False
    # replies that depend on the fixes/events being durable: (reply if ok, reply if publishing failed)
    on_publish: list[tuple[bytes, bytes]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # refused registrations, abusers, lenient checksums

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


# what a peer may send before it has authenticated
_BEFORE_AUTH = frozenset((0x0100, 0x0102))


class TerminalSession:
    """Protocol state of one terminal connection. Pure: the caller passes clock values in."""

    def __init__(
        self,
        directory: TerminalDirectory,
        peer: str,
        max_frame: int = 8192,
        split_timeout_s: float | None = None,
        limits: Limits | None = None,
    ):
        self.directory = directory
        self.peer = peer
        self.limits = limits or Limits()
        if split_timeout_s is not None:
            self.limits = Limits(**{**self.limits.__dict__, "split_timeout_s": split_timeout_s})
        self.splitter = FrameSplitter(max_frame)
        self.reassembler = Reassembler(self.limits.split_timeout_s, self.limits.split_pending)
        self.terminal: str | None = None
        self.phone = b""
        self.version: int | None = None
        self.vehicle: Vehicle | None = None
        self.authenticated = False
        self.frames_unauthenticated = 0
        self._serial = 0
        self._asked: dict[tuple, float] = {}  # incomplete messages asked for again (0x8003), when

    # -- helpers ------------------------------------------------------------------------------
    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    def _send(self, h: Header, body) -> bytes:  # noqa: ANN001
        return encode_one(body, h.terminal, self._next_serial(), h.version, h.phone)

    def _reply(self, h: Header, result: ReplyResult) -> bytes:
        return self._send(h, PlatformReply(h.serial, h.msg_id, result))

    def _dead(
        self, reason: str, raw: bytes, received: datetime, terminal: str | None = None, **detail: str
    ) -> DeadLetter:
        return DeadLetter(
            source="gateway",
            reason=reason,
            raw_hex=raw.hex(),
            received_at=received,
            peer=self.peer,
            terminal_id=terminal or self.terminal,
            detail={k: str(v) for k, v in detail.items()},
        )

    def _fix(self, loc: Location, h: Header, received: datetime, source: FixSource) -> GpsFix:
        assert self.vehicle is not None
        typed = (0x01, 0x02, 0x03, 0x30, 0x31)
        extras = {f"0x{k:02X}": v.hex() for k, v in loc.extras.items() if k not in typed or len(v) != EXTRA_LENGTHS[k]}
        return GpsFix(
            vehicle_id=self.vehicle.id,
            terminal_id=h.terminal,
            device_time=loc.time,
            received_at=received,
            lat=loc.lat,
            lon=loc.lon,
            speed_kmh=loc.speed_kmh,
            heading=loc.heading,
            altitude_m=loc.altitude_m,
            alarm=loc.alarm,
            status=loc.status,
            acc_on=loc.acc_on,
            fix_valid=loc.fix_valid,
            odometer_km=loc.odometer_km,
            satellites=loc.satellites,
            signal=loc.signal,
            source=source,
            msg_serial=h.serial,
            extras=extras,
            fuel_l=loc.fuel_l,
            recorder_speed_kmh=loc.recorder_speed_kmh,
            alarm_emergency=bool(loc.alarm & ALARM_EMERGENCY),
            alarm_overspeed=bool(loc.alarm & ALARM_OVERSPEED),
            alarm_fatigue=bool(loc.alarm & ALARM_FATIGUE),
            load_state=loc.load_state,  # type: ignore[arg-type]
            extras_tail=loc.tail.hex(),
        )

    # -- input --------------------------------------------------------------------------------
    def feed(self, chunk: bytes, received: datetime, now: float) -> Actions:
        acts = Actions()
        try:
            items = list(self.splitter.feed(chunk))
        except Jt808Error as e:
            acts.dead.append(self._dead(e.reason, e.raw, received, detail=e.detail))
            acts.close = True
            return acts
        for item in items:
            if acts.close:
                break
            if isinstance(item, Junk):
                acts.dead.append(self._dead("junk bytes", item.data, received))
            else:
                self._frame(item, received, now, acts)
        self.tick(received, now, acts)
        return acts

    def tick(self, received: datetime, now: float, acts: Actions | None = None) -> Actions:
        """Timers: ask for the missing packets of an incomplete sub-packaged message (0x8003) once it
        has waited ``retransmit_after_s``; drop it (dead letter) after ``split_timeout_s``."""
        acts = acts or Actions()
        for h, raws in self.reassembler.expire(now):
            acts.dead.append(
                self._dead("incomplete split message", b"".join(raws), received, h.terminal, msg_id=f"0x{h.msg_id:04X}")
            )
        for key, first_serial, h, missing, since in self.reassembler.incomplete():
            if now - since >= self.limits.retransmit_after_s and key not in self._asked:
                self._asked[key] = now
                acts.replies.append(self._send(h, RetransmitRequest(first_serial, tuple(missing))))
        self._asked = {k: v for k, v in self._asked.items() if self.reassembler.has(k)}
        return acts

    def close(self, received: datetime) -> Actions:
        """The connection ended: bytes that never became a frame are reported too; everything held
        for the connection is freed."""
        acts = Actions()
        for item in self.splitter.flush():
            reason = "incomplete frame at close" if item.data.startswith(b"\x7e") else "junk bytes"
            acts.dead.append(self._dead(reason, item.data, received, self.terminal))
        self.reassembler.clear()
        self._asked.clear()
        return acts

    def _decode(self, raw: bytes, acts: Actions) -> tuple[Header, bytes]:
        try:
            return decode_frame(raw)
        except Jt808Error as e:
            if self.limits.strict_checksum or e.reason != "bad checksum":
                raise
            acts.count("bad_checksum_accepted")
            return decode_frame(raw, strict=False)

    def _frame(self, raw: bytes, received: datetime, now: float, acts: Actions) -> None:
        try:
            h, body = self._decode(raw, acts)
        except Jt808Error as e:
            acts.dead.append(self._dead(e.reason, raw, received, detail=e.detail))
            return
        if self.terminal is not None and norm_terminal(h.terminal) != norm_terminal(self.terminal):
            acts.dead.append(self._dead("terminal changed on connection", raw, received, h.terminal))
            acts.replies.append(self._reply(h, ReplyResult.FAILURE))
            return
        if not self.authenticated and (h.msg_id not in _BEFORE_AUTH or h.is_split):
            # nothing is held for a peer that has not authenticated: not even sub-packages
            self.frames_unauthenticated += 1
            acts.dead.append(
                self._dead("unauthenticated terminal", raw, received, h.terminal, msg_id=f"0x{h.msg_id:04X}")
            )
            acts.replies.append(self._reply(h, ReplyResult.FAILURE))
            if self.frames_unauthenticated >= self.limits.frames_before_auth:
                acts.count("abusers")
                acts.dead.append(
                    self._dead(
                        "connection closed: too many frames before authentication",
                        raw,
                        received,
                        h.terminal,
                        frames=str(self.frames_unauthenticated),
                    )
                )
                acts.close = True
            return
        if h.is_split:
            assert h.packet_total is not None
            if h.packet_total > self.limits.split_parts:
                acts.dead.append(
                    self._dead("split message too large", raw, received, h.terminal, packets=str(h.packet_total))
                )
                acts.replies.append(self._reply(h, ReplyResult.FAILURE))
                return
            if self.reassembler.held_bytes() + len(body) > self.limits.split_bytes:
                acts.count("abusers")
                acts.dead.append(
                    self._dead(
                        "split messages over the memory limit",
                        raw,
                        received,
                        h.terminal,
                        held=str(self.reassembler.held_bytes()),
                    )
                )
                acts.replies.append(self._reply(h, ReplyResult.FAILURE))
                return
            try:
                whole = self.reassembler.add(h, body, raw, now)
            except Jt808Error as e:
                acts.dead.append(self._dead(e.reason, raw, received, h.terminal, detail=e.detail))
                acts.replies.append(self._reply(h, ReplyResult.FAILURE))
                return
            acts.replies.append(self._reply(h, ReplyResult.OK))  # each package is acknowledged
            if whole is None:
                return
            h, body = whole
            raw = b""
        try:
            msg = decode_body(h, body)
        except Jt808Error as e:
            acts.dead.append(self._dead(e.reason, raw or body, received, h.terminal, detail=e.detail))
            acts.replies.append(self._reply(h, ReplyResult.MESSAGE_ERROR))
            return
        self._message(h, msg, raw or body, received, acts)

    def _message(self, h: Header, msg: object, raw: bytes, received: datetime, acts: Actions) -> None:
        match msg:
            case Register():
                refused = self.directory.refusal(h.terminal, msg)
                if refused is not None:
                    result, reason = refused
                    acts.count("registrations_refused")
                    log.warning("%s: registration of terminal %s refused (%s)", self.peer, h.terminal, reason)
                    acts.dead.append(self._dead(reason, raw, received, h.terminal, plate=msg.plate))
                    reply = RegisterReply(h.serial, result)
                else:
                    self.terminal, self.vehicle = h.terminal, self.directory.vehicle(h.terminal)
                    reply = RegisterReply(h.serial, RegisterResult.OK, self.directory.issue(h.terminal))
                acts.replies.append(self._send(h, reply))
            case Authenticate():
                vehicle = self.directory.vehicle(h.terminal)
                if vehicle is not None and self.directory.check(h.terminal, msg.auth_code):
                    self.terminal, self.vehicle, self.authenticated = h.terminal, vehicle, True
                    acts.replies.append(self._reply(h, ReplyResult.OK))
                else:
                    reason = "unknown terminal" if vehicle is None else "bad auth code"
                    acts.dead.append(self._dead(reason, raw, received, h.terminal))
                    acts.replies.append(self._reply(h, ReplyResult.FAILURE))
            case Heartbeat():
                acts.replies.append(self._reply(h, ReplyResult.OK))
            case Logout():  # 0x0003 注销: the terminal de-registers; its auth code is revoked
                self.directory.revoke(h.terminal)
                acts.replies.append(self._reply(h, ReplyResult.OK))
                self.authenticated = False
                acts.close = True
            case TerminalReply():
                pass  # the terminal acknowledging one of ours
            case Location() | BatchLocation():
                if isinstance(msg, Location):
                    fixes = [self._fix(msg, h, received, FixSource.realtime)]
                else:
                    src = FixSource.backfill if msg.backfill else FixSource.realtime
                    fixes = [self._fix(loc, h, received, src) for loc in msg.items]
                acts.fixes.extend(fixes)
                acts.on_publish.append((self._reply(h, ReplyResult.OK), self._reply(h, ReplyResult.FAILURE)))
            case DriverIdentity():
                assert self.vehicle is not None
                acts.events.append(
                    DriverShift(
                        vehicle_id=self.vehicle.id,
                        terminal_id=h.terminal,
                        event="sign_in" if msg.signed_in else "sign_out",
                        at=received if msg.time.year < 2000 else msg.time,
                        received_at=received,
                        card_read_ok=None if msg.read_result is None else msg.read_result == 0,
                        driver_name=msg.name,
                        qualification=msg.qualification,
                        issuer=msg.issuer,
                        certificate_expires=msg.expires,
                        id_card=msg.id_card,
                    )
                )
                acts.on_publish.append((self._reply(h, ReplyResult.OK), self._reply(h, ReplyResult.FAILURE)))
            case Transparent():
                assert self.vehicle is not None
                acts.events.append(
                    TerminalData(
                        vehicle_id=self.vehicle.id,
                        terminal_id=h.terminal,
                        kind=msg.kind,
                        data_hex=msg.data.hex(),
                        received_at=received,
                    )
                )
                acts.on_publish.append((self._reply(h, ReplyResult.OK), self._reply(h, ReplyResult.FAILURE)))
            case Unknown():
                acts.dead.append(
                    self._dead("unsupported message", raw, received, h.terminal, msg_id=f"0x{h.msg_id:04X}")
                )
                acts.replies.append(self._reply(h, ReplyResult.NOT_SUPPORTED))
            case _:
                acts.dead.append(
                    self._dead("unexpected message", raw, received, h.terminal, msg_id=f"0x{h.msg_id:04X}")
                )
                acts.replies.append(self._reply(h, ReplyResult.NOT_SUPPORTED))


class Gateway:
    """asyncio TCP server around :class:`TerminalSession`."""

    def __init__(
        self,
        directory: TerminalDirectory,
        sink: EventSink,
        idle_timeout_s: float = 180.0,
        max_frame: int = 8192,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits | None = None,
    ):
        self.directory = directory
        self.sink = sink
        self.idle_timeout_s = idle_timeout_s
        self.max_frame = max_frame
        self.clock = clock
        self.limits = limits or Limits()
        self.connections = 0
        self.stats = {
            "frames_bytes": 0,
            "fixes": 0,
            "events": 0,
            "dead": 0,
            "connections_total": 0,
            "registrations_refused": 0,
            "abusers": 0,
            "bad_checksum_accepted": 0,
        }
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, limit=self.max_frame * 2)
        return self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.sink.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        session = TerminalSession(self.directory, peer, self.max_frame, limits=self.limits)
        self.connections += 1
        self.stats["connections_total"] += 1
        # wake up at least this often: sub-package timers (0x8003, expiry) run without input too
        step = max(1.0, min(self.limits.retransmit_after_s, self.idle_timeout_s) / 2)
        last_input = time.monotonic()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), step)
                except TimeoutError:
                    if time.monotonic() - last_input >= self.idle_timeout_s:
                        log.info("%s idle for %.0fs, closing", peer, self.idle_timeout_s)
                        break
                    await self._act(session.tick(self.clock(), time.monotonic()), writer)
                    continue
                if not chunk:
                    break
                last_input = time.monotonic()
                acts = session.feed(chunk, self.clock(), time.monotonic())
                await self._act(acts, writer)
                if acts.close:
                    break
            for dl in session.close(self.clock()).dead:
                await self._dead_letter(dl)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self.connections -= 1
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass
            if task is not None:
                self._tasks.discard(task)

    async def _dead_letter(self, dl: DeadLetter) -> None:
        self.stats["dead"] += 1
        log.warning("dead letter from %s: %s", dl.peer, dl.reason)
        await self.sink.dead_letter(dl)

    async def _act(self, acts: Actions, writer: asyncio.StreamWriter) -> None:
        for what, n in acts.counts.items():
            self.stats[what] = self.stats.get(what, 0) + n
        for dl in acts.dead:
            await self._dead_letter(dl)
        for r in acts.replies:
            writer.write(r)
        if acts.on_publish:
            ok = True
            try:
                if acts.fixes:
                    await self.sink.fixes(acts.fixes)
                    self.stats["fixes"] += len(acts.fixes)
                if acts.events:
                    await self.sink.terminal_events(acts.events)
                    self.stats["events"] += len(acts.events)
            except Exception as e:  # noqa: BLE001 - the terminal must hear about it and retry
                log.error("publishing %d fixes / %d events failed: %s", len(acts.fixes), len(acts.events), e)
                ok = False
            for good, bad in acts.on_publish:
                writer.write(good if ok else bad)
        await writer.drain()


def load_directory(settings) -> TerminalDirectory:  # noqa: ANN001
    from wastestream.errors import WastestreamError
    from wastestream.schemas import CityFileError, load_city

    if not settings.city_file.exists():
        raise WastestreamError(
            f"no city file at {settings.city_file}: run `wastestream simulate --write-city` or set WASTESTREAM_CITY_FILE"
        )
    try:
        city = load_city(settings.city_file)
    except CityFileError as e:
        raise WastestreamError(str(e)) from None
    return TerminalDirectory(
        city.vehicles, AuthStore(settings.gateway_auth_file or settings.state_dir / "gateway-auth.json")
    )


def limits_from_settings(settings) -> Limits:  # noqa: ANN001
    return Limits(
        frames_before_auth=settings.gateway_frames_before_auth,
        split_parts=settings.gateway_split_parts,
        split_bytes=settings.gateway_split_bytes,
        split_pending=settings.gateway_split_pending,
        split_timeout_s=settings.gateway_split_timeout_s,
        retransmit_after_s=settings.gateway_retransmit_after_s,
        strict_checksum=not settings.gateway_lenient_checksum,
    )


def run_gateway(settings, host: str | None, port: int | None, report: Callable[[str], None]) -> None:  # noqa: ANN001
    """Serve until SIGINT/SIGTERM; then stop accepting, close connections and flush the producer."""
    import signal

    from wastestream.producers.sinks import KafkaSink

    directory = load_directory(settings)
    host = host or settings.gateway_host
    port = port or settings.gateway_port

    async def main() -> None:
        # handlers first: a SIGTERM that comes as soon as the port is open must stop cleanly too
        # (CI sent one in the moment between listening and installing them: killed, exit -15)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sink = KafkaSink(settings, client_id="wastestream-gateway")
        gw = Gateway(
            directory,
            sink,
            settings.gateway_idle_timeout_s,
            settings.gateway_max_frame,
            limits=limits_from_settings(settings),
        )
        try:
            bound = await gw.start(host, port)
        except OSError as e:
            sink.close()
            from wastestream.errors import WastestreamError

            raise WastestreamError(f"gateway cannot listen on {host}:{port}: {e.strerror}") from None
        report(f"gateway: JT/T 808 on {host}:{bound} → Kafka {settings.kafka_bootstrap}")
        serve = asyncio.create_task(gw.serve_forever())
        await stop.wait()
        report(f"gateway: stopping ({gw.connections} connections open, {gw.stats['fixes']} fixes published)")
        serve.cancel()
        await gw.stop()
        report("gateway: stopped, producer flushed")

    asyncio.run(main())
