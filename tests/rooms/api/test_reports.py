"""通报 and the ledger on a judged history: rankings that add up to the scorecards, workbooks Excel reads in Chinese."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from support import SAMPLE_PACK
from support.data import AUTH, CASES, KEYS, RECORDS, REVOKED, counted, filled_sqlite

from api.app import create_api
from api.auth import Keyring
from approval_monitor.packs import load_directory, load_pack
from approval_monitor.settings import SAMPLE_DIRECTORY
from rules.agency import in_subtree
from rules.indicators import period_bounds
from rules.timeutil import format_instant, parse_instant
from store.sqlite import SqliteStore


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = filled_sqlite(tmp_path_factory.mktemp("reports") / "monitor.db", day_offset=8 * 3600)
    app = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5, 15, 30], utc_offset_hours=8,
                     directory=load_directory(SAMPLE_DIRECTORY))  # fmt: skip
    with TestClient(app) as c:
        yield c


def _in(period: str) -> list[dict]:
    since, until, _ = period_bounds(period, 8 * 3600)
    return [r for r in RECORDS if since <= parse_instant(r["at"]) < until and counted(r, REVOKED) and r["points"]]


def test_the_monthly_report_ranks_agencies_and_officials_on_figures_that_add_up(client: TestClient) -> None:
    body = client.get("/v1/reports/2026-03", headers=AUTH["sup"]).json()
    assert (body["period"], body["previous"], body["since"]) == ("2026-03", "2026-02", "2026-02-28T16:00:00Z")
    rows = {a["key"]: a for a in body["agencies"]}
    mine = _in("2026-03")
    assert rows["city"]["points"] == pytest.approx(sum(r["points"] for r in mine))
    city = rows["city"]  # durations against the limit: every completed step of the month with a limit
    assert 0 <= city["early_rate"] <= 1 and 0 < city["duration_avg"] <= city["duration_p95"]
    assert [a["rank"] for a in body["agencies"]] == list(range(1, len(rows) + 1))
    for a in body["agencies"]:
        assert a["points_per_100"] is None or a["points_per_100"] == pytest.approx(
            100 * a["points"] / a["steps_completed"], abs=1e-3
        )
    per_case: dict[str, float] = {}
    for r in mine:
        per_case[r["case_id"]] = per_case.get(r["case_id"], 0) + r["points"]
    worst = sorted(per_case.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(c["case_id"], c["points"]) for c in body["worst_cases"]] == worst
    assert body["officials"] and all(o["rank"] == i for i, o in enumerate(body["officials"], 1))


def test_a_scoped_key_gets_its_own_subtree_only(client: TestClient) -> None:
    body = client.get("/v1/reports/2026Q1", headers=AUTH["market"]).json()
    assert body["agencies"] and all(in_subtree(a["key"], "city/market") for a in body["agencies"])
    assert client.get("/v1/reports/2026Q1?agency=city/planning", headers=AUTH["market"]).status_code == 403


def test_the_report_as_a_workbook_and_as_csv_reads_back_in_chinese(client: TestClient) -> None:
    body = client.get("/v1/reports/2026-03", headers=AUTH["sup"]).json()
    res = client.get("/v1/reports/2026-03?format=xlsx", headers=AUTH["sup"])
    assert res.status_code == 200 and "filename*=UTF-8''" in res.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(res.content))
    assert book.sheetnames == ["部门排名", "人员排名", "问题办件"]
    rows = list(book["部门排名"].iter_rows(values_only=True))
    assert rows[0][:5] == ("名次", "部门编码", "部门", "扣分", "办结环节数")
    assert [(r[1], r[3]) for r in rows[1:]] == [(a["key"], a["points"]) for a in body["agencies"]]
    names = {r[1]: r[2] for r in rows[1:]}
    assert names["city/market/food"] == "市场监管局食品经营许可科" and names["city"] == "某市人民政府"
    officials = list(book["人员排名"].iter_rows(values_only=True))
    assert officials[0][:3] == ("名次", "经办人编码", "经办人") and all(r[2] for r in officials[1:])
    colours = {r[rows[0].index("五色")] for r in rows[1:]}
    assert colours <= {"绿", "蓝", "黄", "橙", "红"}
    cases = list(book["问题办件"].iter_rows(values_only=True))
    assert [c[0] for c in cases[1:]] == [c["case_id"] for c in body["worst_cases"]]
    raw = client.get("/v1/reports/2026-03?format=csv", headers=AUTH["sup"]).content
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["名次", "部门编码", "部门"] and len(table) == len(body["agencies"]) + 1


def test_a_bad_period_is_named_in_chinese(client: TestClient) -> None:
    res = client.get("/v1/reports/2026-3", headers=AUTH["sup"])
    assert res.status_code == 422 and "报告期" in res.json()["detail"] and "2026Q4" in res.json()["detail"]


def test_the_ledger_runs_to_the_scorecards_total_and_names_each_standing(client: TestClient) -> None:
    span = "since=2026-03-01T00:00:00Z&until=2026-03-15T00:00:00Z"
    book = client.get(f"/v1/ledger?{span}&agency=city/market", headers=AUTH["sup"]).json()
    cards = client.get(f"/v1/scorecards/agencies?{span}&agency=city/market", headers=AUTH["sup"]).json()
    assert book["total_points"] == pytest.approx(sum(c["points"] for c in cards))
    assert [r["at"] for r in book["items"]] == sorted(r["at"] for r in book["items"])
    revoked = [r for r in book["items"] if r["standing"] == "revoked"]
    assert revoked and all(r["counted_points"] == 0 and r["withdrawn_by"] == REVOKED[r["id"]] for r in revoked)
    assert all(in_subtree(r["agency_id"], "city/market") for r in book["items"])
    text = client.get(f"/v1/ledger?{span}&agency=city/market&format=csv", headers=AUTH["sup"]).content.decode(
        "utf-8-sig"
    )
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == len(book["items"]) and {r["状态"] for r in table} >= {"有效", "已撤销（事实更正）"}
    first = book["items"][0]
    assert table[0]["时间"] == format_instant(parse_instant(first["at"]) + 8 * 3600)[:19].replace("T", " ")


def test_scorecards_export_as_workbooks(client: TestClient) -> None:
    span = "since=2026-03-01T00:00:00Z&until=2026-04-01T00:00:00Z"
    cards = client.get(f"/v1/scorecards/handlers?{span}", headers=AUTH["sup"]).json()
    res = client.get(f"/v1/scorecards/handlers?{span}&format=xlsx", headers=AUTH["sup"])
    rows = list(openpyxl.load_workbook(io.BytesIO(res.content))["经办人评分"].iter_rows(values_only=True))
    assert rows[0] == ("经办人", "扣分", "办结环节数", "按时办结", "按时率", "五色")
    assert [(r[0], r[1]) for r in rows[1:]] == [(c["key"], c["points"]) for c in cards]


def test_filters_take_local_dates_and_times_as_supervisors_type_them(client: TestClient) -> None:
    local = client.get("/v1/ledger?since=2026-03-01&until=2026-03-14 12:30", headers=AUTH["sup"]).json()
    utc = client.get("/v1/ledger?since=2026-02-28T16:00:00Z&until=2026-03-14T04:30:00Z", headers=AUTH["sup"]).json()
    assert local["items"] and local["items"] == utc["items"]
    res = client.get("/v1/records?since=2026-02-30", headers=AUTH["sup"])
    assert res.status_code == 422 and "不是有效日期" in res.json()["detail"]
    res = client.get("/v1/records?since=yesterday", headers=AUTH["sup"])
    assert res.status_code == 422 and "2026-11-22 09:30" in res.json()["detail"]


def test_the_directory_names_what_a_key_may_see(client: TestClient) -> None:
    everything = client.get("/v1/directory", headers=AUTH["sup"]).json()
    assert (
        everything["agencies"]["city/registry/north"] == "不动产登记中心北区所"
        and "hall-2-3" in everything["officials"]
    )
    market = client.get("/v1/directory", headers=AUTH["market"]).json()
    assert set(market["agencies"]) == {"city", "city/market", "city/market/registration",
                                       "city/market/registration/hall-2", "city/market/food"}  # fmt: skip
    assert "hall-2-3" in market["officials"] and "east-1" not in market["officials"]
    text = client.get("/v1/records?format=csv&agency=city/market/food", headers=AUTH["sup"]).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert (
        rows
        and {r["部门"] for r in rows} == {"市场监管局食品经营许可科"}
        and all(r["经办人"] for r in rows if r["经办人编码"])
    )


def test_at_risk_shows_time_left_in_working_time_and_the_share_used(tmp_path: Path) -> None:
    """An open step due in 2 working hours of a 3.5-hour limit, in a paused case: 43% used, marked paused."""
    store = SqliteStore(tmp_path / "m.db")
    now = int(time.time())
    pack = load_pack(SAMPLE_PACK)
    cal = pack.items["construction-permit"].calendar
    deadline = cal.after(now, 2 * 3600)
    step = {**CASES[0]["steps"][0], "completed_at": None, "deadline": format_instant(deadline)}
    case = {**CASES[0], "case_id": "RISK-1", "completed_at": None, "deadline": None,
            "suspended_since": "2026-01-01T00:00:00Z", "steps": [step]}  # fmt: skip
    asyncio.run(store.put_cases([case]))
    app = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5, 15, 30], pack=pack)
    with TestClient(app) as c:
        (item,) = c.get("/v1/at-risk", headers=AUTH["sup"]).json()["items"]
    assert (item["case_id"], item["step"], item["paused"]) == ("RISK-1", "accept", True)
    assert item["left_working_seconds"] == 2 * 3600 and item["used_share"] == round(1 - 7200 / 12600, 4)
    assert abs(item["left_seconds"] - (deadline - now)) <= 2  # the wall clock moved on a little meanwhile
