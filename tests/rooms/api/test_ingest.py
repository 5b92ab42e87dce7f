"""The HTTP ingest never answers 5xx: hostile bodies are refused whole or per event, and refused events are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.data import AUTH, KEYS
from support.live import Names, read_topic

from api.app import create_api
from api.auth import Keyring
from rules.events import raw_bytes
from store.sqlite import SqliteStore
from streams.emitter import Emitter

pytestmark = pytest.mark.kafka

GOOD = {"event_id": "g1", "case_id": "G1", "type": "case_submitted", "item_code": "business-licence",
        "agency_id": "city/market", "occurred_at": "2026-11-20T09:00:00+08:00"}  # fmt: skip


def test_hostile_bodies_get_problems_and_refused_events_are_kept(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=2)
    emitter = Emitter(kafka_bootstrap, names.events, rejected_topic=names.rejected, max_event_bytes=65536)
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5, 15, 30],
                     emitter=emitter, max_body_bytes=512 * 1024)  # fmt: skip
    headers = {**AUTH["ingest"], "Content-Type": "application/json"}
    with TestClient(app) as c:
        # whole bodies: too large (declared or streamed), not JSON, a lone surrogate, not an array, too many
        big = b"[" + b" " * (600 * 1024) + b"]"
        assert c.post("/v1/events", content=big, headers=headers).status_code == 413
        chunks = (b" " * 65536 for _ in range(10))  # no Content-Length: counted as it streams
        assert c.post("/v1/events", content=chunks, headers=headers).status_code == 413
        for body, status in ((b"[{", 400), (b'[{"a": "\\ud800"}]', 400), (b'{"a": 1}', 400),
                             (b"[" + b",".join([b"{}"] * 1001) + b"]", 400)):  # fmt: skip
            res = c.post("/v1/events", content=body, headers=headers)
            assert res.status_code == status, (body[:40], res.text)
            assert res.headers["content-type"].startswith("application/problem+json") and res.json()["detail"]
        # per event: the good one is sent, each bad one refused with its reason; nothing is a 5xx
        deep: object = "x"
        for _ in range(40):
            deep = {"d": deep}
        batch = [GOOD, {**GOOD, "event_id": "g2", "note": "x" * 70_000}, {**GOOD, "event_id": "g3", "extra": deep},
                 {"event_id": "g5", "type": "teleported"}]  # fmt: skip
        res = c.post("/v1/events", json=batch, headers=AUTH["ingest"])
        assert res.status_code == 200, res.text
        got = res.json()
        assert [(r["ok"], r["code"]) for r in got] == [(True, None), (False, "too_large"), (False, "too_deep"),
                                                      (False, "missing_field")]  # fmt: skip
        # an integer beyond 64 bits is read as a number, as every JSON reader here reads it: no 500
        huge_int = (
            b'[{"event_id": "g6", "case_id": "G6", "type": "case_submitted", "item_code": "x", '
            b'"agency_id": "city/market", "occurred_at": "2026-11-20T09:00:00Z", "n": 1' + b"0" * 40 + b"}]"
        )
        res = c.post("/v1/events", content=huge_int, headers=headers)
        assert res.status_code == 200 and res.json()[0]["ok"], res.text
    sent = [m for m, _, _ in read_topic(kafka_bootstrap, names.events)]
    assert [m["event_id"] for m in sent] == ["g1", "g6"]
    kept = [m for m, _, _ in read_topic(kafka_bootstrap, names.rejected)]
    assert sorted(k["code"] for k in kept) == ["missing_field", "too_deep", "too_large"]
    assert {k["sender"] for k in kept} == {KEYS["ingest"].name}
    too_large = next(k for k in kept if k["code"] == "too_large")
    assert b"x" * 70_000 in raw_bytes(too_large)  # the refused event's bytes, kept whole
