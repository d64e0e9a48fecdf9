"""Geofence visits: a vehicle's fixes of one local day, in device-time order, folded into runs.

A *run* is a maximal stretch of consecutive fixes (by device time) in the same site, or outside
every site. Late and back-filled fixes are inserted where their device time puts them — a late fix
can extend a run, split one, or join two — so the result never depends on arrival order.

A run at a site is a *visit* when the vehicle stopped there: the visit lasts from its first to its
last slow fix (speed ≤ ``max_speed_kmh``) inside the fence and must be at least ``min_dwell_s``
long; a truck driving past is not a visit. Two runs at the same site
separated by a short excursion (≤ ``merge_gap_s``, GPS jitter across the fence line) are one visit.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class DwellRule:
    min_dwell_s: float = 60.0
    max_speed_kmh: float = 5.0
    merge_gap_s: float = 60.0


DEFAULT_RULES = {"point": DwellRule(60.0, 5.0, 60.0), "station": DwellRule(120.0, 5.0, 120.0)}


@dataclass(slots=True)
class Run:
    site: str | None
    pts: list[tuple[float, float]]  # (epoch seconds, speed km/h) of each fix, sorted
    backfill: bool = False

    @property
    def first(self) -> float:
        return self.pts[0][0]

    @property
    def last(self) -> float:
        return self.pts[-1][0]

    def to_state(self) -> list:
        return [self.site, self.backfill, self.pts]

    @classmethod
    def from_state(cls, s: list) -> Run:
        return cls(s[0], [tuple(p) for p in s[2]], s[1])


class VisitSpan(NamedTuple):  # a tuple: hashed and compared in C (the fold compares spans per fix)
    site: str
    enter: float  # first slow fix inside the fence
    exit: float  # last slow fix inside the fence
    backfill: bool

    @property
    def dwell_s(self) -> float:
        return self.exit - self.enter


class Track:
    """The runs of one vehicle on one local day.

    Visits are kept up to date incrementally: :meth:`refresh` recomputes only the spans from the
    lowest run a fix touched since the last refresh (for a fix in time order, the last stop), and
    says which sites' visits changed. :meth:`visits` gives the same result as a full recomputation.
    """

    __slots__ = ("runs", "_firsts", "_dirty", "_raw", "_raw_runs", "_rules_used")

    def __init__(self, runs: list[Run] | None = None):
        self.runs: list[Run] = runs or []
        self._firsts = [r.first for r in self.runs]
        self._dirty: int | None = 0  # lowest run index changed since the spans were computed
        self._raw: list[VisitSpan] = []  # spans before the min-dwell filter, in time order
        self._raw_runs: list[tuple[int, int]] = []  # (first, last) run index each raw span covers
        self._rules_used: tuple | None = None

    @property
    def last_t(self) -> float | None:
        """The latest fix time in the track (None when it has none): a fix after it is not in it."""
        return self.runs[-1].pts[-1][0] if self.runs else None

    def _touch(self, i: int) -> None:
        i = max(0, i)
        self._dirty = i if self._dirty is None or i < self._dirty else self._dirty

    def to_state(self) -> list:
        return [r.to_state() for r in self.runs]

    @classmethod
    def from_state(cls, state: list | None) -> Track:
        return cls([Run.from_state(s) for s in state or []])

    def add(self, t: float, site: str | None, speed: float, backfill: bool = False) -> bool:
        """Insert one fix. Returns True when the runs at sites may have changed (visits to recompute)."""
        runs, firsts = self.runs, self._firsts
        i = bisect_right(firsts, t) - 1
        if i >= 0 and t <= runs[i].last:  # inside run i's span
            r = runs[i]
            self._touch(i - 1)
            if r.site == site:
                insort(r.pts, (t, speed))
                r.backfill |= backfill
                return site is not None
            left = Run(r.site, [p for p in r.pts if p[0] < t], r.backfill)
            right = Run(r.site, [p for p in r.pts if p[0] >= t], r.backfill)
            parts = [x for x in (left, Run(site, [(t, speed)], backfill), right) if x.pts]
            runs[i : i + 1] = parts
            self._coalesce(max(0, i - 1), i + len(parts) + 1)
            return True
        # between run i (or nothing) and run i+1 (or nothing): adjacent to both by time
        self._touch(i)
        if i >= 0 and runs[i].site == site:
            runs[i].pts.append((t, speed))
            runs[i].backfill |= backfill
        elif i + 1 < len(runs) and runs[i + 1].site == site:
            runs[i + 1].pts.insert(0, (t, speed))
            runs[i + 1].backfill |= backfill
            firsts[i + 1] = t
        else:
            runs.insert(i + 1, Run(site, [(t, speed)], backfill))
            firsts.insert(i + 1, t)
        # neighbouring runs always differ in site, so an outside fix in a gap separates nothing new
        return site is not None

    def _coalesce(self, lo: int, hi: int) -> None:
        """Merge neighbours with the same site in runs[lo:hi] (after a split at equal timestamps)."""
        runs = self.runs
        j = max(lo, 1)
        while j < min(hi, len(runs)):
            if runs[j].site == runs[j - 1].site:
                runs[j - 1].pts.extend(runs[j].pts)
                runs[j - 1].pts.sort()
                runs[j - 1].backfill |= runs[j].backfill
                del runs[j]
                hi -= 1
            else:
                j += 1
        self._firsts = [r.first for r in runs]

    def visits(
        self, kind_of: dict[str, str] | None = None, rules: dict[str, DwellRule] | None = None
    ) -> list[VisitSpan]:
        """Visits of the day, in time order. ``kind_of`` maps site id → 'point' | 'station'."""
        rules = rules or DEFAULT_RULES
        kind_of = kind_of or {}
        self.refresh(kind_of, rules)
        return [v for v in self._raw if v.exit - v.enter >= rules[kind_of.get(v.site, "point")].min_dwell_s]

    def spans_of(
        self, kind_of: dict[str, str], rules: dict[str, DwellRule], sites: set[str] | None = None
    ) -> dict[str, list[tuple[float, float, bool]]]:
        """Site → its visits' (enter, exit, backfill), in time order, for ``sites`` (all if None):
        :meth:`visits` grouped by site, without building the day's whole list for one site's change."""
        self.refresh(kind_of, rules)
        out: dict[str, list[tuple[float, float, bool]]] = {}
        for site, enter, exit_, backfill in self._raw:
            if (sites is None or site in sites) and exit_ - enter >= rules[kind_of.get(site, "point")].min_dwell_s:
                out.setdefault(site, []).append((enter, exit_, backfill))
        return out

    def refresh(self, kind_of: dict[str, str], rules: dict[str, DwellRule]) -> set[str]:
        """Bring the spans up to date with the fixes added since the last call; return the sites
        whose visits (after the min-dwell filter) changed."""
        if self._rules_used != (id(kind_of), id(rules)):  # other rules: start over
            self._rules_used = (id(kind_of), id(rules))
            self._dirty, self._raw, self._raw_runs = 0, [], []
        d = self._dirty
        if d is None:
            return set()
        self._dirty = None

        def rule(site: str) -> DwellRule:
            return rules[kind_of.get(site, "point")]

        raw, raw_runs = self._raw, self._raw_runs
        # spans built only from runs before ``d`` are unchanged; the rest are rebuilt from the first
        # run of the first span that reaches ``d`` (the fold's only state is the previous span)
        keep = len(raw)
        while keep and raw_runs[keep - 1][1] >= d:
            keep -= 1
        start = min(d, raw_runs[keep][0]) if keep < len(raw) else d  # indices from d on may have shifted
        removed = raw[keep:]
        del raw[keep:], raw_runs[keep:]
        added_from = len(raw)
        for j in range(start, len(self.runs)):
            r = self.runs[j]
            if r.site is None:
                continue
            ru = rule(r.site)
            limit = ru.max_speed_kmh
            slow_first = None
            for t, v in r.pts:  # a loop, not next(genexpr): this runs for every fix at a site
                if v <= limit:
                    slow_first = t
                    break
            if slow_first is None:  # driving through: never stopped inside the fence
                continue
            for t, v in reversed(r.pts):
                if v <= limit:
                    slow_last = t
                    break
            # the visit is the stop: from the first to the last slow fix inside the fence
            prev = raw[-1] if raw else None
            if prev is not None and prev.site == r.site and slow_first - prev.exit <= ru.merge_gap_s:
                if len(raw) == added_from:  # a kept span grows: it counts as removed and re-added
                    removed.append(prev)
                    added_from -= 1
                raw[-1] = VisitSpan(r.site, prev.enter, slow_last, prev.backfill or r.backfill)
                raw_runs[-1] = (raw_runs[-1][0], j)
            else:
                raw.append(VisitSpan(r.site, slow_first, slow_last, r.backfill))
                raw_runs.append((j, j))

        added = raw[added_from:]
        if removed == added:  # a fix that changed no span
            return set()
        if len(removed) == 1 == len(added) and removed[0].site == added[0].site:
            # the common case: a truck standing at a stop lengthens its visit there (they differ)
            (a,), (b,) = removed, added
            least = rule(a.site).min_dwell_s
            return {a.site} if a.exit - a.enter >= least or b.exit - b.enter >= least else set()

        def shown(spans: list[VisitSpan]) -> set[VisitSpan]:
            return {v for v in spans if v.exit - v.enter >= rule(v.site).min_dwell_s}

        return {v.site for v in shown(removed) ^ shown(added)}
