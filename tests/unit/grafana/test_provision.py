"""Provisioning with grafana-client, checked against a local HTTP double of Grafana's API."""

import json
import re
from pathlib import Path

from wastestream.grafana.dashboards import DISPATCH_DS_UID, contractor_ds_uid
from wastestream.grafana.provision import GrafanaTarget, provision
from wastestream.schemas import load_city

from .grafana_double import GrafanaDouble

CITY = load_city(Path(__file__).resolve().parents[2] / "fixtures" / "city-small.yaml")
TOKENS = {"C01": "tok-c01", "C02": "tok-c02"}


def run(g: GrafanaDouble):
    target = GrafanaTarget(g.url, ("admin", "pw"), "http://influx:8086", "wastestream", "http://hooks/alerts")
    return provision(target, CITY, "wastestream", "tok-city", TOKENS, 12.3)


def test_provisions_dispatch_and_contractor_orgs():
    with GrafanaDouble() as g:
        rep = run(g)
        # dispatch org: city datasource with the city token, dashboards, alert rules, contact point, policy
        ds = g.datasources[(1, DISPATCH_DS_UID)]
        assert ds["secureJsonData"]["token"] == "tok-city" and ds["jsonData"]["version"] == "Flux"
        assert {uid for (org, uid) in g.dashboards if org == 1} == {
            "ws-dispatch",
            "ws-contractor",
            "ws-station",
            "ws-vehicle",
            "ws-quality",
        }
        assert set(g.rules) == {
            "ws-missed-timed-stop",
            "ws-missed-clearance",
            "ws-station-not-cleared",
            "ws-station-over-capacity",
            "ws-terminal-silent",
            "ws-terminal-dark",
        }
        assert g.rules["ws-missed-timed-stop"]["labels"]["severity"] == "critical"
        assert g.rules["ws-missed-clearance"]["labels"]["severity"] == "warning"
        assert g.policy is not None and g.policy["group_by"] == ["alertname", "contractor"]
        assert list(g.contact_points.values())[0]["settings"]["url"] == "http://hooks/alerts"
        # one org per contractor; its only datasource reads its own bucket with its own token
        orgs = {name: oid for oid, name in g.orgs.items()}
        assert set(orgs) == {"Main Org.", "contractor-c01", "contractor-c02"}
        for cid in ("C01", "C02"):
            oid = orgs[f"contractor-{cid.lower()}"]
            (ds_key,) = [k for k in g.datasources if k[0] == oid]
            ds = g.datasources[ds_key]
            assert ds_key[1] == contractor_ds_uid(cid)
            assert ds["jsonData"]["defaultBucket"] == f"contractor-{cid.lower()}"
            assert ds["secureJsonData"]["token"] == TOKENS[cid]
            (dash,) = [v for (o, _), v in g.dashboards.items() if o == oid]
            buckets = set(re.findall(r'bucket: "([^"]+)"', json.dumps(dash["dashboard"]).replace('\\"', '"')))
            assert buckets == {f"contractor-{cid.lower()}"}
        assert rep.created and all(a.startswith("Basic ") for a in g.auth_seen)


def test_rerun_is_idempotent():
    with GrafanaDouble() as g:
        run(g)
        state = (dict(g.orgs), dict(g.datasources), set(g.dashboards), dict(g.rules), dict(g.contact_points))
        n = len(g.requests)
        rep = run(g)
        assert rep.created == []
        assert (dict(g.orgs), dict(g.datasources), set(g.dashboards), dict(g.rules), dict(g.contact_points)) == state
        assert not any(
            m == "POST" and p in ("/api/orgs", "/api/datasources", "/api/folders") for m, p, _ in g.requests[n:]
        )
