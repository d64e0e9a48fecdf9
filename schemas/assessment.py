"""The bureau's deduction table (考核扣分细则) as configuration: a versioned YAML file of items, each
a measure the pipeline counts, its unit, the points and money it costs, its caps, and what the
contractors' reason codes do to it. Loaded with ``load_table``; a bad entry is named by its position
and id, e.g. ``items[3] (id 'overspeed'): measure: unknown measure 'speeding' (known: ...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wastestream.schemas.exceptions import ReasonCode
from wastestream.schemas.reference import describe_errors

#: what the pipeline counts, per contractor and local day
MEASURES = {
    "missed": "a point-day missed (not cleared by its deadline) — timed stops included",
    "missed_timed": "a timed stop's (车到桶出) point-day missed",
    "missed_untimed": "a point-day missed that is not a timed stop",
    "late": "a point-day cleared after its service window, by its deadline",
    "complaint_valid": "a citizen's complaint judged valid (not served)",
    "violation:overspeed": "an overspeed episode",
    "violation:idle_away": "standing too long away from every site",
    "violation:off_route": "leaving the route corridor",
    "violation:out_of_shift": "driving outside the shift",
    "violation:dumping": "a suspected roadside dumping (乱倾乱倒)",
    "violation:undelivered": "a load never weighed at a station (有收无倒)",
    "violation:wrong_station": "a load weighed at a station not designated (异地卸载)",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    name: str = Field(min_length=1)
    measure: str = Field(description="what is counted: one of MEASURES")
    unit: str = Field("occurrence", description="what one occurrence is, for the reader (point-day, episode ...)")
    points: float = Field(ge=0, le=100, description="points deducted per occurrence")
    money: float = Field(0, ge=0, description="fine per occurrence (the table's currency)")
    daily_cap: int | None = Field(None, ge=1, description="occurrences counted per contractor and day at most")
    cap_points: float | None = Field(None, ge=0, description="points of this item per contractor and month at most")
    cap_money: float | None = Field(None, ge=0, description="money of this item per contractor and month at most")
    excused_by: list[ReasonCode] = Field(default_factory=list, description="reason codes that excuse it entirely")
    reduced_by: dict[ReasonCode, float] = Field(
        default_factory=dict, description="reason code → factor on points and money (0.5: half)"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.measure not in MEASURES:
            raise ValueError(f"measure: unknown measure {self.measure!r} (known: {', '.join(MEASURES)})")
        both = set(self.excused_by) & set(self.reduced_by)
        if both:
            raise ValueError(f"reduced_by: {', '.join(sorted(both))} already excuse the item (excused_by)")
        for code, f in self.reduced_by.items():
            if not 0 <= f < 1:
                raise ValueError(f"reduced_by: {code} factor {f} must be in [0, 1)")
        return self


class DeductionTable(Strict):
    version: str = Field(min_length=1, description="the table's version (it changes when the bureau changes it)")
    name: str
    currency: str = "CNY"
    base_score: float = Field(100, gt=0, description="a contractor's score before deductions")
    report_within_h: float = Field(
        36, gt=0, description="a reason is taken only if reported this long after the day's start (local)"
    )
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for i, it in enumerate(self.items):
            if it.id in seen:
                raise ValueError(f"items[{i}] (id {it.id!r}): duplicate id")
            seen.add(it.id)
        return self


class TableFileError(ValueError):
    """A deduction table that cannot be loaded; the message names the bad entry."""


DEFAULT_TABLE = Path(__file__).resolve().parent / "tables" / "deductions.yaml"


def load_table(path: Path | str = DEFAULT_TABLE) -> DeductionTable:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TableFileError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise TableFileError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise TableFileError(f"{path}: expected a mapping at the top level")
    try:
        return DeductionTable.model_validate(raw)
    except ValidationError as e:
        raise TableFileError(f"{path}: {describe_errors(e, raw)}") from None
