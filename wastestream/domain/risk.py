"""Early warning (``at_risk``): will a route's open stops be served in their windows?

A route is a truck and its stops in driving order, with a planned start. From what the truck has
done so far — the stops it served, where it is now — each open stop's arrival is predicted by
driving on through the remaining stops in order at ``speed_kmh`` (straight-line distance × the
``detour`` factor of streets over crow-flight), standing ``service_s`` at each:

* before the truck reports a position (or before its planned start), it is at its station at
  ``max(now, start)``;
* it goes to its station to unload (``unload_s``) whenever the next stop would load it past
  ``fill`` × its rated load (``load_kg``: what it carries now);
* a stop before the last one it served that it has not served was driven past: it is *skipped*,
  predicted never (the truck would have to go back);
* the truck's *pace* is learned from the route's own progress today (:func:`leg_ratios`): how
  long it took between the stops it served, against the rule — weighed against the route's past
  days (:func:`learned_pace`);
* a stop is **at risk** while it is open (not served, ``now`` before its deadline) and its predicted
  arrival is later than the end of its service window minus ``margin_s`` (a quarter of the window at
  most) — so a dispatcher is
  warned while there is still time to send help; the warning ends when the stop is served, when the
  truck catches up, or at the deadline (then it is missed or late, and the missed-clearance alert
  takes over).

Pure: no clock, no I/O. The worker runs it on each vehicle's partition once a minute, live only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from wastestream.domain.geo import haversine_m


@dataclass(frozen=True, slots=True)
class RiskRule:
    speed_kmh: float = 18.0  # a garbage truck's average speed between stops in town
    detour: float = 1.3  # streets are longer than straight lines
    service_s: float = 180.0  # standing at a stop
    margin_s: float = 15 * 60.0  # warn when the predicted arrival is this close to the window's end
    fill: float = 0.8  # a truck goes to unload when the next stop would load it past this of its rating
    unload_s: float = 15 * 60.0  # at the station: weigh in, tip, weigh out


DEFAULT_RISK_RULE = RiskRule()


@dataclass(frozen=True, slots=True)
class PlannedStop:
    point_id: str
    lat: float
    lon: float
    window_end: datetime  # served by then: on time
    deadline: datetime  # not served by then: missed
    expected_kg: float = 0.0  # what the truck picks up there
    window_start: datetime | None = None  # (a short window gets a proportionally short margin)


@dataclass(frozen=True, slots=True)
class Prediction:
    point_id: str
    arrival: datetime | None  # None: driven past (skipped)
    at_risk: bool
    reason: str


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two WGS-84 (lat, lon) points."""
    return haversine_m(a[0], a[1], b[0], b[1])


def predict(
    stops: list[PlannedStop],
    served: Iterable[str],
    now: datetime,
    start: datetime,
    depot: tuple[float, float],
    position: tuple[float, float] | None,
    rule: RiskRule = RiskRule(),
    capacity_kg: float | None = None,
    load_kg: float = 0.0,
    pace: float = 1.0,
) -> list[Prediction]:
    """A prediction for each open stop of the route (served and closed ones are left out)."""
    done = set(served)
    last_served = max((i for i, s in enumerate(stops) if s.point_id in done), default=-1)
    speed_ms = rule.speed_kmh / 3.6 / pace  # ``pace``: how much slower than the rule the truck drives today
    if position is None or now < start:
        t, here = max(now, start), depot
    else:
        t, here = now, position
    out = []
    for i, s in enumerate(stops):
        if s.point_id in done or now >= s.deadline:
            continue
        if i < last_served:
            out.append(Prediction(s.point_id, None, True, "driven past without service"))
            continue
        if capacity_kg is not None and load_kg > 0 and load_kg + s.expected_kg > rule.fill * capacity_kg:
            t = t + timedelta(seconds=distance_m(here, depot) * rule.detour / speed_ms + rule.unload_s)
            here, load_kg = depot, 0.0
        t = t + timedelta(seconds=distance_m(here, (s.lat, s.lon)) * rule.detour / speed_ms)
        load_kg += s.expected_kg
        margin = rule.margin_s
        if s.window_start is not None:  # a 15-minute timed stop is not at risk the moment it opens
            margin = min(margin, (s.window_end - s.window_start).total_seconds() / 4)
        late = t > s.window_end - timedelta(seconds=margin)
        why = f"predicted {t:%H:%M}Z, window ends {s.window_end:%H:%M}Z" if late else "on time"
        out.append(Prediction(s.point_id, t, late, why))
        here = (s.lat, s.lon)
        t = t + timedelta(seconds=rule.service_s)
    return out


def leg_ratios(
    stops: list[PlannedStop], visits: Mapping[str, tuple[datetime, datetime]], rule: RiskRule = RiskRule()
) -> list[float]:
    """For each pair of consecutive stops of the route the truck has served today: the time it took
    from one to the next (exit → arrival) over the rule's driving time (legs under 30 s of driving,
    stops side by side, say nothing of the speed and are left out)."""
    ratios = []
    for a, b in zip(stops, stops[1:], strict=False):
        if a.point_id in visits and b.point_id in visits:
            model = distance_m((a.lat, a.lon), (b.lat, b.lon)) * rule.detour / (rule.speed_kmh / 3.6)
            took = (visits[b.point_id][0] - visits[a.point_id][1]).total_seconds()
            if model > 30 and took > 0:
                ratios.append(took / model)
    return ratios


def learned_pace(ratios: list[float], past: float | None, prior_legs: int = 8) -> float:
    """How the truck drives today against the rule: the median of today's legs, weighed against the
    route's past (as if it were ``prior_legs`` legs), so a few early legs do not swing it; the rule's
    own pace (1.0) when there is neither. Held to [0.3, 3]."""
    if not ratios and past is None:
        return 1.0
    if not ratios:
        pace = past
    elif past is None:
        pace = median(ratios)
    else:
        pace = (len(ratios) * median(ratios) + prior_legs * past) / (len(ratios) + prior_legs)
    assert pace is not None
    return min(3.0, max(0.3, pace))


def transitions(raised: Iterable[str], predictions: list[Prediction]) -> tuple[list[str], list[str]]:
    """(to raise, to resolve): stops newly at risk, and raised stops no longer at risk — served,
    caught up, or closed (deadline passed: no longer predicted). ``raised``: the open warnings."""
    was = set(raised)
    now_risk = {p.point_id for p in predictions if p.at_risk}
    return sorted(now_risk - was), sorted(was - now_risk)
