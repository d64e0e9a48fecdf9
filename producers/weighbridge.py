"""Weighbridge ticket ingest: an HTTP API (FastAPI, OpenAPI at /openapi.json) for transfer stations.

* ``POST /v1/tickets`` — one ticket (JSON object) or a batch (JSON array).
* ``POST /v1/tickets/csv`` — a CSV export from the station's weighing software (columns below).
* Each station has its own bearer token and may only post its own tickets.
* Every ticket is validated; a rejected one is answered with 422 naming the field and goes to the
  ``deadletter`` topic with its raw content and the reason; an accepted one goes to
  ``weigh.tickets`` (keyed by station) once Kafka has acknowledged it. A (station, serial) already
  accepted is answered as a duplicate and not published again (the worker deduplicates as well,
  so a restart of this service cannot double-count).

CSV columns (English or Chinese header; times without an offset are Asia/Shanghai local time):

================  =============  ====================================================
column            中文           value
================  =============  ====================================================
station_id        站点           station id, e.g. S01
serial            磅单号         ticket serial, unique per station
plate             车牌           plate, any width/spacing/case (normalised)
direction         方向           in / out  (进 / 出)
waste_stream      垃圾类别       other, kitchen, recyclable, hazardous, bulky, construction
                                 (其他垃圾, 厨余垃圾, 可回收物, 有害垃圾, 大件垃圾, 建筑垃圾)
gross_kg          毛重           kg
tare_kg           皮重           kg
net_kg            净重           kg
weigh_in_at       进站时间       ISO time, e.g. 2026-11-23 08:05:00
weigh_out_at      出站时间       ISO time
manual_weight     手工           true/false, 1/0, 是/否
stored_tare       存皮           true/false, 1/0, 是/否
destination       去向           incineration / landfill (焚烧 / 填埋), outbound only
================  =============  ====================================================
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wastestream.domain.checks import DEFAULT_INPUT_RULES, InputRules, ticket_problems
from wastestream.domain.localtime import zone
from wastestream.domain.plates import normalise_plate
from wastestream.producers.complaints import complaints_router
from wastestream.producers.exceptions import exceptions_router
from wastestream.producers.httpauth import bearer_of
from wastestream.producers.sinks import EventSink
from wastestream.schemas import City, DeadLetter, Destination, Direction, WasteStream, WeighTicket
from wastestream.topics import COMPLAINTS, SERVICE_EXCEPTIONS


def station_token(secret: bytes, station_id: str) -> str:
    return hmac.new(secret, f"weighbridge:{station_id}".encode(), hashlib.sha256).hexdigest()[:40]


class TicketIn(BaseModel):
    """What a station posts. Validated against the scale, the clock and the city's reference data."""

    model_config = ConfigDict(extra="forbid")
    station_id: str
    serial: str = Field(min_length=1, max_length=64)
    plate: str = Field(min_length=2, max_length=20)
    direction: Direction
    waste_stream: WasteStream
    gross_kg: float
    tare_kg: float
    net_kg: float
    weigh_in_at: AwareDatetime
    weigh_out_at: AwareDatetime
    manual_weight: bool = False
    stored_tare: bool = False
    destination: Destination | None = None

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        return normalise_plate(v)

    @model_validator(mode="after")
    def _times(self) -> TicketIn:
        if self.weigh_out_at < self.weigh_in_at:
            raise ValueError("weigh_out_at: before weigh_in_at")
        return self


Rules = InputRules  # the ticket rules live in the domain (wastestream.domain.checks)


def check(
    t: TicketIn, city_stations: set[str], plates: dict[str, str], rules: InputRules, now: datetime
) -> list[tuple[str, str]]:
    """The domain's ticket checks (the same the worker and ``recompute`` apply) plus what only the
    API can check: the plate is a registered vehicle's, outbound tickets name their destination.
    [(field, message)], empty when the ticket is good."""
    errs = [(p.field, p.message) for p in ticket_problems(t, city_stations, rules, received_at=now)]
    if t.plate not in plates:
        errs.append(("plate", f"unknown vehicle plate {t.plate!r}"))
    if t.direction == Direction.outbound and t.destination is None:
        errs.append(("destination", "required for outbound tickets"))
    return errs


CSV_COLUMNS = {
    "站点": "station_id",
    "磅单号": "serial",
    "车牌": "plate",
    "方向": "direction",
    "垃圾类别": "waste_stream",
    "毛重": "gross_kg",
    "皮重": "tare_kg",
    "净重": "net_kg",
    "进站时间": "weigh_in_at",
    "出站时间": "weigh_out_at",
    "手工": "manual_weight",
    "存皮": "stored_tare",
    "去向": "destination",
}
CSV_VALUES = {
    "direction": {"进": "in", "出": "out"},
    "waste_stream": {
        "其他垃圾": "other",
        "厨余垃圾": "kitchen",
        "可回收物": "recyclable",
        "有害垃圾": "hazardous",
        "大件垃圾": "bulky",
        "建筑垃圾": "construction",
    },
    "destination": {"焚烧": "incineration", "填埋": "landfill"},
    "manual_weight": {"是": "true", "否": "false", "1": "true", "0": "false", "": "false"},
    "stored_tare": {"是": "true", "否": "false", "1": "true", "0": "false", "": "false"},
}


def csv_rows(text: str, tz: str, max_rows: int | None = None) -> list[dict[str, Any]]:
    """CSV text → ticket dicts (header mapped, Chinese values translated, naive times as local);
    stops after ``max_rows`` rows (the caller refuses more)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise ValueError("empty CSV")
    header = [CSV_COLUMNS.get(h.strip(), h.strip()) for h in reader.fieldnames]
    unknown = [h for h in header if h not in TicketIn.model_fields]
    if unknown:
        raise ValueError(f"unknown CSV column(s): {', '.join(unknown)}")
    rows: list[dict[str, Any]] = []
    for raw in reader:
        if max_rows is not None and len(rows) >= max_rows:
            break
        if None in raw or None in raw.values():  # DictReader's markers for too many / too few fields
            n = len(raw.get(None) or []) + sum(v is not None for k, v in raw.items() if k is not None)
            raise ValueError(f"line {reader.line_num}: {n} fields, the header has {len(header)}")
        row: dict[str, Any] = {}
        for h_raw, h in zip(reader.fieldnames, header, strict=True):
            v = (raw.get(h_raw) or "").strip()
            v = CSV_VALUES.get(h, {}).get(v, v)
            if h in ("weigh_in_at", "weigh_out_at") and v:
                try:
                    dt = datetime.fromisoformat(v)
                    if dt.tzinfo is None:
                        dt = dt.replace(tzinfo=zone(tz))
                    v = dt.isoformat()
                except ValueError:
                    pass  # left for the model to reject with the field named
            if h == "destination" and v == "":
                continue
            row[h] = v
        rows.append(row)
    return rows


class Seen:
    """(station, serial) already accepted by this process (bounded; the worker is the final dedupe)."""

    def __init__(self, capacity: int = 1_000_000):
        self.capacity = capacity
        self._d: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._d

    def add(self, key: tuple[str, str]) -> None:
        self._d[key] = None
        if len(self._d) > self.capacity:
            self._d.popitem(last=False)


def create_app(
    city: City,
    sink: EventSink,
    tokens: dict[str, str],
    rules: InputRules | None = None,
    clock=lambda: datetime.now(UTC),
    max_body_bytes: int = 5 * 1024 * 1024,
    max_rows: int = 5000,
    dispatch_tokens: dict[str, str] | None = None,
    known_cases: dict[str, dict] | None = None,
    contractor_tokens: dict[str, str] | None = None,
    known_exceptions: dict[str, dict] | None = None,
) -> FastAPI:  # noqa: ANN001
    """``tokens``: bearer token → station id. A request body over ``max_body_bytes`` or with more
    than ``max_rows`` tickets is answered 413 (settings ``WASTESTREAM_WEIGHBRIDGE_MAX_*``). Parsing
    and checking run in a worker thread, so a large batch never stalls ``/health`` or other stations."""
    rules = rules or InputRules()
    stations = {s.id for s in city.stations}
    plates = {normalise_plate(v.plate): v.id for v in city.vehicles}
    seen = Seen()
    # the docs page (/docs, /redoc) serves Swagger UI and ReDoc from the fastapi-offline package,
    # not a public CDN: a bureau's intranet has no internet
    app = FastAPIOffline(
        title="wastestream weighbridge API",
        version="1",
        description="Transfer stations post weighbridge tickets; each station has its own bearer token.",
    )

    station_of = bearer_of(tokens)

    def too_large(what: str) -> JSONResponse:
        return JSONResponse({"detail": [{"field": "(body)", "msg": what}]}, status_code=413)

    async def body_of(request: Request) -> bytes | None:
        """The request body, or None when it is over the limit (read no further than the limit)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def reject(raw: Any, errors: list[dict], station: str) -> None:
        body = raw if isinstance(raw, bytes) else json.dumps(raw, ensure_ascii=False, default=str).encode()
        await sink.dead_letter(
            DeadLetter(
                source="weighbridge",
                reason="invalid ticket: " + "; ".join(f"{e['field']}: {e['msg']}" for e in errors),
                raw_hex=body.hex(),
                received_at=clock(),
                peer=station,
                detail={"fields": ",".join(e["field"] for e in errors)},
            )
        )

    def validate(items: list[Any], station: str, now: datetime) -> tuple[list[dict], list[WeighTicket], list]:
        """(results, tickets to publish, (raw, errors) to dead-letter): linear in the batch."""
        results: list[dict] = []
        accepted: list[WeighTicket] = []
        batch_keys: set[tuple[str, str]] = set()
        rejected: list[tuple[Any, list[dict]]] = []
        for i, raw in enumerate(items):
            errors: list[dict] = []
            t: TicketIn | None = None
            if not isinstance(raw, dict):
                errors = [{"field": "(ticket)", "msg": "expected a JSON object"}]
            else:
                try:
                    t = TicketIn.model_validate(raw)
                except ValidationError as e:
                    for err in e.errors():
                        loc = ".".join(str(x) for x in err["loc"]) or err["msg"].split(":")[0].removeprefix(
                            "Value error, "
                        )
                        msg = err["msg"].removeprefix("Value error, ")
                        if not err["loc"] and ":" in msg:
                            loc, msg = (x.strip() for x in msg.split(":", 1))
                        errors.append({"field": loc, "msg": msg})
                if t is not None:
                    if t.station_id != station and t.station_id in stations:
                        raise HTTPException(403, f"station_id: token is for {station}, not {t.station_id}")
                    errors = [{"field": f, "msg": m} for f, m in check(t, stations, plates, rules, now)]
            if errors:
                rejected.append((raw, errors))
                results.append({"index": i, "status": "rejected", "errors": errors})
                continue
            assert t is not None
            key = (t.station_id, t.serial)
            if key in seen or key in batch_keys:
                results.append({"index": i, "status": "duplicate", "station_id": t.station_id, "serial": t.serial})
                continue
            batch_keys.add(key)
            accepted.append(WeighTicket(**t.model_dump(), vehicle_id=plates[t.plate], received_at=now))
            results.append({"index": i, "status": "accepted", "station_id": t.station_id, "serial": t.serial})
        return results, accepted, rejected

    async def ingest(items: list[Any], station: str) -> JSONResponse:
        if len(items) > max_rows:
            return too_large(f"{len(items)} tickets in one request; at most {max_rows}")
        results, accepted, rejected = await run_in_threadpool(validate, items, station, clock())
        for raw, errors in rejected:
            await reject(raw, errors, station)
        if accepted:
            try:
                await sink.tickets(accepted)
            except Exception as e:  # noqa: BLE001
                raise HTTPException(503, f"tickets not stored (Kafka: {e}); retry") from None
            for a in accepted:
                seen.add(a.key)
        counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "duplicate", "rejected")}
        status = 422 if counts["rejected"] else 200
        return JSONResponse({"counts": counts, "results": results}, status_code=status)

    if dispatch_tokens:  # the dispatch center forwards citizens' complaints here

        async def publish_case(case_id: str, c) -> None:  # noqa: ANN001
            await sink.publish(sink.prefix + COMPLAINTS.name, [(case_id, c)])

        app.include_router(
            complaints_router(
                city, publish_case, sink.dead_letter, dispatch_tokens, rules or DEFAULT_INPUT_RULES, known_cases, clock
            )
        )

    if contractor_tokens:  # contractors report why a point was not served (reason codes)

        async def publish_exception(report_id: str, x) -> None:  # noqa: ANN001
            await sink.publish(sink.prefix + SERVICE_EXCEPTIONS.name, [(report_id, x)])

        app.include_router(
            exceptions_router(
                city,
                publish_exception,
                sink.dead_letter,
                contractor_tokens,
                rules or DEFAULT_INPUT_RULES,
                known_exceptions,
                clock,
            )
        )

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "stations": len(stations)}

    @app.post("/v1/tickets", summary="Post one ticket (object) or a batch (array)")
    async def post_tickets(request: Request, station: str = Depends(station_of)) -> JSONResponse:
        raw = await body_of(request)
        if raw is None:
            return too_large(f"request body over {max_body_bytes:,} bytes")
        try:
            body = await run_in_threadpool(json.loads, raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            errors = [{"field": "(body)", "msg": f"not JSON: {e}"}]
            await reject(raw, errors, station)
            return JSONResponse({"detail": errors}, status_code=422)
        items = body if isinstance(body, list) else [body]
        if not items:
            return JSONResponse({"detail": [{"field": "(body)", "msg": "empty batch"}]}, status_code=422)
        return await ingest(items, station)

    @app.post("/v1/tickets/csv", summary="Post a CSV export (see the column table in the docs)")
    async def post_csv(request: Request, station: str = Depends(station_of)) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        raw = await body_of(request)
        if raw is None:
            return too_large(f"request body over {max_body_bytes:,} bytes")
        if ctype.startswith("multipart/form-data"):
            form = await Request({**request.scope}, _receive_once(raw)).form()
            f = next((v for v in form.values() if hasattr(v, "read")), None)
            if f is None:
                return JSONResponse({"detail": [{"field": "file", "msg": "no file in the form"}]}, status_code=422)
            raw = await f.read()  # type: ignore[union-attr]
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # Chinese weighbridge software often exports GBK
                text = raw.decode("gb18030", errors="strict")
        except UnicodeDecodeError:
            errors = [{"field": "(csv)", "msg": "not text: neither UTF-8 nor GB18030 (GBK)"}]
            await reject(raw, errors, station)
            return JSONResponse({"detail": errors}, status_code=422)
        try:
            rows = await run_in_threadpool(csv_rows, text, city.timezone, max_rows + 1)
        except ValueError as e:
            errors = [{"field": "(csv)", "msg": str(e)}]
            await reject(raw, errors, station)
            return JSONResponse({"detail": errors}, status_code=422)
        if not rows:
            return JSONResponse({"detail": [{"field": "(csv)", "msg": "no rows"}]}, status_code=422)
        if len(rows) > max_rows:
            return too_large(f"more than {max_rows} rows in one request")
        return await ingest(rows, station)

    return app


def _receive_once(body: bytes):  # noqa: ANN202
    """An ASGI receive callable that hands over an already-read body (to parse a form from it)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _explicit_tokens(value, env: str, who: str) -> dict[str, str] | None:  # noqa: ANN001
    """``name=token,...`` from a secret setting → {token: name}; None when it is not set."""
    from wastestream.errors import WastestreamError

    if value is None or not value.get_secret_value().strip():
        return None
    out = {}
    for pair in value.get_secret_value().split(","):
        name, sep, token = pair.strip().partition("=")
        if not sep or not token:
            raise WastestreamError(f"{env}: expected {who}=token pairs, comma separated")
        out[token] = name
    return out


def _secret(settings, env: str) -> bytes:  # noqa: ANN001
    from wastestream.errors import WastestreamError

    if settings.gateway_secret is None:
        raise WastestreamError(f"no tokens: set {env} or run `wastestream stack up`")
    return settings.gateway_secret.get_secret_value().encode()


def tokens_from_settings(settings, city: City) -> dict[str, str]:  # noqa: ANN001
    """Explicit ``WASTESTREAM_WEIGHBRIDGE_TOKENS`` (station=token,...) or per-station HMAC tokens."""
    env = "WASTESTREAM_WEIGHBRIDGE_TOKENS"
    explicit = _explicit_tokens(settings.weighbridge_tokens, env, "station")
    if explicit is not None:
        return explicit
    secret = _secret(settings, env)
    return {station_token(secret, s.id): s.id for s in city.stations}


def dispatch_tokens_from_settings(settings) -> dict[str, str]:  # noqa: ANN001
    """Explicit ``WASTESTREAM_DISPATCH_TOKENS`` (dispatcher=token,...) or one derived from the secret."""
    env = "WASTESTREAM_DISPATCH_TOKENS"
    explicit = _explicit_tokens(settings.dispatch_tokens, env, "dispatcher")
    if explicit is not None:
        return explicit
    return {station_token(_secret(settings, env), "dispatch:dispatch"): "dispatch"}


def contractor_tokens_from_settings(settings, city: City) -> dict[str, str]:  # noqa: ANN001
    """Explicit ``WASTESTREAM_CONTRACTOR_TOKENS`` (contractor=token,...) or one per contractor derived
    from the secret."""
    env = "WASTESTREAM_CONTRACTOR_TOKENS"
    explicit = _explicit_tokens(settings.contractor_tokens, env, "contractor")
    if explicit is not None:
        return explicit
    secret = _secret(settings, env)
    return {station_token(secret, f"contractor:{c.id}"): c.id for c in city.contractors}


def run_weighbridge(settings, city: City, host: str | None, port: int | None, report) -> None:  # noqa: ANN001
    import asyncio

    import uvicorn

    from wastestream.producers.complaints import read_cases
    from wastestream.producers.exceptions import read_exceptions
    from wastestream.producers.sinks import KafkaSink

    tokens = tokens_from_settings(settings, city)
    sink = KafkaSink(settings, client_id="wastestream-weighbridge")
    known = {k: c.content() for k, c in read_cases(settings).items()}  # case ids already used
    known_x = {k: x.content() for k, x in read_exceptions(settings).items()}
    app = create_app(
        city,
        sink,
        tokens,
        settings.core_options()["input_rules"],
        max_body_bytes=settings.weighbridge_max_body_bytes,
        max_rows=settings.weighbridge_max_rows,
        dispatch_tokens=dispatch_tokens_from_settings(settings),
        known_cases=known,
        contractor_tokens=contractor_tokens_from_settings(settings, city),
        known_exceptions=known_x,
    )
    host = host or settings.weighbridge_host
    port = port or settings.weighbridge_port
    report(f"weighbridge: http://{host}:{port} (OpenAPI /openapi.json) → Kafka {settings.kafka_bootstrap}")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve())
    finally:
        sink.close()
        report("weighbridge: stopped, producer flushed")
