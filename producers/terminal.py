"""An asyncio JT/T 808 terminal (client side): what the simulator and the tests drive trucks with.

It behaves as a real terminal does: register → keep the auth code → authenticate; positions
that are not acknowledged with success are kept and re-sent later as a blind-area batch (0x0704
type 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from wastestream.producers.jt808 import (
    Authenticate,
    BatchLocation,
    FrameSplitter,
    Heartbeat,
    Junk,
    Location,
    Logout,
    PlatformReply,
    Register,
    RegisterReply,
    RegisterResult,
    ReplyResult,
    decode,
    encode,
)
from wastestream.producers.jt808.messages import Body

MAX_BATCH = 20  # 0x0704 items per message (≈ 40 bytes each, stays under one 1023-byte package)


class TerminalError(RuntimeError):
    pass


class Terminal:
    def __init__(self, terminal_id: str, plate: str, version: int | None = None, reply_timeout_s: float = 30.0):
        self.terminal_id = terminal_id
        self.plate = plate
        self.version = version
        self.reply_timeout_s = reply_timeout_s
        self.auth_code: str | None = None
        self.unacked: list[Location] = []  # blind-area store
        self._serial = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._splitter = FrameSplitter()
        self._pending: dict[int, asyncio.Future] = {}
        self._reader_task: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self, host: str, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._splitter = FrameSplitter()
        self._reader_task = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(TerminalError("connection closed"))
        self._pending.clear()
        self._writer = None

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while chunk := await self._reader.read(4096):
                for item in self._splitter.feed(chunk):
                    if isinstance(item, Junk):
                        continue
                    msg = decode(item)
                    body = msg.body
                    serial = body.reply_serial if isinstance(body, PlatformReply | RegisterReply) else None
                    fut = self._pending.pop(serial, None) if serial is not None else None
                    if fut is not None and not fut.done():
                        fut.set_result(body)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(TerminalError("connection closed by platform"))

    async def _request(self, body: Body) -> PlatformReply | RegisterReply:
        if not self.connected:
            raise TerminalError("not connected")
        assert self._writer is not None
        frames = encode(body, self.terminal_id, self._serial + 1, self.version)
        futs = []
        for _ in frames:
            self._serial = (self._serial + 1) & 0xFFFF
            fut = asyncio.get_running_loop().create_future()
            self._pending[self._serial] = fut
            futs.append(fut)
        self._writer.write(b"".join(frames))
        await self._writer.drain()
        results = await asyncio.wait_for(asyncio.gather(*futs), self.reply_timeout_s)
        return results[-1]

    async def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def register(self) -> str:
        reply = await self._request(Register(31, 0, "WSSIM", "WS-808", self.terminal_id[-7:], 1, self.plate))
        assert isinstance(reply, RegisterReply)
        if reply.result != RegisterResult.OK:
            raise TerminalError(f"registration refused: {reply.result.name}")
        self.auth_code = reply.auth_code
        return reply.auth_code

    async def authenticate(self, code: str | None = None) -> ReplyResult:
        reply = await self._request(Authenticate(code if code is not None else self.auth_code or ""))
        assert isinstance(reply, PlatformReply)
        return reply.result

    async def login(self, host: str, port: int) -> None:
        await self.connect(host, port)
        if self.auth_code is None:
            await self.register()
        if await self.authenticate() != ReplyResult.OK:
            raise TerminalError("authentication refused")

    async def heartbeat(self) -> ReplyResult:
        reply = await self._request(Heartbeat())
        assert isinstance(reply, PlatformReply)
        return reply.result

    async def logout(self) -> None:
        try:
            await self._request(Logout())
        finally:
            await self.close()

    async def report(self, loc: Location) -> bool:
        """Send one position; on anything but success keep it for the blind-area upload."""
        try:
            reply = await self._request(loc)
        except (TerminalError, TimeoutError, ConnectionError):
            self.unacked.append(loc)
            await self.close()  # the link is gone or stuck: reconnect before the next report
            return False
        ok = isinstance(reply, PlatformReply) and reply.result == ReplyResult.OK
        if not ok:
            self.unacked.append(loc)
        return ok

    def store(self, loc: Location) -> None:
        """No network (dropout): keep the fix for later, as a terminal's blind-area memory does."""
        self.unacked.append(loc)

    async def upload_blind_area(self) -> int:
        """Send stored positions as 0x0704 type 1 batches; returns how many were acknowledged."""
        sent = 0
        while self.unacked:
            chunk = self.unacked[:MAX_BATCH]
            reply = await self._request(BatchLocation(1, tuple(chunk)))
            if not (isinstance(reply, PlatformReply) and reply.result == ReplyResult.OK):
                break
            del self.unacked[: len(chunk)]
            sent += len(chunk)
        return sent

    async def send_batch(self, locs: Sequence[Location], kind: int = 0) -> ReplyResult:
        reply = await self._request(BatchLocation(kind, tuple(locs)))
        assert isinstance(reply, PlatformReply)
        return reply.result
