"""`wastestream assess`: a month's assessment of the contractors — the facts from InfluxDB (missed and
late point-days, valid complaints, operating violations), the contractors' reasons from the
``service.exceptions`` topic, the deduction table — judged by :mod:`wastestream.domain.assessment`,
then printed, written as JSON, CSV, .xlsx, HTML and PNG, and as InfluxDB series (``assessment``: a
running daily and a monthly score per contractor; ``deductions``: each deduction with its evidence).

Re-running a month replaces its series (one writer: the deductions of the month are deleted, then
written again) and compares with the previous run's JSON in the output folder: what changed is
printed and kept in ``changes-<month>.json``.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from wastestream.domain.assessment import Assessment, Change, Excuse, Fact, assess, changes, month_days
from wastestream.domain.localtime import day_start, local_date
from wastestream.errors import WastestreamError
from wastestream.schemas import City
from wastestream.schemas.assessment import DeductionTable
from wastestream.settings import Settings
from wastestream.stream_processors.records import Record, record

STATUS_NAMES = {
    "counted": "扣分 counted",
    "reduced": "减扣 reduced",
    "excused": "免扣 excused",
    "over_daily_cap": "超日上限 over the daily cap",
    "capped": "部分 capped",
    "over_cap": "超月上限 over the month's cap",
}


def gather_facts(settings: Settings, city: City, month: str) -> list[Fact]:
    """The month's facts from the main bucket (statuses, violations, complaints)."""
    from influxdb_client import InfluxDBClient

    tz = city.timezone
    days = month_days(month)
    start = day_start(days[0], tz).strftime("%Y-%m-%dT%H:%M:%SZ")
    stop = day_start(days[-1] + timedelta(days=1), tz).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = f'from(bucket: "{settings.influx_bucket}") |> range(start: {start}, stop: {stop})'
    vehicle_of_route = {r.id: r.vehicle_id for r in city.routes}
    facts: list[Fact] = []
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        q = c.query_api()
        for r in q.query_stream(
            f'{base} |> filter(fn: (r) => r._measurement == "clearance" and r._field == "status")'
            ' |> filter(fn: (r) => r._value == "missed" or r._value == "late")'
        ):
            day = local_date(r.get_time(), tz)
            point, status = r["point"], r["_value"]
            measure = "late" if status == "late" else "missed_timed" if r["timed"] == "true" else "missed_untimed"
            facts.append(
                Fact(
                    measure,
                    r["contractor"],
                    day,
                    point,
                    None,
                    f"{point} {status} on {day}" + (" (timed stop)" if r["timed"] == "true" else ""),
                    f"wastestream evidence --point {point} --date {day}",
                    vehicle_of_route.get(r["route"]),
                )
            )
        for r in q.query_stream(
            f'{base} |> filter(fn: (r) => r._measurement == "violations")'
            ' |> pivot(rowKey: ["_time", "vehicle", "kind"], columnKey: ["_field"], valueColumn: "_value")'
            " |> filter(fn: (r) => r.active == 1)"
        ):
            at = r.get_time()
            lat, lon = r.values.get("lat"), r.values.get("lon")
            facts.append(
                Fact(
                    f"violation:{r['kind']}",
                    r["contractor"],
                    local_date(at, tz),
                    r["vehicle"],
                    at,
                    f"{r['vehicle']} {r['kind']} at {at.astimezone(UTC):%Y-%m-%d %H:%M}Z: {r['detail']}",
                    f"geo:{lat:.6f},{lon:.6f}" if lat is not None and lon is not None else "",
                    r["vehicle"],
                )
            )
        for r in q.query_stream(
            f'{base} |> filter(fn: (r) => r._measurement == "complaints")'
            ' |> pivot(rowKey: ["_time", "case"], columnKey: ["_field"], valueColumn: "_value")'
            " |> filter(fn: (r) => r.valid == true)"
        ):
            if r["contractor"]:
                facts.append(
                    Fact(
                        "complaint_valid",
                        r["contractor"],
                        local_date(r.get_time(), tz),
                        r["case"],
                        datetime.fromisoformat(r["reported_at"]),
                        f"case {r['case']} at {r['point'] or '(a location)'}: {r['verdict']}",
                        f"case:{r['case']}",
                    )
                )
    return facts


def gather_excuses(settings: Settings, report: Callable[[str], None] = print) -> list[Excuse]:
    """The contractors' reasons on the topic. A record that is not a report, or one without the
    contractor the API stamps on it (written there by something else), is left out and said so."""
    from wastestream.producers.exceptions import read_exceptions

    def refused(key: str, raw: bytes, reason: str) -> None:
        report(f"assess: service.exceptions record {key!r} left out ({reason}; {len(raw)} bytes)")

    try:
        reports = read_exceptions(settings, refused)
    except Exception as e:  # noqa: BLE001 - Kafka unreachable: one clear line
        raise WastestreamError(f"cannot read the service.exceptions topic ({type(e).__name__}: {e})") from None
    out = []
    for x in reports.values():
        if not x.contractor_id:
            refused(x.report_id, b"", "no contractor: not accepted by the API")
            continue
        out.append(
            Excuse(x.report_id, x.contractor_id, x.local_date, x.reason.value, x.reported_at, x.point_id, x.vehicle_id)
        )
    return out


def assessment_records(a: Assessment, tz: str, until: date) -> list[Record]:
    """``assessment`` (a running score per contractor and day up to ``until``, and the month's) and
    ``deductions`` (one per deduction, at its time or its day's start)."""
    out = []
    first = a.days[0]
    for c, sc in sorted(a.contractors.items()):
        counted = sum(1 for d in sc.deductions if d.points > 0 or d.money > 0)
        excused = sum(1 for d in sc.deductions if d.status == "excused")
        out.append(
            record(
                "assessment",
                {"contractor": c, "period": "month", "table": a.table_version},
                {
                    "score": float(sc.score),
                    "points": float(sc.points),
                    "money": float(sc.money),
                    "deductions": counted,
                    "excused": excused,
                },
                day_start(first, tz),
                c,
            )
        )
        for d, pts, money, running in sc.by_day([x for x in a.days if x <= until]):
            out.append(
                record(
                    "assessment",
                    {"contractor": c, "period": "day", "table": a.table_version},
                    {"score": float(running), "points": float(pts), "money": float(money)},
                    day_start(d, tz),
                    c,
                )
            )
        for x in sc.deductions:
            out.append(
                record(
                    "deductions",
                    {"contractor": c, "item": x.item, "subject": x.subject},
                    {"points": float(x.points), "money": float(x.money), "status": x.status, "evidence": x.evidence,
                     "link": x.link, "note": x.note},
                    x.at or day_start(x.day, tz),
                    c,
                )
            )  # fmt: skip
    return out


def write_influx(settings: Settings, city: City, a: Assessment) -> int:
    """Replace the month's deductions and write the scores (main bucket and each contractor's)."""
    from influxdb_client import InfluxDBClient

    from wastestream.stream_processors.sink import InfluxSink

    tz = city.timezone
    start, stop = day_start(a.days[0], tz), day_start(a.days[-1] + timedelta(days=1), tz)
    buckets = [settings.influx_bucket, *(c.bucket_name for c in city.contractors if c.id in a.contractors)]
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        existing = {b.name for b in c.buckets_api().find_buckets_iter()}  # every page, not the first 100
        for b in buckets:
            if b in existing:
                for who in a.contractors:
                    c.delete_api().delete(
                        start,
                        stop,
                        f'_measurement="deductions" AND contractor="{who}"',
                        bucket=b,
                        org=settings.influx_org,
                    )
    recs = assessment_records(a, tz, min(a.days[-1], local_date(datetime.now(UTC), tz)))
    sink = InfluxSink(settings, city)
    try:
        sink.write(recs)
    finally:
        sink.close()
    return len(recs)


# -- files ----------------------------------------------------------------------------------------
COLUMNS = [
    "contractor",
    "day",
    "item",
    "name",
    "subject",
    "time",
    "points",
    "money",
    "status",
    "note",
    "evidence",
    "link",
]


def _rows(a: Assessment) -> list[list]:
    return [
        [c, d.day.isoformat(), d.item, d.name, d.subject, d.at.isoformat() if d.at else "", d.points, d.money,
         d.status, d.note, d.evidence, d.link]
        for c, sc in sorted(a.contractors.items())
        for d in sc.deductions
    ]  # fmt: skip


def write_files(a: Assessment, table: DeductionTable, out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f"{stem}.{k}" for k in ("json", "csv", "xlsx", "html", "png")}
    paths["json"].write_text(json.dumps(a.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel opens Chinese text right
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(_rows(a))
    _xlsx(a, table, paths["xlsx"])
    _png(a, table, paths["png"])
    paths["html"].write_text(_html(a, table, paths["png"].name), encoding="utf-8")
    return paths


def _xlsx(a: Assessment, table: DeductionTable, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "scores"
    ws.append(["作业单位 contractor", "基础分 base", "扣分 points", f"罚款 fines ({table.currency})", "得分 score"])
    for c, sc in sorted(a.contractors.items()):
        ws.append([c, sc.base, sc.points, sc.money, sc.score])
    ws.append([])
    ws.append([f"{table.name} · version {table.version} · {a.month}"])
    daily = wb.create_sheet("daily")
    daily.append(["day", *sorted(a.contractors)])
    per = {c: sc.by_day(a.days) for c, sc in a.contractors.items()}
    for k, d in enumerate(a.days):
        daily.append([d.isoformat(), *(per[c][k][3] for c in sorted(a.contractors))])
    ded = wb.create_sheet("deductions")
    ded.append(COLUMNS)
    for row in _rows(a):
        ded.append(row)
    for sheet in (ws, daily, ded):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    wb.save(path)


def _png(a: Assessment, table: DeductionTable, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6), dpi=100)
    f.suptitle(f"wastestream assessment {a.month} (table {table.version})", fontsize=14)
    cs = sorted(a.contractors)
    ax1.bar(cs, [a.contractors[c].score for c in cs], color="#2e7d32")
    ax1.set_ylim(0, table.base_score)
    ax1.set_title("score of the month")
    for c in cs:
        days = a.contractors[c].by_day(a.days)
        ax2.plot([d for d, *_ in days], [s for *_, s in days], label=c)
    ax2.set_title("running daily score")
    ax2.legend(fontsize=7)
    f.autofmt_xdate()
    meta = {"wastestream-assessment": json.dumps({c: a.contractors[c].score for c in cs})}
    f.savefig(path, format="png", metadata=meta)
    plt.close(f)


def _html(a: Assessment, table: DeductionTable, png_name: str) -> str:
    e = html.escape
    scores = "".join(
        f'<tr data-contractor="{e(c)}"><td>{e(c)}</td><td>{sc.base:g}</td><td>{sc.points:g}</td><td>{sc.money:,.2f}</td>'
        f'<td class="score">{sc.score:g}</td></tr>'
        for c, sc in sorted(a.contractors.items())
    )

    def link(x: str) -> str:
        if x.startswith("geo:"):
            lat, lon = x[4:].split(",")
            return f'<a href="https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}">{e(x)}</a>'
        return e(x)

    rows = "".join(
        f'<tr data-contractor="{e(c)}" data-status="{d.status}"><td>{e(c)}</td><td>{d.day}</td><td>{e(d.name)}</td>'
        f"<td>{e(d.subject)}</td><td>{d.points:g}</td><td>{d.money:,.2f}</td><td>{e(STATUS_NAMES[d.status])}</td>"
        f"<td>{e(d.note)}</td><td>{e(d.evidence)}</td><td>{link(d.link)}</td></tr>"
        for c, sc in sorted(a.contractors.items())
        for d in sc.deductions
    )
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>作业考核 {a.month}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .6em;text-align:left}}</style>
<h1>作业考核 Assessment {a.month}</h1>
<p>{e(table.name)} · version {e(table.version)} · base {table.base_score:g}</p>
<table id="scores"><tr><th>作业单位</th><th>base</th><th>扣分</th><th>罚款 {e(table.currency)}</th><th>得分</th></tr>{scores}</table>
<h2>扣分明细 Deductions and their evidence</h2>
<table id="deductions"><tr><th>作业单位</th><th>day</th><th>item</th><th>subject</th><th>points</th><th>money</th>
<th>status</th><th>note</th><th>evidence</th><th>link</th></tr>{rows}</table>
<img alt="scores" src="{e(png_name)}" style="max-width:100%">
</html>
"""


def run_assess(
    settings: Settings,
    city: City,
    table: DeductionTable,
    month: str,
    contractor: str | None,
    out_dir: Path,
    report: Callable[[str], None],
    write: bool = True,
) -> tuple[Assessment, list[Change], dict[str, tuple[float, float]], dict[str, Path]]:
    if contractor is not None and contractor not in {c.id for c in city.contractors}:
        raise WastestreamError(f"no contractor {contractor!r} in the city")
    report(f"assess {month}: reading the month's facts from InfluxDB")
    facts = gather_facts(settings, city, month)
    excuses = gather_excuses(settings, report)
    report(f"assess {month}: {len(facts)} facts, {len(excuses)} reasons reported")
    who = [contractor] if contractor else [c.id for c in city.contractors]
    a = assess(
        table,
        month,
        who,
        [f for f in facts if f.contractor in who],
        [x for x in excuses if x.contractor in who],
        city.timezone,
    )
    stem = f"assessment-{month}" + (f"-{contractor}" if contractor else "")
    previous = out_dir / f"{stem}.json"
    before = Assessment.from_json(json.loads(previous.read_text(encoding="utf-8"))) if previous.exists() else None
    moved, scores = changes(before, a) if before is not None else ([], {})
    paths = write_files(a, table, out_dir, stem)
    if before is not None:
        (out_dir / f"changes-{stem}.json").write_text(
            json.dumps(
                {
                    "scores": {c: {"before": b, "after": x} for c, (b, x) in scores.items()},
                    "deductions": [
                        {"contractor": m.contractor, "what": m.what, "key": m.key,
                         "before": m.before.to_json() if m.before else None,
                         "after": m.after.to_json() if m.after else None}
                        for m in moved
                    ],
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )  # fmt: skip
    if write:
        n = write_influx(settings, city, a)
        report(f"assess {month}: {n} records written to InfluxDB")
    return a, moved, scores, paths
