"""The worker killed mid-stream, and workers sharing partitions: timers survive with the state.

The rule pack counts natural seconds (limits of tens of seconds), the events
are stamped with the wall clock as they are sent, so the timers really are
driven by the wall clock; afterwards the records must be exactly replay's for
the same events as of now — by id, none lost, nothing different.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from support.live import QUICK_PACK, Feed, Names, Worker, assert_table_store, wait_for

from rules.timeutil import parse_instant

pytestmark = pytest.mark.kafka

PACK = QUICK_PACK
GRACE = 1


def _check_exactly_once_by_id(got: list, expected: list[dict], *workers: Worker) -> None:
    by_id: dict[str, list[dict]] = defaultdict(list)
    for rec, _, _ in got:
        by_id[rec["id"]].append(rec)
    want = {r["id"]: r for r in expected}
    missing = sorted((want[i]["case_id"], want[i]["kind"], want[i]["at"]) for i in set(want) - set(by_id))
    unexpected = sorted((by_id[i][0]["case_id"], by_id[i][0]["kind"]) for i in set(by_id) - set(want))
    logs = "\n".join(w.tail(80) for w in workers)
    assert not missing and not unexpected, f"missing {missing}\nunexpected {unexpected}\n{logs}"
    for rid, copies in by_id.items():  # a crash may repeat a record, never change it
        assert all(c == copies[0] for c in copies)
        assert (copies[0]["kind"], copies[0]["at"]) == (want[rid]["kind"], want[rid]["at"])


def test_sigkill_mid_stream_loses_nothing_and_timers_fire_on_time(kafka_bootstrap: str, tmp_path: Path) -> None:
    pack = tmp_path / "quick.yaml"
    pack.write_text(PACK)
    names = Names(partitions=4)
    env = names.env(kafka_bootstrap, pack, grace=GRACE)
    log = tmp_path / "worker.log"
    worker = Worker(env, log).start()
    worker.wait_ready()
    feed = Feed(kafka_bootstrap, names.events)
    cases = [f"K{i:02}" for i in range(30)]

    def first_batch() -> None:
        for case in cases:
            feed.send(case, "case_submitted", item_code="quick", agency_id="city/test")
            feed.send(case, "step_started", step="accept")
            time.sleep(0.08)

    sender = threading.Thread(target=first_batch)
    sender.start()
    time.sleep(1.2)
    worker.kill(signal.SIGKILL)  # mid-stream: about half the cases are in
    sender.join()
    restarted_at = time.time()
    worker.start()
    worker.wait_ready(after=1)
    ready_at = time.time()
    time.sleep(max(0.0, 12 - (time.time() - restarted_at)))
    for case in cases[::2]:  # half complete their first step after its reminder, before its warning
        feed.send(case, "step_completed", step="accept")
    last = parse_instant(feed.sent[0]["occurred_at"]) + 36 + 4 * 2  # the slowest case deadline, and then some
    time.sleep(max(0.0, last + GRACE + 2 - time.time()))
    expected = feed.expected(pack, int(time.time()) - GRACE - 1)
    got = wait_for(kafka_bootstrap, names.records, lambda rs: {r["id"] for r in rs} >= {e["id"] for e in expected})
    worker.kill(signal.SIGTERM)
    assert Counter(e["kind"] for e in expected)["overdue"] >= 10
    _check_exactly_once_by_id(got, expected, worker)
    # On time: a record whose instant came after the restarted worker was ready was raised within a second of
    # its instant plus the grace (Kafka's timestamp is when the worker produced it).
    late = [
        (rec["kind"], ts / 1000 - (parse_instant(rec["at"]) + GRACE))
        for rec, _, ts in got
        if parse_instant(rec["at"]) > ready_at + 1
    ]
    assert late, "no timer fell after the restart"
    assert max(lateness for _, lateness in late) <= 1.0, sorted(late, key=lambda x: -x[1])[:5]
    assert min(lateness for _, lateness in late) >= -0.01  # never before at + grace


@pytest.mark.parametrize("table_store", ["memory", "rocksdb"])
def test_two_workers_share_partitions_and_one_takes_over_when_the_other_stops(
    kafka_bootstrap: str, tmp_path: Path, table_store: str
) -> None:
    pack = tmp_path / "quick.yaml"
    pack.write_text(PACK)
    names = Names(partitions=4)
    env = names.env(kafka_bootstrap, pack, grace=GRACE) | {"APPROVAL_MONITOR_TABLE_STORE": table_store}
    a = Worker(env, tmp_path / "a.log").start()
    a.wait_ready()
    a_before = a.ready_count()
    # Two workers on one machine: a directory each for their local files (RocksDB locks its databases).
    b = Worker(env | {"APPROVAL_MONITOR_STATE_DIR": str(tmp_path / "b-state")}, tmp_path / "b.log").start()
    b.wait_ready()
    a.wait_ready(after=a_before)  # a was rebalanced to make room for b
    owned_by_b = _partitions(b)
    assert owned_by_b and _partitions(a) and not (owned_by_b & _partitions(a))
    feed = Feed(kafka_bootstrap, names.events)
    for i in range(24):
        feed.send(f"S{i:02}", "case_submitted", item_code="quick", agency_id="city/test")
        feed.send(f"S{i:02}", "step_started", step="accept")
    time.sleep(2)
    before = a.ready_count()
    b.kill(signal.SIGTERM)  # scale in: b leaves the group, a takes its partitions, cases and timers
    stopped_at = time.time()
    a.wait_ready(after=before)
    assert _partitions(a) == set(range(4))
    last = parse_instant(feed.sent[-1]["occurred_at"]) + 36
    time.sleep(max(0.0, last + GRACE + 2 - time.time()))
    expected = feed.expected(pack, int(time.time()) - GRACE - 1)
    got = wait_for(kafka_bootstrap, names.records, lambda rs: {r["id"] for r in rs} >= {e["id"] for e in expected})
    a.kill(signal.SIGTERM)
    _check_exactly_once_by_id(got, expected, a, b)
    taken_over = [rec for rec, p, ts in got if p in owned_by_b and ts / 1000 > stopped_at]
    assert taken_over, "no record of b's partitions was raised after b stopped"
    assert {rec["kind"] for rec in taken_over} >= {"overdue", "case_overdue"}
    assert_table_store(names, table_store)
    assert_table_store(names, table_store, tmp_path / "b-state")


def _partitions(w: Worker) -> set[int]:
    """The partitions a worker owned after its latest recovery, from its log."""
    lines = [ln for ln in w.log.read_text().splitlines() if "timers rebuilt" in ln]
    return set(json.loads(lines[-1])["partitions"])  # workers log JSON lines
