"""Pages in a real browser (Debian's Chromium, driven by Playwright), with the network closed to
everything but localhost, as on a bureau's intranet:

* the daily report a contractor gets instead of a Grafana login: its figures in the DOM equal the
  ground truth, and its map of the points, coloured by status, renders (inline SVG, no tiles);
* the weighbridge API's /docs: Swagger UI served from the fastapi-offline package renders the ticket
  endpoints.

Screenshots are kept under .wastestream-test/screenshots/ (the test output)."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wastestream.producers.sinks import MemorySink
from wastestream.producers.weighbridge import create_app
from wastestream.report import write_report

from .helpers import free_port
from .test_grafana_panels import DAY, filled  # noqa: F401 - the module's fixture: a day in InfluxDB

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / ".wastestream-test" / "screenshots"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package (see its log)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def offline_page(browser):  # noqa: ANN001
    """A page whose requests to anything but localhost / files are refused (and recorded)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = ctx.new_page()
    outside: list[str] = []

    def route(r):  # noqa: ANN001
        u = urlsplit(r.request.url)
        if u.scheme in ("file", "data") or u.hostname in ("127.0.0.1", "localhost"):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    return ctx, page, outside


def test_daily_report_renders_its_figures_and_map_offline(filled, browser, tmp_path):  # noqa: F811
    s, city, truth, _ = filled
    _, html_path, data = write_report(s, DAY, tmp_path, city=city)
    ctx, page, outside = offline_page(browser)
    page.goto(html_path.as_uri())
    page.wait_for_selector("#points-map circle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"report-{DAY}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # the figures the page shows, read from the rendered DOM
    assert page.inner_text("#tonnage") == f"{truth['tonnage_in_total_kg'] / 1000:,.3f}"
    shown = {
        row.get_attribute("data-contractor"): [c.inner_text() for c in row.query_selector_all("td")]
        for row in page.query_selector_all("#scorecard tr[data-contractor]")
    }
    by_contractor = Counter(v["contractor"] for v in truth["stops"].values())
    missed_by = Counter(v["contractor"] for v in truth["stops"].values() if v["status"] == "missed")
    assert {c: int(cells[1]) for c, cells in shown.items()} == dict(by_contractor)  # due
    assert {c: int(cells[4]) for c, cells in shown.items() if int(cells[4])} == dict(missed_by)
    missed = sorted(li.inner_text() for li in page.query_selector_all("#missed li"))
    assert missed == sorted(p for p, v in truth["stops"].items() if v["status"] == "missed")

    # the map: one circle per point, coloured by its status, drawn (a real box on the page)
    circles = page.query_selector_all("#points-map circle[data-point]")
    drawn = {c.get_attribute("data-point"): c.get_attribute("data-status") for c in circles}
    assert drawn == {p: v["status"] for p, v in truth["stops"].items()}
    fills = {c.get_attribute("data-status"): c.evaluate("e => getComputedStyle(e).fill") for c in circles}
    assert len(set(fills.values())) == len(fills) >= 3, fills  # a colour per status
    box = page.query_selector("#points-map").bounding_box()
    assert box and box["width"] > 600 and box["height"] > 400
    assert outside == []  # nothing asked of the internet
    assert shot.stat().st_size > 20_000

    # each missed point links its proof of service: no service, and how near its contractor's trucks came
    first = missed[0]
    page.click(f"#missed a:text-is('{first}')")
    page.wait_for_selector("#status")
    assert page.inner_text("#status") == "missed"
    assert "no service" in page.inner_text("#service")
    trucks = {v.id for v in city.vehicles if v.contractor_id == truth["stops"][first]["contractor"]}
    closest = [
        row.query_selector("td").inner_text()
        for row in page.query_selector_all("#closest tr")
        if row.query_selector("td")
    ]
    assert closest and set(closest) <= trucks
    page.screenshot(path=str(SHOTS / f"evidence-{first}-{DAY}.png"), full_page=True)
    assert outside == []
    ctx.close()


def test_weighbridge_docs_render_offline(filled, browser):  # noqa: F811
    import uvicorn

    _, city, _, _ = filled
    app = create_app(city, MemorySink(), {"docs-test-token": city.stations[0].id})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        ctx, page, outside = offline_page(browser)
        page.goto(f"http://127.0.0.1:{port}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = sorted({e.get_attribute("data-path") for e in page.query_selector_all(".opblock-summary-path")})
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "weighbridge-docs.png"), full_page=True)
        assert {"/v1/tickets", "/v1/tickets/csv"} <= set(paths), paths
        assert page.inner_text(".info .title").startswith("wastestream weighbridge API")
        assert outside == []
        ctx.close()
    finally:
        server.should_exit = True
        t.join(10)
