"""The non-collection reports API (``POST /v1/service-exceptions``, served by the weighbridge API
process): a contractor says, with its own token, why one of its points was not served on a day or
why one of its vehicles could not work (a reason code: no access, contamination, bins not set out,
vehicle breakdown). Accepted reports go to the compacted ``service.exceptions`` topic keyed by report
id; the assessment's deduction table decides what each excuses (:mod:`wastestream.domain.assessment`).

Refused with a 4xx naming the field (and dead-lettered, :mod:`.reports`): not a report (422), an
unknown ``point_id`` / ``vehicle_id`` (422), another contractor's point or vehicle (403), a
``local_date`` in the future or a ``reported_at`` outside the horizon (422), a reused report id (409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter

from wastestream.domain.checks import InputRules
from wastestream.domain.localtime import local_date
from wastestream.producers.complaints import horizon, read_reports
from wastestream.producers.reports import ReportKind, reports_router
from wastestream.schemas import City, DeadLetter
from wastestream.schemas.exceptions import ServiceException
from wastestream.topics import SERVICE_EXCEPTIONS


def exceptions_router(
    city: City,
    publish: Callable[[str, ServiceException], Awaitable[None]],
    dead_letter: Callable[[DeadLetter], Awaitable[None]],
    tokens: dict[str, str],
    rules: InputRules,
    known: dict[str, dict] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """``tokens``: bearer token → contractor id."""
    point_owner = {p.id: p.contractor_id for p in city.collection_points}
    vehicle_owner = {v.id: v.contractor_id for v in city.vehicles}

    def problems(x: ServiceException, who: str, now: datetime) -> tuple[int, list[dict]]:
        for name, value, owners, what in (
            ("point_id", x.point_id, point_owner, "collection point"),
            ("vehicle_id", x.vehicle_id, vehicle_owner, "vehicle"),
        ):
            if value is None:
                continue
            if value not in owners:
                return 422, [{"field": name, "msg": f"no {what} {value!r} in the city"}]
            if owners[value] != who:
                return 403, [{"field": name, "msg": f"{value} is not a {what} of {who}"}]
        out = horizon("reported_at", x.reported_at, now, rules)
        if x.local_date > local_date(now, city.timezone):
            out.append({"field": "local_date", "msg": f"{x.local_date} has not come yet"})
        return 422, out

    kind = ReportKind(
        "/v1/service-exceptions",
        "Report why a point was not served or a vehicle could not work (reason code)",
        ServiceException,
        "report_id",
        "exceptions",
        "contractor",
        problems,
        lambda x, who, now: x.model_copy(update={"received_at": now, "contractor_id": who}),
    )
    return reports_router(kind, tokens, publish, dead_letter, known, clock)


def read_exceptions(settings, refused=None) -> dict[str, ServiceException]:  # noqa: ANN001
    """Every report on the compacted ``service.exceptions`` topic, by report id."""
    return read_reports(settings, SERVICE_EXCEPTIONS.name, ServiceException, refused)
