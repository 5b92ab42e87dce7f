"""Contract §7.2 (prerequisites and parallel steps), §7.3 (skipped steps, outcomes) and §7.5 (suspension kinds)."""

from __future__ import annotations

import pytest
from support import brief, judge

from rules.engine import Engine, state_from_json, state_to_json
from rules.events import decode
from rules.pack import PackError, parse_pack
from rules.replay import Replayer

PACK = """
version: 2
penalties: {procedure: 2, suspension: 1}
suspension_kinds:
  expert: {capped: false}
  supplement: {}
items:
  - code: x
    max_suspension_hours: 1
    steps:
      - {name: accept, limit_hours: 10}
      - {name: inspect, limit_hours: 10, after: [accept]}
      - {name: review, limit_hours: 10, after: [accept]}
      - {name: approve, limit_hours: 10}
      - {name: expert, limit_hours: 10, optional: true}
      - {name: deliver, limit_hours: 10, after: [expert]}
"""
T = "2026-03-02T"


def ev(typ: str, at: str, **kw: object) -> dict[str, object]:
    return {"case_id": "C", "type": typ, "occurred_at": f"{T}{at}Z", **kw}


SUBMIT = ev("case_submitted", "01:00:00", item_code="x", agency_id="a")


def test_parallel_steps_after_the_same_prerequisite_raise_nothing() -> None:
    recs, rejects = judge(PACK, [SUBMIT, ev("step_started", "01:00:00", step="accept"),
                                 ev("step_completed", "02:00:00", step="accept"),
                                 ev("step_started", "02:00:00", step="inspect"),
                                 ev("step_started", "02:00:01", step="review")], f"{T}03:00:00Z")  # fmt: skip
    assert recs == [] and rejects == []


def test_a_step_without_after_requires_every_earlier_required_step() -> None:
    recs, _ = judge(PACK, [SUBMIT, ev("step_started", "01:00:00", step="accept"),
                           ev("step_completed", "02:00:00", step="accept"),
                           ev("step_started", "02:00:00", step="inspect"),
                           ev("step_started", "02:10:00", step="approve")], f"{T}03:00:00Z")  # fmt: skip
    # approve needs accept, inspect and review: inspect is running, review never started
    assert brief(recs) == [("procedure", "approve", f"{T}02:10:00Z")]
    assert recs[0].detail == {"missing_step": "inspect"}


def test_an_optional_step_named_in_after_is_a_prerequisite_but_never_skipped() -> None:
    recs, _ = judge(PACK, [SUBMIT, ev("step_started", "01:00:00", step="deliver")], f"{T}03:00:00Z")
    assert brief(recs) == [("procedure", "deliver", f"{T}01:00:00Z")] and recs[0].detail == {"missing_step": "expert"}
    done = [SUBMIT, *(ev(t, "01:00:00", step=s) for s in ("accept", "inspect", "review", "approve", "deliver")
                      for t in ("step_started", "step_completed"))]  # fmt: skip
    recs, _ = judge(PACK, [*done, ev("case_completed", "01:00:00")], f"{T}03:00:00Z")
    assert [r.step for r in recs if r.kind == "procedure"] == ["deliver"]  # expert was never done: not skipped


def test_skipped_required_steps_of_an_approved_case_each_raise_a_procedure_record() -> None:
    recs, _ = judge(PACK, [SUBMIT, ev("step_started", "01:00:00", step="accept"),
                           ev("case_completed", "05:00:00", handler_id="boss")], f"{T}06:00:00Z")  # fmt: skip
    got = sorted((r.kind, r.step, r.handler_id) for r in recs)
    want = sorted(("procedure", s, "boss") for s in ("inspect", "review", "approve", "deliver"))
    assert got == want and len({r.id for r in recs}) == 4
    for outcome in ("refused", "withdrawn"):
        recs, _ = judge(PACK, [SUBMIT, ev("case_completed", "05:00:00", outcome=outcome)], f"{T}06:00:00Z")
        assert recs == []


def test_an_unknown_outcome_is_refused_on_its_line() -> None:
    got = decode({"event_id": "1", **ev("case_completed", "05:00:00", outcome="lost")}, 1)
    assert got.code == "bad_outcome" and "approved" in got.reason  # type: ignore[union-attr]


def test_expert_review_pauses_every_clock_but_is_never_an_over_long_suspension() -> None:
    base = [SUBMIT, ev("step_started", "01:00:00", step="accept")]
    expert = [*base, ev("case_suspended", "02:00:00", kind="expert"), ev("case_resumed", "06:00:00")]
    recs, rejects = judge(PACK, expert, f"{T}20:00:00Z")
    # accept: 10 h counted from 01:00 with 4 h paused is due at 15:00; 4 h of expert review cost nothing
    assert rejects == [] and brief(recs) == [("overdue", "accept", f"{T}15:00:00Z")]
    capped = [*base, ev("case_suspended", "02:00:00", kind="supplement"), ev("case_resumed", "06:00:00")]
    recs, _ = judge(PACK, capped, f"{T}20:00:00Z")
    assert [r.kind for r in recs] == ["suspension", "overdue"]
    plain = [*base, ev("case_suspended", "02:00:00"), ev("case_resumed", "06:00:00")]
    assert [r.kind for r in judge(PACK, plain, f"{T}20:00:00Z")[0]] == ["suspension", "overdue"]


def test_an_undeclared_suspension_kind_is_refused() -> None:
    _, rejects = judge(PACK, [SUBMIT, ev("case_suspended", "02:00:00", kind="nap")], f"{T}20:00:00Z")
    assert [r.code for r in rejects] == ["unknown_suspension_kind"] and "expert" in rejects[0].reason


def test_an_open_expert_suspension_survives_the_state_round_trip() -> None:
    engine = Engine(parse_pack(PACK))
    out: list[object] = []
    rp = Replayer(engine, out.append)
    for i, e in enumerate([SUBMIT, ev("case_suspended", "02:00:00", kind="expert")], 1):
        got = decode({"event_id": str(i), **e}, i)
        rp.feed(got)  # type: ignore[arg-type]
    st = rp.cases["C"]
    again = state_from_json(engine, state_to_json(st))
    assert again.suspended_kind == "expert" and again.timers == st.timers


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ("[{name: a, limit_hours: 1, after: [b]}, {name: b, limit_hours: 1}]", "'b' is not a step listed before 'a'"),
        ("[{name: a, limit_hours: 1, after: [a]}]", "'a' is not a step listed before 'a'"),
        ("[{name: a, limit_hours: 1, after: [zz]}]", "name only earlier steps"),
    ],
)
def test_after_may_name_only_earlier_steps(steps: str, problem: str) -> None:
    with pytest.raises(PackError) as e:
        parse_pack(f"version: 2\nitems: [{{code: x, steps: {steps}}}]")
    assert any(problem in p for p in e.value.problems), e.value.problems
