"""Every Kafka topic wastestream owns, with its key, partitions and retention.

One list, used by ``wastestream stack up`` (creates them), the Faust app and the producers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    description: str
    partitions: int | None = None  # None: Settings.topic_partitions
    retention_ms: int = 7 * DAY_MS
    configs: dict[str, str] = field(default_factory=dict)

    def topic_configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), **self.configs}


GPS_FIXES = TopicSpec("gps.fixes", "vehicle id", "GpsFix from the JT/T 808 gateway (realtime and back-fill)")
WEIGH_TICKETS = TopicSpec(
    "weigh.tickets", "station id", "WeighTicket accepted by the weighbridge API", retention_ms=35 * DAY_MS
)
VISITS = TopicSpec(
    "visits", "site id", "VisitSet: a vehicle's dwells at a site; ReadMark: how far a worker read its fixes"
)
DELIVERIES = TopicSpec(
    "deliveries", "vehicle id", "Delivery: an inbound ticket handed to its vehicle's owner (trips, loads delivered)"
)
CLEARANCE = TopicSpec("clearance", "collection point id", "ClearanceStatus changes per local day")
ALERTS = TopicSpec("alerts", "alert key", "Alert raised or resolved", retention_ms=35 * DAY_MS)
DEADLETTER = TopicSpec(
    "deadletter", "source", "DeadLetter: rejected frames/tickets with raw bytes and reason", retention_ms=35 * DAY_MS
)

DRIVER_SHIFTS = TopicSpec(
    "driver.shifts", "vehicle id", "DriverShift: IC-card sign-in/out at a truck (0x0702)", retention_ms=35 * DAY_MS
)
NOTIFY_SENT = TopicSpec(
    "notify.sent",
    "destination|alert key",
    "what `wastestream notify` paged: the state last paged per destination and alert (compacted)",
    configs={"cleanup.policy": "compact"},
)
COMPLAINTS = TopicSpec(
    "complaints",
    "case id",
    "Complaint: a citizen's case (12345 / 数字城管) forwarded by the dispatch center (compacted)",
    configs={"cleanup.policy": "compact"},
)
SERVICE_EXCEPTIONS = TopicSpec(
    "service.exceptions",
    "report id",
    "ServiceException: a contractor's reason a point was not served / a vehicle could not work (compacted)",
    configs={"cleanup.policy": "compact"},
)
TERMINAL_DATA = TopicSpec("terminal.data", "vehicle id", "TerminalData: 0x0900 transparent data, kept with its type")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    GPS_FIXES,
    WEIGH_TICKETS,
    VISITS,
    DELIVERIES,
    CLEARANCE,
    ALERTS,
    DEADLETTER,
    DRIVER_SHIFTS,
    TERMINAL_DATA,
    NOTIFY_SENT,
    COMPLAINTS,
    SERVICE_EXCEPTIONS,
)
