"""A JSON API of keyed reports (``POST`` one report; its id names it on a compacted topic): the
complaints the dispatch center forwards and the non-collection reports of contractors.

Every refusal is a 4xx whose detail names the field (``[{"field": ..., "msg": ...}]``) and is
dead-lettered with the raw body: not JSON or not the model (422), a check of the domain (422, or 403
for another's point or vehicle), an id already used for another report (409). The same report sent
again is a 200 ``duplicate``; a body over the limit is a 413.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from wastestream.producers.httpauth import bearer_of
from wastestream.producers.httpbody import parse_body, reason_of
from wastestream.schemas import DeadLetter

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 64 * 1024


@dataclass
class ReportKind(Generic[M]):
    path: str
    summary: str
    model: type[M]
    id_field: str  # the field that names a report
    source: str  # the dead letters' source
    who_field: str  # how the token's owner is named in a dead letter's detail
    #: (status, problems) of a parsed report for the token's owner at a time; status 0: none
    problems: Callable[[Any, str, datetime], tuple[int, list[dict]]]
    #: the report as stored: stamped with its receive time (and its owner, where it has one)
    stamp: Callable[[Any, str, datetime], Any]


def reports_router(
    kind: ReportKind,
    tokens: dict[str, str],
    publish: Callable[[str, Any], Awaitable[None]],
    dead_letter: Callable[[DeadLetter], Awaitable[None]],
    known: dict[str, dict] | None,
    clock: Callable[[], datetime],
) -> APIRouter:
    """``tokens``: bearer token → owner. ``known``: report id → content of the reports on the topic
    already (read at start), so a reused id is refused across restarts."""
    router = APIRouter()
    seen: dict[str, dict] = known if known is not None else {}
    owner_of = bearer_of(tokens)

    async def refuse(raw: bytes, status: int, errors: list[dict], who: str) -> JSONResponse:
        await dead_letter(
            DeadLetter(
                source=kind.source,  # type: ignore[arg-type]
                reason=reason_of(errors),
                raw_hex=raw.hex(),
                received_at=clock(),
                detail={kind.who_field: who},
            )
        )
        return JSONResponse({"detail": errors}, status_code=status)

    @router.post(kind.path, summary=kind.summary, status_code=201)
    async def post(request: Request, who: str = Depends(owner_of)) -> JSONResponse:
        raw = await request.body()
        now = clock()
        report, status, errors = parse_body(raw, kind.model, MAX_BODY)
        if report is None:
            if status == 413:
                return JSONResponse({"detail": errors}, status_code=413)
            return await refuse(raw, status, errors, who)
        status, errors = kind.problems(report, who, now)
        if errors:
            return await refuse(raw, status or 422, errors, who)
        rid = getattr(report, kind.id_field)
        before = seen.get(rid)
        content = report.content()  # type: ignore[attr-defined]
        if before is not None:
            if before == content:
                return JSONResponse({kind.id_field: rid, "status": "duplicate"}, status_code=200)
            msg = f"{rid} exists with other content (an id names one report)"
            return await refuse(raw, 409, [{"field": kind.id_field, "msg": msg}], who)
        stored = kind.stamp(report, who, now)
        try:
            await publish(rid, stored)
        except Exception as e:  # noqa: BLE001
            raise HTTPException(503, f"not stored (Kafka: {e}); retry") from None
        seen[rid] = content
        return JSONResponse({kind.id_field: rid, "status": "accepted"}, status_code=201)

    return router
