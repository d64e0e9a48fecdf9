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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
from wastestream.producers.jt808.messages import Header
from wastestream.producers.sinks import EventSink
from wastestream.schemas import DeadLetter, FixSource, GpsFix, Vehicle

log = logging.getLogger(__name__)


def norm_terminal(terminal: str) -> str:
    """2013 terminals send 12 BCD digits, 2019 ones 20: compare without leading zeros."""
    return terminal.lstrip("0") or "0"


class TerminalDirectory:
    """Terminal → vehicle, and the auth codes the platform issues (HMAC of the terminal id, so a
    gateway restart does not invalidate codes terminals have stored)."""

    def __init__(self, vehicles: list[Vehicle], secret: bytes):
        self._by_terminal = {norm_terminal(v.terminal_id): v for v in vehicles}
        self._secret = secret

    def vehicle(self, terminal: str) -> Vehicle | None:
        return self._by_terminal.get(norm_terminal(terminal))

    def auth_code(self, terminal: str) -> str:
        mac = hmac.new(self._secret, norm_terminal(terminal).encode(), hashlib.sha256).hexdigest()
        return mac[:16].upper()

    def check(self, terminal: str, code: str) -> bool:
        return hmac.compare_digest(self.auth_code(terminal).encode(), code.strip().encode("utf-8", "replace"))


@dataclass
class Actions:
    replies: list[bytes] = field(default_factory=list)
    fixes: list[GpsFix] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    close: bool = False
    # replies that depend on the fixes being durable: (reply if ok, reply if publishing failed)
    on_publish: list[tuple[bytes, bytes]] = field(default_factory=list)


class TerminalSession:
    """Protocol state of one terminal connection. Pure: the caller passes clock values in."""

    def __init__(self, directory: TerminalDirectory, peer: str, max_frame: int = 8192, split_timeout_s: float = 60):
        self.directory = directory
        self.peer = peer
        self.splitter = FrameSplitter(max_frame)
        self.reassembler = Reassembler(split_timeout_s)
        self.terminal: str | None = None
        self.vehicle: Vehicle | None = None
        self.authenticated = False
        self._serial = 0

    # -- helpers ------------------------------------------------------------------------------
    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    def _reply(self, h: Header, result: ReplyResult) -> bytes:
        body = PlatformReply(h.serial, h.msg_id, result)
        return encode_one(body, h.terminal, self._next_serial(), h.version)

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
        extras = {f"0x{k:02X}": v.hex() for k, v in loc.extras.items() if k not in (0x01, 0x30, 0x31)}
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
            if isinstance(item, Junk):
                acts.dead.append(self._dead("junk bytes", item.data, received))
            else:
                self._frame(item, received, now, acts)
        for h, raws in self.reassembler.expire(now):
            acts.dead.append(
                self._dead("incomplete split message", b"".join(raws), received, h.terminal, msg_id=f"0x{h.msg_id:04X}")
            )
        return acts

    def close(self, received: datetime) -> Actions:
        """The connection ended: bytes that never became a frame are reported too."""
        acts = Actions()
        for item in self.splitter.flush():
            reason = "incomplete frame at close" if item.data.startswith(b"\x7e") else "junk bytes"
            acts.dead.append(self._dead(reason, item.data, received, self.terminal))
        return acts

    def _frame(self, raw: bytes, received: datetime, now: float, acts: Actions) -> None:
        try:
            h, body = decode_frame(raw)
        except Jt808Error as e:
            acts.dead.append(self._dead(e.reason, raw, received, detail=e.detail))
            return
        if self.terminal is not None and norm_terminal(h.terminal) != norm_terminal(self.terminal):
            acts.dead.append(self._dead("terminal changed on connection", raw, received, h.terminal))
            acts.replies.append(self._reply(h, ReplyResult.FAILURE))
            return
        if h.is_split:
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
                vehicle = self.directory.vehicle(h.terminal)
                if vehicle is None:
                    acts.dead.append(self._dead("unknown terminal", raw, received, h.terminal, plate=msg.plate))
                    reply = RegisterReply(h.serial, RegisterResult.NO_SUCH_TERMINAL)
                else:
                    self.terminal, self.vehicle = h.terminal, vehicle
                    reply = RegisterReply(h.serial, RegisterResult.OK, self.directory.auth_code(h.terminal))
                acts.replies.append(encode_one(reply, h.terminal, self._next_serial(), h.version))
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
            case Logout():
                acts.replies.append(self._reply(h, ReplyResult.OK))
                self.authenticated = False
                acts.close = True
            case TerminalReply():
                pass  # the terminal acknowledging one of ours
            case Location() | BatchLocation():
                if not self.authenticated:
                    acts.dead.append(self._dead("unauthenticated terminal", raw, received, h.terminal))
                    acts.replies.append(self._reply(h, ReplyResult.FAILURE))
                    return
                if isinstance(msg, Location):
                    fixes = [self._fix(msg, h, received, FixSource.realtime)]
                else:
                    src = FixSource.backfill if msg.backfill else FixSource.realtime
                    fixes = [self._fix(loc, h, received, src) for loc in msg.items]
                acts.fixes.extend(fixes)
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
    ):
        self.directory = directory
        self.sink = sink
        self.idle_timeout_s = idle_timeout_s
        self.max_frame = max_frame
        self.clock = clock
        self.connections = 0
        self.stats = {"frames_bytes": 0, "fixes": 0, "dead": 0, "connections_total": 0}
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
        session = TerminalSession(self.directory, peer, self.max_frame)
        self.connections += 1
        self.stats["connections_total"] += 1
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), self.idle_timeout_s)
                except TimeoutError:
                    log.info("%s idle for %.0fs, closing", peer, self.idle_timeout_s)
                    break
                if not chunk:
                    break
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
        for dl in acts.dead:
            await self._dead_letter(dl)
        for r in acts.replies:
            writer.write(r)
        if acts.fixes:
            ok = True
            try:
                await self.sink.fixes(acts.fixes)
                self.stats["fixes"] += len(acts.fixes)
            except Exception as e:  # noqa: BLE001 - the terminal must hear about it and retry
                log.error("publishing %d fixes failed: %s", len(acts.fixes), e)
                ok = False
            for good, bad in acts.on_publish:
                writer.write(good if ok else bad)
        await writer.drain()


def load_directory(settings) -> TerminalDirectory:  # noqa: ANN001
    from wastestream.errors import WastestreamError
    from wastestream.schemas import CityFileError, load_city

    if settings.gateway_secret is None:
        raise WastestreamError("no gateway secret: set WASTESTREAM_GATEWAY_SECRET (`wastestream stack up` writes one)")
    if not settings.city_file.exists():
        raise WastestreamError(
            f"no city file at {settings.city_file}: run `wastestream simulate --write-city` or set WASTESTREAM_CITY_FILE"
        )
    try:
        city = load_city(settings.city_file)
    except CityFileError as e:
        raise WastestreamError(str(e)) from None
    return TerminalDirectory(city.vehicles, settings.gateway_secret.get_secret_value().encode())


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
        gw = Gateway(directory, sink, settings.gateway_idle_timeout_s, settings.gateway_max_frame)
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
