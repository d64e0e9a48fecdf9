"""``wastestream notify``: the alerts topic → DingTalk / WeCom robots (or a plain webhook).

At least once, never lost, deduplicated across restarts:

1. poll a batch of alerts (up to ``notify_group_wait_s`` of them), plan its pages (``pages.plan_pages``);
2. post each page, retrying with exponential backoff until the robot accepts it;
3. record each accepted page's alerts on the ledger topic (``notify.sent``, compacted, acks=all);
4. only then commit the batch's offsets.

A crash between 2 and 3 pages that batch's posted alerts once more after the restart (the one
window where a page can repeat); a crash anywhere else repeats nothing and loses nothing. The
ledger is read to its end at start and at every partition assignment, so a second instance that
takes partitions over knows what the first one paged.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from wastestream.errors import WastestreamError
from wastestream.notify.pages import (
    DISPATCH,
    Format,
    Page,
    accepted,
    dingtalk_signed_url,
    now_ms,
    parse_robots,
    payload,
    plan_pages,
    split_to_fit,
)
from wastestream.schemas import Alert, DeadLetter
from wastestream.settings import Settings
from wastestream.topics import ALERTS, DEADLETTER, NOTIFY_SENT

log = logging.getLogger("wastestream.notify")


class Notifier:
    def __init__(
        self,
        settings: Settings,
        report: Callable[[str], None] = print,
        post: Callable[[str, dict], tuple[int, bytes]] | None = None,
    ):
        from kafka import KafkaConsumer, KafkaProducer

        if settings.notify_url is None:
            raise WastestreamError("no robot to page: set WASTESTREAM_NOTIFY_URL (and WASTESTREAM_NOTIFY_FORMAT)")
        self.s = settings
        self.fmt: Format = settings.notify_format
        self.tz = settings.timezone
        self.report = report
        self.urls = {DISPATCH: settings.notify_url.get_secret_value()}
        if settings.notify_contractor_robots is not None:
            self.urls.update(parse_robots(settings.notify_contractor_robots.get_secret_value()))
        self.secret = settings.notify_secret.get_secret_value() if settings.notify_secret else None
        self._post = post or self._http_post
        self.stopping = threading.Event()
        self.sent: dict[str, str] = {}
        self.stats = {"alerts": 0, "pages": 0, "retries": 0, "unchanged": 0, "dead_letters": 0}
        self.alerts_topic = settings.topic(ALERTS.name)
        self.ledger_topic = settings.topic(NOTIFY_SENT.name)
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="wastestream-notify",
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,
        )
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.notify_group or f"{settings.topic_prefix}wastestream-notify",
            client_id="wastestream-notify",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            max_poll_interval_ms=3_600_000,  # a robot may be down for a while: we retry, not rejoin
        )
        from kafka import ConsumerRebalanceListener

        notifier = self

        class _Reload(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):  # noqa: ANN001
                pass

            def on_partitions_assigned(self, assigned):  # noqa: ANN001
                # read again before the next batch is planned — not here, inside the consumer's poll
                notifier.ledger_stale = True
                notifier.report(f"notify: assigned {sorted(tp.partition for tp in assigned)}")

        self.ledger_stale = True
        self.consumer.subscribe([self.alerts_topic], listener=_Reload())

    # -- the ledger -------------------------------------------------------------------------------

    def load_ledger(self) -> None:
        """Read the ledger topic from its start to its end (the state last paged per subject)."""
        from wastestream.admin import read_compacted

        raw = read_compacted(self.s, self.ledger_topic)
        if raw is None:
            raise WastestreamError(f"no topic {self.ledger_topic}: run `wastestream topics --create`")
        sent, unreadable = {}, 0
        for k, v in raw.items():
            try:
                sent[k] = str(json.loads(v)["state"])
            except (ValueError, KeyError, TypeError):  # not ours: as if not paged (at least once)
                unreadable += 1
        self.sent = sent
        extra = f"; {unreadable} unreadable entr(ies) taken as not paged" if unreadable else ""
        self.report(f"notify: ledger read, {len(sent):,} subject(s) paged before{extra}")

    def _record(self, page: Page) -> None:
        at = datetime.now(UTC).isoformat()
        futures = []
        for key in page.ledger_keys():
            value = json.dumps({"state": page.state.value, "paged_at": at}).encode()
            futures.append(self.producer.send(self.ledger_topic, key=key.encode(), value=value))
        self.producer.flush()
        for f in futures:
            f.get(timeout=30)  # raises if the ledger write failed: then nothing is committed
        for key in page.ledger_keys():
            self.sent[key] = page.state.value

    # -- posting ----------------------------------------------------------------------------------

    def _http_post(self, url: str, body: dict) -> tuple[int, bytes]:
        import httpx

        if self.fmt == "dingtalk" and self.secret:
            url = dingtalk_signed_url(url, self.secret, now_ms(datetime.now(UTC)))
        r = httpx.post(url, json=body, timeout=10.0)
        return r.status_code, r.content

    def deliver(self, page: Page) -> bool:
        """Post the page until the robot accepts it (False only when asked to stop first)."""
        delay = 1.0
        url = self.urls[page.destination]
        for part in split_to_fit(page, self.fmt, self.tz):
            while True:
                try:
                    ok, why = accepted(self.fmt, *self._post(url, payload(part, self.fmt, self.tz)))
                except Exception as e:  # noqa: BLE001 - any transport error is retried
                    ok, why = False, f"{type(e).__name__}: {e}"
                if ok:
                    self.stats["pages"] += 1
                    self.report(f"notify: paged {part.destination}: {part.state.value} {len(part.alerts)} alert(s)")
                    self._record(part)
                    delay = 1.0
                    break
                self.stats["retries"] += 1
                self.report(f"notify: {part.destination} did not take the page ({why}); again in {delay:.0f}s")
                if self.stopping.wait(delay):
                    return False
                delay = min(delay * 2, self.s.notify_max_backoff_s)
        return True

    # -- the loop ---------------------------------------------------------------------------------

    def _parse(self, r) -> Alert | None:  # noqa: ANN001
        try:
            return Alert.model_validate_json(r.value)
        except ValueError as e:
            dl = DeadLetter(
                source="notify",
                reason=f"not an Alert: {str(e).splitlines()[0]}",
                raw_hex=(r.value or b"").hex(),
                received_at=datetime.now(UTC),
                detail={"topic": r.topic, "partition": str(r.partition), "offset": str(r.offset)},
            )
            self.producer.send(self.s.topic(DEADLETTER.name), key=b"notify", value=dl.to_json_bytes()).get(timeout=30)
            self.stats["dead_letters"] += 1
            return None

    def poll_batch(self) -> tuple[list[Alert], dict]:
        """Records for up to ``notify_group_wait_s`` once the first arrives: (alerts, next offsets)."""
        from kafka import OffsetAndMetadata

        alerts: list[Alert] = []
        offsets: dict = {}
        deadline = None
        while not self.stopping.is_set():
            got = self.consumer.poll(timeout_ms=200)
            for tp, recs in got.items():
                for r in recs:
                    a = self._parse(r)
                    if a is not None:
                        alerts.append(a)
                    offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
            if not offsets:
                break  # idle: the caller's loop goes round (and shows it is alive)
            if deadline is None:
                deadline = time.monotonic() + self.s.notify_group_wait_s
            if time.monotonic() >= deadline or not got:
                break
        return alerts, offsets

    def run_once(self) -> bool:
        """One batch: plan, deliver, record, commit. False when stopped before it was delivered."""
        from kafka.errors import CommitFailedError

        alerts, offsets = self.poll_batch()
        if not offsets:
            return not self.stopping.is_set()
        if self.ledger_stale:  # (re)assigned: what another instance paged is on the ledger
            self.load_ledger()
            self.ledger_stale = False
        self.stats["alerts"] += len(alerts)
        robots = [k for k in self.urls if k != DISPATCH]
        pages = plan_pages(alerts, self.sent, robots)
        self.stats["unchanged"] += len(alerts) - len({a.key for p in pages for a in p.alerts})
        for page in pages:
            if not self.deliver(page):
                return False
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as e:  # the group moved on: the ledger keeps the re-read from paging twice
            self.report(f"notify: commit refused ({e}); the batch will be read again and deduplicated")
        return True

    def run(self) -> None:
        self.report(f"notify: {self.alerts_topic} → {self.fmt} robot(s): {', '.join(self.urls)}")
        last = time.monotonic()
        self.s.state_dir.mkdir(parents=True, exist_ok=True)
        alive = self.s.state_dir / "notify.alive"  # the k8s liveness probe reads its age
        while self.run_once():
            alive.touch()
            if time.monotonic() - last > 60:
                self.report(f"notify: {self.stats}")
                last = time.monotonic()
        self.report(f"notify: stopped {self.stats}")

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)


def run_notify(settings: Settings, report: Callable[[str], None] = print) -> None:
    from wastestream.admin import ensure_topics

    if settings.notify_url is None:
        raise WastestreamError("no robot to page: set WASTESTREAM_NOTIFY_URL (and WASTESTREAM_NOTIFY_FORMAT)")
    if settings.notify_contractor_robots is not None:
        parse_robots(settings.notify_contractor_robots.get_secret_value())  # a bad list fails before Kafka
    ensure_topics(settings, [ALERTS, NOTIFY_SENT, DEADLETTER])
    n = Notifier(settings, report)

    def stop(*_: object) -> None:
        n.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        n.run()
    finally:
        n.close()
