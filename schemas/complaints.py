"""Citizens' complaints (12345 hotline, 数字城管 city-management cases): the ``complaints`` topic,
compacted, keyed by case id."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from wastestream.schemas.events import Message


class ComplaintCategory(StrEnum):
    not_collected = "not_collected"  # 垃圾未清运
    overflow = "overflow"  # 满溢
    spill = "spill"  # 撒漏
    smell = "smell"  # 异味
    other = "other"


class Location(Message):
    lat: float = Field(ge=-90, le=90, description="WGS-84")
    lon: float = Field(ge=-180, le=180, description="WGS-84")


class Complaint(Message):
    """One case as the dispatch center forwards it: where (a point id, or a location), when, what."""

    case_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="the hotline's / platform's case number")
    reported_at: AwareDatetime = Field(description="when the citizen reported it")
    point_id: str | None = Field(None, description="the collection point, when the case names one")
    location: Location | None = Field(None, description="where, when the case gives coordinates")
    category: ComplaintCategory
    source: Literal["12345", "digital_city", "app", "phone", "other"] = "12345"
    text: str = Field("", max_length=2000)
    received_at: AwareDatetime | None = Field(None, description="set by the API when it accepted the case")

    @model_validator(mode="after")
    def _where(self) -> Self:
        if self.point_id is None and self.location is None:
            raise ValueError("give point_id or location")
        return self

    def content(self) -> dict:
        """What makes two submissions of a case the same case (the receive time does not)."""
        return self.model_dump(mode="json", exclude={"received_at", "schema_version"})
