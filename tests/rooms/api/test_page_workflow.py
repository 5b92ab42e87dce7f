"""The page drives the supervisors' work end to end, in Chromium, through the real pipeline: a supervisor orders a
督办 on an alarm, the agency replies and appeals the alarm, the supervisor upholds the appeal — and the points go."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.data import AUTH, KEYS
from support.live import Feed, Names, Worker, serving

from api.app import create_api
from api.auth import Keyring
from approval_monitor.packs import load_pack
from store.sqlite import SqliteStore
from streams.action_log import ActionLog
from streams.alerts import RecordFeed
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka

PACK = """
version: 2
penalties: {overdue: 2, escalation: 5}
items:
  - code: quick
    name: 快办事项
    steps: [{name: accept, limit_hours: 0.001}]
"""


def _chromium() -> str:
    import os

    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"no chromium at {path}: deploy/test.sh installs Debian's (deploy/test-tools.sh)")
    return path


def _wait(what: str, probe: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := probe():
            return got
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout}s")


def test_a_supervision_order_and_an_appeal_done_on_the_page(kafka_bootstrap: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    names = Names(partitions=2)
    db = tmp_path / "monitor.db"
    env = {**names.env(kafka_bootstrap, pack), "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{db}"}
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = Worker(env, tmp_path / "sink.log").start("sink")
    emitter = Emitter(kafka_bootstrap, names.events)
    feed = RecordFeed(kafka_bootstrap, names.records, poll_seconds=0.3)
    app = create_api(SqliteStore(db, day_offset=8 * 3600), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30],
                     emitter=emitter, actions=ActionLog(emitter.producer, names.actions), pack=load_pack(pack),
                     feed=feed, heartbeat_seconds=2)  # fmt: skip
    try:
        worker.wait_ready()
        events = Feed(kafka_bootstrap, names.events)
        events.send("W1", "case_submitted", at=time.time() - 3600, item_code="quick", agency_id="city/market/hall")
        events.send("W1", "step_started", at=time.time() - 3600, step="accept", handler_id="m-1")
        with serving(app) as url:

            def get(path: str) -> Any:
                return httpx.get(url + path, headers=AUTH["sup"]).json()

            (alarm,) = _wait("the overdue", lambda: get("/v1/records?kind=overdue")["items"])
            _wait("the case", lambda: get("/v1/overdue")["items"])
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url + "/")

                def sign_in(key: str) -> None:
                    if page.locator("#signout").is_visible():
                        page.click("#signout")
                    page.fill("#key", key)
                    page.click("#signin-go")
                    expect(page.locator("#status")).to_contain_text(re.compile("已更新|实时推送已连接"), timeout=20_000)

                def open_case() -> Any:
                    page.locator("#board tbody tr", has_text="W1").first.click()
                    expect(page.locator("#case-section")).to_be_visible()
                    return page.locator(f'#case-records li[data-record="{alarm["id"]}"]')

                def submit(note: str) -> None:
                    expect(page.locator("#act-dialog")).to_be_visible()
                    page.fill("#act-note", note)
                    page.click("#act-ok")

                # The supervisor orders a 督办 on the alarm, due in 2 working days.
                sign_in("sup-key")
                open_case().locator("button.supervise").click()
                page.fill("#act-due", "2")
                submit("请于两日内说明超时原因")
                expect(page.locator("#status")).to_contain_text("督办已提交")
                orders = page.locator("#orders tbody tr", has_text="W1")
                expect(orders).to_contain_text("待回告", timeout=30_000)

                # The agency replies, then appeals the alarm with a link to its evidence.
                sign_in("market-key")
                expect(open_case().locator("button.supervise")).to_have_count(0)  # not an agency's to order
                orders.locator("button.reply").click()
                submit("已办结，超时系系统故障")
                expect(orders).to_contain_text("待审核", timeout=30_000)
                open_case().locator("button.appeal").click()
                page.fill("#act-evidence", "https://example.org/outage-report.pdf")
                submit("系统故障导致无法受理")
                expect(page.locator("#status")).to_contain_text("申诉已提交")
                appeals = page.locator("#appeals tbody tr", has_text="W1")
                expect(appeals).to_contain_text("待复核", timeout=30_000)

                # The supervisor upholds the appeal: the alarm's points are cancelled.
                sign_in("sup-key")
                appeals.locator("button.decide").click()
                submit("故障情况属实")
                expect(appeals).to_contain_text("申诉成立", timeout=30_000)
                browser.close()
            (adj,) = _wait("the adjustment", lambda: get("/v1/records?kind=adjustment")["items"])
            assert adj["revokes"] == alarm["id"]
            assert get("/v1/records?case_id=W1&kind=overdue")["items"][0]["revoked_by"] == adj["id"]
            (order,) = get("/v1/supervisions")["items"]
            assert order["status"] == "replied" and [h["by"] for h in order["history"]] == [
                "supervisor",
                "market bureau",
            ]
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)
        emitter.close()
