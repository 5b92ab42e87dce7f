"""The supervisors' API over a real SQLite store: answers, scopes, problems."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.data import AUTH, CASES, KEYS, RECORDS, filled_sqlite

from api.app import create_api
from api.auth import Keyring, hash_key
from rules.agency import in_subtree
from rules.indicators import colour_for
from rules.records import KIND_TITLES
from store.sqlite import SqliteStore


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = filled_sqlite(tmp_path_factory.mktemp("api") / "monitor.db")
    app = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5, 15, 30])
    with TestClient(app) as c:
        yield c


ENDPOINTS = [
    "/v1/overdue",
    "/v1/records",
    f"/v1/cases/{CASES[0]['case_id']}",
    "/v1/scorecards/agencies?since=2026-03-01T00:00:00Z&until=2026-04-01T00:00:00Z",
    "/v1/scorecards/handlers?since=2026-03-01T00:00:00Z&until=2026-04-01T00:00:00Z",
    "/v1/stats/daily?since=2026-03-01T00:00:00Z&until=2026-04-01T00:00:00Z",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_refuses_missing_and_wrong_keys(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        res = client.get(path, headers=headers)
        assert res.status_code == 401
        assert res.headers["content-type"].startswith("application/problem+json")
        assert res.json()["status"] == 401 and "Authorization" in res.json()["detail"]
    assert client.get(path, headers=AUTH["ingest"]).status_code == 403  # an ingest key reads nothing
    assert client.get(path, headers=AUTH["sup"]).status_code == 200


def test_a_scoped_key_sees_only_its_subtree_everywhere(client: TestClient) -> None:
    everything = client.get("/v1/records?limit=1000", headers=AUTH["sup"]).json()["items"]
    mine = client.get("/v1/records?limit=1000", headers=AUTH["market"]).json()["items"]
    assert mine and len(mine) < len(everything)
    assert all(in_subtree(r["agency_id"], "city/market") for r in mine)
    assert client.get("/v1/records?agency=city/planning", headers=AUTH["market"]).status_code == 403
    export = client.get("/v1/records?format=csv", headers=AUTH["market"]).content
    assert export.startswith(b"\xef\xbb\xbf")  # a byte-order mark: Excel reads it as UTF-8
    titles = {v: k for k, v in KIND_TITLES.items()}
    rows = [
        {"id": r["记录编号"], "kind": titles[r["类型"]], "agency_id": r["部门编码"], "revokes": r["撤销或核销的记录"],
         "revoked_by": r["被撤销或核销于"], "at": r["时间"]}
        for r in csv.DictReader(io.StringIO(export.decode("utf-8-sig")))
    ]  # fmt: skip
    assert all(len(r["at"]) == 19 and "T" not in r["at"] for r in rows)  # local wall-clock time
    assert len(rows) == len([r for r in RECORDS if in_subtree(r["agency_id"], "city/market")])
    assert all(in_subtree(r["agency_id"], "city/market") for r in rows)
    overdue = client.get("/v1/overdue?limit=1000", headers=AUTH["market"]).json()["items"]
    assert all(in_subtree(o["agency_id"], "city/market") for o in overdue)
    cards = client.get(ENDPOINTS[3], headers=AUTH["market"]).json()
    assert cards and all(in_subtree(c["key"], "city/market") for c in cards)
    daily = client.get(ENDPOINTS[5], headers=AUTH["market"]).json()
    counted = [r for r in rows if r["kind"] != "revocation" and not r["revoked_by"]]  # revoked: shown, not counted
    assert len(counted) < len(rows) and {r["revoked_by"] for r in rows if r["revokes"]} == {""}
    assert {r["id"] for r in rows if r["revoked_by"]} == {r["revokes"] for r in rows if r["kind"] == "revocation"}
    assert sum(d["count"] for d in daily) == len(counted)
    other = next(c for c in CASES if not in_subtree(c["agency_id"], "city/market"))
    res = client.get(f"/v1/cases/{other['case_id']}", headers=AUTH["market"])
    assert res.status_code == 404  # not even its existence leaks


def test_records_page_with_cursors_and_filters(client: TestClient) -> None:
    seen, cursor = [], None
    while True:
        url = "/v1/records?kind=overdue&kind=case_overdue&limit=25" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=AUTH["sup"]).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in RECORDS if r["kind"] in ("overdue", "case_overdue"))
    bad = client.get("/v1/records?kind=late", headers=AUTH["sup"])
    assert bad.status_code == 422 and "late" in bad.json()["detail"]
    bad = client.get("/v1/records?since=yesterday", headers=AUTH["sup"])
    assert bad.status_code == 422 and "since" in bad.json()["detail"]
    bad = client.get("/v1/records?cursor=garbage!!", headers=AUTH["sup"])
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    # found by the fuzz run: a foreign cursor on an export must be refused before streaming starts
    for path in ("/v1/records?format=csv&cursor=0.1.0", "/v1/overdue?cursor=0.1.0"):
        bad = client.get(path, headers=AUTH["sup"])
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    # crafted cursors of the right encoding but the wrong shape: a 400 problem, never a 500 or an empty page
    for values in (
        [1e30, "x"],
        ["a", "b"],
        [2**70, "x"],
        [1, "x", 2],
        [1, "x", "y", "z"],
        [True, "x"],
        [None, None],
        {"a": 1},
        [],
    ):
        crafted = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
        for path in ("/v1/records", "/v1/overdue", "/v1/records?format=csv"):
            sep = "&" if "?" in path else "?"
            bad = client.get(f"{path}{sep}cursor={crafted}", headers=AUTH["sup"])
            assert bad.status_code == 400, (path, values, bad.status_code, bad.text[:200])


def test_case_timeline_and_scorecards(client: TestClient) -> None:
    case = CASES[0]
    body = client.get(f"/v1/cases/{case['case_id']}", headers=AUTH["sup"]).json()
    assert body["steps"] == case["steps"]
    assert {r["id"] for r in body["records"]} == {r["id"] for r in RECORDS if r["case_id"] == case["case_id"]}
    assert client.get("/v1/cases/none", headers=AUTH["sup"]).status_code == 404
    cards = client.get(ENDPOINTS[3], headers=AUTH["sup"]).json()
    for c in cards:
        assert c["colour"] == colour_for(c["points"], [0, 5, 15, 30])
        assert c["on_time_rate"] is None or 0 <= c["on_time_rate"] <= 1
    assert {c["colour"] for c in cards} - {"green"}, "the history should give some agency a worse colour"


def test_colour_bands() -> None:
    bands = [0, 5, 15, 30]
    assert [colour_for(p, bands) for p in (0, 3, 5, 6, 15, 29, 31)] == [
        "green",
        "blue",
        "blue",
        "yellow",
        "yellow",
        "orange",
        "red",
    ]


def test_health_readiness_metrics_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert "approval_api_requests_total" in metrics
    spec = client.get("/openapi.json").json()
    assert {"/v1/overdue", "/v1/records", "/v1/cases/{case_id}", "/v1/scorecards/agencies"} <= set(spec["paths"])


def test_readiness_fails_when_kafka_does_not_answer(tmp_path: Path) -> None:
    from approval_monitor.embedded import free_port
    from streams.emitter import Emitter

    dead = Emitter.__new__(Emitter)  # unit: only the probe is exercised, against a port nobody listens on
    dead.bootstrap_servers = f"127.0.0.1:{free_port()}"
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30], emitter=dead)
    with TestClient(app) as c:
        res = c.get("/readyz")
    assert res.status_code == 503
    assert "Kafka does not answer" in res.json()["detail"] and dead.bootstrap_servers in res.json()["detail"]


@pytest.mark.kafka
def test_http_ingest_sends_what_the_emitter_sends(kafka_bootstrap: str, tmp_path: Path) -> None:
    from support.live import Names, read_topic

    from streams.emitter import Emitter, encode

    names = Names(partitions=2)
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30],
                     emitter=Emitter(kafka_bootstrap, names.events))  # fmt: skip
    good = {
        "event_id": "h1",
        "case_id": "H1",
        "type": "case_submitted",
        "item_code": "business-licence",
        "agency_id": "city/market",
        "occurred_at": "2026-11-20T09:00:00+08:00",
    }
    bad = {"event_id": "h2", "case_id": "H1", "type": "teleported", "occurred_at": "2026-11-20T09:00:00+08:00"}
    scoped = KEYS["ingest"].model_copy(
        update={"name": "scoped", "sha256": hash_key("scoped-key"), "scope": "city/land"}
    )
    app_scoped = create_api(SqliteStore(tmp_path / "m.db"), Keyring([scoped]), bands=[0, 5, 15, 30],
                            emitter=Emitter(kafka_bootstrap, names.events))  # fmt: skip
    no_kafka = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30])
    with TestClient(app) as c:
        odd = {**bad, "type": ["case_submitted"]}  # a list where a name is expected: refused, never a 500
        res = c.post("/v1/events", json=[good, bad, odd], headers=AUTH["ingest"])
        assert res.status_code == 200
        ok, refused, odd_refused = res.json()
        assert ok["ok"] and isinstance(ok["offset"], int)
        assert not refused["ok"] and refused["code"] == "unknown_type" and "teleported" in refused["error"]
        assert not odd_refused["ok"] and odd_refused["code"] == "unknown_type"
        assert c.post("/v1/events", json=[good], headers=AUTH["sup"]).status_code == 403
    with TestClient(app_scoped) as c:  # a key for city/land cannot submit a case for city/market
        (res,) = c.post("/v1/events", json=[good], headers={"Authorization": "Bearer scoped-key"}).json()
        assert not res["ok"] and res["code"] == "out_of_scope"
    with TestClient(no_kafka) as c:
        assert c.post("/v1/events", json=[good], headers=AUTH["ingest"]).status_code == 503
        assert c.get("/readyz").json()["kafka"] == "not configured"
    with TestClient(app) as c:
        assert c.get("/readyz").json() == {"status": "ready", "store": "ok", "kafka": "ok"}
    ((msg, _, _),) = [m for m in read_topic(kafka_bootstrap, names.events)]
    assert msg == good
    with Emitter(kafka_bootstrap, names.events + ".b") as e:  # the Kafka path writes the very same bytes
        e.send(good)
    assert encode(good) == encode(read_topic(kafka_bootstrap, names.events + ".b")[0][0])


def test_a_store_that_does_not_answer_is_a_503_to_retry_not_a_crash() -> None:
    """Elasticsearch away (or an index whose shards are still starting): a problem the page can retry, in
    Chinese and English, with Retry-After — never an unhandled error."""
    from approval_monitor.embedded import free_port
    from store.elastic import ElasticStore

    store = ElasticStore(f"http://127.0.0.1:{free_port()}", prefix="nobody")  # nothing listens there
    app = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5, 15, 30])
    with TestClient(app) as c:
        for path in ("/v1/records", "/v1/overdue"):
            res = c.get(path, headers=AUTH["sup"])
            assert res.status_code == 503, res.text
            assert res.headers["content-type"] == "application/problem+json"
            assert res.headers["retry-after"] == "5" and "存储暂时无法应答" in res.json()["detail"]
