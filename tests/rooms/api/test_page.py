"""The supervisors' page in headless Chromium (Debian's, driven by Playwright) against the whole live stack:
events posted during the test show on the board, the live stream adds new alerts, the agency filter
narrows the board, and a row opens the case's timeline.  A screenshot of the board goes to docs/."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import SAMPLE_PACK
from support.data import AUTH, KEYS
from support.live import Names, Worker, past_history, serving

from api.app import create_api
from api.auth import Keyring
from approval_monitor.packs import load_directory
from approval_monitor.settings import SAMPLE_DIRECTORY
from rules.pack import parse_pack
from rules.timeutil import format_instant
from store.sqlite import SqliteStore
from streams.alerts import RecordFeed
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"no chromium at {path}: deploy/test.sh installs Debian's (deploy/test-tools.sh)")
    return path


def _late_case(case_id: str, now: int) -> list[dict[str, Any]]:
    """A licence case accepted a month ago and never finished: overdue the moment it is judged."""
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30 * 86400))
    base = {"case_id": case_id, "occurred_at": t}
    return [
        {**base, "event_id": f"{case_id}-1", "type": "case_submitted", "item_code": "business-licence",
         "agency_id": "city/market", "handler_id": "m-7"},
        {**base, "event_id": f"{case_id}-2", "type": "step_started", "step": "accept", "handler_id": "m-7"},
    ]  # fmt: skip


def test_the_page_shows_the_board_filters_by_agency_and_opens_a_timeline(kafka_bootstrap: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    now = int(time.time())
    names = Names(partitions=4)
    db = tmp_path / "monitor.db"
    env = {**names.env(kafka_bootstrap, SAMPLE_PACK), "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{db}"}
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = Worker(env, tmp_path / "sink.log").start("sink")
    app = create_api(SqliteStore(db, day_offset=8 * 3600), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30],
                     emitter=Emitter(kafka_bootstrap, names.events),
                     feed=RecordFeed(kafka_bootstrap, names.records, poll_seconds=0.3),
                     heartbeat_seconds=2, pack=parse_pack(SAMPLE_PACK.read_text(), str(SAMPLE_PACK)),
                     directory=load_directory(SAMPLE_DIRECTORY))  # fmt: skip
    names = load_directory(SAMPLE_DIRECTORY)
    try:
        worker.wait_ready()
        with serving(app) as url:
            history = past_history(now)
            res = httpx.post(f"{url}/v1/events", json=history, headers=AUTH["ingest"], timeout=60)
            assert res.status_code == 200 and all(r["ok"] for r in res.json())
            deadline = time.monotonic() + 90
            overdue: list[dict[str, Any]] = []
            while time.monotonic() < deadline and not overdue:
                overdue = httpx.get(f"{url}/v1/overdue?limit=200", headers=AUTH["sup"]).json()["items"]
                time.sleep(0.5)
            assert overdue, sink.tail()
            time.sleep(2)  # the sink's last documents
            overdue = httpx.get(f"{url}/v1/overdue?limit=200", headers=AUTH["sup"]).json()["items"]
            agencies = sorted({o["agency_id"] for o in overdue})

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url + "/?period=365")  # the history lies months back; filters live in the URL
                expect(page.locator("h1")).to_have_text("行政审批电子监察")
                expect(page.locator("#status")).to_contain_text("请输入密钥登录")
                page.fill("#key", "sup-key")
                page.click("#signin-go")
                expect(page.locator("#who")).to_contain_text("supervisor（监察员）")
                assert page.evaluate("document.cookie") == ""  # the session cookie is HTTP-only: no script reads it
                assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
                board = page.locator("#board tbody tr")
                expect(board).to_have_count(len(overdue), timeout=20_000)
                expect(page.locator("#board tbody")).to_contain_text(overdue[0]["case_id"])
                expect(page.locator("#board .level.overdue, #board .level.case_overdue").first).to_be_visible()
                expect(page.locator("#agency-cards tbody tr").first).to_be_visible()
                expect(page.locator("#agency-cards .chip").first).to_have_text(re.compile("[绿蓝黄橙红]"))
                expect(page.locator("#chart svg").first).to_be_attached()  # Apache ECharts, bundled
                expect(page.locator("#chart text", has_text=re.compile(r"\d{4}-\d\d-\d\d")).first).to_be_attached()
                expect(page.locator("#kpi-overdue")).to_have_text(str(len(overdue)))
                expect(page.locator("#status")).to_contain_text("实时推送已连接", timeout=20_000)
                # The sample calendar lists 2027 provisionally: the banner says so, in Chinese, with the fix.
                expect(page.locator("#notices")).to_contain_text("2027 年节假日为暂定")

                # A case sent now, a month late: the stream brings its alarm to the open page.
                res = httpx.post(f"{url}/v1/events", json=_late_case("LIVE-1", now), headers=AUTH["ingest"])
                assert res.status_code == 200 and all(r["ok"] for r in res.json())
                expect(page.locator("#alerts")).to_contain_text("LIVE-1", timeout=30_000)
                alert = page.locator("#alerts li", has_text="LIVE-1").first.inner_text()
                assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", alert) and "Z" not in alert  # Beijing time
                expect(page.locator("#alerts li", has_text="LIVE-1").locator(".level.overdue")).to_be_visible()
                ROOT.joinpath("docs").mkdir(exist_ok=True)
                page.screenshot(path=str(ROOT / "docs" / "board.png"), full_page=True)

                # Filter by one agency: every row on the board is in its subtree.
                one = agencies[0]
                page.fill("#agency", one)
                page.click("#apply")
                want = [o for o in overdue if o["agency_id"] == one or o["agency_id"].startswith(one + "/")]
                expect(board).to_have_count(len(want), timeout=20_000)
                for tr in board.all():  # names are shown, the code is on hover
                    code = tr.locator("td").nth(3).get_attribute("title") or ""
                    assert code == one or code.startswith(one + "/")
                    expect(tr.locator("td").nth(3)).to_have_text(names.agency(code) or code)

                # The agency picker offers the tree the key may see, by name.
                options = page.locator("#agency-tree option")
                assert options.count() == len(names.visible(None)["agencies"])
                assert "市场监管局食品经营许可科" in (
                    page.locator('#agency-tree option[value="city/market/food"]').get_attribute("label") or ""
                )

                # A row opens the case's timeline with its steps.
                board.first.click()
                expect(page.locator("#case-section")).to_be_visible()
                case_id = page.locator("#board tbody tr").first.get_attribute("data-case")
                expect(page.locator("#case-title")).to_contain_text(case_id or "?")
                expect(page.locator("#case-steps tbody tr").first).to_be_visible()

                # A scorecard row drills down to the records behind it.
                page.fill("#agency", "")
                page.click("#apply")
                span = f"since={format_instant(now - 365 * 86400)}&until={format_instant(now + 3600)}"
                cards = httpx.get(f"{url}/v1/scorecards/agencies?{span}", headers=AUTH["sup"]).json()
                key = sorted(cards, key=lambda c: -c["points"])[0]["key"]  # the page lists the worst first
                row = page.locator("#agency-cards tbody tr").first
                name = names.agency(key) or key
                assert name != key, "the sample directory names every simulated agency"
                expect(row.locator("td").first).to_have_text(name, timeout=20_000)
                row.click()
                expect(page.locator("#drill-section")).to_be_visible()
                expect(page.locator("#drill tbody tr").first).to_contain_text(name)

                # A wrong key clears what the last one showed and stops the stream.
                page.click("#signout")
                expect(page.locator("#status")).to_contain_text("已退出登录")
                expect(board).to_have_count(0)
                page.reload()
                expect(page.locator("#signin")).to_be_visible()
                expect(page.locator("#status")).to_contain_text("请输入密钥登录")
                page.fill("#key", "sup-key")
                page.click("#signin-go")
                expect(board.first).to_be_visible(timeout=20_000)
                page.evaluate("signIn('not-a-key')")  # a wrong key, as a second sign-in on the same page
                expect(page.locator("#status")).to_contain_text("密钥无效")
                expect(board).to_have_count(0)
                expect(page.locator("#alerts li")).to_have_count(0)
                expect(page.locator("#kpi-overdue")).to_have_text("—")

                # A leader's phone: no sideways scrolling, the key figures first, rows as cards.
                phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
                phone.goto(url + "/?period=365")
                phone.fill("#key", "sup-key")
                phone.click("#signin-go")
                expect(phone.locator("#board tbody tr").first).to_be_visible(timeout=20_000)
                expect(phone.locator("#kpi-overdue")).not_to_have_text("—")
                assert phone.evaluate("document.documentElement.scrollWidth") <= 390
                kpis, alerts, board_box = (phone.locator(s).bounding_box() for s in
                                           ("#kpis", "#alerts-section", "#board-section"))  # fmt: skip
                assert kpis and alerts and board_box and kpis["y"] < alerts["y"] < board_box["y"]
                assert phone.locator("#board tbody td").first.evaluate("e => getComputedStyle(e).display") == "flex"
                phone.screenshot(path=str(ROOT / "docs" / "board-phone.png"), full_page=False)

                # The API's docs with every request to another host refused: they need no network.
                page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
                page.goto(url + "/docs")
                expect(page.locator(".swagger-ui .info .title")).to_contain_text("approval-monitor", timeout=20_000)
                expect(page.locator(".swagger-ui .authorize")).to_be_visible()
                browser.close()
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)
