"""督办 and appeals through the real pipeline: API → actions topic → worker → records → sink → store → API.

An order unanswered past its due time escalates exactly once, on the second it
fell due, across a SIGKILL of the worker just before it; a reply in time prevents
it; an upheld appeal withdraws the appealed record's points from the scorecards
on both stores; every action is refused for the wrong role and out of scope.
"""

from __future__ import annotations

import io
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from support.data import AUTH, KEYS
from support.live import Feed, Names, Worker, read_topic

from api.app import create_api
from api.auth import ApiKey, Keyring, hash_key
from approval_monitor.packs import load_pack
from rules.timeutil import format_instant, parse_instant
from store.elastic import ElasticStore
from store.sqlite import SqliteStore
from streams.action_log import ActionLog
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka

PACK = """
version: 2
penalties: {overdue: 2, escalation: 5}
appeal_days: 2
items:
  - code: quick
    steps: [{name: accept, limit_hours: 0.001}]
"""
LAND = ApiKey(name="land bureau", sha256=hash_key("land-key"), role="agency", scope="city/land")
LAND_SUP = ApiKey(name="land inspector", sha256=hash_key("landsup-key"), role="supervisor", scope="city/land")
HEADERS = {**AUTH, "land": {"Authorization": "Bearer land-key"}, "landsup": {"Authorization": "Bearer landsup-key"}}
DUE_HOURS = 0.008  # 28.8 s


class _NotYet(Exception):
    """The store answered 503 (an index the sink has just created, its shard still starting): ask again."""


def _until(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = probe()
        except _NotYet:
            got = None
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout}s")


@pytest.mark.parametrize("backend", ["sqlite", "elasticsearch"])
def test_orders_escalate_once_across_a_kill_and_an_upheld_appeal_cancels_the_points(
    kafka_bootstrap: str, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    pack_path = tmp_path / "pack.yaml"
    pack_path.write_text(PACK)
    names = Names(partitions=2)
    if backend == "sqlite":
        url, prefix = f"sqlite:///{tmp_path / 'monitor.db'}", ""
        store: Any = SqliteStore(tmp_path / "monitor.db")
    else:
        url, prefix = request.getfixturevalue("elastic_url"), f"wf{uuid.uuid4().hex[:8]}"
        store = ElasticStore(url, prefix=prefix)
    env = {**names.env(kafka_bootstrap, pack_path), "APPROVAL_MONITOR_STORE_URL": url,
           "APPROVAL_MONITOR_STORE_PREFIX": prefix}  # fmt: skip
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = Worker(env, tmp_path / "sink.log").start("sink")
    emitter = Emitter(kafka_bootstrap, names.events)
    api = create_api(store, Keyring([*KEYS.values(), LAND, LAND_SUP]), bands=[0, 5, 15, 30], emitter=emitter,
                     actions=ActionLog(emitter.producer, names.actions), pack=load_pack(pack_path))  # fmt: skip
    try:
        worker.wait_ready()
        feed = Feed(kafka_bootstrap, names.events)
        an_hour_ago = time.time() - 3600
        for case in ("A", "B"):
            feed.send(case, "case_submitted", at=an_hour_ago, item_code="quick", agency_id="city/market/hall")
            feed.send(case, "step_started", at=an_hour_ago, step="accept", handler_id=f"h-{case}")
        with TestClient(api) as client:

            def get(path: str, who: str = "sup") -> Any:
                res = client.get(path, headers=HEADERS[who])
                if res.status_code == 503:  # a 503 problem to retry; outside ``_until`` it fails the test
                    raise _NotYet(res.text)
                assert res.status_code == 200, res.text
                return res.json()

            def post(path: str, body: dict[str, Any], who: str, status: int = 202) -> Any:
                res = client.post(path, json=body, headers=HEADERS[who])
                assert res.status_code == status, (path, who, res.text)
                return res.json()

            overdue = {}
            for case in ("A", "B"):
                found = _until(
                    f"overdue of {case}", lambda c=case: get(f"/v1/records?kind=overdue&case_id={c}")["items"]
                )
                overdue[case] = found[0]

            # Roles and scopes: only supervisors order, only the addressed agency replies.
            order_body = {"record_id": overdue["A"]["id"], "due_hours": DUE_HOURS, "note": "请说明超时原因"}
            assert post("/v1/supervisions", order_body, "market", 403)["status"] == 403
            assert "due_hours" in post("/v1/supervisions", {"record_id": overdue["A"]["id"]}, "sup", 422)["detail"]
            a = post("/v1/supervisions", order_body, "sup")
            b = post("/v1/supervisions", {**order_body, "record_id": overdue["B"]["id"]}, "sup")
            due_a = parse_instant(a["due"])
            assert due_a == parse_instant(a["at"]) + round(DUE_HOURS * 3600)
            _until("the orders indexed", lambda: len(get("/v1/supervisions?status=open")["items"]) == 2)
            post(f"/v1/supervisions/{b['id']}/reply", {"note": "已办结"}, "land", 404)
            post(f"/v1/supervisions/{b['id']}/reply", {"note": "已办结"}, "sup", 403)
            post(f"/v1/supervisions/{a['id']}/review", {"outcome": "accept"}, "sup", 409)
            post(f"/v1/supervisions/{a['id']}/review", {"outcome": "accept"}, "market", 403)  # not an agency's
            post(f"/v1/supervisions/{b['id']}/reply", {"note": "已办结，系统故障所致"}, "market")
            _until("B replied", lambda: get(f"/v1/supervisions/{b['id']}")["status"] == "replied")

            # The worker dies just before A falls due and comes straight back.
            time.sleep(max(0.0, due_a - 3 - time.time()))
            ready = worker.ready_count()
            worker.kill(signal.SIGKILL)
            worker.start()
            worker.wait_ready(after=ready)

            escalated = _until("A escalated", lambda: get("/v1/records?kind=escalation")["items"], timeout=90)
            time.sleep(5)  # time for a second one, if there were to be one
            raised = [(r, ts) for r, _, ts in read_topic(kafka_bootstrap, names.records) if r["kind"] == "escalation"]
            assert {r["id"] for r, _ in raised} == {escalated[0]["id"]}, raised  # once, for A only
            esc = escalated[0]
            assert (esc["case_id"], esc["at"], esc["points"], esc["order_id"]) == ("A", a["due"], 5, a["id"])
            assert all(ts / 1000 - due_a < 20 for _, ts in raised), "raised long after it fell due"
            order_a = _until("A shown escalated", lambda: (d := get(f"/v1/supervisions/{a['id']}"))["escalated"] and d)
            assert order_a["status"] == "open" and [h["what"] for h in order_a["history"]] == [
                "supervise",
                "escalation",
            ]
            assert [o["id"] for o in get("/v1/supervisions?overdue=true")["items"]] == [a["id"]]
            assert get("/v1/supervisions", "land")["items"] == []  # out of scope: nothing

            # An appeal upheld withdraws the record's points from every scorecard.
            span = f"since={format_instant(int(an_hour_ago) - 60)}&until={format_instant(int(time.time()) + 3600)}"

            def points() -> float:
                cards = get(f"/v1/scorecards/agencies?{span}")
                return sum(c["points"] for c in cards)

            assert _until("the escalation counted", lambda: points() == 2 + 2 + 5)
            appeal_body = {"record_id": overdue["B"]["id"], "reason": "系统故障", "evidence": ["https://x.example/1"]}
            post("/v1/appeals", appeal_body, "sup", 403)
            post("/v1/appeals", appeal_body, "land", 404)
            post("/v1/appeals", {**appeal_body, "evidence": ["file:///etc/passwd"]}, "market", 422)
            ap = post("/v1/appeals", appeal_body, "market")
            _until("the appeal indexed", lambda: get(f"/v1/appeals?record_id={overdue['B']['id']}")["items"])
            post("/v1/appeals", appeal_body, "market", 409)
            post(f"/v1/appeals/{ap['id']}/decision", {"outcome": "upheld"}, "market", 403)
            # A supervisor of another subtree can neither see nor act on any of it.
            post(f"/v1/appeals/{ap['id']}/decision", {"outcome": "upheld"}, "landsup", 404)
            post(f"/v1/supervisions/{b['id']}/review", {"outcome": "accept"}, "landsup", 404)
            post("/v1/supervisions", order_body, "landsup", 404)
            post(f"/v1/records/{overdue['A']['id']}/ack", {}, "landsup", 404)
            post(f"/v1/appeals/{ap['id']}/decision", {"outcome": "upheld", "note": "情况属实"}, "sup")
            assert _until("the points cancelled", lambda: points() == 2 + 5)
            (adj,) = _until("the adjustment", lambda: get("/v1/records?kind=adjustment")["items"])
            assert adj["revokes"] == overdue["B"]["id"] and adj["appeal_id"] == ap["id"]
            timeline = get("/v1/cases/B")
            kinds = [r["kind"] for r in timeline["records"]]
            assert {"supervision", "reply", "appeal", "decision", "adjustment"} <= set(kinds)
            assert next(r for r in timeline["records"] if r["id"] == overdue["B"]["id"])["revoked_by"] == adj["id"]
            assert get(f"/v1/appeals/{ap['id']}")["status"] == "upheld"

            # The ledger: each record's standing and the running total, the same in JSON and in a workbook.
            book = get(f"/v1/ledger?{span}")
            standing = {(r["case_id"], r["kind"]): r["standing"] for r in book["items"]}
            assert standing == {("A", "overdue"): "escalated", ("B", "overdue"): "cancelled",
                                ("A", "escalation"): "stands"}  # fmt: skip
            assert book["total_points"] == 7 and book["items"][-1]["running_total"] == 7
            res = client.get(f"/v1/ledger?{span}&format=xlsx", headers=HEADERS["sup"])
            sheet = openpyxl.load_workbook(io.BytesIO(res.content)).active
            assert sheet is not None
            rows = list(sheet.iter_rows(values_only=True))
            assert rows[0][:3] == ("时间", "类型", "办件编号") and len(rows) == 4
            assert {r[7] for r in rows[1:]} == {"有效", "有效（督办逾期已升级）", "已核销（申诉成立）"}
            assert [r[9] for r in rows[1:]][-1] == 7
            # …and from the month's 通报: the agency's points and its rank row, on this store too.
            local = [time.gmtime(parse_instant(r["at"]) + 8 * 3600) for r in (esc, overdue["A"])]
            months = {time.strftime("%Y-%m", t) for t in local}
            if len(months) == 1:  # (not across a month's end in Beijing, which would split the records)
                report = {a["key"]: a for a in get(f"/v1/reports/{months.pop()}")["agencies"]}
                assert report["city/market/hall"]["points"] == 7 and report["city"]["red_cards"] == 2

            # Acknowledging an alarm: once, by a supervisor.
            post(f"/v1/records/{overdue['A']['id']}/ack", {"note": "已约谈"}, "market", 403)
            post(f"/v1/records/{overdue['A']['id']}/ack", {"note": "已约谈"}, "sup")
            _until("the ack shown", lambda: overdue["A"]["id"] in get("/v1/cases/A").get("acks", {}))
            post(f"/v1/records/{overdue['A']['id']}/ack", {}, "sup", 409)
            # The overdue list tells handled alarms (已处理) from those still waiting (未处理).
            handled = _until("A handled", lambda: get("/v1/overdue?handled=true")["items"])
            assert [(o["case_id"], o["step"], o["handled"]) for o in handled] == [("A", "accept", True)]
            assert [o["case_id"] for o in get("/v1/overdue?handled=false")["items"]] == ["B"]
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)
        emitter.close()
