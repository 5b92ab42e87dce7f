"""One contract, every store backend: the same data in, the same answers out.

The expected answers come from plain Python over the same documents (the
oracle below), not from either backend, so the backends must agree with each
other by agreeing with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.data import CASES, RECORDS, REVOKED, UNTIL, counted, shown

from rules.agency import in_subtree
from rules.timeutil import parse_instant
from store.base import OverdueQuery, Period, RecordQuery, day_of, empty_card
from store.sqlite import SqliteStore

_loop: list[asyncio.Runner] = []
REVOKED_RECORDS = [r for r in RECORDS if r["id"] in REVOKED]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    _loop[:] = [asyncio.Runner()]  # one event loop per test: the async Elasticsearch client is bound to it
    if request.param == "sqlite":
        s: Any = SqliteStore(tmp_path / "monitor.db", day_offset=8 * 3600)  # roll-ups in UTC+8 days
    else:
        from store.elastic import ElasticStore

        url = request.getfixturevalue("elastic_url")
        s = ElasticStore(url, prefix=f"t{uuid.uuid4().hex[:10]}")
    run(s.setup())
    run(s.put_records(RECORDS))
    run(s.put_cases(CASES))
    run(s.refresh())
    yield s
    run(s.close())
    _loop.pop().close()


def run(coro: Any) -> Any:
    return _loop[0].run(coro)


def _all_pages(fetch: Any, query: Any, **kw: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):  # a cursor that does not advance must fail the test, not hang it
        page = run(fetch(dataclasses.replace(query, cursor=cursor), **kw))
        items += page.items
        if page.next_cursor is None:
            return items
        assert page.next_cursor != cursor, "the cursor did not advance"
        cursor = page.next_cursor
    raise AssertionError("more than 1000 pages")


def test_the_history_is_rich_enough() -> None:
    kinds = {r["kind"] for r in RECORDS}
    assert {"reminder", "warning", "overdue", "case_overdue", "procedure", "revocation"} <= kinds
    assert len(REVOKED) > 20 and any(rid.endswith("-r1") for rid in REVOKED)
    assert len({c["agency_id"] for c in CASES}) >= 5


def test_records_are_idempotent_by_id(store: Any) -> None:
    run(store.put_records(RECORDS[:50]))
    run(store.refresh())
    everything = _all_pages(store.search_records, RecordQuery(limit=97))
    assert len(everything) == len(RECORDS)
    assert len({r["id"] for r in everything}) == len(RECORDS)


@pytest.mark.parametrize(
    "query",
    [
        RecordQuery(limit=50),
        RecordQuery(kinds=("overdue", "case_overdue"), limit=7),
        RecordQuery(agency="city/market", limit=13),
        RecordQuery(agency="city/planning/east", kinds=("warning",)),
        RecordQuery(
            item_code="construction-permit",
            since=parse_instant("2026-03-05T00:00:00Z"),
            until=parse_instant("2026-03-12T00:00:00Z"),
        ),
    ],
)
def test_search_records_matches_the_oracle_page_by_page(store: Any, query: RecordQuery) -> None:
    def wanted(r: dict[str, Any]) -> bool:
        at = parse_instant(r["at"])
        return (
            (not query.kinds or r["kind"] in query.kinds)
            and in_subtree(r["agency_id"], query.agency)
            and (query.item_code is None or r["item_code"] == query.item_code)
            and (query.since is None or at >= query.since)
            and (query.until is None or at < query.until)
        )

    expected = sorted((r for r in RECORDS if wanted(r)), key=lambda r: (-parse_instant(r["at"]), r["id"]))
    got = _all_pages(store.search_records, query)
    assert got == [shown(r, REVOKED) for r in expected]
    assert expected, "the query should match something"


def test_agency_scope_is_a_subtree_not_a_prefix(store: Any) -> None:
    run(store.put_records([{**RECORDS[0], "id": "lookalike", "agency_id": "city/marketing"}]))
    run(store.refresh())
    got = _all_pages(store.search_records, RecordQuery(agency="city/market"))
    assert got and all(r["agency_id"] == "city/market" or r["agency_id"].startswith("city/market/") for r in got)


def test_overdue_now_matches_the_oracle(store: Any) -> None:
    now = UNTIL
    expected = []
    for c in CASES:
        if c["completed_at"] is None and c["deadline"] and parse_instant(c["deadline"]) < now:
            expected.append((c["deadline"], c["case_id"], None))
        for s in c["steps"]:
            if s["completed_at"] is None and s["deadline"] and parse_instant(s["deadline"]) < now:
                expected.append((s["deadline"], c["case_id"], s["step"]))
    expected.sort(key=lambda e: (e[0], e[1], e[2] or ""))
    got = _all_pages(store.overdue, OverdueQuery(limit=11), now=now)
    assert [(g["deadline"], g["case_id"], g["step"]) for g in got] == expected
    assert expected
    assert all(g["overdue_seconds"] == now - parse_instant(g["deadline"]) for g in got)
    only_steps = _all_pages(store.overdue, OverdueQuery(kinds=("step",), agency="city/planning"), now=now)
    assert only_steps == [g for g in got if g["kind"] == "step" and in_subtree(g["agency_id"], "city/planning")]
    middle = parse_instant(got[len(got) // 2]["deadline"])  # a lower bound: what falls due from then on
    later = _all_pages(store.overdue, OverdueQuery(limit=7, due_from=middle), now=now)
    assert later == [g for g in got if parse_instant(g["deadline"]) >= middle] and 0 < len(later) < len(got)


def test_at_risk_is_the_open_clocks_not_yet_overdue_soonest_first(store: Any) -> None:
    now = UNTIL - 2 * 86400  # two days before the history ends: some open clocks are not yet due
    expected = []
    for c in CASES:
        paused = c["suspended_since"] is not None
        if c["completed_at"] is None and c["deadline"] and parse_instant(c["deadline"]) >= now:
            expected.append((c["deadline"], c["case_id"], None, paused))
        for s in c["steps"]:
            if s["completed_at"] is None and s["deadline"] and parse_instant(s["deadline"]) >= now:
                expected.append((s["deadline"], c["case_id"], s["step"], paused))
    expected.sort(key=lambda e: (e[0], e[1], e[2] or ""))
    got = _all_pages(store.overdue, OverdueQuery(limit=5, upcoming=True), now=now)
    assert [(g["deadline"], g["case_id"], g["step"], g["paused"]) for g in got] == expected
    assert expected and all(g["overdue_seconds"] <= 0 for g in got)


def test_case_timeline_has_its_steps_and_records(store: Any) -> None:
    case = next(c for c in CASES if len(c["steps"]) >= 2 and any(r["case_id"] == c["case_id"] for r in REVOKED_RECORDS))
    got = run(store.get_case(case["case_id"]))
    assert got is not None
    assert [s["step"] for s in got["steps"]] == [s["step"] for s in case["steps"]]
    mine = sorted((r for r in RECORDS if r["case_id"] == case["case_id"]), key=lambda r: (r["at"], r["id"]))
    assert got["records"] == [shown(r, REVOKED) for r in mine]
    assert run(store.get_case("no-such-case")) is None


def test_a_foreign_cursor_is_refused(store: Any) -> None:
    with pytest.raises(ValueError, match="cursor"):
        run(store.search_records(RecordQuery(cursor="not-a-cursor!!")))


PERIODS = {  # whole UTC+8 days, whole UTC days, ragged ends, and less than a day
    "local-days": ("2026-03-03T00:00:00+08:00", "2026-03-17T00:00:00+08:00"),
    "utc-days": ("2026-03-03T00:00:00Z", "2026-03-17T00:00:00Z"),
    "ragged": ("2026-03-04T05:17:11+08:00", "2026-03-16T19:02:03+08:00"),
    "short": ("2026-03-09T09:30:00+08:00", "2026-03-09T17:45:00+08:00"),
}


def _export(store: Any, q: RecordQuery, page: int) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [r async for r in store.export_records(q, page=page)]

    return run(collect())


def test_export_is_every_matching_record_in_page_order_and_resumes_after_a_cursor(store: Any) -> None:
    q = RecordQuery(kinds=("reminder", "overdue", "case_overdue"), agency="city")
    newest_first = sorted(RECORDS, key=lambda r: (-parse_instant(r["at"]), r["id"]))
    want = [r["id"] for r in newest_first if r["kind"] in q.kinds and in_subtree(r["agency_id"], "city")]
    assert len(want) > 150
    assert [r["id"] for r in _export(store, q, page=50)] == want
    first = run(store.search_records(dataclasses.replace(q, limit=120)))
    assert [r["id"] for r in _export(store, dataclasses.replace(q, cursor=first.next_cursor), page=50)] == want[120:]


def test_count_is_what_was_written_once_however_often(store: Any) -> None:
    run(store.put_records(RECORDS[:50]))  # repeats change nothing
    run(store.put_cases(CASES[:5]))
    assert run(store.count()) == (len(RECORDS), len(CASES))


def _oracle_cards(by: str, period: Period) -> list[dict[str, Any]]:
    field = "agency_id" if by == "agency" else "handler_id"
    cards: dict[str, dict[str, Any]] = {}
    for r in RECORDS:
        at = parse_instant(r["at"])
        inside = period.since <= at < period.until and in_subtree(r["agency_id"], period.agency)
        if inside and r.get(field) and counted(r, REVOKED):
            card = cards.setdefault(r[field], empty_card(r[field]))
            card["points"] += r["points"]
            card["counts"][r["kind"]] = card["counts"].get(r["kind"], 0) + 1
    return [cards[k] for k in sorted(cards)]


def test_a_revocation_counts_for_nothing_whenever_either_is_written_and_however_often(store: Any) -> None:
    """Repeats of revoked records, of revocations and of re-raises; a revocation written before its record."""
    everything = Period(parse_instant("2026-01-01T00:00:00Z"), parse_instant("2027-01-01T00:00:00Z"))
    before = run(store.scorecard("agency", everything))
    assert [c["points"] for c in before] == [c["points"] for c in _oracle_cards("agency", everything)]
    again = [r for r in RECORDS if r["id"] in REVOKED or r["kind"] == "revocation" or r["id"].endswith("-r1")]
    run(store.put_records(again))
    run(store.put_records(list(reversed(again))))
    target = REVOKED_RECORDS[0]
    fresh = {**target, "id": "late-alarm", "at": target["at"]}
    revocation = {
        **next(r for r in RECORDS if r.get("revokes") == target["id"]),
        "id": "late-rev",
        "revokes": "late-alarm",
    }
    run(store.put_records([revocation]))  # the revocation first, as after a crash that repeated its record
    run(store.put_records([fresh]))
    run(store.refresh())
    after = run(store.scorecard("agency", everything))
    assert after == before
    got = _all_pages(store.search_records, RecordQuery(case_id=target["case_id"], limit=500))
    assert next(r for r in got if r["id"] == "late-alarm")["revoked_by"] == "late-rev"
    assert {r["id"]: r.get("revoked_by") for r in got if r["id"] in REVOKED} == {
        r["id"]: REVOKED[r["id"]] for r in REVOKED_RECORDS if r["case_id"] == target["case_id"]
    }
    assert run(store.count())[0] == len(RECORDS) + 2


@pytest.mark.parametrize("by", ["agency", "handler"])
@pytest.mark.parametrize("scope", [None, "city/market"])
@pytest.mark.parametrize("span", PERIODS)
def test_scorecards_match_the_oracle(store: Any, by: str, scope: str | None, span: str) -> None:
    run(store.put_cases(CASES[::3]))  # case documents are replaced whole: nothing may count twice
    run(store.refresh())
    period = Period(*(parse_instant(t) for t in PERIODS[span]), scope)
    field = "agency_id" if by == "agency" else "handler_id"
    cards: dict[str, dict[str, Any]] = {}
    for r in RECORDS:
        at = parse_instant(r["at"])
        if (
            period.since <= at < period.until
            and in_subtree(r["agency_id"], scope)
            and r.get(field)
            and counted(r, REVOKED)
        ):
            card = cards.setdefault(
                r[field], {"key": r[field], "points": 0.0, "counts": {}, "steps_completed": 0, "steps_on_time": 0}
            )
            card["points"] += r["points"]
            card["counts"][r["kind"]] = card["counts"].get(r["kind"], 0) + 1
    for c in CASES:
        for s in c["steps"]:
            key = c["agency_id"] if by == "agency" else s.get("handler_id")
            if (
                s["completed_at"]
                and key
                and in_subtree(c["agency_id"], scope)
                and period.since <= parse_instant(s["completed_at"]) < period.until
            ):
                card = cards.setdefault(
                    key, {"key": key, "points": 0.0, "counts": {}, "steps_completed": 0, "steps_on_time": 0}
                )
                card["steps_completed"] += 1
                card["steps_on_time"] += s["status"] == "on_time"
    expected = [cards[k] for k in sorted(cards)]
    assert expected
    assert run(store.scorecard(by, period)) == expected


@pytest.mark.parametrize("offset_hours", [8, 0])
@pytest.mark.parametrize("span", ["local-days", "ragged"])
@pytest.mark.parametrize("scope", ["city", "city/market"])
def test_daily_counts_match_the_oracle(store: Any, offset_hours: int, span: str, scope: str) -> None:
    period = Period(*(parse_instant(t) for t in PERIODS[span]), scope)
    counts: dict[tuple[str, str], int] = {}
    for r in RECORDS:
        at = parse_instant(r["at"])
        if period.since <= at < period.until and in_subtree(r["agency_id"], scope) and counted(r, REVOKED):
            key = (day_of(at, offset_hours * 3600), r["kind"])
            counts[key] = counts.get(key, 0) + 1
    expected = [{"day": d, "kind": k, "count": n} for (d, k), n in sorted(counts.items())]
    assert len({e["day"] for e in expected}) >= {"local-days": 10, "ragged": 8}[span]  # days with records
    assert run(store.daily(period, offset_hours * 3600)) == expected


def _deliveries() -> list[dict[str, Any]]:
    """A delivery log for two subscriptions over the history's first records, some at equal instants."""
    out = []
    for i, r in enumerate(RECORDS[:120]):
        sub = "sub_a" if i % 3 else "sub_b"
        status = "dead" if i % 7 == 0 else "delivered"
        at = r["at"] if i % 5 else RECORDS[0]["at"]  # ties, so the id order matters
        out.append({"id": f"{sub}:{r['id']}", "subscription_id": sub, "record_id": r["id"], "kind": r["kind"],
                    "case_id": r["case_id"], "agency_id": r["agency_id"], "status": status,
                    "attempts": 1 if status == "delivered" else 4, "http_status": 200 if status == "delivered" else 500,
                    "latency_ms": 3.5, "error": None, "first_attempt_at": at, "at": at, "attempt_log": []})  # fmt: skip
    return out


@pytest.mark.parametrize("status", [None, "dead"])
def test_delivery_log_pages_newest_first_and_a_redelivery_replaces_its_entry(store: Any, status: str | None) -> None:
    from store.base import DeliveryQuery

    log = _deliveries()
    run(store.put_deliveries(log))
    again = {**log[1], "status": "dead", "attempts": 9}  # the same subscription and record, delivered again
    run(store.put_deliveries([again]))
    run(store.refresh())
    log[1] = again
    want = sorted(
        (d for d in log if d["subscription_id"] == "sub_a" and (status is None or d["status"] == status)),
        key=lambda d: (-parse_instant(d["at"]), d["id"]),
    )
    got = _all_pages(store.search_deliveries, DeliveryQuery("sub_a", status=status, limit=7))
    assert got == want
    assert len(want) > 7
    one = run(store.search_deliveries(DeliveryQuery("sub_a", record_id=log[1]["record_id"])))
    assert one.items == [again]
    assert run(store.search_deliveries(DeliveryQuery("sub_nobody"))).items == []


def _work(i: int) -> dict[str, Any]:
    """A 督办 or appeal document as ``rules.work_views`` writes them, spread over agencies, statuses and times."""
    agency = CASES[i % len(CASES)]["agency_id"]
    at = f"2026-03-{1 + i % 20:02}T0{i % 10}:00:00Z"
    if i % 3:
        status = ("open", "replied", "closed")[i % 3]
        return {"id": f"o{i:03}", "type": "supervision", "case_id": f"K{i}", "agency_id": agency, "status": status,
                "at": at, "due": f"2026-03-{2 + i % 20:02}T09:00:00Z", "record_id": None}  # fmt: skip
    return {"id": f"a{i:03}", "type": "appeal", "case_id": f"K{i}", "agency_id": agency, "record_id": f"r{i}",
            "status": ("pending", "upheld")[i % 2], "at": at}  # fmt: skip


def _matches(d: dict[str, Any], q: Any) -> bool:
    """The oracle of ``search_work``."""
    return (
        d["type"] == q.type
        and (q.status is None or d["status"] == q.status)
        and (q.agency is None or in_subtree(d["agency_id"], q.agency))
        and (q.record_id is None or d.get("record_id") == q.record_id)
        and (q.overdue_at is None or (d["status"] == "open" and parse_instant(d["due"]) < q.overdue_at))
    )


def test_work_documents_replace_by_id_and_filter_alike(store: Any) -> None:
    from store.base import WorkQuery

    docs = [_work(i) for i in range(60)]
    run(store.put_work(docs))
    run(store.put_work([{**docs[1], "status": "closed"}]))  # a later version replaces the first
    docs[1] = {**docs[1], "status": "closed"}
    run(store.refresh())
    scope = CASES[0]["agency_id"].rsplit("/", 1)[0]
    now = parse_instant("2026-03-10T00:00:00Z")
    for q in (WorkQuery("supervision", limit=7), WorkQuery("appeal", status="pending", limit=3),
              WorkQuery("supervision", agency=scope, limit=5), WorkQuery("supervision", overdue_at=now, limit=4),
              WorkQuery("appeal", record_id="r3")):  # fmt: skip
        want = [d for d in docs if _matches(d, q)]
        want.sort(key=lambda d: (-parse_instant(d["at"]), d["id"]))
        assert [d["id"] for d in _all_pages(store.search_work, q)] == [d["id"] for d in want], q
    assert run(store.get_work("o001")) == docs[1] and run(store.get_work("nope")) is None


def test_one_record_by_id_with_what_withdrew_it(store: Any) -> None:
    victim = REVOKED_RECORDS[0]
    assert run(store.get_record(victim["id"])) == shown(victim, REVOKED)
    assert run(store.get_record("no-such-record")) is None


@pytest.mark.parametrize("by", ["agency", "handler"])
def test_the_share_of_its_limit_each_completed_step_used(store: Any, by: str) -> None:
    from store.base import step_ratio

    period = Period(parse_instant("2026-03-01T00:00:00Z"), parse_instant("2026-03-15T00:00:00Z"), "city/market")
    want: dict[str, list[float]] = {}
    for c in CASES:
        if not in_subtree(c["agency_id"], "city/market"):
            continue
        for s in c["steps"]:
            ratio = step_ratio(s)
            key = c["agency_id"] if by == "agency" else s.get("handler_id")
            if (
                ratio is not None
                and key is not None
                and period.since <= parse_instant(s["completed_at"]) < period.until
            ):
                want.setdefault(key, []).append(ratio)
    got = run(store.step_ratios(by, period))
    assert want and {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in want.items()}


def test_a_batch_links_only_the_records_not_stored_and_stores_every_kind(store: Any) -> None:
    from store.base import Batch, DeliveryQuery

    stored, fresh = RECORDS[1], [{**RECORDS[0], "id": f"batch-{i}"} for i in range(3)]
    asked: list[set[str]] = []

    def link(already: set[str]) -> list[dict[str, Any]]:
        asked.append(set(already))
        return [{**r, "chain": {"p": 0, "n": n, "hash": f"h{n}"}} for n, r in enumerate(fresh, 1)]

    case = {**CASES[0], "item_name": "by the batch"}
    work, delivery = _work(1), _deliveries()[0]
    run(store.put_batch(Batch([stored, *fresh], link, [case], [work], [delivery])))
    run(store.refresh())
    assert asked == [{stored["id"]}]  # asked once, with exactly the batch's records stored already
    for n, r in enumerate(fresh, 1):
        assert run(store.get_record(r["id"]))["chain"] == {"p": 0, "n": n, "hash": f"h{n}"}
    assert run(store.get_record(stored["id"])) == shown(stored, REVOKED)  # not written again
    assert run(store.get_case(case["case_id"]))["item_name"] == "by the batch"
    assert run(store.get_work(work["id"])) == work
    assert run(store.search_deliveries(DeliveryQuery(delivery["subscription_id"]))).items == [delivery]
