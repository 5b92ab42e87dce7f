"""督办, replies, reviews, appeals, decisions and acknowledgements in the pure core (``rules.workflow``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from rules.actions import Action, action_message, parse_action
from rules.engine import Engine, state_from_json, state_to_json
from rules.events import Rejection
from rules.live import on_action, on_tick
from rules.pack import parse_pack
from rules.records import Record
from rules.state import CaseState
from rules.timeutil import format_instant

PACK = """
version: 2
calendars:
  office: {timezone: Asia/Shanghai, work_windows: ["09:00-12:00", "13:00-17:00"], weekdays: [mon, tue, wed, thu, fri]}
penalties: {overdue: 2, escalation: 5}
appeal_days: 3
items:
  - code: x
    calendar: office
    steps: [{name: a, limit_hours: 2}]
"""
ENGINE = Engine(parse_pack(PACK))


def at(text: str) -> int:
    """A Beijing wall-clock time as an instant."""
    return int(datetime.fromisoformat(text + "+08:00").astimezone(UTC).timestamp())


MON_10 = at("2026-11-23T10:00:00")  # a Monday
OVERDUE = {"id": "r1", "kind": "overdue", "at": format_instant(MON_10), "points": 2, "step": "a", "handler_id": "h1",
           "agency_id": "city/land", "item_code": "x"}  # fmt: skip


def act(aid: str, typ: str, t: int, **kw: Any) -> Action:
    """Through the wire format, as the worker reads it."""
    a = Action(aid, typ, "K", t, kw.pop("by", "sup"), kw.pop("role", "supervisor"), **kw)
    got = parse_action(action_message(a), 7)
    assert isinstance(got, Action), got
    return got


def run(st: CaseState | None, *actions: Action) -> tuple[CaseState, list[Any]]:
    out: list[Any] = []
    for a in actions:
        st, got = on_action(ENGINE, st, a)
        out += got
    assert st is not None
    return st, out


def kinds(out: list[Any]) -> list[str]:
    return [o.kind if isinstance(o, Record) else f"!{o.code}" for o in out]


def supervise(t: int = MON_10, **kw: Any) -> Action:
    return act("o1", "supervise", t, agency_id="city/land", item_code="x", record=OVERDUE, **kw)


def test_an_order_due_in_working_hours_escalates_once_on_the_wall_clock() -> None:
    st, out = run(None, supervise(due_hours=4))  # 10:00 + 4 working hours, lunch 12-13: 15:00
    assert kinds(out) == ["supervision"] and out[0].detail["due"] == format_instant(at("2026-11-23T15:00:00"))
    assert st.due == at("2026-11-23T15:00:00")
    assert on_tick(ENGINE, st, at("2026-11-23T14:59:59"), 0) == []
    (red,) = on_tick(ENGINE, st, at("2026-11-23T15:00:00"), 0)  # as a step's deadline: raised when the clock shows it
    assert (red.kind, red.at, red.points, red.agency_id, red.handler_id) == (
        "escalation", at("2026-11-23T15:00:00"), 5, "city/land", "h1"
    )  # fmt: skip
    assert on_tick(ENGINE, st, at("2026-11-24T15:00:00"), 0) == [] and st.due is None


def test_due_in_working_days_is_close_of_business_and_skips_the_weekend() -> None:
    fri = at("2026-11-27T16:00:00")
    _st, out = run(None, supervise(fri, due_days=1))
    assert out[0].detail["due"] == format_instant(at("2026-11-30T17:00:00"))  # Monday's close of business


def test_a_reply_in_time_prevents_the_escalation_and_a_late_one_does_not_undo_it() -> None:
    st, out = run(None, supervise(due_hours=1), act("p1", "reply", MON_10 + 1800, target="o1", role="agency"))
    assert kinds(out) == ["supervision", "reply"] and st.due is None
    assert on_tick(ENGINE, st, MON_10 + 86400 * 3, 0) == []
    st, out = run(None, supervise(due_hours=1), act("p1", "reply", MON_10 + 3601, target="o1", role="agency"))
    assert kinds(out) == ["supervision", "escalation", "reply"]


def test_a_returned_reply_opens_a_new_round_that_escalates_with_its_own_id() -> None:
    st, _out = run(
        None,
        supervise(due_hours=1),
        act("p1", "reply", MON_10 + 60, target="o1", role="agency"),
        act("v1", "review", MON_10 + 120, target="o1", outcome="return", due_hours=1),
    )
    assert st.work is not None and st.work.orders["o1"].round == 2
    (red,) = on_tick(ENGINE, st, MON_10 + 120 + 3601, 0)
    assert red.detail is not None and red.detail["round"] == 2
    st2, _out2 = run(None, supervise(due_hours=1))
    (red1,) = on_tick(ENGINE, st2, MON_10 + 3601, 0)
    assert red1.id != red.id


def test_transitions_out_of_order_are_refused_with_the_reason() -> None:
    st, out = run(
        None,
        supervise(due_hours=1),
        act("v0", "review", MON_10 + 10, target="o1", outcome="accept"),  # nothing replied yet
        act("p1", "reply", MON_10 + 20, target="o1", role="agency"),
        act("p2", "reply", MON_10 + 30, target="o1", role="agency"),  # replied already
        act("v1", "review", MON_10 + 40, target="o1", outcome="maybe"),
        act("v2", "review", MON_10 + 50, target="o1", outcome="accept"),
        act("p3", "reply", MON_10 + 60, target="nope", role="agency"),
    )
    assert kinds(out) == ["supervision", "!not_allowed", "reply", "!not_allowed", "!not_allowed", "review",
                          "!not_allowed"]  # fmt: skip
    reasons = [o.reason for o in out if isinstance(o, Rejection)]
    assert "only a replied order" in reasons[0] and "not awaiting a reply" in reasons[1] and "nope" in reasons[3]
    assert st.work is not None and st.work.orders["o1"].status == "closed" and not st.awaiting


def test_an_upheld_appeal_withdraws_the_record_and_each_step_is_taken_once() -> None:
    _st, out = run(
        None,
        act("a1", "appeal", MON_10 + 3600, record=OVERDUE, agency_id="city/land", item_code="x", role="agency",
            note="系统故障", evidence=["https://example.org/proof.pdf"]),
        act("a2", "appeal", MON_10 + 3700, record=OVERDUE, agency_id="city/land", item_code="x", role="agency"),
        act("d1", "decide", MON_10 + 7200, target="a1", outcome="upheld", note="属实"),
        act("d2", "decide", MON_10 + 7300, target="a1", outcome="rejected"),
    )  # fmt: skip
    assert kinds(out) == ["appeal", "!not_allowed", "decision", "adjustment", "!not_allowed"]
    adj = out[3]
    assert adj.detail["revokes"] == "r1" and adj.detail["revoked_at"] == OVERDUE["at"] and adj.points == 0
    assert (adj.agency_id, adj.handler_id, adj.step) == ("city/land", "h1", "a")


def test_an_appeal_after_its_window_or_on_a_record_without_points_is_refused() -> None:
    # 3 working days after Monday 10:00: Thursday's close of business
    late = act("a1", "appeal", at("2026-11-26T17:00:01"), record=OVERDUE, agency_id="city/land", item_code="x")
    _, out = run(None, late)
    assert kinds(out) == ["!not_allowed"] and "window closed" in out[0].reason
    ok = act("a1", "appeal", at("2026-11-26T17:00:00"), record=OVERDUE, agency_id="city/land", item_code="x")
    assert kinds(run(None, ok)[1]) == ["appeal"]
    reminder = {**OVERDUE, "kind": "reminder", "points": 0}
    _, out = run(None, act("a1", "appeal", MON_10, record=reminder, agency_id="city/land", item_code="x"))
    assert kinds(out) == ["!not_allowed"]


def test_an_alarm_is_acknowledged_once_and_a_resent_action_is_skipped() -> None:
    ack = act("k1", "ack", MON_10 + 5, record=OVERDUE)
    st, out = run(None, ack, ack, act("k2", "ack", MON_10 + 9, record=OVERDUE, by="other"))
    assert kinds(out) == ["ack", "!not_allowed"] and "handled by sup" in out[1].reason
    assert st.work is not None and st.work.acks == {"r1": ("sup", MON_10 + 5, "a", "overdue")}


def test_the_work_survives_the_state_table_and_is_not_escalated_twice() -> None:
    st, _ = run(None, supervise(due_hours=1))
    (_red,) = on_tick(ENGINE, st, MON_10 + 3601, 0)
    back = state_from_json(ENGINE, orjson.loads(orjson.dumps(state_to_json(st))))
    assert back.work == st.work and on_tick(ENGINE, back, MON_10 + 99999, 0) == []
    assert back.awaiting  # still waiting for the reply: the state is kept


def test_malformed_actions_name_the_field() -> None:
    for raw, needle in [
        (b"[]", "JSON object"),
        (b'{"action_id":"x","type":"grant","case_id":"K","by":"s","role":"r","at":1}', "`type`"),
        (b'{"action_id":"x","type":"ack","case_id":"K","by":"s","role":"r","at":"now"}', "`at`"),
        (b'{"action_id":"x","type":"supervise","case_id":"K","by":"s","role":"r","at":1,"due_days":0}', "due_days"),
        (b'{"action_id":"","type":"ack","case_id":"K","by":"s","role":"r","at":1}', "action_id"),
    ]:
        got = parse_action(raw, 3)
        assert isinstance(got, Rejection) and got.code == "bad_action" and needle in got.reason and got.raw == raw


def test_a_reply_made_in_time_but_judged_after_the_escalation_revokes_it() -> None:
    st, _ = run(None, supervise(due_hours=1))
    (red,) = on_tick(ENGINE, st, MON_10 + 3600 + 5, 0)  # the worker was behind: the reply not yet judged
    st, out = run(st, act("p1", "reply", MON_10 + 3590, target="o1", role="agency"))
    assert kinds(out) == ["reply", "revocation"]
    assert out[1].detail["revokes"] == red.id and out[1].detail["revoked_kind"] == "escalation"
    assert on_tick(ENGINE, st, MON_10 + 99999, 0) == []
    st2, _ = run(None, supervise(due_hours=1))
    on_tick(ENGINE, st2, MON_10 + 3600 + 5, 0)
    _, late = run(st2, act("p1", "reply", MON_10 + 3601, target="o1", role="agency"))
    assert kinds(late) == ["reply"]  # made after the due time: the red card stands
