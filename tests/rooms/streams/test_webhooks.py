"""Webhook subscriptions against real Kafka and real HTTP receivers on loopback.

One scenario, in the order a subscriber lives it: subscriptions made through
the API, records raised before and after, a deliverer that starts late and is
killed mid-way, receivers that are fine, flaky, broken, slow or down for a
while — then what each receiver got, what the dead-letter topic holds, and what
the delivery log (through the sink and the API) says.  The signature is checked
the way the README tells receivers to: HMAC-SHA256 over ``"<timestamp>." + body``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from support import SAMPLE_PACK
from support.live import WEBHOOK_KEY, Names, Worker, raw_producer, read_topic, read_topic_raw

from api.app import create_api
from api.auth import ApiKey, Keyring, hash_key
from approval_monitor.embedded import free_port
from store.sqlite import SqliteStore
from streams.config import Kafka
from streams.retry import RetryPolicy
from streams.subscriptions import Subscription, matches
from streams.topics import ensure_topics
from streams.webhook_guard import networks
from streams.webhook_secrets import SecretBox
from streams.webhook_signing import signature, verify

# -- units: the signature, the backoff, the filters ---------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body_and_verify_rejects_tampering() -> None:
    body = b'{"id":"r1","kind":"overdue"}'
    want = "sha256=" + hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret-s3cret-s3cret", 1700000000, body) == want
    assert verify("s3cret-s3cret-s3cret", "1700000000", want, body, now=1700000100)
    assert not verify("another-secret-here", "1700000000", want, body, now=1700000100)
    assert not verify("s3cret-s3cret-s3cret", "1700000000", want, body + b" ", now=1700000100)
    assert not verify("s3cret-s3cret-s3cret", "1700000001", want, body, now=1700000100)  # timestamp is signed
    assert not verify("s3cret-s3cret-s3cret", "1700000000", want, body, now=1700000000 + 301)  # too old: a replay
    assert not verify("s3cret-s3cret-s3cret", "soon", want, body)


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=10, backoff=1.0, cap=30.0)
    rng = random.Random(5)
    for failed, base in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (9, 30.0)]:
        waits = [policy.delay(failed, rng=rng) for _ in range(200)]
        assert all(base / 2 <= w <= base for w in waits), (failed, min(waits), max(waits))
        assert max(waits) - min(waits) > base / 4  # jittered, not fixed
    assert policy.delay(1, retry_after=12, rng=rng) == 12  # the receiver asked for more
    assert policy.delay(1, retry_after=3600, rng=rng) == 30  # but never beyond the cap
    assert policy.delay(4, retry_after=0.1, rng=rng) >= 4  # nor less than the backoff


def _sub(**kw: Any) -> Subscription:
    base = {"id": "s", "url": "http://x", "secret": "x" * 16, "created_at": "2026-11-21T00:00:00Z", "created_by": "t"}
    return Subscription(**{**base, **kw})


def test_filters_select_an_agency_subtree_kinds_and_items() -> None:
    r = {"kind": "overdue", "agency_id": "city/land/east", "item_code": "land-use"}
    assert matches(_sub(), r)
    assert matches(_sub(agency="city/land"), r)
    assert matches(_sub(agency="city/land/east"), r)
    assert not matches(_sub(agency="city/lan"), r)  # a subtree, not a prefix
    assert not matches(_sub(agency="city/land/eastern"), r)
    assert matches(_sub(kinds=["warning", "overdue"]), r)
    assert not matches(_sub(kinds=["warning"]), r)
    assert matches(_sub(items=["land-use"]), r)
    assert not matches(_sub(items=["business-licence"]), r)


def test_a_message_that_is_not_a_record_is_logged_and_not_delivered(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from streams.webhook_delivery import _decode

    def msg(value: bytes | None) -> SimpleNamespace:
        return SimpleNamespace(value=value, topic="approval.records", partition=3, offset=41)

    assert _decode(msg(b'{"id": "r1"}')) == {"id": "r1"}
    assert _decode(msg(None)) is None
    assert _decode(msg(b"[1, 2]")) is None
    with caplog.at_level("ERROR"):
        assert _decode(msg(b"{not json")) is None
    assert "approval.records[3]@41 is not JSON" in caplog.text


# -- the scenario, on real Kafka ----------------------------------------------------------------

ADMIN = ApiKey(name="ops", sha256=hash_key("admin-key"), role="admin")
LAND_ADMIN = ApiKey(name="land ops", sha256=hash_key("land-admin-key"), role="admin", scope="city/land")
SUPERVISOR = ApiKey(name="sup", sha256=hash_key("sup-key"), role="supervisor")
AS = {
    "admin": {"Authorization": "Bearer admin-key"},
    "land": {"Authorization": "Bearer land-admin-key"},
    "sup": {"Authorization": "Bearer sup-key"},
}


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    when: float


@dataclass
class Receivers:
    """What every receiver was sent, and how each behaves (failures counted per record id)."""

    hits: list[Hit] = field(default_factory=list)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def ids(self, path: str) -> set[str]:
        return {h.headers["Idempotency-Key"] for h in self.of(path)}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hit = Hit(self.path, dict(self.headers.items()), body, time.monotonic())
                key = (self.path, hit.headers["Idempotency-Key"])
                with receivers.lock:
                    receivers.hits.append(hit)
                    failed = receivers.failures.get(key, 0)
                    if (self.path == "/flaky" and failed < 2) or self.path == "/broken":
                        receivers.failures[key] = failed + 1
                        status = 503 if self.path == "/flaky" else 500
                    else:
                        status = 200
                if self.path == "/slow":
                    time.sleep(1.0)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _serve(receivers: Receivers, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), receivers.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _record(i: int, agency: str, kind: str) -> dict[str, Any]:
    return {"id": f"rec{i:04d}", "kind": kind, "case_id": f"C{i % 5}", "step": "review", "at": "2026-11-21T02:00:00Z",
            "item_code": "land-use", "agency_id": agency, "handler_id": "h1", "points": 2}  # fmt: skip


def _batch(start: int, n: int) -> list[dict[str, Any]]:
    agencies = ["city/land", "city/land/east", "city/landmark", "city/market"]
    kinds = ["overdue", "warning", "reminder"]
    return [_record(i, agencies[i % 4], kinds[i % 3]) for i in range(start, start + n)]


def _until(pred: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what()}")


@pytest.fixture(scope="module")
def world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("webhooks")
    names = Names(partitions=2)
    db = tmp / "monitor.db"
    env = {
        **names.env(kafka_bootstrap, SAMPLE_PACK),
        "APPROVAL_MONITOR_STORE_URL": f"sqlite:///{db}",
        "APPROVAL_MONITOR_WEBHOOK_MAX_ATTEMPTS": "3",
        "APPROVAL_MONITOR_WEBHOOK_BACKOFF_SECONDS": "0.1",
        "APPROVAL_MONITOR_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
        "APPROVAL_MONITOR_WEBHOOK_TIMEOUT_SECONDS": "5",
        "APPROVAL_MONITOR_LOG_FORMAT": "text",
    }
    ensure_topics(names.topics(), Kafka(kafka_bootstrap))
    from streams.subscriptions import SubscriptionLog

    receivers = Receivers()
    server = _serve(receivers)
    sink = Worker(env, tmp / "sink.log").start("sink")
    log = SubscriptionLog(kafka_bootstrap, names.subscriptions, names.records, box=SecretBox(WEBHOOK_KEY),
                          allow=networks(["127.0.0.0/8"]))  # fmt: skip
    api = create_api(SqliteStore(db), Keyring([ADMIN, LAND_ADMIN, SUPERVISOR]), bands=[0, 5, 15, 30],
                     subscriptions=log)  # fmt: skip
    try:
        with TestClient(api) as client:
            yield {"names": names, "env": env, "tmp": tmp, "client": client, "receivers": receivers,
                   "url": f"http://127.0.0.1:{server.server_port}", "bootstrap": kafka_bootstrap}  # fmt: skip
    finally:
        sink.kill(signal.SIGTERM)
        server.shutdown()
        log.close()


def _metric(port: int, name: str) -> float:
    """A sample's value on a /metrics page, -1 when absent (or the server is not up yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as res:
            text = res.read().decode()
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return -1


def _produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    producer = raw_producer(bootstrap)
    for r in records:
        producer.send(topic, key=r["case_id"].encode(), value=orjson.dumps(r))
    producer.flush()
    producer.close()


@pytest.mark.kafka
def test_subscriptions_are_for_admin_keys_within_their_scope(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    body = {"url": "http://127.0.0.1:9/hook"}
    assert client.post("/v1/subscriptions", json=body, headers=AS["sup"]).status_code == 403
    assert client.get("/v1/subscriptions", headers=AS["sup"]).status_code == 403
    assert client.post("/v1/subscriptions", json=body).status_code == 401
    bad = client.post("/v1/subscriptions", json={**body, "kinds": ["overdue", "late"]}, headers=AS["admin"])
    assert bad.status_code == 422 and "late" in bad.json()["detail"]
    for url in ("ftp://example.org/x", "not a url"):
        assert client.post("/v1/subscriptions", json={"url": url}, headers=AS["admin"]).status_code == 422
    short = client.post("/v1/subscriptions", json={**body, "secret": "short"}, headers=AS["admin"])
    assert short.status_code == 422 and "secret" in short.json()["detail"]
    outside = client.post("/v1/subscriptions", json={**body, "agency": "city/market"}, headers=AS["land"])
    assert outside.status_code == 403
    mine = client.post("/v1/subscriptions", json=body, headers=AS["land"])
    assert mine.status_code == 201, mine.text
    sub = mine.json()
    assert sub["agency"] == "city/land" and sub["secret"].startswith("whsec_") and len(sub["secret"]) > 32
    everyone = client.post("/v1/subscriptions", json=body, headers=AS["admin"]).json()
    listed = client.get("/v1/subscriptions", headers=AS["admin"]).json()
    assert sorted(s["id"] for s in listed) == sorted([sub["id"], everyone["id"]])
    assert [(s["created_at"], s["id"]) for s in listed] == sorted((s["created_at"], s["id"]) for s in listed)
    assert all("secret" not in s for s in listed)
    # at rest the secrets are sealed: neither appears on the subscriptions topic
    kept = b"".join(v for v, _, _ in read_topic_raw(world["bootstrap"], world["names"].subscriptions) if v)
    assert sub["id"].encode() in kept and sub["secret"].encode() not in kept and everyone["secret"].encode() not in kept
    assert [s["id"] for s in client.get("/v1/subscriptions", headers=AS["land"]).json()] == [sub["id"]]
    assert client.get(f"/v1/subscriptions/{everyone['id']}", headers=AS["land"]).status_code == 404
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=AS["land"]).json()["url"] == body["url"]
    for s in (sub, everyone):
        assert client.delete(f"/v1/subscriptions/{s['id']}", headers=AS["admin"]).status_code == 204
    assert client.get("/v1/subscriptions", headers=AS["admin"]).json() == []
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=AS["admin"]).status_code == 404


@pytest.mark.kafka
def test_every_receiver_gets_what_it_asked_for_signed_retried_dead_lettered_and_logged(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    receivers: Receivers = world["receivers"]
    names: Names = world["names"]
    bootstrap: str = world["bootstrap"]
    url: str = world["url"]
    _produce(bootstrap, names.records, _batch(0, 3))  # raised before anyone subscribed: never delivered

    down_port = free_port()
    specs = {
        "land-overdue": {"url": f"{url}/land", "agency": "city/land", "kinds": ["overdue"]},
        "all": {"url": f"{url}/all"},
        "control": {"url": f"{url}/control", "secret": "a-secret-the-subscriber-chose"},
        "flaky": {"url": f"{url}/flaky"},
        "broken": {"url": f"{url}/broken", "max_attempts": 2},
        "slow": {"url": f"{url}/slow"},
        "down": {"url": f"http://127.0.0.1:{down_port}/down", "max_attempts": 100},
    }
    subs: dict[str, dict[str, Any]] = {}
    for name, spec in specs.items():
        res = client.post("/v1/subscriptions", json={**spec, "description": name}, headers=AS["admin"])
        assert res.status_code == 201, res.text
        subs[name] = res.json()
    assert subs["control"]["secret"] == "a-secret-the-subscriber-chose"

    # Raised after the subscriptions but before any deliverer runs: delivered all the same.
    first = _batch(100, 12)
    _produce(bootstrap, names.records, first)
    ids = {r["id"] for r in first}
    land_overdue = {
        r["id"] for r in first if r["kind"] == "overdue" and r["agency_id"] in ("city/land", "city/land/east")
    }
    assert 0 < len(land_overdue) < len(first)

    tmp: Path = world["tmp"]
    metrics_port = free_port()
    deliverer = Worker({**world["env"], "APPROVAL_MONITOR_METRICS_PORT": str(metrics_port)}, tmp / "webhooks-1.log")
    deliverer.start("webhooks")
    try:
        # A slow receiver (1 s a request) holds back nobody: the others have everything before it has two.
        _until(lambda: receivers.ids("/all") == ids and receivers.ids("/control") == ids, 90,
               lambda: f"/all got {len(receivers.ids('/all'))}\n{deliverer.tail()}")  # fmt: skip
        assert len(receivers.of("/slow")) <= 2
        _until(lambda: receivers.ids("/land") == land_overdue, 10, lambda: str(receivers.ids("/land")))
        _until(lambda: receivers.ids("/slow") == ids, 60, lambda: f"/slow got {len(receivers.ids('/slow'))}")
        _until(lambda: len(receivers.of("/broken")) == 2 * len(ids), 60, lambda: str(len(receivers.of("/broken"))))
        _until(lambda: receivers.ids("/flaky") == ids and len(receivers.of("/flaky")) == 3 * len(ids), 60,
               lambda: str(len(receivers.of("/flaky"))))  # fmt: skip
        time.sleep(1)  # anything extra would show up now
        assert _metric(metrics_port, 'approval_webhook_deliveries_total{status="dead"}') == len(ids)
        assert _metric(metrics_port, 'approval_webhook_deliveries_total{status="delivered"}') == 4 * len(ids) + len(
            land_overdue
        )
        assert _metric(metrics_port, "approval_webhook_subscriptions") == len(specs)
        assert _metric(metrics_port, "approval_webhook_latency_seconds_count") >= 8 * len(ids)
    finally:
        deliverer.kill()  # SIGKILL, while "down" is still retrying its first record

    # Each record exactly once where nothing failed, each signed with its own subscription's secret.
    secrets = {name: subs[name]["secret"] for name in subs}
    for name, path in [("all", "/all"), ("control", "/control"), ("land-overdue", "/land"), ("slow", "/slow")]:
        got = receivers.of(path)
        assert sorted(h.headers["Idempotency-Key"] for h in got) == sorted(receivers.ids(path)), f"{path} twice"
        for h in got:
            ts = h.headers["X-Approval-Timestamp"]
            want = hmac.new(secrets[name].encode(), ts.encode() + b"." + h.body, hashlib.sha256).hexdigest()
            assert h.headers["X-Approval-Signature"] == "sha256=" + want
            assert abs(int(ts) - time.time()) < 300
            assert h.headers["X-Approval-Subscription"] == subs[name]["id"]
            record = orjson.loads(h.body)
            assert record["id"] == h.headers["Idempotency-Key"] and record in first
    assert all(receivers.failures[("/flaky", i)] == 2 for i in ids)
    # The waits between attempts follow the configured backoff: 0.1 s doubling, half of it jitter, cap 0.5 s.
    for i in ids:
        times = sorted(h.when for h in receivers.of("/flaky") if h.headers["Idempotency-Key"] == i)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert 0.05 <= gaps[0] < 2 and 0.1 <= gaps[1] < 2, gaps  # at least half the doubling wait

    # The receiver that was down through all of that, and a deliverer killed meanwhile: once a new deliverer
    # runs and the receiver is back, it gets every record (dedupe by Idempotency-Key).
    port_2 = free_port()
    deliverer = Worker({**world["env"], "APPROVAL_MONITOR_METRICS_PORT": str(port_2)}, tmp / "webhooks-2.log")
    deliverer.start("webhooks")
    try:
        # Everything else is done, so the new deliverer's failed attempts are the down receiver's.
        _until(lambda: _metric(port_2, 'approval_webhook_attempts_total{outcome="failed"}') >= 2, 60,
               lambda: f"no failed attempt yet\n{deliverer.tail()}")  # fmt: skip
        down = _serve(receivers, down_port)
        try:
            _until(lambda: receivers.ids("/down") == ids, 90,
                   lambda: f"/down got {len(receivers.ids('/down'))}\n{deliverer.tail()}")  # fmt: skip
        finally:
            down.shutdown()
            down.server_close()

        # Dead letters: every record the broken receiver refused, with both attempts and their errors.
        dead = [m for m, _, _ in read_topic(bootstrap, names.dead)]
        assert sorted(d["record"]["id"] for d in dead) == sorted(ids)
        assert all(d["subscription_id"] == subs["broken"]["id"] for d in dead)
        assert all([a["error"] for a in d["attempts"]] == ["HTTP 500", "HTTP 500"] for d in dead)

        # The delivery log, through the sink and the API.
        def log(name: str, **params: Any) -> list[dict[str, Any]]:
            res = client.get(f"/v1/subscriptions/{subs[name]['id']}/deliveries", params={"limit": 1000, **params},
                             headers=AS["admin"])  # fmt: skip
            assert res.status_code == 200, res.text
            items: list[dict[str, Any]] = res.json()["items"]
            return items

        _until(lambda: len(log("down")) == len(ids) and len(log("broken")) == len(ids), 60,
               lambda: f"log has {len(log('down'))} for down, {len(log('broken'))} for broken")  # fmt: skip
        broken = log("broken")
        assert {e["record_id"] for e in broken} == ids
        assert all(e["status"] == "dead" and e["attempts"] == 2 and e["http_status"] == 500 for e in broken)
        assert log("broken", status="delivered") == [] and len(log("broken", status="dead")) == len(ids)
        flaky = log("flaky")
        assert all(e["status"] == "delivered" and e["attempts"] == 3 for e in flaky)
        assert all([a["http_status"] for a in e["attempt_log"]] == [503, 503, 200] for e in flaky)
        assert all(a["latency_ms"] >= 0 for e in flaky for a in e["attempt_log"])
        assert all(e["latency_ms"] >= 1000 for e in log("slow"))  # the slow receiver took a second each
        down_log = log("down")
        assert all(e["status"] == "delivered" for e in down_log)
        first_down = max(down_log, key=lambda e: e["attempts"])  # the record that waited for the receiver
        assert first_down["attempts"] >= 3  # refused twice at least, then accepted
        assert all(a["http_status"] is None and a["error"] for a in first_down["attempt_log"][:-1])
        assert first_down["attempt_log"][-1]["http_status"] == 200
        assert client.get("/v1/subscriptions/sub_nope/deliveries", headers=AS["admin"]).status_code == 404

        # Unsubscribed: nothing more; the others go on.
        assert client.delete(f"/v1/subscriptions/{subs['all']['id']}", headers=AS["admin"]).status_code == 204
        time.sleep(3)  # the deliverer stops it
        later = _batch(200, 2)
        _produce(bootstrap, names.records, later)
        _until(lambda: {r["id"] for r in later} <= receivers.ids("/control"), 60, lambda: "control got nothing new")
        time.sleep(1)
        assert receivers.ids("/all") == ids
        # Positions survived the SIGKILL: the new deliverer sent nothing again that was accepted before it.
        for path in ("/all", "/control", "/land", "/slow"):
            assert len(receivers.of(path)) == len(receivers.ids(path)), f"{path} got a record twice"
    finally:
        deliverer.kill(signal.SIGTERM)
