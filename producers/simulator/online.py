"""Online mode: trucks speak JT/T 808 over TCP to the gateway, stations post tickets to the
weighbridge API, paced by a simulated clock (``speed`` simulated seconds per second, or ``max``).

Events are dispatched in steps of simulated time; within a step every truck works concurrently
(its own connection, in its own order), so no truck runs more than one step ahead of another and
the worker's event-time clock advances as the city's does.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx

from wastestream.domain.localtime import at_local, day_start
from wastestream.errors import WastestreamError
from wastestream.producers.jt808 import Location
from wastestream.producers.simulator.day import Faults, SimEvent, simulate_day
from wastestream.producers.terminal import Terminal, TerminalError
from wastestream.producers.weighbridge import station_token
from wastestream.schemas import City, GpsFix
from wastestream.settings import Settings

STEP = timedelta(seconds=60)


def to_location(f: GpsFix) -> Location:
    extras = {} if f.odometer_km is None else {0x01: round(f.odometer_km * 10).to_bytes(4, "big")}  # 1/10 km
    return Location(f.alarm, f.status, f.lat, f.lon, f.altitude_m, f.speed_kmh, f.heading, f.device_time, extras)


def parse_window(day: date, from_: str, to: str, tz: str) -> tuple[datetime, datetime]:
    def parse(s: str) -> datetime | None:
        if s in ("24:00", "end"):
            return None
        try:
            hh, mm = (int(x) for x in s.split(":"))
            return at_local(day, time(hh, mm), tz)
        except ValueError:
            raise WastestreamError(f"--from/--to: {s!r} is not HH:MM") from None

    start = parse(from_) or day_start(day, tz)
    end = parse(to) or day_start(day + timedelta(days=2), tz)  # the day plus next-day uploads
    if end <= start:
        raise WastestreamError("--to must be after --from")
    return start, end


@dataclass
class Expected:
    """What a window of the simulation must land on the topics."""

    fixes: int = 0
    tickets: int = 0
    dead_letters: int = 0
    duplicates: int = 0


def expected_in_window(events: list[SimEvent], start: datetime, end: datetime) -> Expected:
    e = Expected()
    stored: dict[str, int] = defaultdict(int)
    seen: set[tuple[str, str]] = set()
    for ev in events:
        inside = start <= ev.deliver_at < end
        if ev.kind == "store":
            if inside:
                stored[ev.vehicle_id or ""] += 1
        elif ev.kind == "upload":
            if inside:
                e.fixes += stored.pop(ev.vehicle_id or "", 0)
        elif not inside:
            continue
        elif ev.kind == "fix":
            e.fixes += 1
        elif ev.kind == "ticket":
            assert ev.ticket is not None
            if ev.ticket.key in seen:
                e.duplicates += 1
            else:
                seen.add(ev.ticket.key)
                e.tickets += 1
        elif ev.kind in ("junk", "stranger"):  # bad bytes; an unregistered terminal's registration
            e.dead_letters += 1
    return e


@dataclass
class RunStats:
    fixes_acked: int = 0
    fixes_refused: int = 0
    backfilled: int = 0
    tickets: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    junk: int = 0


class OnlineRun:
    def __init__(
        self, settings: Settings, city: City, gateway: tuple[str, int], weighbridge_url: str, tokens: dict[str, str]
    ):
        self.s = settings
        self.city = city
        self.gateway = gateway
        self.weighbridge_url = weighbridge_url.rstrip("/")
        self.tokens = tokens  # station -> token
        self.vehicles = {v.id: v for v in city.vehicles}
        self.terminals: dict[str, Terminal] = {}
        self.lost: set[str] = set()  # terminals that lost the platform: upload their store on return
        self.stats = RunStats()
        self.http: httpx.AsyncClient | None = None

    async def _terminal(self, vehicle_id: str) -> Terminal:
        t = self.terminals.get(vehicle_id)
        if t is None:
            v = self.vehicles[vehicle_id]
            t = self.terminals[vehicle_id] = Terminal(v.terminal_id, v.plate)
        if not t.connected:
            try:
                await t.login(*self.gateway)
            except (OSError, TerminalError, TimeoutError):  # the platform is away: keep going offline
                await t.close()
                self.lost.add(vehicle_id)
                return t
            if vehicle_id in self.lost:
                self.lost.discard(vehicle_id)
                # back after losing the platform: what was kept meanwhile goes up as blind-area data
                self.stats.backfilled += await t.upload_blind_area()
        return t

    async def _stranger(self, frame: bytes) -> None:
        """An unregistered terminal tries to register on a connection of its own (the gateway refuses
        it and dead-letters the attempt as 'unknown terminal')."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.gateway), 5)
        except (OSError, TimeoutError):
            return
        try:
            writer.write(frame)
            await writer.drain()
            await asyncio.wait_for(reader.read(256), 5)  # the refusal
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _vehicle_events(self, vehicle_id: str, events: list[SimEvent]) -> None:
        t = await self._terminal(vehicle_id)
        for ev in events:
            if not t.connected:
                t = await self._terminal(vehicle_id)
            if ev.kind == "fix":
                assert ev.fix is not None
                if t.connected and await t.report(to_location(ev.fix)):
                    self.stats.fixes_acked += 1
                else:  # refused, or no platform: kept in the blind-area store (report() keeps refused ones)
                    if not t.connected:
                        self.lost.add(vehicle_id)
                        if not t.unacked or t.unacked[-1] != to_location(ev.fix):
                            t.store(to_location(ev.fix))
                    self.stats.fixes_refused += 1
            elif ev.kind == "store":
                assert ev.fix is not None
                t.store(to_location(ev.fix))
            elif ev.kind == "upload" and t.connected:
                self.stats.backfilled += await t.upload_blind_area()
            elif ev.kind == "junk" and t.connected:
                await t.send_raw(ev.data)
                self.stats.junk += 1

    async def _tickets(self, events: list[SimEvent]) -> None:
        assert self.http is not None
        by_station: dict[str, list] = defaultdict(list)
        for ev in events:
            assert ev.ticket is not None
            by_station[ev.ticket.station_id].append(ev.ticket)
        for station, tickets in by_station.items():
            body = [
                t.model_dump(
                    mode="json",
                    include={
                        "station_id",
                        "serial",
                        "plate",
                        "direction",
                        "waste_stream",
                        "gross_kg",
                        "tare_kg",
                        "net_kg",
                        "weigh_in_at",
                        "weigh_out_at",
                        "manual_weight",
                        "stored_tare",
                        "destination",
                    },
                )
                for t in tickets
            ]
            for item in body:
                if item.get("destination") is None:
                    item.pop("destination", None)
            r = await self.http.post(
                f"{self.weighbridge_url}/v1/tickets",
                json=body,
                headers={"Authorization": f"Bearer {self.tokens[station]}"},
            )
            if r.status_code not in (200, 422):
                raise WastestreamError(f"weighbridge answered {r.status_code}: {r.text[:200]}")
            for res in r.json()["results"]:
                self.stats.tickets[res["status"]] += 1

    async def run(
        self, events: list[SimEvent], start: datetime, end: datetime, speed: float | None, report: Callable[[str], None]
    ) -> RunStats:
        events = [e for e in events if start <= e.deliver_at < end]
        if not events:
            return self.stats
        self.http = httpx.AsyncClient(timeout=30)
        sim0 = max(start, events[0].deliver_at)
        wall0 = _time.monotonic()
        i, n = 0, len(events)
        last_report = 0.0
        try:
            t = sim0
            while i < n:
                t_next = t + STEP
                step: list[SimEvent] = []
                while i < n and events[i].deliver_at < t_next:
                    step.append(events[i])
                    i += 1
                if speed is not None:
                    due = wall0 + (t_next - sim0).total_seconds() / speed
                    delay = due - _time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                per_vehicle: dict[str, list[SimEvent]] = defaultdict(list)
                tickets = []
                for ev in step:
                    if ev.kind == "ticket":
                        tickets.append(ev)
                    elif ev.kind == "stranger":
                        await self._stranger(ev.data)
                    else:
                        per_vehicle[ev.vehicle_id or ""].append(ev)
                await asyncio.gather(*(self._vehicle_events(v, evs) for v, evs in per_vehicle.items()))
                if tickets:
                    await self._tickets(tickets)
                t = t_next
                if _time.monotonic() - last_report > 2 or i == n:
                    last_report = _time.monotonic()
                    report(
                        f"simulate: {i * 100 // n:3d}% sim {t.isoformat(timespec='minutes')} "
                        f"fixes {self.stats.fixes_acked:,} tickets {dict(self.stats.tickets)} backfilled {self.stats.backfilled}"
                    )
        finally:
            await asyncio.gather(
                *(term.logout() for term in self.terminals.values() if term.connected), return_exceptions=True
            )
            await self.http.aclose()
        return self.stats


def check_day_is_recent(settings: Settings, day: date) -> None:
    """Through the live gateway and API a simulated fix or ticket is received *now*: one older than the
    back-fill horizon is refused (a wrong clock), so only a recent day can be simulated online."""
    from wastestream.domain.localtime import local_date

    city_tz = settings.timezone
    today = local_date(datetime.now(UTC), city_tz)
    if (today - day).days + 1 > settings.check_backfill_horizon_days:
        raise WastestreamError(
            f"--date {day}: simulating online, its fixes are received now ({today} {city_tz}), more than the "
            f"back-fill horizon ({settings.check_backfill_horizon_days:g} days) after their time, and would be "
            "refused; simulate a recent day, use --offline, or raise WASTESTREAM_CHECK_BACKFILL_HORIZON_DAYS"
        )


def run_online(
    settings: Settings,
    city: City,
    day: date,
    seed: int,
    faults: Faults,
    speed: str,
    from_: str,
    to: str,
    truth_out: Path | None,
    report: Callable[[str], None],
) -> RunStats:
    from wastestream.producers.simulator.offline import write_json_truth

    check_day_is_recent(settings, day)

    if speed == "max":
        pace: float | None = None
    else:
        try:
            pace = float(speed)
        except ValueError:
            raise WastestreamError(f"--speed: {speed!r}; give a number (e.g. 60) or max") from None
        if pace <= 0:
            raise WastestreamError("--speed must be positive")
    if settings.gateway_secret is None:
        raise WastestreamError("no gateway secret: run `wastestream stack up` first")
    events, truth = simulate_day(city, day, seed, faults)
    start, end = parse_window(day, from_, to, city.timezone)
    if truth_out is not None:
        write_json_truth(truth_out, truth, expected_in_window(events, start, end))
    secret = settings.gateway_secret.get_secret_value().encode()
    tokens = {s.id: station_token(secret, s.id) for s in city.stations}
    run = OnlineRun(
        settings,
        city,
        (settings.gateway_host, settings.gateway_port),
        f"http://{settings.weighbridge_host}:{settings.weighbridge_port}",
        tokens,
    )
    try:
        stats = asyncio.run(run.run(events, start, end, pace, report))
    except (ConnectionError, OSError) as e:
        raise WastestreamError(
            f"cannot reach the gateway {settings.gateway_host}:{settings.gateway_port} or the weighbridge: {e}"
        ) from None
    report(
        f"simulate: done — fixes acked {stats.fixes_acked:,}, back-filled {stats.backfilled}, tickets {dict(stats.tickets)}"
    )
    return stats
