"""Rule versions (contract §7.7) and the checks of version-2 pack fields (§7.9)."""

from __future__ import annotations

import pytest

from rules.engine import Engine, state_from_json, state_to_json
from rules.events import Event, Rejection
from rules.pack import PackError, parse_pack
from rules.records import Record
from rules.state import UnknownVersion
from rules.timeutil import parse_instant

T0 = parse_instant("2027-01-04T09:00:00Z")
CUT = "2027-01-05T00:00:00Z"


def pack(*versions: str) -> Engine:
    return Engine(parse_pack("version: 2\npenalties: {overdue: 2}\nitems:\n" + "".join(versions)))


def version(hours: float, starts: str | None = None) -> str:
    when = f"\n    effective_from: '{starts}'" if starts else ""
    return f"  - code: x{when}\n    steps:\n      - {{name: s, limit_hours: {hours}}}\n"


def run(engine: Engine, t: int, st: object = None) -> tuple[object, list]:
    out: list = []
    for i, (typ, kw) in enumerate((("case_submitted", {"item_code": "x", "agency_id": "a"}),
                                   ("step_started", {"step": "s"}))):  # fmt: skip
        st, got = engine.apply(st, Event(t, i, typ, f"e{i}", "K", **kw))  # type: ignore[arg-type]
        out.extend(got)
    return st, out


def test_a_case_is_judged_by_the_version_in_force_at_its_submission() -> None:
    engine = pack(version(2), version(1, CUT))
    before, _ = run(engine, T0)
    after, _ = run(engine, parse_instant(CUT) + 3600)
    assert [r.at - T0 for r in engine.fire(before, 2**40)] == [7200]  # type: ignore[arg-type]
    assert [r.at - parse_instant(CUT) - 3600 for r in engine.fire(after, 2**40)] == [3600]  # type: ignore[arg-type]


def test_a_running_case_keeps_its_version_when_a_new_one_is_added_and_is_refused_when_its_version_is_gone() -> None:
    st, _ = run(pack(version(2)), T0)
    saved = state_to_json(st)  # type: ignore[arg-type]
    kept = state_from_json(pack(version(2), version(1, CUT)), saved)
    assert [r.at - T0 for r in pack(version(2)).fire(kept, 2**40)] == [7200]
    with pytest.raises(UnknownVersion) as e:
        state_from_json(pack(version(1)), saved)  # the same version edited in place: 2 h became 1 h
    assert e.value.case_id == "K" and e.value.code == "x"


def test_a_submission_before_every_version_is_an_unknown_item_naming_the_first() -> None:
    engine = pack(version(2, CUT))
    _, out = run(engine, T0)
    rej = out[0]
    assert isinstance(rej, Rejection) and rej.code == "unknown_item" and "2027-01-05T00:00:00Z" in rej.reason
    assert not any(isinstance(o, Record) for o in out)


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        (version(2) + version(1), "without effective_from repeats items[0]"),
        (version(2, CUT) + version(1, "2027-01-05T08:00:00+08:00"), "repeats items[0]"),  # the same instant
        ("  - code: x\n    effective_from: 2027-01-05T00:00:00Z\n    steps: [{name: s, limit_hours: 1}]\n", "quoted"),
        ("  - code: x\n    steps: [{name: s, limit_hours: 1, limit_days: 2}]\n", "both limit_hours and limit_days"),
        ("  - code: x\n    steps: [{name: s}]\n", "has no limit"),
        ("  - code: x\n    calendar: c\n    steps: [{name: s, limit_days: 1.5}]\n", "whole number"),
        ("  - code: x\n    steps: [{name: s, limit_days: 2}]\n", "need a calendar"),
        ("  - code: x\n    calendar: c\n    day_count: lunar\n    steps: [{name: s, limit_days: 2}]\n", "day_count"),
        ("  - code: x\n    max_extensions: -1\n    steps: [{name: s, limit_hours: 1}]\n", "at least 0"),
    ],
)
def test_bad_version_2_fields_are_named_with_their_fix(items: str, needle: str) -> None:
    cal = "calendars:\n  c: {timezone: UTC, work_windows: ['09:00-17:00']}\n"
    with pytest.raises(PackError) as e:
        parse_pack("version: 2\n" + cal + "items:\n" + items)
    assert needle in str(e.value)


def test_a_key_set_to_null_counts_as_absent() -> None:
    engine = Engine(parse_pack("version: 2\nitems:\n  - code: x\n    limit_hours: null\n    max_extensions: null\n"
                               "    steps: [{name: s, limit_hours: 1, optional: null, after: null}]\n"))  # fmt: skip
    item = engine.pack.items["x"]
    assert item.limit is None and item.max_extensions == 1 and not item.steps[0].optional


def test_a_version_is_what_it_judges_not_how_it_is_written() -> None:
    a = pack("  - {code: x, name: 甲, steps: [{name: s, limit_hours: 7}]}\n").pack.items["x"]
    b = pack("  - {code: x, name: 乙, steps: [{name: s, limit_hours: 7.0}]}\n").pack.items["x"]
    c = pack("  - {code: x, steps: [{name: s, limit_hours: 7.5}]}\n").pack.items["x"]
    assert a.version == b.version != c.version
