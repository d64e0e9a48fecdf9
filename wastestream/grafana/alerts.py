"""Grafana unified-alerting rules, contact point and notification policy, built with
grafana-foundation-sdk's alerting and expression builders.

Rules query the figures the worker writes; each fires per series (a point, a vehicle, a station),
and the policy groups notifications by contractor so a contractor's missed stops page together.
A missed *timed* stop (车到桶出) is critical; any other missed point is a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_models

from wastestream.grafana.dashboards import Flux

FOLDER_UID = "wastestream-alerts"
GROUP = "wastestream"
CONTACT_POINT = "wastestream-dispatch"
RECEIVER = "dispatch"
Channel = Literal["webhook", "dingding", "wecom"]
CHANNELS: tuple[Channel, ...] = ("webhook", "dingding", "wecom")


@dataclass(frozen=True)
class RuleSpec:
    uid: str
    title: str
    flux: str
    summary: str
    severity: str
    for_: str = "1m"
    threshold: float = 0
    window_s: int = 86400


def _encode(b) -> dict:  # noqa: ANN001
    return json.loads(JSONEncoder().encode(b.build()))


def _rule(spec: RuleSpec, ds_uid: str) -> dict:
    query = (
        alerting.Query("A")
        .datasource_uid(ds_uid)
        .relative_time_range(alerting_models.RelativeTimeRange(from_val=spec.window_s, to=0))
        .model(Flux(spec.flux, ds_uid))
    )
    last = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .model(expr.TypeReduce().ref_id("B").expression("A").reducer("last"))
    )
    over = (
        alerting.Query("C")
        .datasource_uid("__expr__")
        .model(
            expr.TypeThreshold()
            .ref_id("C")
            .expression("B")
            .conditions(
                [
                    expr.ExprTypeThresholdConditions().evaluator(
                        expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([spec.threshold])
                    )
                ]
            )
        )
    )
    rule = (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .org_id(1)
        .rule_group(GROUP)
        .folder_uid(FOLDER_UID)
        .condition("C")
        .for_val(spec.for_)
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": spec.severity, "team": "dispatch"})
        .annotations({"summary": spec.summary})
        .queries([query, last, over])
    )
    return _encode(rule)


def _alerts(src: str, where: str) -> str:
    return (
        f'{src}\n  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "active" and {where})\n'
        '  |> group(columns: ["subject", "contractor"])\n  |> last()'
    )


def rule_specs(bucket: str) -> list[RuleSpec]:
    src = f'from(bucket: "{bucket}")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)'
    missed = 'r.kind == "missed_clearance" and r.severity == '
    return [
        RuleSpec(
            "ws-missed-timed-stop",
            "Timed stop not cleared (missed) 定时定点未清运",
            _alerts(src, missed + '"critical"'),
            "timed stop {{ $labels.subject }} ({{ $labels.contractor }}) was not cleared by its deadline",
            "critical",
        ),
        RuleSpec(
            "ws-missed-clearance",
            "Collection point not cleared (missed) 收集点未清运",
            _alerts(src, missed + '"warning"'),
            "{{ $labels.subject }} ({{ $labels.contractor }}) was not cleared by its deadline",
            "warning",
        ),
        RuleSpec(
            "ws-at-risk",
            "Stop at risk of not being cleared in time 清运预警",
            _alerts(src, 'r.kind == "at_risk"'),
            "{{ $labels.subject }} ({{ $labels.contractor }}) is predicted to be served after its window: "
            "send help or tell the crew",
            "warning",
            for_="0s",
        ),
        RuleSpec(
            "ws-terminal-silent",
            "Terminal silent in shift 终端离线",
            _alerts(src, 'r.kind == "terminal_silent"'),
            "the terminal of {{ $labels.subject }} ({{ $labels.contractor }}) has sent nothing for 30 min "
            "with the ignition on, in its shift",
            "warning",
            for_="5m",
        ),
        RuleSpec(
            "ws-terminal-dark",
            "Vehicle due on a route not heard from 终端未上线",
            _alerts(src, 'r.kind == "terminal_dark"'),
            "{{ $labels.subject }} ({{ $labels.contractor }}) is due on its route and its terminal has not reported",
            "warning",
            for_="5m",
        ),
        RuleSpec(
            "ws-dumping",
            "Load not delivered: suspected dumping 疑似乱倾乱倒 / 有收无倒",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "violations" and r._field == "active"'
            ' and (r.kind == "dumping" or r.kind == "undelivered"))\n'
            '  |> group(columns: ["vehicle", "contractor", "kind"])\n  |> sum()',
            "{{ $labels.vehicle }} ({{ $labels.contractor }}): {{ $labels.kind }} — collected and then stood away "
            "from every site, and its trip delivered short or nothing (see Contractor → violations for the place)",
            "warning",
            for_="0s",
            window_s=86400,
        ),
        RuleSpec(
            "ws-station-not-cleared",
            "Station not cleared the same day (日产日清)",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "station_balance" and r._field == "backlog_kg")\n'
            '  |> group(columns: ["station"])\n  |> last()',
            "{{ $labels.station }} ends the day with {{ $values.B }} kg not transferred",
            "warning",
            for_="30m",
            threshold=1000,
            window_s=2 * 86400,
        ),
        RuleSpec(
            "ws-station-over-capacity",
            "Station over capacity 转运站超负荷",
            f'{src}\n  |> filter(fn: (r) => r._measurement == "station_balance" and r._field == "over_capacity")\n'
            "  |> map(fn: (r) => ({r with _value: if r._value then 1.0 else 0.0}))\n"
            '  |> group(columns: ["station"])\n  |> last()',
            "{{ $labels.station }} received more than its rated daily capacity",
            "warning",
        ),
    ]


def alert_rules(bucket: str, ds_uid: str) -> list[dict]:
    """Every rule as Grafana's alerting provisioning API takes it."""
    return [_rule(spec, ds_uid) for spec in rule_specs(bucket)]


MESSAGE = (
    '{{ range .Alerts }}{{ if eq .Status "firing" }}告警 RAISED{{ else }}恢复 RESOLVED{{ end }} '
    "{{ .Labels.alertname }} — {{ .Annotations.summary }}\n{{ end }}"
)


def contact_point(url: str, channel: Channel = "webhook") -> dict:
    """The dispatch contact point: a webhook, or Grafana's DingDing or WeCom integration (the robots
    Chinese dispatch centers are paged on)."""
    settings: dict[str, object]
    if channel == "dingding":
        settings = {"url": url, "msgType": "actionCard", "title": "wastestream", "message": MESSAGE}
    elif channel == "wecom":
        settings = {"url": url, "msgtype": "markdown", "title": "wastestream", "message": MESSAGE}
    elif channel == "webhook":
        settings = {"url": url, "httpMethod": "POST"}
    else:
        raise ValueError(f"alert channel {channel!r}: choose one of {', '.join(CHANNELS)}")
    cp = (
        alerting.ContactPoint()
        .uid(CONTACT_POINT)
        .name(RECEIVER)
        .type(channel)
        .settings(settings)
        .disable_resolve_message(False)
    )
    return _encode(cp)


def notification_policy() -> dict:
    critical = (
        alerting.NotificationPolicy()
        .receiver(RECEIVER)
        .object_matchers([["severity", "=", "critical"]])
        .group_wait("10s")
        .repeat_interval("1h")
    )
    policy = (
        alerting.NotificationPolicy()
        .receiver(RECEIVER)
        .group_by(["alertname", "contractor"])
        .group_wait("30s")
        .group_interval("5m")
        .repeat_interval("4h")
        .routes([critical])
    )
    return _encode(policy)
