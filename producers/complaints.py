"""The complaints API (``POST /v1/complaints``, served by the weighbridge API process): the dispatch
center forwards citizens' cases (12345 hotline, 数字城管) with a dispatcher token; each accepted case
goes to the compacted ``complaints`` topic keyed by its case id (:mod:`.reports`).

Refused with a 4xx naming the field (and dead-lettered): a body that is not a case (422), an unknown
``point_id`` (422), a ``location`` outside the city (422), a ``reported_at`` in the future (422), a
case id already used for another case (409). The same case sent again is a 200 ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from wastestream.domain.checks import Area, InputRules
from wastestream.producers.reports import ReportKind, reports_router
from wastestream.schemas import City, DeadLetter
from wastestream.schemas.complaints import Complaint
from wastestream.topics import COMPLAINTS


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
    points = {p.id for p in city.collection_points}
    area = Area.of_city(city, rules.area_margin_km)  # the same area the fixes are checked against

    def problems(c: Complaint, who: str, now: datetime) -> tuple[int, list[dict]]:
        out = []
        if c.point_id is not None and c.point_id not in points:
            out.append({"field": "point_id", "msg": f"no collection point {c.point_id!r} in the city"})
        if c.location is not None and not area.contains(c.location.lat, c.location.lon):
            out.append({"field": "location", "msg": f"({c.location.lat}, {c.location.lon}) is outside the city"})
        out += horizon("reported_at", c.reported_at, now, rules)
        return 422, out

    kind = ReportKind(
        "/v1/complaints",
        "Forward a citizen's complaint (12345 / 数字城管 case)",
        Complaint,
        "case_id",
        "complaints",
        "dispatcher",
        problems,
        lambda c, who, now: c.model_copy(update={"received_at": now}),
    )
    return reports_router(kind, tokens, publish, dead_letter, known, clock)


def horizon(field: str, t: datetime, now: datetime, rules: InputRules) -> list[dict]:
    """A report's time may be neither in the future nor older than the back-fill horizon."""
    if t > now + timedelta(seconds=rules.max_ahead_s):
        return [{"field": field, "msg": f"{t.isoformat()} is in the future"}]
    if t < now - timedelta(seconds=rules.backfill_horizon_s):
        return [{"field": field, "msg": f"{t.isoformat()} is older than the horizon"}]
    return []


def read_cases(settings, refused: Callable[[str, bytes, str], None] | None = None) -> dict[str, Complaint]:  # noqa: ANN001
    """Every case on the compacted ``complaints`` topic (none before the topic is created). A record
    that is not a case (only the API writes there, but a topic can be written by anyone) is left out
    and handed to ``refused(key, raw, reason)``."""
    return read_reports(settings, COMPLAINTS.name, Complaint, refused)


def read_reports(settings, topic: str, model, refused=None) -> dict:  # noqa: ANN001
    """Every report on a compacted topic, by its key (see :func:`read_cases`)."""
    from wastestream.admin import read_compacted

    out: dict = {}
    for key, raw in (read_compacted(settings, settings.topic(topic)) or {}).items():
        try:
            out[key] = model.model_validate_json(raw)
        except ValueError as e:
            if refused is not None:
                refused(key, raw, f"not a {model.__name__}: {str(e).splitlines()[0]}")
    return out
