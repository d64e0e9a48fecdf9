"""Grafana unified-alerting rules, contact point and notification policy, as code.

Rules query the figures the worker writes; each fires per series (a point, a station), and the
policy groups notifications by contractor so a contractor's missed stops page together.
"""

from __future__ import annotations

FOLDER_UID = "wastestream-alerts"
GROUP = "wastestream"
CONTACT_POINT = "wastestream-dispatch-webhook"


def _rule(
    uid: str,
    title: str,
    flux: str,
    ds_uid: str,
    summary: str,
    severity: str,
    for_: str = "1m",
    threshold: float = 0,
    window_s: int = 86400,
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "ruleGroup": GROUP,
        "folderUID": FOLDER_UID,
        "condition": "C",
        "for": for_,
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": {"severity": severity, "team": "dispatch"},
        "annotations": {"summary": summary},
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": window_s, "to": 0},
                "datasourceUid": ds_uid,
                "model": {"refId": "A", "query": flux},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "relativeTimeRange": {"from": 0, "to": 0},
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "relativeTimeRange": {"from": 0, "to": 0},
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [threshold]}}],
                },
            },
        ],
    }


def alert_rules(bucket: str, ds_uid: str) -> list[dict]:
    src = f'from(bucket: "{bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)'
    return [
        _rule(
            "ws-missed-clearance",
            "Collection point not cleared (missed)",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "active" and r.kind == "missed_clearance")\n'
            '  |> group(columns: ["subject", "contractor"])\n  |> last()',
            ds_uid,
            "{{ $labels.subject }} ({{ $labels.contractor }}) was not cleared by its deadline",
            "critical",
        ),
        _rule(
            "ws-terminal-silent",
            "Terminal silent in shift",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "active" and r.kind == "terminal_silent")\n'
            '  |> group(columns: ["subject", "contractor"])\n  |> last()',
            ds_uid,
            "the terminal of {{ $labels.subject }} ({{ $labels.contractor }}) has sent nothing for 30 min "
            "with the ignition on, in its shift",
            "warning",
            for_="5m",
        ),
        _rule(
            "ws-station-not-cleared",
            "Station not cleared the same day (日产日清)",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "station_balance" and r._field == "backlog_kg")\n'
            '  |> group(columns: ["station"])\n  |> last()',
            ds_uid,
            "{{ $labels.station }} ends the day with {{ $values.B }} kg not transferred",
            "warning",
            for_="30m",
            threshold=1000,
            window_s=2 * 86400,
        ),
        _rule(
            "ws-station-over-capacity",
            "Station over capacity",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "station_balance" and r._field == "over_capacity")\n'
            "  |> map(fn: (r) => ({r with _value: if r._value then 1.0 else 0.0}))\n"
            '  |> group(columns: ["station"])\n  |> last()',
            ds_uid,
            "{{ $labels.station }} received more than its rated daily capacity",
            "warning",
        ),
    ]


def contact_point(webhook_url: str) -> dict:
    return {
        "uid": CONTACT_POINT,
        "name": "dispatch webhook",
        "type": "webhook",
        "settings": {"url": webhook_url, "httpMethod": "POST"},
        "disableResolveMessage": False,
    }


def notification_policy() -> dict:
    return {
        "receiver": "dispatch webhook",
        "group_by": ["alertname", "contractor"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {
                "receiver": "dispatch webhook",
                "object_matchers": [["severity", "=", "critical"]],
                "group_wait": "10s",
                "repeat_interval": "1h",
            }
        ],
    }
