"""Contract §7.8: when a report reached the monitor — late reports cost points, future stamps are refused."""

from __future__ import annotations

import io

import orjson
from support import judge

from approval_monitor.replay_job import replay_file
from rules.pack import parse_pack
from rules.timeutil import parse_instant

PACK = """
version: 2
penalties: {overdue: 2, late_report: 1}
future_tolerance_seconds: 300
items:
  - code: x
    max_report_delay_hours: 24
    steps: [{name: a, limit_hours: 2}]
"""
SUBMIT = {"case_id": "c1", "type": "case_submitted", "item_code": "x", "agency_id": "city/a",
          "occurred_at": "2026-03-02T01:00:00Z"}  # fmt: skip


def test_a_report_later_than_the_item_allows_raises_late_report_when_received() -> None:
    start = {"case_id": "c1", "type": "step_started", "step": "a", "handler_id": "h1",
             "occurred_at": "2026-03-02T02:00:00Z", "received_at": "2026-03-02T02:00:05Z"}  # fmt: skip
    done = {"case_id": "c1", "type": "step_completed", "step": "a", "handler_id": "h2",
            "occurred_at": "2026-03-02T03:00:00Z", "received_at": "2026-03-04T03:00:01Z"}  # fmt: skip
    records, rejects = judge(PACK, [SUBMIT, start, done], "2026-03-10T00:00:00Z")
    assert rejects == []
    late = [r.to_json() for r in records if r.kind == "late_report"]
    assert len(late) == 1
    assert late[0]["at"] == "2026-03-04T03:00:01Z" and late[0]["step"] == "a" and late[0]["handler_id"] == "h2"
    assert late[0]["points"] == 1 and late[0]["reporting_delay_seconds"] == 2 * 86400 + 1
    # exactly the allowed delay is not late; without received_at nothing is judged
    on_time = {**done, "received_at": "2026-03-03T03:00:00Z"}
    assert not [r for r in judge(PACK, [SUBMIT, start, on_time], "2026-03-10T00:00:00Z")[0] if r.kind == "late_report"]
    unknown = {k: v for k, v in done.items() if k != "received_at"}
    assert not [r for r in judge(PACK, [SUBMIT, start, unknown], "2026-03-10T00:00:00Z")[0] if r.kind == "late_report"]


def test_a_late_report_received_after_until_is_not_raised_yet() -> None:
    done = {"case_id": "c1", "type": "case_completed", "outcome": "withdrawn", "occurred_at": "2026-03-02T01:30:00Z",
            "received_at": "2026-03-05T00:00:00Z"}  # fmt: skip
    assert [r.kind for r in judge(PACK, [SUBMIT, done], "2026-03-04T00:00:00Z")[0]] == []
    assert [r.kind for r in judge(PACK, [SUBMIT, done], "2026-03-06T00:00:00Z")[0]] == ["late_report"]


def _replay(lines: list[dict[str, object]], until: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    out, rej = io.BytesIO(), io.BytesIO()
    data = b"".join(orjson.dumps({"event_id": str(i), **x}) + b"\n" for i, x in enumerate(lines, 1))
    replay_file(parse_pack(PACK), io.BytesIO(data), parse_instant(until), out, rej)
    return (
        [orjson.loads(x) for x in out.getvalue().splitlines()],
        [orjson.loads(x) for x in rej.getvalue().splitlines()],
    )


def test_a_future_stamped_event_is_refused_on_its_line_and_leaves_its_event_id_unused() -> None:
    start = {"event_id": "s", "case_id": "c1", "type": "step_started", "step": "a",
             "occurred_at": "2026-03-02T02:00:00Z", "received_at": "2026-03-02T01:54:59Z"}  # fmt: skip
    # 301 s in the future is refused; the same event_id within the tolerance then applies
    records, rejects = _replay([SUBMIT, start, {**start, "received_at": "2026-03-02T01:55:00Z"}],
                               "2026-03-10T00:00:00Z")  # fmt: skip
    assert [(r["line"], r["code"]) for r in rejects] == [(2, "future_timestamp")]
    assert "300 s" in rejects[0]["reason"] and rejects[0]["raw"]
    assert [r["kind"] for r in records] == ["overdue"]
    _, bad = _replay([SUBMIT, {**start, "received_at": "yesterday"}], "2026-03-10T00:00:00Z")
    assert [(r["line"], r["code"]) for r in bad] == [(2, "bad_timestamp")] and "received_at" in bad[0]["reason"]


def test_a_revocation_caused_by_a_late_report_names_it_and_the_late_report_stands() -> None:
    """A backdated completion erases the red card only visibly: the revocation says why, late_report costs."""
    from rules.engine import Engine
    from rules.events import Event, decode
    from rules.live import on_event, on_tick

    engine = Engine(parse_pack(PACK))
    lines = [SUBMIT,
             {"case_id": "c1", "type": "step_started", "step": "a", "occurred_at": "2026-03-02T02:00:00Z"},
             {"case_id": "c1", "type": "step_completed", "step": "a", "occurred_at": "2026-03-02T03:59:00Z",
              "received_at": "2026-03-04T09:00:00Z"}]  # fmt: skip
    evs = [decode({"event_id": str(i), **x}, i) for i, x in enumerate(lines, 1)]
    assert all(isinstance(e, Event) for e in evs)
    st, _ = on_event(engine, None, evs[0], now=parse_instant("2026-03-02T01:00:00Z"))
    st, _ = on_event(engine, st, evs[1], now=parse_instant("2026-03-02T02:00:00Z"))
    assert [r.kind for r in on_tick(engine, st, parse_instant("2026-03-02T05:00:00Z"), 0)] == ["overdue"]
    st, raised = on_event(engine, st, evs[2], now=parse_instant("2026-03-04T09:00:00Z"))
    # the red card raised when the wall clock passed 04:00 is revoked by the backdated completion
    assert [r.kind for r in raised] == ["revocation", "late_report"]
    revocation = raised[0].to_json()
    assert revocation["caused_by"] == "3" and revocation["reporting_delay_seconds"] == 190860
    assert raised[1].to_json()["reporting_delay_seconds"] == 190860
