"""The complaints API (``POST /v1/complaints``, served by the weighbridge API process): the dispatch
center forwards citizens' cases (12345 hotline, 数字城管) with a dispatcher token; each accepted case
goes to the compacted ``complaints`` topic keyed by its case id.

Refused with a 4xx naming the field (and dead-lettered): a body that is not a case (422), an unknown
``point_id`` (422), a ``location`` outside the city (422), a ``reported_at`` in the future (422), a
case id already used for another case (409). The same case sent again is a 200 ``duplicate``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from wastestream.domain.checks import Area, InputRules
from wastestream.producers.httpauth import bearer_of
from wastestream.schemas import City, DeadLetter
from wastestream.schemas.complaints import Complaint
from wastestream.topics import COMPLAINTS

MAX_BODY = 64 * 1024


def complaints_router(
    city: City,
    publish: Callable[[str, Complaint], Awaitable[None]],
    dead_letter: Callable[[DeadLetter], Awaitable[None]],
    tokens: dict[str, str],
    rules: InputRules,
    known: dict[str, dict] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """``tokens``: bearer token → dispatcher name. ``known``: case id → content of the cases on the
    topic already (read at start), so a reused case id is refused across restarts."""
    router = APIRouter()
    points = {p.id for p in city.collection_points}
    area = Area.of_city(city, rules.area_margin_km)  # the same area the fixes are checked against
    cases: dict[str, dict] = known if known is not None else {}

    dispatcher_of = bearer_of(tokens)

    async def refuse(raw: bytes, status: int, errors: list[dict], who: str) -> JSONResponse:
        await dead_letter(
            DeadLetter(
                source="complaints",
                reason="; ".join(f"{e['field']}: {e['msg']}" for e in errors)[:500],
                raw_hex=raw.hex(),
                received_at=clock(),
                detail={"dispatcher": who},
            )
        )
        return JSONResponse({"detail": errors}, status_code=status)

    def problems(c: Complaint, now: datetime) -> list[dict]:
        out = []
        if c.point_id is not None and c.point_id not in points:
            out.append({"field": "point_id", "msg": f"no collection point {c.point_id!r} in the city"})
        if c.location is not None and not area.contains(c.location.lat, c.location.lon):
            out.append({"field": "location", "msg": f"({c.location.lat}, {c.location.lon}) is outside the city"})
        if c.reported_at > now + timedelta(seconds=rules.max_ahead_s):
            out.append({"field": "reported_at", "msg": f"{c.reported_at.isoformat()} is in the future"})
        elif c.reported_at < now - timedelta(seconds=rules.backfill_horizon_s):
            out.append({"field": "reported_at", "msg": f"{c.reported_at.isoformat()} is older than the horizon"})
        return out

    @router.post("/v1/complaints", summary="Forward a citizen's complaint (12345 / 数字城管 case)", status_code=201)
    async def post_complaint(request: Request, who: str = Depends(dispatcher_of)) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"detail": [{"field": "(body)", "msg": f"over {MAX_BODY} bytes"}]}, status_code=413)
        now = clock()
        try:
            c = Complaint.model_validate(json.loads(raw))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return await refuse(raw, 422, [{"field": "(body)", "msg": f"not JSON: {e}"}], who)
        except ValidationError as e:
            errors = [
                {"field": ".".join(str(x) for x in err["loc"]) or "(body)", "msg": err["msg"]} for err in e.errors()
            ]
            return await refuse(raw, 422, errors, who)
        errors = problems(c, now)
        if errors:
            return await refuse(raw, 422, errors, who)
        before = cases.get(c.case_id)
        if before is not None:
            if before == c.content():
                return JSONResponse({"case_id": c.case_id, "status": "duplicate"}, status_code=200)
            msg = f"case {c.case_id} exists with other content (a case id names one case)"
            return await refuse(raw, 409, [{"field": "case_id", "msg": msg}], who)
        c = c.model_copy(update={"received_at": now})
        try:
            await publish(c.case_id, c)
        except Exception as e:  # noqa: BLE001
            raise HTTPException(503, f"case not stored (Kafka: {e}); retry") from None
        cases[c.case_id] = c.content()
        return JSONResponse({"case_id": c.case_id, "status": "accepted"}, status_code=201)

    return router


def read_cases(settings, refused: Callable[[str, bytes, str], None] | None = None) -> dict[str, Complaint]:  # noqa: ANN001
    """Every case on the compacted ``complaints`` topic (none before the topic is created). A record
    that is not a case (only the API writes there, but a topic can be written by anyone) is left out
    and handed to ``refused(key, raw, reason)``."""
    from wastestream.admin import read_compacted

    out: dict[str, Complaint] = {}
    for key, raw in (read_compacted(settings, settings.topic(COMPLAINTS.name)) or {}).items():
        try:
            out[key] = Complaint.model_validate_json(raw)
        except ValueError as e:
            if refused is not None:
                refused(key, raw, f"not a Complaint: {str(e).splitlines()[0]}")
    return out
