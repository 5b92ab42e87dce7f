"""An agency system that cannot speak Kafka, end to end: events in through ``POST /v1/events``, judged by
the worker, indexed by the sink, and read back through the API — and what the API says equals replay.

The history lies months in the past, so every level instant of every clock has
passed: the live pipeline raises each record as the events arrive, and the
answers are fixed — replay as of now must give the same records, timelines and
overdue list.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from support import ROOT, SAMPLE_PACK
from support.data import AUTH, KEYS
from support.live import Names, Worker, past_history, wait_judged

from api.app import create_api
from api.auth import Keyring
from approval_monitor.packs import load_pack
from rules.engine import Engine
from rules.events import Event, parse_line
from rules.records import Record
from rules.replay import Replayer
from rules.timeutil import format_instant
from rules.views import case_document
from store.elastic import ElasticStore
from store.sqlite import SqliteStore
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka


def _replayed(objs: list[dict[str, Any]], now: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    pack = load_pack(SAMPLE_PACK)
    events = [got for i, o in enumerate(objs) if isinstance(got := parse_line(orjson.dumps(o), i), Event)]
    records: list[dict[str, Any]] = []
    rp = Replayer(Engine(pack), lambda o: records.append(o.to_json()) if isinstance(o, Record) else None, 10**9)
    rp.run(events, now)
    docs = {cid: d for cid, st in rp.cases.items() if (d := case_document(st, now)) is not None}
    return records, docs


def _content(r: dict[str, Any]) -> tuple[Any, ...]:
    """A record without its id: a re-raise after a revocation carries a new id for the same content."""
    return (r["case_id"], r["kind"], r["step"] or "", r["at"], r["points"])


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "approval_monitor", "verify"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def _pages(client: TestClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        res = client.get(path + (f"{sep}cursor={cursor}" if cursor else ""), headers=AUTH["sup"])
        assert res.status_code == 200, res.text
        body = res.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


@pytest.mark.parametrize("backend", ["sqlite", "elasticsearch"])
def test_events_posted_over_http_come_back_as_records_timelines_and_the_overdue_list_replay_gives(
    kafka_bootstrap: str, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    now = int(time.time())
    objs = past_history(now)
    names = Names(partitions=4)
    if backend == "sqlite":
        url, prefix = f"sqlite:///{tmp_path / 'monitor.db'}", ""
        store: Any = SqliteStore(tmp_path / "monitor.db")
    else:
        url, prefix = request.getfixturevalue("elastic_url"), f"e2e{uuid.uuid4().hex[:8]}"
        store = ElasticStore(url, prefix=prefix)
    env = {**names.env(kafka_bootstrap, SAMPLE_PACK), "APPROVAL_MONITOR_STORE_URL": url,
           "APPROVAL_MONITOR_STORE_PREFIX": prefix, "APPROVAL_MONITOR_ANCHOR_SECONDS": "1"}  # fmt: skip
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = Worker(env, tmp_path / "sink.log").start("sink")
    api = create_api(store, Keyring(list(KEYS.values())), bands=[0, 5, 15, 30],
                     emitter=Emitter(kafka_bootstrap, names.events))  # fmt: skip
    try:
        worker.wait_ready()
        with TestClient(api) as client:
            half = len(objs) // 2
            for i in range(0, len(objs), 200):  # batches, as an agency system would send them
                if i >= half > i - 200:  # the first half judged (and its clocks fired) before the rest arrives:
                    wait_judged(kafka_bootstrap, names)  # the cases it cuts through must see revocations
                res = client.post("/v1/events", json=objs[i : i + 200], headers=AUTH["ingest"])
                assert res.status_code == 200 and all(r["ok"] for r in res.json()), res.text
            expected, docs = _replayed(objs, now)
            assert {r["kind"] for r in expected} >= {"overdue", "case_overdue"}
            deadline = time.monotonic() + 90
            got: list[dict[str, Any]] = []
            want = sorted(_content(r) for r in expected)
            while time.monotonic() < deadline:
                # Until the store holds exactly what replay says, net of revocations: a count alone would stop
                # while an alarm is indexed and the revocation a later event causes is not yet.
                got = _pages(client, "/v1/records?limit=500")
                revoked_ = {r["revokes"] for r in got if r["kind"] == "revocation"}
                if sorted(_content(r) for r in got if r["kind"] != "revocation" and r["id"] not in revoked_) == want:
                    break
                time.sleep(1)
            # Months late by the wall clock, each event lets the worker raise every level of the clocks it
            # leaves running, before the next event of the case arrives; that event then revokes what it
            # disproves (contract §6).  Net of revocations, live must say exactly what replay says.
            revocations = [r for r in got if r["kind"] == "revocation"]
            revoked = {r["revokes"] for r in revocations}
            assert revoked <= {r["id"] for r in got}, "a revocation names a record that was never raised"
            assert len(revoked) == len(revocations), "a record was revoked twice"
            net = sorted(_content(r) for r in got if r["kind"] != "revocation" and r["id"] not in revoked)
            assert net == sorted(_content(r) for r in expected), sink.tail()
            assert len({r["id"] for r in got}) == len(got)  # no duplicates
            assert revoked, "the history should make the live pipeline revoke something"
            assert {r["id"]: r.get("revoked_by") for r in got if r["id"] in revoked} == {
                r["revokes"]: r["id"] for r in revocations
            }

            # Scorecards and daily counts are net of revocations: what replay's records add up to.
            span = f"since=2000-01-01T00:00:00Z&until={format_instant(now + 86400)}"
            for by, field in (("agencies", "agency_id"), ("handlers", "handler_id")):
                want_points: dict[str, float] = {}
                for r in expected:
                    if r[field] is not None:
                        want_points[r[field]] = want_points.get(r[field], 0) + r["points"]
                cards = client.get(f"/v1/scorecards/{by}?{span}", headers=AUTH["sup"]).json()
                assert {c["key"]: c["points"] for c in cards if c["points"]} == {
                    k: v for k, v in want_points.items() if v
                }, by
            daily = client.get(f"/v1/stats/daily?{span}", headers=AUTH["sup"]).json()
            assert sum(d["count"] for d in daily) == len(expected)

            # The trail: every record the sink stored is chained, and the chains agree with the anchors.
            time.sleep(3)  # an anchor after the last write
            done = _verify(env)
            assert done.returncode == 0 and "trail verified" in done.stdout, done.stdout + done.stderr
            assert f"{len(got)} entries" in done.stdout and "0 anchors checked" not in done.stdout
            report = client.get("/v1/integrity", headers=AUTH["sup"]).json()
            assert report["ok"] and report["entries"] == len(got) and report["anchors_checked"] >= 1
            if backend == "sqlite":  # an overdue quietly turned into a reminder is named
                victim = next(r for r in got if r["kind"] == "overdue" and "revoked_by" not in r)
                with sqlite3.connect(tmp_path / "monitor.db") as db:
                    db.execute("UPDATE records SET kind = 'reminder', points = 0 WHERE id = ?", (victim["id"],))
                done = _verify(env)
                assert done.returncode == 1 and "edited" in done.stderr and victim["id"] in done.stderr, done.stderr
                assert client.get("/v1/integrity", headers=AUTH["sup"]).json()["ok"] is False

            # Records and case states reach the store by different topics: the store is eventually exact.
            case_id = next(r["case_id"] for r in expected if r["kind"] == "overdue")
            want = [(s["step"], s["deadline"], s["status"]) for s in docs[case_id]["steps"]]
            deadline = time.monotonic() + 60
            while True:
                timeline = client.get(f"/v1/cases/{case_id}", headers=AUTH["sup"]).json()
                steps = [(s["step"], s["deadline"], s["status"]) for s in timeline["steps"]]
                if steps == want or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert steps == want, sink.tail()
            assert {r["id"] for r in timeline["records"]} == {r["id"] for r in got if r["case_id"] == case_id}

            want_overdue = {(cid, s["step"]) for cid, d in docs.items() for s in d["steps"] if s["status"] == "overdue"}
            want_overdue |= {(cid, None) for cid, d in docs.items() if d["status"] == "overdue"}
            assert want_overdue, "the history should leave overdue work"
            deadline = time.monotonic() + 60
            while True:  # every case's latest document, as for the timeline above
                overdue = _pages(client, "/v1/overdue?limit=7")
                if {(o["case_id"], o["step"]) for o in overdue} == want_overdue or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert {(o["case_id"], o["step"]) for o in overdue} == want_overdue
            assert [o["overdue_seconds"] for o in overdue] == sorted(
                (o["overdue_seconds"] for o in overdue), reverse=True
            )
    finally:
        worker.kill(signal.SIGTERM)
        sink.kill(signal.SIGTERM)
