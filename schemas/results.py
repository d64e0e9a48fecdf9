"""Records the stream processors emit (on ``visits``, ``clearance``, ``alerts``) and write to InfluxDB."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from wastestream.schemas.events import Message


class SiteKind(StrEnum):
    point = "point"
    station = "station"


class Visit(Message):
    """A vehicle dwelling inside a geofence (enter → exit), slow enough and long enough."""

    vehicle_id: str
    site_id: str
    site_kind: SiteKind
    enter_at: AwareDatetime
    exit_at: AwareDatetime
    dwell_s: float = Field(ge=0)
    local_date: date = Field(description="Asia/Shanghai day of enter_at")
    contractor_id: str | None = None
    backfill: bool = Field(False, description="built (partly) from blind-area back-filled fixes")


class VisitSet(Message):
    """All visits of one vehicle at one site on one local day (value of the ``visits`` topic, keyed by
    site). It replaces the previous set for (site, vehicle, day), so late evidence can add, extend or
    split visits and replays are harmless."""

    site_id: str
    site_kind: SiteKind
    vehicle_id: str
    local_date: date
    visits: list[Visit]


class ReadMark(Message):
    """How far one worker had read its fixes when it sent this (also a value of the ``visits``
    topic, sent to every partition after the visit sets of those fixes: a worker that has read a mark
    has applied them; :func:`wastestream.domain.watermark.marks_until`)."""

    kind: Literal["fixes_read"] = "fixes_read"
    group: str = Field(description="the sender's worker group (its app id): another group's marks do not count")
    worker: str = Field(description="the sending worker instance")
    generation: int = Field(description="the consumer group generation of the sender's assignment")
    sent_at: AwareDatetime = Field(
        description="the sender's wall clock (a group deleted and made again counts again from 1)"
    )
    partitions: list[int] = Field(description="the gps.fixes partitions the sender holds in that generation")
    until: float | Literal["all"] | None = Field(
        description="newest device time (epoch s) read on its partitions with fixes left to read; "
        '"all": nothing left to read; null: not known yet'
    )


def is_read_mark(raw: bytes) -> bool:
    """A ``visits`` value that is a :class:`ReadMark` (as the worker serialises it), not a VisitSet."""
    return b'"kind":"fixes_read"' in raw[:48]


class Delivery(Message):
    """An inbound ticket of a collection truck, handed from its station's owner to its vehicle's
    (value of the ``deliveries`` topic, keyed by vehicle): the trip it ends is judged delivered, short
    or undelivered there (``wastestream.domain.operations``). Keyed by (station, serial): sending it
    again changes nothing."""

    vehicle_id: str
    station_id: str
    serial: str
    local_date: date = Field(description="the local day of the weigh-in")
    weigh_in_at: AwareDatetime
    weigh_out_at: AwareDatetime
    net_kg: float = Field(ge=0)


class Clearance(StrEnum):
    pending = "pending"
    cleared = "cleared"
    late = "late"
    missed = "missed"


class ClearanceStatus(Message):
    point_id: str
    local_date: date
    status: Clearance
    contractor_id: str
    waste_stream: str
    visit_at: AwareDatetime | None = None
    vehicle_id: str | None = None
    evidence: str = ""


class DailyTonnage(Message):
    local_date: date
    dimension: Literal["station", "contractor", "waste_stream", "vehicle"]
    key: str
    net_kg: float
    tickets: int


class StationBalance(Message):
    station_id: str
    local_date: date
    received_kg: float
    transferred_kg: float
    carried_in_kg: float
    backlog_kg: float
    cleared_same_day: bool = Field(description="日产日清: backlog within tolerance at day end")
    over_capacity: bool


class AlertState(StrEnum):
    raised = "raised"
    resolved = "resolved"


class Alert(Message):
    key: str = Field(description="stable identity, e.g. missed:CP-0001:2026-11-23")
    kind: str
    state: AlertState
    severity: Literal["info", "warning", "critical"] = "warning"
    local_date: date
    subject: str = Field(description="the point, station, vehicle or terminal concerned")
    contractor_id: str | None = None
    message: str
    at: AwareDatetime
