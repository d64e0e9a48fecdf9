"""``wastestream complaints``: every case on the ``complaints`` topic judged against the evidence in
InfluxDB (:mod:`wastestream.domain.complaints`), one ``complaints`` record per case written back.

A cycle reads the compacted topic to its end, and for each case not yet final matches it to a point,
reads the visits at that point on the case's day and after, and writes the outcome at the case's
local day start (absolute, keyed by case: a re-run overwrites). ``served_before`` and ``no_point``
are final, and so is a ``not_served`` case once its catch-up visit is seen; an open catch-up order is
looked at again every cycle until a visit clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from wastestream.domain.complaints import Outcome, judge, match, minutes_to_resolve
from wastestream.domain.localtime import day_start, local_date
from wastestream.domain.proof import SeenVisit
from wastestream.schemas import City
from wastestream.schemas.complaints import Complaint
from wastestream.settings import Settings
from wastestream.stream_processors import queries
from wastestream.stream_processors.records import Record, record


def outcome_record(c: Complaint, o: Outcome, tz: str) -> Record:
    mins = minutes_to_resolve(c, o)
    fields: dict = {
        "verdict": o.verdict,
        "valid": o.valid,
        "reported_at": c.reported_at.isoformat(),
        "resolved_at": o.resolved_at.isoformat() if o.resolved_at else "",
        "open": o.valid and o.resolved_at is None,  # a catch-up order not yet cleared
    }
    if mins is not None:
        fields["minutes_to_resolve"] = mins
    return record(
        "complaints",
        {
            "case": c.case_id,
            "point": o.point_id or "",
            "contractor": o.contractor_id or "",
            "category": c.category.value,
            "source": c.source,
        },
        fields,
        day_start(local_date(c.reported_at, tz), tz),
        o.contractor_id,
    )


def visits_for(settings: Settings, query, point_id: str, c: Complaint, tz: str) -> list[SeenVisit]:  # noqa: ANN001
    """Visits at the point on the case's local day and the next (a catch-up can come after midnight)."""
    day = local_date(c.reported_at, tz)
    out = []
    for d in (day, day + timedelta(days=1)):
        out += [
            SeenVisit(r["vehicle"], r["_time"], datetime.fromisoformat(r["exit"]))
            for r in query.query_stream(queries.visits_at(settings.influx_bucket, point_id, d, tz))
        ]
    return out


class Tracker:
    def __init__(self, settings: Settings, city: City, report: Callable[[str], None] = print):
        from wastestream.stream_processors.sink import InfluxSink

        self.s = settings
        self.city = city
        self.tz = city.timezone
        self.report = report
        self.sink = InfluxSink(settings, city)
        self.final: dict[str, dict] = {}  # case id → its content when judged finally
        self.refused: set[tuple[str, bytes]] = set()  # records of the topic that are not cases, dead-lettered
        self._producer: Any = None  # a KafkaProducer, made at the first dead letter

    def _refuse(self, key: str, raw: bytes, reason: str) -> None:
        """Dead-letter a record of the complaints topic that is not a case (once per process)."""
        if (key, raw) in self.refused:
            return
        from kafka import KafkaProducer

        from wastestream.schemas import DeadLetter
        from wastestream.topics import DEADLETTER

        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.s.kafka_bootstrap, acks="all")
        dl = DeadLetter(
            source="complaints",
            reason=reason[:500],
            raw_hex=raw.hex(),
            received_at=datetime.now(UTC),
            detail={"key": key, "topic": self.s.topic("complaints")},
        )
        self._producer.send(self.s.topic(DEADLETTER.name), key=b"complaints", value=dl.to_json_bytes()).get(timeout=30)
        self.refused.add((key, raw))
        self.report(f"complaints: case {key!r} is not a case ({reason}); dead-lettered")

    def cycle(self) -> dict[str, Outcome]:
        from influxdb_client import InfluxDBClient

        from wastestream.producers.complaints import read_cases

        cases = read_cases(self.s, self._refuse)
        outcomes: dict[str, Outcome] = {}
        records = []
        with InfluxDBClient(url=self.s.influx_url, token=self.s.influx_token_value(), org=self.s.influx_org) as c:
            query = c.query_api()
            for case_id, case in sorted(cases.items()):
                if self.final.get(case_id) == case.content():
                    continue
                point = match(case, self.city.collection_points)
                visits = visits_for(self.s, query, point.id, case, self.tz) if point is not None else []
                o = judge(case, point, visits, self.tz)
                outcomes[case_id] = o
                records.append(outcome_record(case, o, self.tz))
                if o.verdict != "not_served" or o.resolved_at is not None:
                    self.final[case_id] = case.content()
        if records:
            self.sink.write(records)
        opened = sum(1 for o in outcomes.values() if o.valid and o.resolved_at is None)
        self.report(f"complaints: {len(cases)} case(s), {len(outcomes)} judged now, {opened} catch-up order(s) open")
        return outcomes

    def run(self, interval_s: float, stop: Callable[[], bool]) -> None:
        self.s.state_dir.mkdir(parents=True, exist_ok=True)
        alive = self.s.state_dir / "complaints.alive"  # the k8s liveness probe reads its age
        while not stop():
            self.cycle()
            alive.touch()
            deadline = time.monotonic() + interval_s
            while time.monotonic() < deadline and not stop():
                time.sleep(0.5)

    def close(self) -> None:
        self.sink.close()
        if self._producer is not None:
            self._producer.close(timeout=10)
