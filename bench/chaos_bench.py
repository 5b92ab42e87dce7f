"""Chaos trials through real Kafka: SIGKILL the worker at random moments, then hold its records against replay.

    .venv/bin/python bench/chaos_bench.py --trials 30

Each trial has its own topics and one worker that is killed (SIGKILL) several
times while a feed runs: within its first second, during recovery, and after
downtimes that leave a backlog in Kafka and let deadlines pass while it is
down.  The feed mixes

- **event-driven cases**: histories stamped in the past, decided by their events alone
  (every step ends after its deadline, so no batching of them can raise and revoke);
- **wall-clock cases**: stamped as they are sent, whose step and case deadlines
  fall during the kills (completed before or after them at random);
- **poison messages**: empty, binary, oversized, deeply nested, wrongly keyed, lists and objects where names belong;
- **督办 orders** on some wall-clock cases (the actions topic), due while the worker is being
  killed, half of them replied to before their due time: each unanswered one must escalate
  exactly once, on its due second, and no answered one may.

After the last deadline a final worker runs until the records topic holds
every record ``replay`` gives for the same events in arrival order (and the pure
core's ``Workflow`` for the same actions: their records and escalations); then per
trial and in total:

- expected: records replay raises; lost: expected ids never raised;
- repeats: extra copies of a raised id, or of a rejection of the same message (at least once:
  allowed, counted);
- wrong: ids replay does not raise (and nobody revoked);
- false alarms: records revoked although the event that revoked them had reached Kafka before
  their instant plus the grace (so only stale state can have raised them), with the
  revocations themselves; late revocations (the event reached Kafka after that: the
  contract's answer to a late event, counted apart) are not false alarms;
- poison kept: poison messages found on the rejected topic with their exact bytes;
  other rejections (an event judged out of order would be one) are counted apart, and fail the run.

Kafka is started from its jars (deploy/kafka.sh) unless KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from engine import engine  # noqa: E402
from support import kafka_broker  # noqa: E402
from support.live import Feed, Names, Worker, read_topic, read_topic_raw  # noqa: E402

from rules.actions import Action  # noqa: E402
from rules.events import raw_bytes  # noqa: E402
from rules.pack import parse_pack  # noqa: E402
from rules.records import Record  # noqa: E402
from rules.timeutil import parse_instant  # noqa: E402
from rules.workflow import Work, Workflow  # noqa: E402
from streams.action_log import ActionLog  # noqa: E402

GRACE = 1
PACK = """
version: 1
penalties: {overdue: 2, case_overdue: 3, procedure: 2, escalation: 5}
items:
  - code: chaos
    limit_hours: 0.00666666666666666667   # the case: 24 s
    reminder_at: 0.5
    warning_at: 0.8
    steps:
      - {name: accept, limit_hours: 0.00333333333333333333}   # 12 s
      - {name: review, limit_hours: 0.00333333333333333333}
"""
STEP = 12
CASE = 24


def poison(rng: random.Random) -> tuple[bytes | None, bytes]:
    kinds = [
        lambda: b"",
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))),
        lambda: b"\xff" * rng.randint(100_000, 900_000),
        lambda: b"\x01" * rng.randint(1000, 400_000),
        lambda: b"[" * rng.randint(1025, 200_000),
        lambda: b'{"event_id": "\\ud800", "case_id": "X", "type": "case_submitted"}',
        lambda: orjson.dumps(
            {
                "event_id": f"p{rng.random()}",
                "case_id": "X",
                "type": "case_completed",
                "occurred_at": "2026-01-01T00:00:00Z",
                "reason": "x" * 100_000,
            }
        ),
        lambda: orjson.dumps(  # any JSON value where a name or a number is expected
            {
                "event_id": f"p{rng.random()}",
                "case_id": "X",
                "type": rng.choice([["case_submitted"], {"a": 1}, 7, "limit_extended"]),
                "occurred_at": "2026-01-01T00:00:00Z",
                "extend_days": rng.choice([10**12, [1], {"d": 1}]),
            }
        ),
    ]
    key = rng.choice([None, b"X", bytes(rng.getrandbits(8) for _ in range(8))])
    return key, rng.choice(kinds)()


class Trial:
    def __init__(self, n: int, bootstrap: str, tmp: Path, rng: random.Random, cases: int, store: str) -> None:
        self.n, self.bootstrap, self.rng, self.cases = n, bootstrap, rng, cases
        self.names = Names(partitions=4)
        self.pack = tmp / f"chaos-{n}.yaml"
        self.pack.write_text(PACK)
        env = self.names.env(bootstrap, self.pack, GRACE) | {"APPROVAL_MONITOR_TABLE_STORE": store}
        self.worker = Worker(env, tmp / f"worker-{n}.log")
        self.feed = Feed(bootstrap, self.names.events)
        self.poison: list[bytes] = []
        self.last_deadline = 0.0
        self.actions: list[Action] = []  # as sent, in order
        self.orders = ActionLog(self.feed.emitter.producer, self.names.actions)

    def _send(self, case: str, typ: str, at: float | None = None, **fields: object) -> None:
        self.feed.send(case, typ, at=at, **fields)

    def run_feed(self) -> None:
        rng = self.rng
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", max_request_size=1_000_000)
        pending: list[tuple[float, str, str, dict[str, object]]] = []  # (when, case, type, fields)
        t0 = time.time()
        for i in range(self.cases):
            case = f"T{self.n}-{i:03d}"
            if i % 2:  # event-driven: a whole history in the past, decided by its events
                base = t0 - 3600 + i
                # Steps end after all their levels, so no split of the history into batches lets the
                # wall clock raise what a later event of it revokes: any revocation is the restart's.
                d1, d2 = rng.randint(STEP + 1, 2 * STEP), rng.randint(STEP + 1, 2 * STEP)
                pending.append((t0 + i * 0.1, case, "__past__", {"base": base, "d1": d1, "d2": d2}))
            else:  # wall-clock: deadlines fall while the worker is being killed
                s = t0 + i * 0.1
                d1, d2 = rng.uniform(1, STEP * 1.5), rng.uniform(1, STEP * 1.5)
                pending += [
                    (s, case, "case_submitted", {"item_code": "chaos", "agency_id": "city/chaos"}),
                    (s + 0.01, case, "step_started", {"step": "accept"}),
                    (s + d1, case, "step_completed", {"step": "accept"}),
                    (s + d1 + 0.01, case, "step_started", {"step": "review"}),
                ]
                if rng.random() < 0.8:  # some never finish: their clocks run out
                    pending += [
                        (s + d1 + d2, case, "step_completed", {"step": "review"}),
                        (s + d1 + d2 + 0.01, case, "case_completed", {}),
                    ]
                self.last_deadline = max(self.last_deadline, s + CASE, s + d1 + STEP)
                if i % 4 == 0:  # a 督办, due within the kills; half answered a second before it falls due
                    due = rng.randint(3, 2 * STEP)
                    pending.append((s + 0.5, case, "__order__", {"due": due, "reply": rng.random() < 0.5}))
                    self.last_deadline = max(self.last_deadline, s + 0.5 + due + 2)
            if rng.random() < 0.15:
                pending.append((t0 + i * 0.1 + 0.05, "", "__poison__", {}))
        pending.sort(key=lambda p: p[0])
        for when, case, typ, fields in pending:
            time.sleep(max(0.0, when - time.time()))
            if typ == "__past__":
                b, d1, d2 = fields["base"], fields["d1"], fields["d2"]
                assert isinstance(b, float) and isinstance(d1, int) and isinstance(d2, int)
                self._send(case, "case_submitted", at=b, item_code="chaos", agency_id="city/chaos")
                self._send(case, "step_started", at=b, step="accept")
                self._send(case, "step_completed", at=b + d1, step="accept")
                self._send(case, "step_started", at=b + d1, step="review")
                self._send(case, "step_completed", at=b + d1 + d2, step="review")
                self._send(case, "case_completed", at=b + d1 + d2)
            elif typ == "__order__":
                self._order(case, fields, pending)
            elif typ == "__reply__":
                self._act(case, "reply", target=str(fields["target"]), note="已办理")
            elif typ == "__poison__":
                key, value = poison(rng)
                producer.send(self.names.events, key=key, value=value).get(timeout=30)
                self.poison.append(value)
            else:
                self._send(case, typ, **fields)
        producer.close()

    def _act(self, case: str, typ: str, **fields: Any) -> Action:
        a = Action(uuid.uuid4().hex, typ, case, int(time.time()), "chaos", "supervisor", **fields)
        self.orders.publish(a)
        self.actions.append(a)
        return a

    def _order(self, case: str, fields: dict[str, object], pending: list[Any]) -> None:
        due = fields["due"]
        assert isinstance(due, int)
        a = self._act(case, "supervise", agency_id="city/chaos", item_code="chaos", due_hours=due / 3600, note="限期")
        if fields["reply"]:  # answered in time: one second before it falls due (the reply's own instant counts)
            pending.append((a.at + due - 1, case, "__reply__", {"target": a.action_id}))
            pending.sort(key=lambda p: p[0])

    def expected_work(self, until: int) -> dict[str, dict[str, Any]]:
        """What the pure core raises for the same actions: their records and the orders' escalations."""
        flow = Workflow(parse_pack(PACK))
        works: dict[str, Work] = {}
        out = []
        for a in self.actions:
            w = works.setdefault(a.case_id, Work())
            out += flow.fire(w, a.case_id, a.at) + [r for r in flow.apply(w, a.case_id, a) if isinstance(r, Record)]
        for case, w in works.items():
            out += flow.fire(w, case, until)
        return {r.id: r.to_json() for r in out}

    def run(self) -> dict[str, int]:
        feeder = threading.Thread(target=self.run_feed)
        feeder.start()
        kills = 0
        while feeder.is_alive() or time.time() < self.last_deadline + GRACE:
            self.worker.start()
            time.sleep(
                self.rng.choice([self.rng.uniform(0.1, 1.0), self.rng.uniform(1.0, 4.0), self.rng.uniform(3, 8)])
            )
            self.worker.kill(signal.SIGKILL)
            kills += 1
            time.sleep(self.rng.uniform(0.0, 4.0))  # down: a backlog builds, deadlines pass
        feeder.join()
        ready = self.worker.ready_count()
        self.worker.start()
        self.worker.wait_ready(after=ready, timeout=120)
        time.sleep(max(0.0, self.last_deadline + GRACE + 3 - time.time()))  # every level is past `until`
        until = int(time.time()) - GRACE - 1
        expected = {r["id"]: r for r in self.feed.expected(self.pack, until)} | self.expected_work(until)
        deadline = time.monotonic() + 120
        while True:
            got = read_topic(self.bootstrap, self.names.records)
            if {r["id"] for r, _, _ in got} >= set(expected) or time.monotonic() > deadline:
                break
            time.sleep(1)
        time.sleep(3)  # anything still on its way (a false alarm would be)
        got = read_topic(self.bootstrap, self.names.records)
        rejected = read_topic(self.bootstrap, self.names.rejected, timeout=60)
        arrived = self._arrivals()
        self.worker.kill(signal.SIGTERM)
        return self.score(expected, got, rejected, kills, arrived)

    def _arrivals(self) -> dict[tuple[str, int], float]:
        """When each fed event reached Kafka (its timestamp), by (case, occurred_at)."""
        out: dict[tuple[str, int], float] = {}
        sent = {o["event_id"] for o in self.feed.sent}
        for value, _, ts in read_topic_raw(self.bootstrap, self.names.events):
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and obj.get("event_id") in sent:
                key = (obj["case_id"], parse_instant(obj["occurred_at"]))
                out[key] = max(out.get(key, 0.0), ts / 1000)
        return out

    def score(
        self, expected: dict[str, dict], got: list, rejected: list, kills: int, arrived: dict[tuple[str, int], float]
    ) -> dict[str, int]:
        copies = Counter(r["id"] for r, _, _ in got)
        # A revocation is the contract's answer to an event that reached Kafka after the record's instant plus
        # the grace (§6: the feed stamps whole seconds, so on a loaded machine one can); any other is a false
        # alarm, raised on state the backlog disproved.
        late, false = set(), set()
        for r, _, _ in got:
            if r["kind"] == "revocation":
                reached = arrived.get((r["case_id"], parse_instant(r["at"])), float("inf"))
                (late if reached > parse_instant(r["revoked_at"]) + GRACE else false).add(r["id"])
        revoked = {r["revokes"] for r, _, _ in got if r["kind"] == "revocation"}
        revocations = late | false
        # A rejection is at least once too: a crash after it was acknowledged, before the position moved,
        # repeats it for the same message (same partition and offset).
        distinct = {(r["partition"], r["offset"]): r for r, _, _ in rejected}
        kept = Counter(raw_bytes(r) for r in distinct.values())
        wanted = Counter(self.poison)
        return {
            "kills": kills,
            "expected": len(expected),
            "lost": len(set(expected) - set(copies)),
            "repeats": sum(c - 1 for c in copies.values()) + len(rejected) - len(distinct),
            "wrong": len(set(copies) - set(expected) - revoked - revocations),
            "false_alarms": 2 * len(false),  # each with the record it revoked
            "late_revocations": len(late),
            "poison": sum(wanted.values()),
            "poison_kept": sum(min(c, kept[v]) for v, c in wanted.items()),
            "other_rejections": sum(kept.values()) - sum(min(kept[v], c) for v, c in wanted.items()),
        }


COLUMNS = [
    "kills", "expected", "lost", "repeats", "wrong", "false_alarms", "late_revocations", "poison", "poison_kept",
    "other_rejections",
]  # fmt: skip


def main(
    trials: Annotated[int, typer.Option(help="Independent trials, each with its own topics.")] = 30,
    cases: Annotated[int, typer.Option(help="Cases per trial (half event-driven, half wall-clock).")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the kill schedule and the feed.")] = 1,
    stores: Annotated[str, typer.Option(help="Table stores the trials take turns on: memory, rocksdb.")] = "memory",
) -> None:
    print(f"engine: {engine()}", flush=True)
    rng = random.Random(seed)
    total: Counter[str] = Counter()
    print("trial " + " ".join(f"{c:>16}" for c in COLUMNS), flush=True)
    with tempfile.TemporaryDirectory(prefix="am-chaos-") as tmp_s, kafka_broker(Path(tmp_s)) as bootstrap:
        for n in range(1, trials + 1):
            store = stores.split(",")[(n - 1) % len(stores.split(","))]
            row = Trial(n, bootstrap, Path(tmp_s), rng, cases, store).run()
            total.update(row)
            print(f"{n:>5} " + " ".join(f"{row[c]:>16}" for c in COLUMNS) + f" {store}", flush=True)
    print("total " + " ".join(f"{total[c]:>16}" for c in COLUMNS), flush=True)
    bad = total["lost"] + total["wrong"] + total["false_alarms"] + total["other_rejections"]
    bad += total["poison"] - total["poison_kept"]
    print("PASS: 0 lost, 0 wrong, 0 false alarms" if bad == 0 else f"FAIL: {bad} bad outcomes", flush=True)
    raise typer.Exit(0 if bad == 0 else 1)


if __name__ == "__main__":
    typer.run(main)
