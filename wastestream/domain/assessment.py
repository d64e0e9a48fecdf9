"""The bureau's monthly assessment of its contractors, from a deduction table
(:class:`~wastestream.schemas.assessment.DeductionTable`) and the month's facts. Pure.

The rules (README, "Assessment"):

* every fact (a missed or late point-day, a valid complaint, an operating violation) that an item's
  measure names is one *occurrence* of that item (``missed`` names timed and untimed misses alike);
* a contractor's reason (a :class:`~wastestream.schemas.exceptions.ServiceException`) applies to an
  occurrence of the same contractor and local day at the same point, or of the same vehicle (a
  point's vehicle is its route's). Taken only when reported within ``report_within_h`` of the day's
  start; a reason in the item's ``excused_by`` cancels the occurrence, one in ``reduced_by`` scales
  its points and money. Of several reasons, the one that helps most;
* occurrences are taken in time order (day, time, subject). An item's ``daily_cap`` limits the
  occurrences counted per day (an excused one does not count towards it); ``cap_points`` and
  ``cap_money`` limit the item's total per month — the occurrence that reaches a cap counts in part;
* a day's running score is the base minus everything deducted up to and including that day; the
  month's score is the base minus the month's deductions, never below 0;
* every deduction keeps its evidence and status (counted, reduced, excused, over the daily cap, over
  the month's cap, reason reported late), so a bureau can check each one; re-assessing a month after
  late uploads and comparing (:func:`changes`) says what moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from wastestream.domain.localtime import day_start
from wastestream.schemas.assessment import DeductionTable, Item


@dataclass(frozen=True, slots=True)
class Fact:
    measure: str  # a key of MEASURES (the gatherer says missed_timed / missed_untimed, never "missed")
    contractor: str
    day: date
    subject: str  # point id, vehicle id or case id
    at: datetime | None  # when it happened (a violation's start; none for a whole point-day)
    evidence: str  # what the pipeline saw, in words
    link: str = ""  # where to see it (a proof-of-service page, a map position)
    vehicle: str | None = None  # the vehicle involved (for a point: its route's)


@dataclass(frozen=True, slots=True)
class Excuse:
    report_id: str
    contractor: str
    day: date
    reason: str
    reported_at: datetime
    point: str | None = None
    vehicle: str | None = None


@dataclass(frozen=True, slots=True)
class Deduction:
    item: str
    name: str
    contractor: str
    day: date
    subject: str
    at: datetime | None
    evidence: str
    link: str
    points: float
    money: float
    status: str  # counted | reduced | excused | over_daily_cap | over_cap | capped
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.item}|{self.subject}|{self.day.isoformat()}|{self.at.isoformat() if self.at else ''}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["day"] = self.day.isoformat()
        d["at"] = self.at.isoformat() if self.at else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> Deduction:
        return cls(
            **{**d, "day": date.fromisoformat(d["day"]), "at": datetime.fromisoformat(d["at"]) if d["at"] else None}
        )


@dataclass
class ContractorScore:
    contractor: str
    base: float
    deductions: list[Deduction] = field(default_factory=list)

    @property
    def points(self) -> float:
        return round(sum(d.points for d in self.deductions), 4)

    @property
    def money(self) -> float:
        return round(sum(d.money for d in self.deductions), 2)

    @property
    def score(self) -> float:
        return round(max(0.0, self.base - self.points), 4)

    def by_day(self, days: Iterable[date]) -> list[tuple[date, float, float, float]]:
        """(day, points deducted that day, money that day, running score after it)."""
        out, total = [], 0.0
        for d in days:
            pts = round(sum(x.points for x in self.deductions if x.day == d), 4)
            money = round(sum(x.money for x in self.deductions if x.day == d), 2)
            total += pts
            out.append((d, pts, money, round(max(0.0, self.base - total), 4)))
        return out

    def by_item(self) -> dict[str, tuple[int, float, float]]:
        """item → (occurrences counted, points, money)."""
        out: dict[str, tuple[int, float, float]] = {}
        for d in self.deductions:
            n, p, m = out.get(d.item, (0, 0.0, 0.0))
            out[d.item] = (n + (d.points > 0 or d.money > 0), round(p + d.points, 4), round(m + d.money, 2))
        return out


@dataclass
class Assessment:
    table_version: str
    month: str  # YYYY-MM
    days: list[date]
    contractors: dict[str, ContractorScore]

    def to_json(self) -> dict:
        return {
            "table_version": self.table_version,
            "month": self.month,
            "days": [d.isoformat() for d in self.days],
            "contractors": {
                c: {"base": s.base, "score": s.score, "points": s.points, "money": s.money,
                    "deductions": [d.to_json() for d in s.deductions]}
                for c, s in sorted(self.contractors.items())
            },
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> Assessment:
        return cls(
            d["table_version"],
            d["month"],
            [date.fromisoformat(x) for x in d["days"]],
            {
                c: ContractorScore(c, v["base"], [Deduction.from_json(x) for x in v["deductions"]])
                for c, v in d["contractors"].items()
            },
        )


def month_days(month: str) -> list[date]:
    """The local days of ``YYYY-MM``."""
    first = date.fromisoformat(f"{month}-01")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return [first + timedelta(days=k) for k in range((nxt - first).days)]


def _measures(item: Item) -> set[str]:
    return {"missed_timed", "missed_untimed"} if item.measure == "missed" else {item.measure}


def _applies(x: Excuse, f: Fact) -> bool:
    if x.contractor != f.contractor or x.day != f.day:
        return False
    if x.point is not None:
        return x.point == f.subject
    return x.vehicle is not None and x.vehicle in (f.vehicle, f.subject)


def assess(
    table: DeductionTable,
    month: str,
    contractors: Iterable[str],
    facts: Iterable[Fact],
    excuses: Iterable[Excuse] = (),
    tz: str = "Asia/Shanghai",
) -> Assessment:
    days = month_days(month)
    in_month = set(days)
    facts = sorted((f for f in facts if f.day in in_month), key=_order)
    excuses = [x for x in excuses if x.day in in_month]
    scores = {c: ContractorScore(c, table.base_score) for c in sorted(set(contractors))}
    for f in facts:
        scores.setdefault(f.contractor, ContractorScore(f.contractor, table.base_score))
    for item in table.items:
        wanted = _measures(item)
        for c, sc in scores.items():
            per_day: dict[date, int] = {}
            pts_total = money_total = 0.0
            for f in (f for f in facts if f.contractor == c and f.measure in wanted):
                pts, money, status, note = item.points, item.money, "counted", ""
                late: list[str] = []
                best: tuple[float, str] | None = None
                for x in (x for x in excuses if _applies(x, f)):
                    if x.reported_at > day_start(f.day, tz) + timedelta(hours=table.report_within_h):
                        late.append(f"{x.reason} ({x.report_id}) reported {x.reported_at:%Y-%m-%d %H:%M}Z, too late")
                        continue
                    factor = 0.0 if x.reason in item.excused_by else item.reduced_by.get(x.reason)  # type: ignore[call-overload]
                    if factor is not None and (best is None or factor < best[0]):
                        best = (factor, f"{x.reason} ({x.report_id})")
                if best is not None:
                    factor, why = best
                    pts, money = pts * factor, money * factor
                    status = "excused" if factor == 0 else "reduced"
                    note = f"{status}: {why}"
                elif late:
                    note = "; ".join(late)
                if status != "excused":
                    n = per_day.get(f.day, 0) + 1
                    per_day[f.day] = n
                    if item.daily_cap is not None and n > item.daily_cap:
                        pts, money, status = 0.0, 0.0, "over_daily_cap"
                        note = f"more than {item.daily_cap} on the day"
                cut = False
                if item.cap_points is not None and pts > item.cap_points - pts_total:
                    pts, cut = max(0.0, item.cap_points - pts_total), True
                if item.cap_money is not None and money > item.cap_money - money_total:
                    money, cut = max(0.0, item.cap_money - money_total), True
                if cut and status in ("counted", "reduced"):
                    status = "over_cap" if pts == 0 and money == 0 else "capped"
                    note = (note + "; " if note else "") + "the item's cap for the month"
                pts_total += pts
                money_total += money
                sc.deductions.append(
                    Deduction(item.id, item.name, c, f.day, f.subject, f.at, f.evidence, f.link,
                              round(pts, 4), round(money, 2), status, note)
                )  # fmt: skip
    for sc in scores.values():
        sc.deductions.sort(key=lambda d: (d.day, _at_key(d.at), d.item, d.subject))
    return Assessment(table.version, month, days, scores)


def _at_key(t: datetime | None) -> str:
    return t.isoformat() if t else ""


def _order(f: Fact) -> tuple:
    return (f.day, _at_key(f.at), f.subject, f.measure)


@dataclass(frozen=True)
class Change:
    contractor: str
    what: str  # added | removed | changed
    key: str
    before: Deduction | None
    after: Deduction | None


def changes(before: Assessment, after: Assessment) -> tuple[list[Change], dict[str, tuple[float, float]]]:
    """What moved between two assessments of a month: each deduction added, removed or changed (points,
    money or status), and per contractor (score before, score after) where it changed."""
    out: list[Change] = []
    scores: dict[str, tuple[float, float]] = {}
    for c in sorted(set(before.contractors) | set(after.contractors)):
        b = {d.key: d for d in (before.contractors[c].deductions if c in before.contractors else [])}
        a = {d.key: d for d in (after.contractors[c].deductions if c in after.contractors else [])}
        for k in sorted(set(b) | set(a)):
            if k not in a:
                out.append(Change(c, "removed", k, b[k], None))
            elif k not in b:
                out.append(Change(c, "added", k, None, a[k]))
            elif (b[k].points, b[k].money, b[k].status) != (a[k].points, a[k].money, a[k].status):
                out.append(Change(c, "changed", k, b[k], a[k]))
        sb = before.contractors[c].score if c in before.contractors else None
        sa = after.contractors[c].score if c in after.contractors else None
        if sb != sa:
            scores[c] = (sb if sb is not None else float("nan"), sa if sa is not None else float("nan"))
    return out, scores
