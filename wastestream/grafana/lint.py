"""Checks every generated dashboard must pass (tests/unit/grafana/test_lint.py runs them all).

* **Schema**: the dashboard JSON is decoded by grafana-foundation-sdk's typed models — generated
  from the schemas the SDK publishes, with each panel type's options model registered — and
  encoded again: nothing may be dropped or changed on the way (the SDK may only add its defaults).
  A key the schema does not know does not survive the round trip. (The models do not check value
  types: the JSON Schema files the SDK publishes are not on any package registry, so they cannot
  be read here.)
* **Panels**: each has a title from the glossary (Chinese and English), the dashboard's datasource
  on the panel and on every query, a unit, and a query with a Flux text.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from wastestream.grafana.glossary import TITLES

PANEL_TYPES = ("barchart", "geomap", "stat", "table", "timeseries")
CJK = re.compile(r"[\u4e00-\u9fff]")
_registered = False


def _register_panel_types() -> None:
    global _registered
    if not _registered:
        for name in PANEL_TYPES:
            module = importlib.import_module(f"grafana_foundation_sdk.models.{name}")
            runtime.register_panelcfg_variant(module.variant_config())
        _registered = True


def _lost(sent: Any, back: Any, path: str = "") -> list[str]:
    """What of ``sent`` is missing or different in ``back`` (keys ``back`` adds are defaults)."""
    if isinstance(sent, dict) and isinstance(back, dict):
        out = []
        for k, v in sent.items():
            if k not in back:
                out.append(f"{path}/{k}: not in the schema (dropped)")
            else:
                out += _lost(v, back[k], f"{path}/{k}")
        return out
    if isinstance(sent, list) and isinstance(back, list):
        if len(sent) != len(back):
            return [f"{path}: {len(sent)} items became {len(back)}"]
        return [p for i, (a, b) in enumerate(zip(sent, back, strict=True)) for p in _lost(a, b, f"{path}[{i}]")]
    if sent != back and not (isinstance(sent, int | float) and isinstance(back, int | float) and sent == back):
        return [f"{path}: {sent!r} became {back!r}"]
    return []


def schema_problems(model: dict) -> list[str]:
    _register_panel_types()
    try:
        decoded = Dashboard.from_json(model)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return [f"does not decode as a Dashboard: {type(e).__name__}: {e}"]
    back = json.loads(JSONEncoder(sort_keys=True).encode(decoded))
    return _lost(model, back)


def panel_problems(model: dict, ds_uid: str) -> list[str]:
    titles = {f"{zh} {en}" for zh, en in TITLES.values()}
    out = []
    for p in model.get("panels", []):
        name = p.get("title") or f"panel {p.get('id')}"
        if p.get("type") not in PANEL_TYPES:
            out.append(f"{name}: panel type {p.get('type')!r} is not one the lint knows")
        if not p.get("title"):
            out.append(f"{name}: no title")
        elif p["title"] not in titles or not CJK.search(p["title"]) or not re.search(r"[A-Za-z]{2}", p["title"]):
            out.append(f"{name}: the title is not a bilingual one from the glossary")
        if (p.get("datasource") or {}).get("uid") != ds_uid:
            out.append(f"{name}: datasource {p.get('datasource')!r}, not {ds_uid}")
        targets = p.get("targets") or []
        if not targets:
            out.append(f"{name}: no query")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != ds_uid or not str(t.get("query", "")).strip():
                out.append(f"{name}: query {t.get('refId')} lacks the datasource or its Flux")
        if not ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit"):
            out.append(f"{name}: no unit")
    return out


def lint(model: dict, ds_uid: str) -> list[str]:
    """Every problem of one dashboard, each naming the panel or the path."""
    return [f"{model.get('uid')}: {x}" for x in schema_problems(model) + panel_problems(model, ds_uid)]
