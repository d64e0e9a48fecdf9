"""Non-collection reports (未收运原因): a contractor says why a point was not served on a day, or why
a vehicle could not work — the ``service.exceptions`` topic, compacted, keyed by report id. The
assessment's deduction table decides what each reason excuses (``wastestream.domain.assessment``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, Field, model_validator

from wastestream.schemas.events import Message


class ReasonCode(StrEnum):
    no_access = "no_access"  # 无法进入: gate locked, road blocked, parked cars
    contamination = "contamination"  # 混投 / 污染: the bins hold the wrong waste, refused
    not_set_out = "not_set_out"  # 未出桶: the bins were not put out
    vehicle_breakdown = "vehicle_breakdown"  # 车辆故障
    other = "other"


class ServiceException(Message):
    """One report: a point-day (``point_id``) or a vehicle-day (``vehicle_id``), a reason code."""

    report_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="the contractor's report number")
    local_date: date = Field(description="the local day the service was due")
    point_id: str | None = Field(None, description="the collection point not served")
    vehicle_id: str | None = Field(None, description="the vehicle that could not work (a breakdown)")
    reason: ReasonCode
    note: str = Field("", max_length=2000)
    reported_at: AwareDatetime = Field(description="when the contractor reported it")
    contractor_id: str | None = Field(None, description="set by the API from the contractor's token")
    received_at: AwareDatetime | None = Field(None, description="set by the API when it accepted the report")

    @model_validator(mode="after")
    def _what(self) -> Self:
        if (self.point_id is None) == (self.vehicle_id is None):
            raise ValueError("give point_id or vehicle_id (one of them)")
        return self

    def content(self) -> dict:
        """What makes two submissions the same report (the receive time does not)."""
        return self.model_dump(mode="json", exclude={"received_at", "schema_version", "contractor_id"})
