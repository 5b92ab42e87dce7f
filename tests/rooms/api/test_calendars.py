"""The calendars' cover, as the page reads it (rules.coverage)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient
from support import started
from support.data import AUTH, KEYS

from api.app import create_api
from api.auth import Keyring
from rules.engine import Engine
from rules.pack import parse_pack
from rules.timeutil import parse_instant
from rules.views import case_document
from store.sqlite import SqliteStore

PACK = """
version: 2
calendars:
  c: {timezone: Asia/Shanghai, work_windows: ["09:00-17:00"], holidays: ["2027-02-08"], covers: [2026, 2027],
      provisional: [2027]}
  bare: {timezone: UTC, work_windows: ["09:00-17:00"]}
items: [{code: x, calendar: c, limit_days: 20, steps: [{name: s, limit_days: 10}]}]
"""


def test_the_api_lists_each_calendars_cover_for_the_page(tmp_path: Path) -> None:
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5], pack=parse_pack(PACK))
    with TestClient(app) as client:
        got = client.get("/v1/calendars", headers=AUTH["sup"]).json()
    by_name = {c["calendar"]: c for c in got["calendars"]}
    assert by_name["c"]["covered_until"] == "2027-12-31" and by_name["c"]["provisional_years"] == [2027]
    assert by_name["bare"]["covered_until"] is None and by_name["bare"]["warning"]


def test_without_the_rule_pack_the_calendars_answer_503_as_a_problem(tmp_path: Path) -> None:
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5])
    with TestClient(app) as client:
        res = client.get("/v1/calendars", headers=AUTH["sup"])
    assert res.status_code == 503 and "APPROVAL_MONITOR_RULES" in res.json()["detail"]


def test_open_clocks_whose_deadline_lies_past_the_cover_are_listed(tmp_path: Path) -> None:
    pack = parse_pack(PACK)
    engine = Engine(pack)
    t = parse_instant("2027-12-24T10:00:00+08:00")  # ten working days later lies in 2028
    doc = case_document(started(engine, t, "LATE-1", agency="city/market/a"), t)
    assert doc is not None
    store = SqliteStore(tmp_path / "m.db")
    asyncio.run(store.put_cases([doc]))
    app = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5], pack=pack)
    with TestClient(app) as client:
        got = client.get("/v1/calendars", headers=AUTH["sup"]).json()
        elsewhere = client.get("/v1/calendars", headers=AUTH["ingest"])  # an ingest key reads nothing
    (c,) = [c for c in got["calendars"] if c["calendar"] == "c"]
    assert c["clocks_beyond_count"] == 2  # the step and the case
    assert {(o["case_id"], o["step"]) for o in c["clocks_beyond"]} == {("LATE-1", "s"), ("LATE-1", None)}
    assert elsewhere.status_code == 403
