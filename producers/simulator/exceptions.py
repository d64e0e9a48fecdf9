"""Contractors' non-collection reports planted on a simulated day, with what the shipped deduction
table must make of each (the truth the assessment is checked against)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from wastestream.domain.localtime import day_start
from wastestream.schemas import City
from wastestream.schemas.exceptions import ReasonCode, ServiceException


def plant_exceptions(city: City, day: date, truth: dict, seed: int = 808) -> list[tuple[ServiceException, str]]:
    """(report, expected status of the deduction it names): a missed point excused (no access), one
    reduced (contamination), one reported too late (counted), and — when a truck broke down — its
    breakdown, which excuses its standing away from every site."""
    rnd = random.Random(f"exceptions:{seed}:{day}")
    contractor_of = {p.id: p.contractor_id for p in city.collection_points}
    missed = sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")
    start = day_start(day, city.timezone)
    out: list[tuple[ServiceException, str]] = []
    plan = [(ReasonCode.no_access, 14, "excused"), (ReasonCode.contamination, 15, "reduced"),
            (ReasonCode.not_set_out, 40, "counted")]  # fmt: skip
    for k, (pid, (reason, hours, want)) in enumerate(zip(rnd.sample(missed, min(3, len(missed))), plan, strict=False)):
        out.append(
            (
                ServiceException(
                    report_id=f"X-{day:%Y%m%d}-{k + 1:03d}",
                    local_date=day,
                    point_id=pid,
                    reason=reason,
                    note=f"simulated report for {pid} ({contractor_of[pid]})",
                    reported_at=start + timedelta(hours=hours),
                ),
                want,
            )
        )
    for v, kinds in sorted(truth.get("violations", {}).items()):
        if "idle_away" in kinds:
            out.append(
                (
                    ServiceException(
                        report_id=f"X-{day:%Y%m%d}-B{v}",
                        local_date=day,
                        vehicle_id=v,
                        reason=ReasonCode.vehicle_breakdown,
                        note="hydraulics failed, towed",
                        reported_at=start + timedelta(hours=12),
                    ),
                    "excused",
                )
            )
    return out
