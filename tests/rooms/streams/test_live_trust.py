"""Records that can be held against an official: through real Kafka, each failure that once hit the worker.

- a worker killed within its first second, again and again, loses no event;
- a worker restarted with a backlog raises nothing the backlog disproves (no false alarm, no revocation);
- poison messages are rejected one by one with their exact bytes while the events around them are judged.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer
from support.live import QUICK_PACK, Feed, Names, Worker, assert_table_store, read_topic, wait_for

from rules.events import raw_bytes

pytestmark = pytest.mark.kafka

PACK = QUICK_PACK
GRACE = 1


def _pack(tmp_path: Path) -> Path:
    pack = tmp_path / "quick.yaml"
    pack.write_text(PACK)
    return pack


def _by_id(got: list) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for rec, _, _ in got:
        assert out.setdefault(rec["id"], rec) == rec, "a repeated id must repeat the same record"
    return out


@pytest.mark.parametrize("table_store", ["memory", "rocksdb"])
def test_kills_within_the_first_second_lose_nothing(kafka_bootstrap: str, tmp_path: Path, table_store: str) -> None:
    pack = _pack(tmp_path)
    names = Names(partitions=4)
    env = names.env(kafka_bootstrap, pack, grace=GRACE) | {"APPROVAL_MONITOR_TABLE_STORE": table_store}
    worker = Worker(env, tmp_path / "worker.log")
    feed = Feed(kafka_bootstrap, names.events)
    base = time.time() - 600  # a history in event time: every record is decided by the events alone

    def history() -> None:
        for i in range(40):
            case, t = f"F{i:02}", base + i
            feed.send(case, "case_submitted", at=t, item_code="quick", agency_id="city/test")
            feed.send(case, "step_started", at=t, step="accept")
            # Every step ends after all its levels: however the worker's batches split this history,
            # the wall clock cannot raise anything a later event of it revokes.
            feed.send(case, "step_completed", at=t + 20, step="accept")  # reminder, warning, overdue
            feed.send(case, "step_started", at=t + 20, step="review")
            feed.send(case, "step_completed", at=t + 50, step="review")  # the same
            feed.send(case, "case_completed", at=t + 50)  # case overdue
            time.sleep(0.3)  # the feed outlasts the kills: events arrive while the worker is down

    sender = threading.Thread(target=history)
    sender.start()
    consuming = "Consumer]: Starting"  # Faust's consumer service (streams.intake's BatchConsumer)
    # Killed 0.3 s and 1 s after its consumer starts, and the moment its recovery completes: before any commit.
    for n, (mark, after) in enumerate([(consuming, 0.3), ("timers rebuilt", 0.0), (consuming, 1.0)], 1):
        worker.start()
        worker.wait_log(mark, worker.marks(mark) + 1)
        time.sleep(after)
        worker.kill(signal.SIGKILL)
        assert n == 1 or sender.is_alive(), "the feed ended before the kills: make it longer"
    worker.start()
    sender.join()
    try:
        expected = {r["id"]: r for r in feed.expected(pack, int(time.time()))}
        got = wait_for(kafka_bootstrap, names.records, lambda rs: {r["id"] for r in rs} >= set(expected), 90)
        records = _by_id(got)
        assert set(records) == set(expected), _diff(records, expected, worker)
        assert read_topic(kafka_bootstrap, names.rejected) == []  # no event judged out of order
        assert_table_store(names, table_store)
    finally:
        worker.kill(signal.SIGTERM)


@pytest.mark.parametrize("table_store", ["memory", "rocksdb"])
def test_a_restart_with_a_backlog_raises_nothing_the_backlog_disproves(
    kafka_bootstrap: str, tmp_path: Path, table_store: str
) -> None:
    pack = _pack(tmp_path)
    names = Names(partitions=4)
    env = names.env(kafka_bootstrap, pack, grace=GRACE) | {"APPROVAL_MONITOR_TABLE_STORE": table_store}
    worker = Worker(env, tmp_path / "worker.log").start()
    worker.wait_ready()
    feed = Feed(kafka_bootstrap, names.events)
    cases = [f"B{i:02}" for i in range(40)]
    started = time.time()
    for case in cases:
        feed.send(case, "case_submitted", item_code="quick", agency_id="city/test")
        feed.send(case, "step_started", step="accept")
    time.sleep(2)
    worker.kill(signal.SIGKILL)
    time.sleep(max(0.0, started + 6 - time.time()))
    for case in cases[::2]:  # completed on time while the worker is down: after the reminder, before the warning
        feed.send(case, "step_completed", step="accept")
    time.sleep(max(0.0, started + 18 + GRACE + 4 - time.time()))  # every accept deadline is past when it restarts
    worker.start()
    worker.wait_ready(after=1)
    if table_store == "memory":  # the restart read the cases' states in bulk, not through Faust's recovery
        assert worker.marks(f"{names.app_id}-cases-changelog: 4 partitions read in bulk, {len(cases)} keys") == 1
    time.sleep(max(0.0, started + 36 + GRACE + 6 + 40 * 0.05 - time.time()))  # every case deadline is past too
    try:
        expected = {r["id"]: r for r in feed.expected(pack, int(time.time()) - GRACE - 1)}
        got = wait_for(kafka_bootstrap, names.records, lambda rs: {r["id"] for r in rs} >= set(expected), 60)
        records = _by_id(got)
        revoked = [r for r in records.values() if r["kind"] == "revocation"]
        assert revoked == [], f"false alarms raised and revoked after the restart: {revoked[:3]}\n{worker.tail(60)}"
        assert set(records) == set(expected), _diff(records, expected, worker)
        overdue = {r["case_id"] for r in records.values() if r["kind"] == "overdue"}
        assert overdue == set(cases[1::2])
        assert_table_store(names, table_store)
    finally:
        worker.kill(signal.SIGTERM)


POISON: dict[str, tuple[bytes | None, bytes | None]] = {  # name -> (key, value)
    "empty": (b"P01", b""),
    "tombstone": (b"P02", None),
    "0xff flood": (b"P03", b"\xff" * 900_000),
    "control bytes": (b"P04", b"\x01" * 400_000),
    "not utf-8": (b"P05", b'{"event_id": "\xc3\x28"}'),
    "json bomb": (b"P06", b"[" * 200_000 + b"]" * 200_000),
    "lone surrogate": (b"P07", b'{"event_id": "\\ud800", "case_id": "P07", "type": "case_submitted"}'),
    "over the cap": (
        b"P08",
        orjson.dumps(
            {
                "event_id": "p8",
                "case_id": "P08",
                "type": "case_completed",
                "occurred_at": "2026-11-22T00:00:00Z",
                "reason": "x" * 100_000,
            }
        ),
    ),
    "wrong key": (
        b"\xff\xfeWRONG",
        orjson.dumps(
            {"event_id": "p9", "case_id": "P09", "type": "case_completed", "occurred_at": "2026-11-22T00:00:00Z"}
        ),
    ),
    "not an object": (b"P10", b"[1, 2, 3]"),
    "a list for a name": (  # unhashable where the type's name belongs: once a TypeError that stopped the worker
        b"P11",
        orjson.dumps(
            {"event_id": "p11", "case_id": "P11", "type": ["case_submitted"], "occurred_at": "2026-11-22T00:00:00Z"}
        ),
    ),
    "no key": (None, b"{not json"),
}


def test_poison_messages_are_rejected_one_by_one_with_their_exact_bytes(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=2)
    env = {**names.env(kafka_bootstrap, _pack(tmp_path), grace=GRACE), "APPROVAL_MONITOR_MAX_EVENT_BYTES": "65536"}
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=1_000_000)
        now = time.time()
        for i, (key, value) in enumerate(POISON.values()):
            good = f"G{i:02}"  # a good case on each side of every poison message: review before accept
            for obj in (
                {"event_id": f"{good}-1", "case_id": good, "type": "case_submitted",
                 "item_code": "quick", "agency_id": "city/test"},
                {"event_id": f"{good}-2", "case_id": good, "type": "step_started", "step": "review"},
            ):  # fmt: skip
                producer.send(names.events, key=good.encode(), value=orjson.dumps({**obj, "occurred_at": _at(now)}))
            for partition in (0, 1):  # the same poison on both partitions, in the middle of their batches
                producer.send(names.events, key=key, value=value, partition=partition)
        producer.flush()
        producer.close()
        want = 2 * len(POISON)
        rejected = wait_for(kafka_bootstrap, names.rejected, lambda rs: len(rs) >= want, timeout=60)
        assert len(rejected) == want, worker.tail(40)
        kept = sorted((r["partition"], r["offset"], raw_bytes(r), r["code"]) for r, _, _ in rejected)
        sent = [v for _, v in POISON.values()]
        for partition in (0, 1):
            mine = [k for k in kept if k[0] == partition]
            assert [raw for _, _, raw, _ in mine] == [b"" if v is None else v for v in sent]
        codes = {name: code for name, (_, _, _, code) in zip(POISON, [k for k in kept if k[0] == 0], strict=True)}
        assert codes["over the cap"] == "too_large" and codes["wrong key"] == "bad_key"
        assert all(r["reason"] for r, _, _ in rejected)
        records = wait_for(
            kafka_bootstrap, names.records, lambda rs: sum(r["kind"] == "procedure" for r in rs) >= len(POISON), 60
        )
        assert sorted(r["case_id"] for r, _, _ in records if r["kind"] == "procedure") == [
            f"G{i:02}" for i in range(len(POISON))
        ]
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail(40)
    finally:
        worker.kill()


def _at(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _diff(got: dict[str, dict], expected: dict[str, dict], worker: Worker) -> str:
    def brief(recs: list[dict]) -> list[tuple[str, str, str]]:
        return sorted((r["case_id"], r["kind"], r["at"]) for r in recs)[:10]

    missing = brief([expected[i] for i in set(expected) - set(got)])
    unexpected = brief([got[i] for i in set(got) - set(expected)])
    return f"missing {missing}\nunexpected {unexpected}\n{worker.tail(30)}"
