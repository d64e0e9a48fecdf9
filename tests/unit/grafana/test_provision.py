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
    target = GrafanaTarget(
        g.url,
        ("admin", "pw"),
        "http://influx:8086",
        "wastestream",
        "http://hooks/alerts",
        viewer_passwords={"C01": "pw-c01", "C02": "pw-c02"},
    )
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
            "ws-at-risk",
            "ws-dumping",
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
        # one viewer user per contractor: a Viewer of its own org and a member of no other
        logins = {u["login"]: uid for uid, u in g.users.items()}
        assert set(logins) == {"contractor-c01", "contractor-c02"}
        for cid in ("C01", "C02"):
            uid = logins[f"contractor-{cid.lower()}"]
            assert {o: r for (o, u), r in g.members.items() if u == uid} == {
                orgs[f"contractor-{cid.lower()}"]: "Viewer"
            }
            assert g.users[uid]["password"] == f"pw-{cid.lower()}"


def test_rerun_is_idempotent():
    with GrafanaDouble() as g:
        run(g)
        state = g.snapshot()
        n = len(g.requests)
        rep = run(g)
        assert rep.created == []
        assert g.snapshot() == state
        assert not any(
            m == "POST" and p in ("/api/orgs", "/api/datasources", "/api/folders") for m, p, _ in g.requests[n:]
        )


def test_viewer_passwords_are_generated_once_kept_private_or_given(tmp_path):
    import stat

    import pytest

    from wastestream.errors import WastestreamError
    from wastestream.grafana.isolation import viewer_passwords
    from wastestream.settings import Settings

    s = Settings(state_dir=tmp_path)
    first = viewer_passwords(s, CITY)
    assert set(first) == {"C01", "C02"} and len(set(first.values())) == 2 and all(len(p) >= 20 for p in first.values())
    assert viewer_passwords(s, CITY) == first  # kept, not regenerated
    assert stat.S_IMODE((tmp_path / "grafana-viewers.json").stat().st_mode) == 0o600
    given = Settings(state_dir=tmp_path, grafana_viewer_passwords="C02=from-the-secret-store")
    assert viewer_passwords(given, CITY) == {"C01": first["C01"], "C02": "from-the-secret-store"}
    with pytest.raises(WastestreamError, match="CONTRACTOR=password"):
        viewer_passwords(Settings(state_dir=tmp_path, grafana_viewer_passwords="C01"), CITY)
