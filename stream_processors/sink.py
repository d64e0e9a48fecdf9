"""Where figures go: a small sink ABC and its InfluxDB 2 implementation (influxdb-client).

Every :class:`~wastestream.stream_processors.core.Record` is an absolute value of one series at
one timestamp (daily figures at the local day's start), so a write is an overwrite: writing the
same records again — a replay, a restart, a recompute — changes nothing. Records that belong to a
contractor are also written to that contractor's own bucket (read by its own scoped token).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from wastestream.schemas import City
from wastestream.settings import Settings
from wastestream.stream_processors.records import Record

log = logging.getLogger(__name__)


class Sink(ABC):
    @abstractmethod
    def write(self, records: list[Record]) -> None:
        """Write all records durably or raise."""

    def close(self) -> None:  # noqa: B027 - optional
        pass


class CoalescingBuffer:
    """Pending records, the newest value per series (a series written twice before a flush is
    written once, with its latest absolute value)."""

    def __init__(self) -> None:
        self._pending: dict[tuple, Record] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, records: Iterable[Record]) -> None:
        for r in records:
            self._pending[r.series] = r

    def take(self) -> list[Record]:
        batch = list(self._pending.values())
        self._pending = {}
        return batch

    def put_back(self, batch: list[Record]) -> None:
        """A failed batch returns, unless a newer value of the same series arrived meanwhile."""
        for r in batch:
            self._pending.setdefault(r.series, r)


def _escapes() -> tuple[dict, dict, dict]:
    # influxdb-client's own escape tables, so the text below is the text its Point would produce
    from influxdb_client.client.write import point

    return point._ESCAPE_MEASUREMENT, point._ESCAPE_KEY, point._ESCAPE_STRING


_ESC_MEASUREMENT, _ESC_KEY, _ESC_STRING = _escapes()
_EPOCH = datetime.fromtimestamp(0, UTC)


def _field(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        s = str(value)
        return s[:-2] if s.endswith(".0") else s
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, str):
        return '"' + value.translate(_ESC_STRING) + '"'
    raise ValueError(f'Type: "{type(value)}" of field value {value!r} is not supported.')


# tags → their text: a vehicle's tags repeat with every fix. Bounded (cleared when full): a point's
# clearance tags are unique, and a 200,000-point re-emit would otherwise keep them all (+40 MB RSS)
_TAG_TEXT: dict[tuple, str] = {}
_TAG_TEXT_MAX = 10_000
_FIELD_KEY: dict[str, str] = {}  # field name → escaped


def _tags_text(tags: tuple) -> str:
    text = _TAG_TEXT.get(tags)
    if text is None:
        parts = []
        for k, v in sorted(tags):
            if v is None:
                continue
            key, val = str(k).translate(_ESC_KEY), str(v).translate(_ESC_KEY)
            if val.endswith("\\"):
                val += " "
            if key and val:
                parts.append(f",{key}={val}")
        text = "".join(parts)
        if len(_TAG_TEXT) >= _TAG_TEXT_MAX:
            _TAG_TEXT.clear()
        _TAG_TEXT[tags] = text
    return text


def line_protocol(r: Record) -> str:
    """One record as an InfluxDB line at second precision: the text influxdb-client's
    ``Point(...).tag(...).field(...).time(t, WritePrecision.S).to_line_protocol()`` gives (a unit test
    checks that over generated records), without building a Point. Empty tags and None or
    non-finite fields are left out, as Point leaves them out; a record with no field left is the
    empty string, which is not written."""
    fields = []
    for k, v in sorted(r.fields):
        text = _field(v)
        if text is not None:
            key = _FIELD_KEY.get(k)
            if key is None:
                key = _FIELD_KEY[k] = str(k).translate(_ESC_KEY)
            fields.append(f"{key}={text}")
    if not fields:
        return ""
    td = r.time.astimezone(UTC) - _EPOCH
    ns = td.days * 86400 * 10**9 + td.seconds * 10**9 + td.microseconds * 10**3
    return f"{r.measurement.translate(_ESC_MEASUREMENT)}{_tags_text(r.tags)} {','.join(fields)} {int(ns / 1e9)}"


class MemorySink(Sink):
    def __init__(self) -> None:
        self.series: dict[tuple, Record] = {}
        self.fail = False

    def write(self, records: list[Record]) -> None:
        if self.fail:
            raise ConnectionError("sink unavailable")
        for r in records:
            self.series[r.series] = r


def contractor_bucket(contractor_id: str) -> str:
    return f"contractor-{contractor_id.lower()}"


def _partial_write(e: Exception) -> bool:
    """InfluxDB wrote the body but refused some points for good (HTTP 422 "partial write")."""
    return getattr(e, "status", None) == 422 and "partial write" in str(getattr(e, "body", ""))


class InfluxSink(Sink):
    """Synchronous batched writes (the caller must know a write succeeded), with retries. A write's
    bodies (per bucket, at most ``batch_size`` lines each) go ``concurrency`` at a time: a worker's
    commit point carries the main bucket's lines and each contractor's, and one request after the
    other each waited for InfluxDB and then for the GIL the worker's event loop holds."""

    def __init__(
        self,
        settings: Settings,
        city: City | None = None,
        batch_size: int = 5000,
        retries: int = 5,
        concurrency: int | None = None,
    ):
        from influxdb_client import InfluxDBClient

        self.s = settings
        self.batch_size = batch_size
        self.retries = retries
        self.concurrency = concurrency or settings.influx_write_concurrency
        self.client = InfluxDBClient(
            url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org, timeout=30_000
        )
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.contractor_buckets = {c.id: c.bucket_name for c in city.contractors} if city is not None else {}
        self._ensured: set[str] = set()
        self.refused_writes = 0  # writes InfluxDB took only in part (points it refused for good)
        self._refused_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def ensure_buckets(self) -> None:
        """Create the main bucket and each contractor's bucket if missing."""
        api = self.client.buckets_api()
        org_id = self.client.organizations_api().find_organizations(org=self.s.influx_org)[0].id
        for name in [self.s.influx_bucket, *self.contractor_buckets.values()]:
            if name in self._ensured:
                continue
            if api.find_bucket_by_name(name) is None:
                api.create_bucket(bucket_name=name, org_id=org_id)
            self._ensured.add(name)

    def _lines(self, records: Iterable[Record]) -> dict[str, list[str]]:
        """Each bucket's lines: the records' lines (a contractor's records also go to its bucket)."""
        by_bucket: dict[str, list[str]] = {}
        main = by_bucket.setdefault(self.s.influx_bucket, [])
        for r in records:
            text = line_protocol(r)
            if not text:
                continue
            main.append(text)
            if r.bucket_contractor and r.bucket_contractor in self.contractor_buckets:
                by_bucket.setdefault(self.contractor_buckets[r.bucket_contractor], []).append(text)
        return {bucket: lines for bucket, lines in by_bucket.items() if lines}

    def _bodies(self, records: list[Record]) -> list[tuple[str, bytes]]:
        """(bucket, body) to send, each body at most ``batch_size`` lines; the main bucket's first."""
        n = self.batch_size
        return [
            (bucket, "\n".join(lines[i : i + n]).encode())
            for bucket, lines in self._lines(records).items()
            for i in range(0, len(lines), n)
        ]

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        if len(self._ensured) < 1 + len(self.contractor_buckets):
            self._retry(self.ensure_buckets)
        # a window of records at a time: a re-emit after a rebalance can hand over a few hundred
        # thousand records; the bodies of one window (a few hundred KB each) are all that is held
        window = self.batch_size * self.concurrency
        for i in range(0, len(records), window):
            bodies = self._bodies(records[i : i + window])
            if self.concurrency == 1 or len(bodies) == 1:
                for bucket, body in bodies:
                    self._send(bucket, body)
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="influx-write")
            futures = [self._pool.submit(self._send, bucket, body) for bucket, body in bodies]
            errors = [e for e in (f.exception() for f in futures) if e is not None]  # every request ended
            if errors:
                raise errors[0]

    def _send(self, bucket: str, body: bytes) -> None:
        from influxdb_client import WritePrecision

        precision: Any = WritePrecision.S  # a str constant; the client's annotation says WritePrecision
        self._retry(
            lambda: self.api.write(bucket=bucket, org=self.s.influx_org, record=body, write_precision=precision)
        )

    def _retry(self, fn) -> None:  # noqa: ANN001
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                fn()
                return
            except Exception as e:  # noqa: BLE001 - any failure: back off and retry, then raise
                if _partial_write(e):
                    # the rest of the body was written; the refused points (a field type conflict) would be
                    # refused again on every retry and stall every commit behind them
                    with self._refused_lock:
                        self.refused_writes += 1
                    log.error("InfluxDB refused part of a write, not retried: %s", str(getattr(e, "body", e))[:500])
                    return
                if attempt == self.retries:
                    raise
                log.warning("InfluxDB write failed (%s); retry %d in %.1fs", type(e).__name__, attempt + 1, delay)
                time.sleep(delay * (1 + random.random() * 0.2))
                delay = min(delay * 2, 10)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()
