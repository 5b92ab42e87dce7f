"""The engine's timing and judging rules, one contract sentence at a time.

The calendar is Shanghai 09:00-12:00 and 13:30-17:30; 2026-11-23 is a Monday, so
local 09:00 is 01:00Z, 12:00 is 04:00Z and 13:30 is 05:30Z.
"""

from __future__ import annotations

from support import brief, events, judge

from rules.engine import Engine
from rules.pack import parse_pack
from rules.records import Record
from rules.replay import Replayer, replay_events
from rules.timeutil import parse_instant

PACK = """
version: 1
calendars:
  gov: {timezone: Asia/Shanghai, work_windows: ["09:00-12:00", "13:30-17:30"]}
penalties: {overdue: 2, case_overdue: 3, procedure: 2, fee: 3, suspension: 1}
items:
  - code: x
    calendar: gov
    limit_hours: 8
    reminder_at: 0.5
    warning_at: 0.8
    fee_yuan: 0.3
    max_suspension_hours: 1
    steps:
      - {name: a, limit_hours: 2}
      - {name: b, limit_hours: 1, optional: true}
      - {name: c, limit_hours: 1}
  - code: natural
    limit_hours: 1
    reminder_at: 0.3333
    steps: [{name: a, limit_hours: 0.5}]
"""
MON = "2026-11-23T"


def submit(at: str = "09:00:00", item: str = "x", case: str = "K") -> dict:
    return {
        "case_id": case,
        "type": "case_submitted",
        "item_code": item,
        "agency_id": "city/land",
        "occurred_at": f"{MON}{at}+08:00",
    }


def ev(typ: str, at: str, case: str = "K", day: str = MON, **kw: object) -> dict:
    return {"case_id": case, "type": typ, "occurred_at": f"{day}{at}+08:00", **kw}


def test_step_completed_exactly_at_deadline_is_on_time() -> None:
    recs, _ = judge(
        PACK,
        [submit(), ev("step_started", "09:00:00", step="a"), ev("step_completed", "11:00:00", step="a")],
        "2026-11-23T10:00:00Z",
    )
    assert brief(recs) == [("reminder", "a", "2026-11-23T02:00:00Z"), ("warning", "a", "2026-11-23T02:36:00Z")]


def test_one_second_late_is_overdue_at_the_deadline() -> None:
    recs, _ = judge(
        PACK,
        [submit(), ev("step_started", "09:00:00", step="a"), ev("step_completed", "11:00:01", step="a")],
        "2026-11-23T10:00:00Z",
    )
    assert ("overdue", "a", "2026-11-23T03:00:00Z") in brief(recs)


def test_deadline_at_the_end_of_a_window_not_the_start_of_the_next() -> None:
    start = [submit(), ev("step_started", "10:00:00", step="a")]
    on_time, _ = judge(PACK, [*start, ev("step_completed", "12:00:00", step="a")], "2026-11-23T10:00:00Z")
    assert "overdue" not in [k for k, _, _ in brief(on_time)]
    late, _ = judge(PACK, [*start, ev("step_completed", "13:00:00", step="a")], "2026-11-23T10:00:00Z")
    assert ("overdue", "a", "2026-11-23T04:00:00Z") in brief(late)  # judged although no working second passed


def test_suspension_at_the_deadline_does_not_stop_the_overdue() -> None:
    recs, _ = judge(
        PACK,
        [submit(), ev("step_started", "09:00:00", step="a"), ev("case_suspended", "11:00:00")],
        "2026-11-23T03:00:30Z",
    )
    assert ("overdue", "a", "2026-11-23T03:00:00Z") in brief(recs)


def test_suspended_time_is_not_counted() -> None:
    recs, _ = judge(
        PACK,
        [
            submit(),
            ev("step_started", "09:00:00", step="a"),
            ev("case_suspended", "09:30:00"),
            ev("case_resumed", "10:30:00"),
            ev("step_completed", "11:59:59", step="a"),
        ],
        "2026-11-23T10:00:00Z",
    )
    # One hour counted at 11:00 local (03:00Z), 1.6 h at 11:36 (03:36Z); the step ends 1 s before its 2 h.
    assert brief(recs) == [("reminder", "a", "2026-11-23T03:00:00Z"), ("warning", "a", "2026-11-23T03:36:00Z")]


def test_suspension_record_is_the_first_second_beyond_the_allowance() -> None:
    base = [submit(), ev("case_suspended", "11:00:00")]
    # 11:00-12:00 uses the whole hour; the first second beyond it is 13:30:00 local.
    exact, _ = judge(PACK, [*base, ev("case_resumed", "13:30:00")], "2026-11-23T10:00:00Z")
    assert "suspension" not in [k for k, _, _ in brief(exact)]
    beyond, _ = judge(PACK, [*base, ev("case_resumed", "13:30:01")], "2026-11-23T10:00:00Z")
    assert ("suspension", None, "2026-11-23T05:30:00Z") in brief(beyond)


def test_fee_totals_are_exact_decimals() -> None:
    charges = [submit(), ev("fee_charged", "09:10:00", fee_yuan=0.1), ev("fee_charged", "09:20:00", fee_yuan=0.2)]
    recs, _ = judge(PACK, charges, "2026-11-23T02:00:00Z")
    assert recs == []  # 0.1 + 0.2 == 0.3 exactly; binary floats would say 0.30000000000000004
    recs, _ = judge(
        PACK,
        [*charges, ev("fee_charged", "09:30:00", fee_yuan=0.01), ev("fee_charged", "09:40:00", fee_yuan=1)],
        "2026-11-23T02:00:00Z",
    )
    assert brief(recs) == [("fee", None, "2026-11-23T01:30:00Z"), ("fee", None, "2026-11-23T01:40:00Z")]
    assert recs[0].id != recs[1].id


def test_procedure_when_an_earlier_required_step_is_unfinished() -> None:
    recs, _ = judge(
        PACK,
        [submit(), ev("step_started", "09:00:00", step="a"), ev("step_started", "09:05:00", step="c", handler_id="h9")],
        "2026-11-23T01:10:00Z",
    )
    assert brief(recs) == [("procedure", "c", "2026-11-23T01:05:00Z")]
    assert recs[0].handler_id == "h9" and recs[0].points == 2
    # Skipping an optional step is fine, and a step done at the same second as the previous completes is in order.
    ok, _ = judge(
        PACK,
        [
            submit(),
            ev("step_started", "09:00:00", step="a"),
            ev("step_completed", "09:30:00", step="a"),
            ev("step_started", "09:30:00", step="c"),
        ],
        "2026-11-23T01:40:00Z",
    )
    assert ok == []


def test_ties_apply_in_input_order() -> None:
    recs, _ = judge(
        PACK,
        [
            submit(),
            ev("step_started", "09:00:00", step="a"),
            ev("step_started", "09:30:00", step="c"),
            ev("step_completed", "09:30:00", step="a"),
        ],
        "2026-11-23T01:40:00Z",
    )
    assert brief(recs) == [("procedure", "c", "2026-11-23T01:30:00Z")]


def test_input_order_does_not_matter_across_instants() -> None:
    objs = [
        submit("08:59:00"),
        ev("step_started", "09:00:00", step="a"),
        ev("step_completed", "09:30:00", step="a"),
        ev("step_started", "09:30:00", step="c"),
    ]
    shuffled = [objs[3], objs[1], objs[0], objs[2]]
    # Lines 1..4 get new arrival numbers, but instants still order them (the tie at 09:30 keeps input order).
    recs, rejects = judge(PACK, shuffled, "2026-11-23T04:00:00Z")
    assert rejects == []
    assert ("procedure", "c", "2026-11-23T01:30:00Z") in brief(recs)  # c arrived before a's completion


def test_rejections_name_the_problem() -> None:
    objs = [
        ev("step_started", "08:00:00", step="a"),  # 1 before the submission: unknown case
        submit(),  # 2
        submit("09:01:00"),  # 3 submits twice
        ev("step_started", "09:02:00", step="zzz"),  # 4 unknown step
        ev("step_completed", "09:03:00", step="a"),  # 5 not started
        ev("step_started", "09:04:00", step="a"),  # 6
        ev("step_started", "09:05:00", step="a"),  # 7 twice
        ev("case_resumed", "09:06:00"),  # 8 not suspended
        ev("case_suspended", "09:07:00"),  # 9
        ev("case_suspended", "09:08:00"),  # 10 suspended twice
        ev("case_completed", "09:09:00"),  # 11
        ev("fee_charged", "09:10:00", fee_yuan=1),  # 12 completed
        submit(case="Q", item="no-such-item"),  # 13 unknown item
        ev("step_completed", "09:12:00", step="a"),  # 14 completed (the step closed with the case)
    ]
    _, rejects = judge(PACK, objs, "2026-11-24T00:00:00Z")
    codes = {r.seq: r.code for r in rejects}
    assert codes == {
        1: "unknown_case",
        3: "duplicate_submission",
        4: "unknown_step",
        5: "step_not_started",
        7: "step_already_started",
        8: "not_suspended",
        10: "already_suspended",
        12: "case_completed",
        13: "unknown_item",
        14: "case_completed",
    }
    assert all(r.reason for r in rejects)
    assert "zzz" in next(r.reason for r in rejects if r.seq == 4)


def test_a_duplicate_is_skipped_whatever_became_of_the_first() -> None:
    pack = parse_pack(PACK)
    first = events(submit(), ev("case_resumed", "09:30:00"))
    dup = events(submit(), ev("case_resumed", "09:30:00"))[1]
    dup.seq = 3  # the same event_id "2", arriving again
    out = replay_events(Engine(pack), [*first, dup], parse_instant("2026-11-24T00:00:00Z"))
    assert [o.seq for o in out if not isinstance(o, Record)] == [2]


def test_until_is_exclusive_for_events_and_clocks() -> None:
    objs = [submit(), ev("step_started", "09:00:00", step="a")]
    at_deadline, _ = judge(PACK, objs, "2026-11-23T03:00:00Z")
    assert "overdue" not in [k for k, _, _ in brief(at_deadline)]
    after, _ = judge(PACK, objs, "2026-11-23T03:00:01Z")
    assert ("overdue", "a", "2026-11-23T03:00:00Z") in brief(after)
    # A completion at or after --until is not applied: the step is judged as still running.
    done_late, _ = judge(PACK, [*objs, ev("step_completed", "11:00:01", step="a")], "2026-11-23T03:00:01Z")
    assert ("overdue", "a", "2026-11-23T03:00:00Z") in brief(done_late)


def test_case_completion_closes_steps_and_suspensions() -> None:
    history = [submit(), ev("step_started", "09:00:00", step="a"), ev("case_suspended", "09:10:00")]
    recs, _ = judge(PACK, [*history, ev("case_completed", "09:20:00", outcome="withdrawn")], "2026-12-31T00:00:00Z")
    assert recs == []  # withdrawn: ended early, legitimately (contract §7.3)
    # approved (the default), with required step c never started: a skipped-step procedure record
    recs, _ = judge(PACK, [*history, ev("case_completed", "09:20:00", handler_id="h9")], "2026-12-31T00:00:00Z")
    assert [(r.kind, r.step, r.to_json()["at"], r.handler_id) for r in recs] == [
        ("procedure", "c", "2026-11-23T01:20:00Z", "h9")
    ]


def test_case_clock_overdue_counts_working_time_across_days() -> None:
    recs, _ = judge(PACK, [submit("15:00:00")], "2026-12-01T00:00:00Z")
    # 2.5 h on Monday, 7 h Tuesday would pass 8 h at 13:30+... : Tue 09:00-12:00 (5.5 h), 13:30 + 2.5 h = 16:00 local.
    assert brief(recs) == [("case_overdue", None, "2026-11-24T08:00:00Z")]
    assert recs[0].points == 3


def test_item_without_calendar_counts_nights_and_rounds_levels_up() -> None:
    recs, _ = judge(
        PACK, [submit("23:00:00", item="natural"), ev("step_started", "23:00:00", step="a")], "2026-11-24T00:00:00Z"
    )
    # 0.3333 x 1800 s = 599.94 -> 600 s; the limit 0.5 h = 1800 s; the case 1 h.
    assert brief(recs) == [
        ("reminder", "a", "2026-11-23T15:10:00Z"),
        ("overdue", "a", "2026-11-23T15:30:00Z"),
        ("case_overdue", None, "2026-11-23T16:00:00Z"),
    ]


def test_record_ids_are_deterministic() -> None:
    objs = [submit(), ev("step_started", "09:00:00", step="a")]
    one, _ = judge(PACK, objs, "2026-11-25T00:00:00Z")
    two, _ = judge(PACK, objs, "2026-11-25T00:00:00Z")
    assert [r.id for r in one] == [r.id for r in two]
    assert len({r.id for r in one}) == len(one)


def test_replayer_evicts_closed_cases_after_the_retention() -> None:
    pack = parse_pack(PACK)
    out: list = []
    rp = Replayer(Engine(pack), out.append, retain_seconds=3600)
    for e in events(submit(), ev("case_completed", "09:30:00"), submit(case="Z", at="09:45:00")):
        rp.feed(e)
    assert set(rp.cases) == {"K", "Z"}  # K is kept an hour to skip duplicates and reject late events
    rp.advance(parse_instant("2026-11-23T02:30:00Z"))  # 10:30 local: K's hour is over
    assert set(rp.cases) == {"Z"}
    assert rp.open_cases == 1


# --------------------------------------------------------------------------- live: arrival order and wall clock
def _live(objs: list[dict], nows: list[str], grace: int = 60) -> list:
    """Apply events in arrival order, each at its wall-clock instant; a None event is a tick."""
    from rules.engine import state_from_json, state_to_json
    from rules.live import on_event, on_tick

    engine = Engine(parse_pack(PACK))
    st = None
    out: list = []
    for i, (obj, now) in enumerate(zip(objs, nows, strict=True), 1):
        t = parse_instant(now)
        if obj is None:
            assert st is not None
            out.extend(on_tick(engine, st, t, grace))
        else:
            (ev,) = events({**obj, "event_id": str(i)})
            st, got = on_event(engine, st, ev, t, grace)
            out.extend(got)
        st = state_from_json(engine, state_to_json(st))  # every step survives the table round trip
    return out


def test_live_raises_when_the_wall_clock_passes_at_plus_grace() -> None:
    objs = [submit(), ev("step_started", "09:00:00", step="a"), None, None]
    out = _live(objs, ["2026-11-23T01:00:01Z", "2026-11-23T01:00:02Z", "2026-11-23T03:00:59Z", "2026-11-23T03:01:00Z"])
    assert brief(out) == [
        ("reminder", "a", "2026-11-23T02:00:00Z"),
        ("warning", "a", "2026-11-23T02:36:00Z"),
        ("overdue", "a", "2026-11-23T03:00:00Z"),  # only at the tick one grace (60 s) after 03:00:00
    ]


def test_live_late_completion_revokes_the_overdue_it_disproves() -> None:
    objs = [submit(), ev("step_started", "09:00:00", step="a"), None, ev("step_completed", "10:50:00", step="a")]
    out = _live(objs, ["2026-11-23T01:00:00Z", "2026-11-23T01:00:00Z", "2026-11-23T03:30:00Z", "2026-11-23T03:31:00Z"])
    kinds = brief(out)
    assert kinds[:3] == [
        ("reminder", "a", "2026-11-23T02:00:00Z"),
        ("warning", "a", "2026-11-23T02:36:00Z"),
        ("overdue", "a", "2026-11-23T03:00:00Z"),
    ]
    assert kinds[3] == ("revocation", "a", "2026-11-23T02:50:00Z")
    assert out[3].detail["revokes"] == out[2].id and len(out) == 4  # reminder and warning stand


def test_live_late_suspension_moves_levels_and_raises_them_again_with_new_ids() -> None:
    objs = [
        submit(),
        ev("step_started", "09:00:00", step="a"),
        None,
        ev("case_suspended", "09:30:00"),
        ev("case_resumed", "10:00:00"),
        None,
    ]
    nows = [
        "2026-11-23T01:00:00Z",
        "2026-11-23T01:00:00Z",
        "2026-11-23T03:10:00Z",
        "2026-11-23T03:20:00Z",
        "2026-11-23T03:20:00Z",
        "2026-11-23T03:40:00Z",
    ]
    out = _live(objs, nows)
    kinds = brief(out)
    assert kinds[:3] == [
        ("reminder", "a", "2026-11-23T02:00:00Z"),
        ("warning", "a", "2026-11-23T02:36:00Z"),
        ("overdue", "a", "2026-11-23T03:00:00Z"),
    ]
    # The suspension arrives alone, stamped 09:30: all three levels lay after it, so all are revoked;
    # an open suspension since 09:30 is over its one-hour allowance by 10:30, so that is raised ...
    assert [(k, (r.detail or {}).get("revoked_kind")) for (k, _, _), r in zip(kinds[3:7], out[3:7], strict=True)] == [
        ("revocation", "reminder"),
        ("revocation", "warning"),
        ("revocation", "overdue"),
        ("suspension", None),
    ]
    # ... until the resumption stamped 10:00 disproves it, and the levels land half an hour later.
    assert kinds[7:] == [
        ("revocation", None, "2026-11-23T02:00:00Z"),
        ("reminder", "a", "2026-11-23T02:30:00Z"),
        ("warning", "a", "2026-11-23T03:06:00Z"),
        ("overdue", "a", "2026-11-23T03:30:00Z"),
    ]
    assert out[7].detail["revokes"] == out[6].id
    assert {r.id for r in out[8:]}.isdisjoint({r.id for r in out[:3]})


def test_live_in_order_events_match_replay() -> None:
    """Arrival order equal to time order, ticks after everything: the same records as replay."""
    objs = [
        submit(),
        ev("step_started", "09:00:00", step="a"),
        ev("case_suspended", "10:00:00"),
        ev("case_resumed", "13:45:00"),
        ev("fee_charged", "14:00:00", fee_yuan=1),
        ev("step_started", "14:05:00", step="c"),
    ]
    replayed, _ = judge(PACK, objs, "2026-11-26T00:00:00Z")
    nows = [o["occurred_at"] for o in objs]
    live = _live([*objs, None], [*nows, "2026-11-26T00:00:59Z"])
    assert [r.id for r in live] == [r.id for r in replayed]


def test_live_re_raise_after_a_revocation_gets_a_new_id() -> None:
    """A late weekend suspension: revoked while open, raised again at the same instant once it proves empty."""
    fri, sat, sun = "2026-11-20T", "2026-11-21T", "2026-11-22T"
    objs = [
        {**submit(), "occurred_at": f"{fri}13:30:00+08:00"},
        None,
        ev("case_suspended", "10:00:00", day=sat),
        ev("case_resumed", "10:00:00", day=sun),
    ]
    # 8 working hours from Friday 13:30: 4 h on Friday, 3 h on Monday morning, 1 h after lunch -> Mon 14:30 (06:30Z).
    out = _live(objs, ["2026-11-20T05:30:00Z", "2026-11-23T08:00:00Z", "2026-11-23T08:01:00Z", "2026-11-23T08:02:00Z"])
    # While the suspension was open its one-hour allowance ran out at Monday 09:00 + 1 h (02:00Z): raised,
    # then revoked by the resumption stamped Sunday.
    assert brief(out) == [
        ("case_overdue", None, "2026-11-23T06:30:00Z"),
        ("revocation", None, "2026-11-21T02:00:00Z"),
        ("suspension", None, "2026-11-23T02:00:00Z"),
        ("revocation", None, "2026-11-22T02:00:00Z"),
        ("case_overdue", None, "2026-11-23T06:30:00Z"),
    ]
    first, revocation, suspension, revocation2, again = out
    assert revocation.detail["revokes"] == first.id and revocation2.detail["revokes"] == suspension.id
    assert again.id != first.id  # downstream deduplicates by id: the re-raise must not look like the revoked one


# --------------------------------------------------------------------------- the case document
def test_case_document_counts_and_judges_each_step() -> None:
    from rules.views import case_document

    engine = Engine(parse_pack(PACK))
    st = None
    for e in events(submit(), ev("step_started", "09:00:00", step="a"), ev("case_suspended", "09:30:00"),
                    ev("case_resumed", "10:30:00"), ev("step_completed", "11:40:00", step="a"),
                    ev("step_started", "11:40:00", step="c")):  # fmt: skip
        st, _ = engine.apply(st, e)
    assert st is not None
    doc = case_document(st, parse_instant("2026-11-23T06:00:00Z"))  # 14:00 local
    assert doc is not None
    a, c = doc["steps"]
    # a: 09:00-09:30 and 10:30-11:40 = 100 min counted; 2 h are reached at 12:00 (04:00Z): done on time
    assert (a["step"], a["counted_seconds"], a["deadline"], a["status"]) == (
        "a",
        6000,
        "2026-11-23T04:00:00Z",
        "on_time",
    )
    # c: started 11:40 with a 1 h limit: 11:40-12:00 and 13:30-14:00 counted = 50 min; deadline 13:30 + 40 min
    assert (c["counted_seconds"], c["deadline"], c["status"]) == (3000, "2026-11-23T06:10:00Z", "running")
    # the case: 09:00-12:00 and 13:30-14:00 less the hour suspended = 2.5 h
    assert doc["status"] == "running" and doc["counted_seconds"] == 9000
