"""Dashboard JSON has what Grafana needs; the committed file provisioning is current."""

import re

import pytest

from wastestream.grafana.dashboards import DISPATCH_DS_UID, all_dashboards, contractor_ds_uid
from wastestream.grafana.files import PROVISIONING, provisioning_files
from wastestream.producers.simulator.city import build_city

SETS = {
    DISPATCH_DS_UID: all_dashboards("wastestream", DISPATCH_DS_UID, 1289.0),
    contractor_ds_uid("C01"): all_dashboards("contractor-c01", contractor_ds_uid("C01"), 1289.0, contractor="C01"),
}
BUILTIN = {"__interval", "__range", "__from", "__to", "__dashboard", "__org", "__user", "timeFilter"}


@pytest.mark.parametrize("ds_uid", list(SETS))
def test_dashboards_are_well_formed(ds_uid):
    uids = [d.uid for d in SETS[ds_uid]]
    assert len(uids) == len(set(uids))
    for d in SETS[ds_uid]:
        m = d.model
        ids = [p["id"] for p in m["panels"]]
        assert len(ids) == len(set(ids)), f"{d.uid}: duplicate panel ids"
        defined = {v["name"] for v in m.get("templating", {}).get("list", [])}
        for p in m["panels"]:
            assert p["datasource"]["uid"] == ds_uid, f"{d.uid}/{p['title']}: unknown datasource"
            assert p["targets"], f"{d.uid}/{p['title']}: no query"
            for t in p["targets"]:
                assert t["datasource"]["uid"] == ds_uid
                used = set(re.findall(r"\$\{(\w+)", t["query"])) | set(re.findall(r"\$(\w+)", t["query"]))
                assert used - BUILTIN <= defined, f"{d.uid}/{p['title']}: undefined variables {used - defined}"
                assert "v.timeRangeStart" in t["query"] or "array.from" in t["query"]
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24
        assert m["timezone"] == "Asia/Shanghai"


def test_file_provisioning_is_current():
    plan = round(sum(p.expected_kg for p in build_city(808).collection_points) / 1000, 1)
    for rel, text in provisioning_files(plan).items():
        path = PROVISIONING / rel
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `wastestream grafana export`"
        )


def test_no_secret_values_in_provisioning_files():
    for path in PROVISIONING.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "token: $WASTESTREAM_INFLUX_TOKEN" in text or "token" not in text
