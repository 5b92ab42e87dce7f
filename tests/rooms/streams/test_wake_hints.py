"""A restarted worker rebuilds its timers from the wake-up instants stored beside each state, and only when the
pack and planning are the ones those instants were planned under; a dropped item version is refused either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from support.judges import offline_judge
from support.live import QUICK_PACK

import streams.judging as judging
from rules.engine import CaseState, Engine, state_from_json
from rules.events import Event, parse_line
from rules.live import on_event
from rules.state import UnknownVersion
from rules.timeutil import format_instant

T0 = 1_795_312_800  # 2026-11-23T00:00:00+08:00


def _event(n: int, case: str, typ: str, at: int, **fields: Any) -> Event:
    obj = {"event_id": f"{case}-{n}", "case_id": case, "type": typ, "occurred_at": format_instant(at), **fields}
    got = parse_line(orjson.dumps(obj), n)
    assert isinstance(got, Event), got
    return got


def _states(engine: Engine) -> list[CaseState]:
    """An open step, a step suspended (no due instant), a completed case (forgotten after the retention)."""
    out = []
    submitted = ("case_submitted", {"item_code": "quick", "agency_id": "city/a"})
    started = ("step_started", {"step": "accept"})
    histories = {
        "OPEN": [submitted, started],
        "HELD": [submitted, started, ("case_suspended", {"reason": "补正"})],
        "DONE": [submitted, ("case_completed", {})],
    }
    for case, events in histories.items():
        st = None
        for n, (typ, fields) in enumerate(events):
            st, _ = on_event(engine, st, _event(n, case, typ, T0 + n, **fields))
        assert st is not None and st.item is not None, case
        out.append(st)
    return out


@pytest.fixture
def pack_path(tmp_path: Path) -> Path:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK_PACK)
    return path


def test_the_stored_hint_gives_the_instant_re_planning_gives(pack_path: Path) -> None:
    judge = offline_judge(pack_path)
    states = _states(judge.engine)
    assert {st.due is None for st in states} == {True, False}  # the histories cover both
    for st in states:
        data = orjson.loads(judge.stored(st))
        assert data["wake"][2] == judge.plan_id
        assert judge.stored_wake(data) == judge.wake_at(state_from_json(judge.engine, data)), st.case_id


def test_the_hint_is_used_only_under_the_pack_and_planning_it_was_made_with(
    pack_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = offline_judge(pack_path)
    stored = [orjson.loads(judge.stored(st)) for st in _states(judge.engine)]
    expected = [judge.stored_wake(d) for d in stored]

    def no_planning(*args: Any) -> None:
        raise AssertionError("re-planned")

    monkeypatch.setattr(judging, "state_from_json", no_planning)
    assert [judge.stored_wake(d) for d in stored] == expected  # the hint alone: nothing decoded
    for d in stored:
        d["wake"][2] = "another/1"  # an edited pack or a new planning revision
        with pytest.raises(AssertionError, match="re-planned"):
            judge.stored_wake(d)


def test_a_dropped_version_is_refused_with_or_without_the_hint(pack_path: Path, tmp_path: Path) -> None:
    judge = offline_judge(pack_path)
    data = orjson.loads(judge.stored(_states(judge.engine)[0]))
    data["version"] = "0000000000000000"  # a version this pack does not have
    with pytest.raises(UnknownVersion):
        judge.stored_wake(data)
    del data["wake"]
    with pytest.raises(UnknownVersion):
        judge.stored_wake(data)
