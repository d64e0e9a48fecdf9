"""Pages: which alerts to send where, and the robot messages they become. Pure: no Kafka, no HTTP.

The paging rules (README, "Pages"):

* every alert on the ``alerts`` topic goes to the dispatch robot, and to its contractor's own robot
  when one is configured — each (destination, alert key) is one *page subject*;
* a subject is paged when its state (raised / resolved) differs from the state last paged to that
  destination (the *ledger*, kept on a compacted topic, so duplicates and replays after a restart
  page nothing); a resolve of an alert that was never paged is not sent; within one batch only each
  key's last state counts (an alert raised and resolved within the same few seconds pages nothing);
* pages are grouped per (destination, contractor, state): one robot message lists each of its alerts
  once, and is split when it would pass the robot's size limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from wastestream.errors import WastestreamError
from wastestream.schemas import Alert, AlertState

Format = Literal["dingtalk", "wecom", "webhook"]
DISPATCH = "dispatch"

KIND_LABELS = {
    "missed_clearance": ("未清运", "not cleared"),
    "terminal_silent": ("终端离线", "terminal silent"),
    "terminal_dark": ("终端未上线", "terminal not heard"),
    "at_risk": ("清运预警", "at risk"),
    "dumping": ("疑似乱倾乱倒", "suspected dumping"),
    "undelivered": ("有收无倒", "load not delivered"),
}
STATE_LABELS = {AlertState.raised: ("告警", "RAISED"), AlertState.resolved: ("恢复", "RESOLVED")}
SEVERITY_LABELS = {"critical": "紧急 critical", "warning": "警告 warning", "info": "提示 info"}
# bytes of the message text a robot accepts: WeCom markdown content ≤ 4096, DingTalk ≤ 20000
MAX_TEXT_BYTES: dict[str, int] = {"wecom": 4000, "dingtalk": 18000, "webhook": 10**9}


@dataclass(frozen=True, slots=True)
class Page:
    """One robot message: alerts of one contractor in one state, for one destination."""

    destination: str  # "dispatch" or a contractor id with its own robot
    contractor_id: str | None
    state: AlertState
    alerts: tuple[Alert, ...]

    def ledger_keys(self) -> list[str]:
        return [ledger_key(self.destination, a.key) for a in self.alerts]


def ledger_key(destination: str, alert_key: str) -> str:
    return f"{destination}|{alert_key}"


def plan_pages(
    alerts: Iterable[Alert], sent: Mapping[str, str], contractor_robots: Iterable[str] = (), max_per_page: int = 30
) -> list[Page]:
    """The pages a batch of alerts (in topic order per key) calls for, given the ledger ``sent``
    (ledger key → state last paged). The caller records each page's alerts in the ledger once the
    robot accepted it."""
    last: dict[str, Alert] = {}
    for a in alerts:
        last.pop(a.key, None)  # keep first-seen order of the final states
        last[a.key] = a
    robots = set(contractor_robots)
    groups: dict[tuple[str, str | None, AlertState], list[Alert]] = {}
    for a in last.values():
        dests = [DISPATCH] + ([a.contractor_id] if a.contractor_id in robots else [])
        for dest in dests:
            before = sent.get(ledger_key(dest, a.key))
            if before == a.state.value or (before is None and a.state == AlertState.resolved):
                continue
            groups.setdefault((dest, a.contractor_id, a.state), []).append(a)
    pages = []
    for (dest, contractor, state), items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
        items.sort(key=lambda a: (a.severity != "critical", a.local_date, a.subject))
        for i in range(0, len(items), max_per_page):
            pages.append(Page(dest, contractor, state, tuple(items[i : i + max_per_page])))
    return pages


def _line(a: Alert, tz: ZoneInfo) -> str:
    zh, en = KIND_LABELS.get(a.kind, (a.kind, a.kind))
    at = a.at.astimezone(tz)
    return f"- **{a.subject}** {zh} {en} · {SEVERITY_LABELS.get(a.severity, a.severity)} · {a.local_date} · {at:%H:%M} — {a.message}"


def title(page: Page) -> str:
    zh, en = STATE_LABELS[page.state]
    kinds = sorted({a.kind for a in page.alerts})
    what = "/".join(KIND_LABELS.get(k, (k, k))[0] for k in kinds)
    who = page.contractor_id or "-"
    return f"【{zh} {en}】{who} {what} ×{len(page.alerts)}"


def text(page: Page, tz: str) -> str:
    z = ZoneInfo(tz)
    head = f"### {title(page)}\n"
    return head + "\n".join(_line(a, z) for a in page.alerts)


def split_to_fit(page: Page, fmt: Format, tz: str) -> list[Page]:
    """The page, or its halves (recursively), so that each message text fits the robot's limit."""
    if len(text(page, tz).encode()) <= MAX_TEXT_BYTES[fmt] or len(page.alerts) == 1:
        return [page]
    mid = len(page.alerts) // 2
    a = Page(page.destination, page.contractor_id, page.state, page.alerts[:mid])
    b = Page(page.destination, page.contractor_id, page.state, page.alerts[mid:])
    return split_to_fit(a, fmt, tz) + split_to_fit(b, fmt, tz)


def payload(page: Page, fmt: Format, tz: str) -> dict:
    """The JSON body a robot (or a plain webhook) takes for one page."""
    if fmt == "dingtalk":  # DingTalk custom robot: https://open.dingtalk.com/document/robots/custom-robot-access
        return {"msgtype": "markdown", "markdown": {"title": title(page), "text": text(page, tz)}}
    if fmt == "wecom":  # WeCom group robot: https://developer.work.weixin.qq.com/document/path/91770
        return {"msgtype": "markdown", "markdown": {"content": text(page, tz)}}
    return {
        "title": title(page),
        "destination": page.destination,
        "contractor_id": page.contractor_id,
        "state": page.state.value,
        "alerts": [a.model_dump(mode="json") for a in page.alerts],
    }


def dingtalk_signed_url(url: str, secret: str, now_ms: int) -> str:
    """A DingTalk robot URL with its 加签 parameters: sign = base64(HMAC-SHA256(secret, "ts\\nsecret"))."""
    mac = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(mac).decode())
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={now_ms}&sign={sign}"


def accepted(fmt: Format, status: int, body: bytes) -> tuple[bool, str]:
    """Did the robot take the message? DingTalk and WeCom answer HTTP 200 with ``errcode`` 0."""
    if not 200 <= status < 300:
        return False, f"HTTP {status}: {body[:200]!r}"
    if fmt == "webhook":
        return True, "ok"
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return False, f"HTTP {status}, not JSON: {body[:200]!r}"
    code = doc.get("errcode") if isinstance(doc, dict) else None
    if code == 0:
        return True, "ok"
    return False, f"errcode {code}: {doc.get('errmsg') if isinstance(doc, dict) else doc}"


def parse_robots(spec: str) -> dict[str, str]:
    """``C01=https://...,C02=https://...`` → {contractor: url} (a URL may contain '=' and ',' only
    after its '?'; entries are split at ',' followed by an id and '=')."""
    import re

    out: dict[str, str] = {}
    for part in re.split(r",(?=\s*[A-Za-z0-9_-]+=)", spec.strip()):
        if not part.strip():
            continue
        cid, sep, url = part.partition("=")
        if not sep or not url.strip().startswith(("http://", "https://")):
            raise WastestreamError(f"WASTESTREAM_NOTIFY_CONTRACTOR_ROBOTS: {part.strip()!r} is not CONTRACTOR=URL")
        out[cid.strip()] = url.strip()
    return out


def now_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)
