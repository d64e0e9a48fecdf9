"""Paging rules (wastestream.notify.pages): which alerts page where, and the robot messages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.errors import WastestreamError
from wastestream.notify.pages import (
    MAX_TEXT_BYTES,
    Page,
    accepted,
    dingtalk_signed_url,
    ledger_key,
    parse_robots,
    payload,
    plan_pages,
    split_to_fit,
    text,
)
from wastestream.schemas import Alert, AlertState

AT = datetime(2026, 11, 16, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


def alert(point: str, state: str = "raised", contractor: str = "C01", kind: str = "missed_clearance", **kw) -> Alert:
    return Alert(
        key=f"missed:{point}:2026-11-16",
        kind=kind,
        state=AlertState(state),
        severity=kw.pop("severity", "critical"),
        local_date=date(2026, 11, 16),
        subject=point,
        contractor_id=contractor,
        message=kw.pop("message", f"{point} not cleared by 10:00"),
        at=kw.pop("at", AT),
    )


def apply(ledger: dict[str, str], pages: list[Page]) -> None:
    for p in pages:
        for k in p.ledger_keys():
            ledger[k] = p.state.value


def test_a_raise_pages_once_and_a_replay_pages_nothing():
    ledger: dict[str, str] = {}
    batch = [alert("CP-1"), alert("CP-2"), alert("CP-3", contractor="C02")]
    pages = plan_pages(batch, ledger)
    assert [(p.contractor_id, [a.subject for a in p.alerts]) for p in pages] == [
        ("C01", ["CP-1", "CP-2"]),
        ("C02", ["CP-3"]),
    ]
    apply(ledger, pages)
    assert plan_pages(batch, ledger) == []  # the same alerts again (a worker replay, a restart)


def test_resolve_pages_after_a_raise_but_not_alone():
    ledger: dict[str, str] = {}
    assert plan_pages([alert("CP-1", "resolved")], ledger) == []  # never paged: nothing to resolve
    apply(ledger, plan_pages([alert("CP-1")], ledger))
    pages = plan_pages([alert("CP-1", "resolved")], ledger)
    assert [(p.state, [a.subject for a in p.alerts]) for p in pages] == [(AlertState.resolved, ["CP-1"])]


def test_only_the_last_state_in_a_batch_counts():
    assert plan_pages([alert("CP-1"), alert("CP-1", "resolved")], {}) == []
    ledger = {ledger_key("dispatch", alert("CP-1").key): "raised"}
    pages = plan_pages([alert("CP-1", "resolved"), alert("CP-1")], ledger)
    assert pages == []  # resolved then raised again within the batch: still raised, already paged


def test_contractor_robots_get_their_own_alerts_and_the_ledger_is_per_destination():
    ledger: dict[str, str] = {}
    batch = [alert("CP-1"), alert("CP-2", contractor="C02")]
    pages = plan_pages(batch, ledger, contractor_robots=["C02"])
    assert sorted((p.destination, a.subject) for p in pages for a in p.alerts) == [
        ("C02", "CP-2"),
        ("dispatch", "CP-1"),
        ("dispatch", "CP-2"),
    ]
    apply(ledger, [p for p in pages if p.destination == "dispatch"])  # the C02 robot was down
    again = plan_pages(batch, ledger, contractor_robots=["C02"])
    assert [(p.destination, [a.subject for a in p.alerts]) for p in again] == [("C02", ["CP-2"])]


def test_critical_first_and_pages_cut_at_the_count():
    batch = [alert(f"CP-{i:03d}", severity="warning" if i % 2 else "critical") for i in range(70)]
    pages = plan_pages(batch, {}, max_per_page=30)
    assert [len(p.alerts) for p in pages] == [30, 30, 10]
    assert [a.severity for a in pages[0].alerts][:35] == ["critical"] * 30
    assert sorted(a.subject for p in pages for a in p.alerts) == sorted(a.subject for a in batch)


@pytest.mark.parametrize("fmt", ["dingtalk", "wecom"])
def test_long_pages_are_split_to_the_robot_limit(fmt):
    long = "x" * 900
    page = Page("dispatch", "C01", AlertState.raised, tuple(alert(f"CP-{i}", message=long) for i in range(30)))
    parts = split_to_fit(page, fmt, "Asia/Shanghai")
    assert len(parts) > 1
    assert all(len(text(p, "Asia/Shanghai").encode()) <= MAX_TEXT_BYTES[fmt] for p in parts)
    assert [a for p in parts for a in p.alerts] == list(page.alerts)


def test_robot_payloads():
    page = Page("dispatch", "C01", AlertState.raised, (alert("CP-1"),))
    ding = payload(page, "dingtalk", "Asia/Shanghai")
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"].startswith("【告警 RAISED】C01")
    assert "**CP-1** 未清运 not cleared" in ding["markdown"]["text"]
    assert "10:30" in ding["markdown"]["text"]  # the local (Shanghai) time of the alert, not UTC
    wecom = payload(page, "wecom", "Asia/Shanghai")
    assert set(wecom) == {"msgtype", "markdown"} and "**CP-1**" in wecom["markdown"]["content"]
    hook = payload(page, "webhook", "Asia/Shanghai")
    assert hook["state"] == "raised" and hook["alerts"][0]["subject"] == "CP-1"
    json.dumps(hook)  # plain JSON


def test_robot_answers():
    assert accepted("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}') == (True, "ok")
    ok, why = accepted("dingtalk", 200, b'{"errcode":130101,"errmsg":"send too fast"}')
    assert not ok and "130101" in why
    assert not accepted("wecom", 200, b"<html>")[0]
    assert not accepted("webhook", 503, b"busy")[0]
    assert accepted("webhook", 204, b"")[0]


def test_dingtalk_signature_parameters():
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SECabc", 1700000000000)
    assert url.startswith("https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign=")
    assert "+" not in url.split("sign=")[1] and "/" not in url.split("sign=")[1]  # url-encoded base64


def test_contractor_robot_list():
    got = parse_robots("C01=https://a/send?access_token=1,C02=https://b/send?key=2&x=y")
    assert got == {"C01": "https://a/send?access_token=1", "C02": "https://b/send?key=2&x=y"}
    with pytest.raises(WastestreamError, match="C03"):
        parse_robots("C03=not-a-url")


states = st.sampled_from(["raised", "resolved"])
alerts_st = st.lists(
    st.tuples(st.integers(0, 5), states, st.sampled_from(["C01", "C02", None])).map(
        lambda t: alert(f"CP-{t[0]}", t[1], contractor=t[2], at=AT + timedelta(minutes=t[0]))
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(alerts_st, st.dictionaries(st.integers(0, 5), states), st.lists(st.sampled_from(["C01", "C02"])))
def test_planning_is_idempotent_and_never_repeats_a_state(batch, before, robots):
    ledger = {ledger_key("dispatch", f"missed:CP-{i}:2026-11-16"): s for i, s in before.items()}
    pages = plan_pages(batch, ledger, robots)
    final = {}
    for a in batch:
        final[a.key] = a
    for p in pages:
        for a in p.alerts:
            assert final[a.key] is a  # only each key's last state
            assert ledger.get(ledger_key(p.destination, a.key)) != a.state.value
            assert p.contractor_id == a.contractor_id and p.state == a.state
    apply(ledger, pages)
    assert plan_pages(batch, ledger, robots) == []  # paged and recorded: the same batch pages nothing
