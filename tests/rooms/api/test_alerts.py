"""The live alert stream (server-sent events) over real HTTP and real Kafka: records as they are raised,
within the caller's scope, and a reconnect with Last-Event-ID resumes with no gap and no repeat."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support.data import AUTH, KEYS
from support.live import Names, raw_producer, serving

from api.app import create_api
from api.auth import Keyring, hash_key
from store.sqlite import SqliteStore
from streams.alerts import RecordFeed, decode_position, encode_position
from streams.config import Kafka
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


class Stream:
    """A server-sent-event client: the last id it saw, and the records received."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10.0, read=20.0))
        self.cm: Any = None
        self.lines: Iterator[str] | None = None
        self.last_id: str | None = None

    def open(self, path: str = "/v1/alerts/stream", last_id: str | None = None) -> Stream:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self.cm = self.client.stream("GET", path, headers=headers)
        response = self.cm.__enter__()
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.iter_lines()
        self.last_id = last_id
        return self

    def next_event(self) -> dict[str, str]:
        """The next message (id-only ones included, as a browser would track them)."""
        assert self.lines is not None
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "id" in fields:
                    self.last_id = fields["id"]
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def records(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout  # heartbeats arrive twice a second, so this is checked often
        while len(out) < n:
            assert time.monotonic() < deadline, f"{len(out)} of {n} records within {timeout}s: {out}"
            ev = self.next_event()
            if ev.get("event") == "record":
                out.append(orjson.loads(ev["data"]))
        return out

    def wait_started(self) -> None:
        """Until the stream has told where it starts (its first id-only message)."""
        while self.last_id is None:
            self.next_event()

    def close(self) -> None:
        if self.cm is not None:
            self.cm.__exit__(None, None, None)
            self.cm = None


def _record(i: int, agency: str, kind: str = "overdue") -> dict[str, Any]:
    return {"id": f"r{i:04d}", "kind": kind, "case_id": f"S{i % 7}", "step": "accept", "at": "2026-11-20T01:00:00Z",
            "item_code": "business-licence", "agency_id": agency, "handler_id": "h1", "points": 2}  # fmt: skip


def test_stream_sends_records_as_raised_within_scope_and_resumes_without_gap_or_repeat(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    names = Names(partitions=4)
    ensure_topics(names.topics(), Kafka(kafka_bootstrap))
    producer = raw_producer(kafka_bootstrap)

    def produce(records: list[dict[str, Any]]) -> None:
        for r in records:
            producer.send(names.records, key=r["case_id"].encode(), value=orjson.dumps(r))
        producer.flush()

    produce([_record(i, "city/land") for i in range(3)])  # before anyone listens: not sent to a new stream
    land = KEYS["sup"].model_copy(update={"name": "land", "sha256": hash_key("land-key"), "scope": "city/land"})
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring([*KEYS.values(), land]), bands=[0, 5, 15, 30],
                     feed=RecordFeed(kafka_bootstrap, names.records, poll_seconds=0.2),
                     heartbeat_seconds=0.5)  # fmt: skip
    with serving(app) as url:
        assert httpx.get(f"{url}/v1/alerts/stream").status_code == 401
        everyone = Stream(url, AUTH["sup"]).open()
        scoped = Stream(url, {"Authorization": "Bearer land-key"}).open()
        warnings = Stream(url, AUTH["sup"]).open("/v1/alerts/stream?kind=warning")
        for s in (everyone, scoped, warnings):
            s.wait_started()
        first = [_record(i, "city/land" if i % 2 else "city/market", "warning" if i % 3 == 0 else "overdue")
                 for i in range(10, 20)]  # fmt: skip
        produce(first)
        got = everyone.records(10)
        assert sorted(r["id"] for r in got) == [r["id"] for r in first]
        for case in {r["case_id"] for r in first}:  # a case's records stay on one partition, in order
            assert [r["id"] for r in got if r["case_id"] == case] == [r["id"] for r in first if r["case_id"] == case]
        in_land = [r["id"] for r in first if r["agency_id"] == "city/land"]
        assert sorted(r["id"] for r in scoped.records(len(in_land))) == in_land
        warned = {r["id"] for r in first if r["kind"] == "warning"}
        assert {r["id"] for r in warnings.records(len(warned))} == warned
        assert {r["kind"] for r in got} == {"warning", "overdue"}

        # Disconnect after the first three of a new burst, miss some while away, reconnect from the last id.
        second = [_record(i, "city/land") for i in range(20, 26)]
        produce(second)
        before = everyone.records(3)
        resume_at = everyone.last_id
        assert resume_at is not None and decode_position(resume_at)
        everyone.close()
        third = [_record(i, "city/market") for i in range(26, 30)]
        produce(third)
        again = Stream(url, AUTH["sup"]).open(last_id=resume_at)
        after = again.records(7)
        ids = [r["id"] for r in before + after]
        assert sorted(ids) == sorted(r["id"] for r in second + third)  # no gap, no repeat
        assert len(set(ids)) == len(ids)

        bad = httpx.get(f"{url}/v1/alerts/stream", headers={**AUTH["sup"], "Last-Event-ID": "yesterday"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
        outside = httpx.get(f"{url}/v1/alerts/stream?agency=city/market", headers={"Authorization": "Bearer land-key"})
        assert outside.status_code == 403
        for s in (again, scoped, warnings):
            s.close()
    producer.close()
    assert encode_position({1: 5, 0: 3}) == "0:3,1:5" and decode_position("0:3,1:5") == {0: 3, 1: 5}
