"""File-based Grafana provisioning for the compose stack (deploy/grafana/provisioning)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from wastestream.grafana.alerts import CONTACT_POINT, GROUP, Channel, alert_rules, contact_point, notification_policy
from wastestream.grafana.dashboards import DISPATCH_DS_UID, TIMEZONE, Basemap, all_dashboards

PROVISIONING = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning"


def provisioning_files(
    plan_t: float,
    bucket: str = "wastestream",
    influx_url: str = "http://influxdb:8086",
    tz: str = TIMEZONE,
    channel: Channel = "webhook",
    basemap: Basemap = "osm",
) -> dict[str, str]:
    """Relative path → file text. Secrets are environment references, never values."""
    files: dict[str, str] = {}
    files["datasources/wastestream.yaml"] = yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "wastestream (city)",
                    "uid": DISPATCH_DS_UID,
                    "type": "influxdb",
                    "access": "proxy",
                    "url": influx_url,
                    "isDefault": True,
                    "orgId": 1,
                    "jsonData": {"version": "Flux", "organization": "wastestream", "defaultBucket": bucket},
                    "secureJsonData": {"token": "$WASTESTREAM_INFLUX_TOKEN"},
                }
            ],
        },
        sort_keys=False,
        allow_unicode=True,
    )
    files["dashboards/wastestream.yaml"] = yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "wastestream",
                    "orgId": 1,
                    "folder": "wastestream",
                    "folderUid": "wastestream",
                    "type": "file",
                    "allowUiUpdates": False,
                    "options": {"path": "/etc/grafana/provisioning/dashboards/json"},
                }
            ],
        },
        sort_keys=False,
    )
    for d in all_dashboards(bucket, DISPATCH_DS_UID, plan_t, tz=tz, basemap=basemap):
        files[f"dashboards/json/{d.uid}.json"] = (
            json.dumps(d.model, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        )
    cp = contact_point("${WASTESTREAM_ALERT_WEBHOOK}", channel)
    policy = notification_policy()
    files["alerting/wastestream.yaml"] = yaml.safe_dump(
        {
            "apiVersion": 1,
            "groups": [
                {
                    "orgId": 1,
                    "name": GROUP,
                    "folder": "wastestream alerts",
                    "interval": "1m",
                    "rules": [
                        {k: v for k, v in r.items() if k not in ("ruleGroup", "folderUID", "orgID")}
                        for r in alert_rules(bucket, DISPATCH_DS_UID)
                    ],
                }
            ],
            "contactPoints": [
                {
                    "orgId": 1,
                    "name": cp["name"],
                    "receivers": [{"uid": CONTACT_POINT, "type": cp["type"], "settings": cp["settings"]}],
                }
            ],
            "policies": [{"orgId": 1, **policy}],
        },
        sort_keys=False,
        allow_unicode=True,
    )
    return files


def write_provisioning(
    plan_t: float, root: Path = PROVISIONING, tz: str = TIMEZONE, channel: Channel = "webhook", basemap: Basemap = "osm"
) -> list[Path]:
    out = []
    for rel, text in provisioning_files(plan_t, tz=tz, channel=channel, basemap=basemap).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out
