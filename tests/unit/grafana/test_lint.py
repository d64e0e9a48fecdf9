"""Every generated dashboard passes the lint: it survives grafana-foundation-sdk's typed models
unchanged, and each panel has a glossary title, the datasource, a unit and a Flux query."""

import copy

import pytest

from wastestream.grafana.dashboards import BASEMAPS, DISPATCH_DS_UID, all_dashboards, contractor_ds_uid
from wastestream.grafana.glossary import TERMS, TITLES
from wastestream.grafana.lint import lint, panel_problems, schema_problems


def every_dashboard():
    for basemap in BASEMAPS:
        for d in all_dashboards("wastestream", DISPATCH_DS_UID, 1289.0, basemap=basemap):
            yield f"{basemap}:{d.uid}", d.model, DISPATCH_DS_UID
        for d in all_dashboards("contractor-c01", contractor_ds_uid("C01"), 1289.0, contractor="C01", basemap=basemap):
            yield f"{basemap}:{d.uid}", d.model, contractor_ds_uid("C01")


@pytest.mark.parametrize(
    ("name", "model", "ds"), list(every_dashboard()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_dashboard_passes_the_lint(name, model, ds):
    assert lint(model, ds) == []


def dispatch():
    return copy.deepcopy(all_dashboards("wastestream", DISPATCH_DS_UID, 1.0)[0].model)


def test_the_schema_check_catches_keys_the_schema_does_not_know():
    m = dispatch()
    m["panels"][0]["gridPos"]["depth"] = 3  # no such key in GridPos
    m["refreshEvery"] = "1m"  # nor on a dashboard
    m["panels"][4]["options"]["layers"][0]["style"] = {}  # a marker layer's style lives in its config
    problems = schema_problems(m)
    assert any("/panels[0]/gridPos/depth" in p for p in problems)
    assert any("/refreshEvery" in p for p in problems)
    assert any("/panels[4]/options/layers[0]/style" in p for p in problems)
    assert schema_problems(dispatch()) == []


def test_the_panel_check_names_what_is_missing():
    m = dispatch()
    m["panels"][0]["title"] = "Tonnage"  # English only, not from the glossary
    del m["panels"][1]["fieldConfig"]["defaults"]["unit"]
    m["panels"][2]["datasource"] = {"type": "influxdb", "uid": "someone-else"}
    m["panels"][3]["targets"][0]["query"] = " "
    problems = panel_problems(m, DISPATCH_DS_UID)
    assert any(p.startswith("Tonnage: the title") for p in problems)
    assert any("no unit" in p for p in problems)
    assert any("someone-else" in p for p in problems)
    assert any("lacks the datasource or its Flux" in p for p in problems)


def test_glossary_is_bilingual_and_covers_every_panel():
    keys = {p.key for d in all_dashboards("wastestream", DISPATCH_DS_UID, 1.0) for p in d.panels}
    assert keys == set(TITLES)
    for zh, en, meaning in TERMS.values():
        assert zh and en and meaning and not zh.isascii() and en.isascii()
